package postgres_test

import (
	"context"
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/conformance"
	"github.com/qsessions/qsessions/postgres"
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

// TestConformanceSimpleProtocol runs the Persister suite as it runs behind
// a transaction-pooling proxy (default_query_exec_mode=simple_protocol, so
// every value travels as text), in a session time zone whose offset in
// year 1 is not whole minutes: the zero time must still come back as the
// zero time.
func TestConformanceSimpleProtocol(t *testing.T) {
	pool := simplePool(t)
	conformance.TestPersister(t, func(t *testing.T) qsessions.Persister {
		p, err := postgres.New(context.Background(), pool, &postgres.Options{Schema: freshSchema(t)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}
