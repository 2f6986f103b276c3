package memory_test

import (
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/conformance"
	"github.com/qsessions/qsessions/memory"
)

// The reference implementations pass the conformance suite. Run a single
// check with, for example, go test -run 'TestPersister/UpdateRevoked' ./memory/.

func TestCache(t *testing.T) {
	conformance.TestCache(t, func(t *testing.T) qsessions.Cache { return memory.NewCache() })
}

func TestPersister(t *testing.T) {
	conformance.TestPersister(t, func(t *testing.T) qsessions.Persister { return memory.NewPersister() })
}

func TestStore(t *testing.T) {
	conformance.TestStore(t, func(t *testing.T) (qsessions.Cache, qsessions.Persister) {
		return memory.NewCache(), memory.NewPersister()
	})
}

func TestStoreWithoutCache(t *testing.T) {
	conformance.TestStore(t, func(t *testing.T) (qsessions.Cache, qsessions.Persister) {
		return nil, memory.NewPersister()
	})
}
