package gocache_test

import (
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/conformance"
	"github.com/qsessions/qsessions/memory"
)

// TestConformanceCache runs the Cache contract over each store:
// go test -run 'TestConformanceCache/Redis/NoExpiry'.
func TestConformanceCache(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		if b.redis {
			redisClient(t) // skip or fail here, once, when Redis is missing
		}
		conformance.TestCache(t, func(t *testing.T) qsessions.Cache {
			c, _, _ := newCache(t, b)
			return c
		})
	})
}

// TestConformanceStore runs the Store invariants over each store, with an
// in-memory Persister: go test -run 'TestConformanceStore/Redis/Revoke$'.
func TestConformanceStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		if b.redis {
			redisClient(t)
		}
		conformance.TestStore(t, func(t *testing.T) (qsessions.Cache, qsessions.Persister) {
			c, _, _ := newCache(t, b)
			return c, memory.NewPersister()
		})
	})
}
