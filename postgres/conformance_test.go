package postgres_test

import (
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/conformance"
)

// TestConformance runs the exported Persister suite against PostgreSQL,
// each subtest on a Persister in a schema of its own.
func TestConformance(t *testing.T) {
	testPool(t) // skip (or fail) here, once, when there is no server
	conformance.TestPersister(t, func(t *testing.T) qsessions.Persister {
		p, _ := newPersister(t, nil)
		return p
	})
}

// TestConformanceStore runs the Store suite over PostgreSQL, with Redis
// (through adapters/gocache) as the cache when QSESSIONS_REDIS_ADDR is set
// and a memory.Cache otherwise.
func TestConformanceStore(t *testing.T) {
	testPool(t)
	conformance.TestStore(t, func(t *testing.T) (qsessions.Cache, qsessions.Persister) {
		newCache, _ := sharedCache(t)
		p, _ := newPersister(t, nil)
		return newCache(), p
	})
}

// TestConformanceStoreWithoutCache runs the Store suite over PostgreSQL
// alone, as a deployment without a cache does.
func TestConformanceStoreWithoutCache(t *testing.T) {
	testPool(t)
	conformance.TestStore(t, func(t *testing.T) (qsessions.Cache, qsessions.Persister) {
		p, _ := newPersister(t, nil)
		return nil, p
	})
}
