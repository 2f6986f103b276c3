package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
// year 1 is not whole minutes: the zero AuthenticatedAt must still come
// back as the zero time.
func TestConformanceSimpleProtocol(t *testing.T) {
	dsn := needService(t, envDSN, "a PostgreSQL server")
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.ConnConfig.RuntimeParams["timezone"] = "America/New_York"
	cfg.ConnConfig.RuntimeParams["application_name"] = "qsessions-postgres-test-simple"
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var tz string
	if err := pool.QueryRow(context.Background(), "SHOW TimeZone").Scan(&tz); err != nil || tz != "America/New_York" {
		t.Fatalf("session time zone %q, %v; want America/New_York", tz, err)
	}
	conformance.TestPersister(t, func(t *testing.T) qsessions.Persister {
		p, err := postgres.New(context.Background(), pool, &postgres.Options{Schema: freshSchema(t)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}
