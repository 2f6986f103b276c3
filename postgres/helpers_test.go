package postgres_test

// Tests in this package need a PostgreSQL server. They read its address from
// QSESSIONS_POSTGRES_DSN, for example
//
//	QSESSIONS_POSTGRES_DSN='postgres://postgres@127.0.0.1:15432/postgres?sslmode=disable' go test -race ./postgres/
//
// Without it they skip, unless QSESSIONS_REQUIRE_SERVICES=1, in which case
// they fail. Every test works in its own schema, qs_test_<random hex>, which
// it drops when it ends, so that tests and packages may run in parallel
// against one server. The role needs CREATE on the database (to create
// schemas) and, for the killed-connection tests, the right to terminate its
// own backends (any role may terminate backends of the same role).
//
// The Store tests also use Redis when QSESSIONS_REDIS_ADDR is set (through
// adapters/gocache), and an in-memory cache otherwise.
//
// The 1,000,000-row benchmarks run only under -bench; see bench_test.go.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/testenv"
	"github.com/qsessions/qsessions/postgres"
)

const (
	envDSN   = "QSESSIONS_POSTGRES_DSN"
	envRedis = "QSESSIONS_REDIS_ADDR"
)

// needService returns the value of env, skipping the test when it is unset,
// or failing it when QSESSIONS_REQUIRE_SERVICES=1.
func needService(tb testing.TB, env, what string) string {
	tb.Helper()
	return testenv.Getenv(tb, env, what)
}

var shared struct {
	mu   sync.Mutex
	pool *pgxpool.Pool
}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.mu.Lock()
	if shared.pool != nil {
		shared.pool.Close()
	}
	shared.mu.Unlock()
	dropBenchSchema()
	os.Exit(code)
}

// testPool returns the process-wide test pool, connecting on first use.
func testPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	dsn := needService(tb, envDSN, "a PostgreSQL server")
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.pool == nil {
		pool, err := newPool(dsn, "qsessions-postgres-test", 16)
		if err != nil {
			tb.Fatal(err)
		}
		shared.pool = pool
	}
	return shared.pool
}

// newPool connects a pool of at most maxConns connections whose backends
// carry the given application_name.
func newPool(dsn, appName string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = appName
	cfg.MaxConns = maxConns
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	return pool, nil
}

// simplePool returns a pool, closed when the test ends, that works as
// behind a transaction-pooling proxy (default_query_exec_mode=
// simple_protocol, so that every value travels as text), in a session time
// zone whose offset in year 1 is not whole minutes.
func simplePool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(needService(t, envDSN, "a PostgreSQL server"))
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
	return pool
}

// ownPool is newPool closed when the test ends.
func ownPool(tb testing.TB, appName string, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	pool, err := newPool(needService(tb, envDSN, "a PostgreSQL server"), appName, maxConns)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// freshSchema returns the name of a schema that does not exist yet, and
// drops it (if something created it) when the test ends.
func freshSchema(tb testing.TB) string {
	tb.Helper()
	pool := testPool(tb)
	name := "qs_test_" + randomHex(8)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// newPersister returns a Persister on the shared pool, in a fresh schema,
// with the given options (Schema is filled in).
func newPersister(tb testing.TB, opts *postgres.Options) (*postgres.Persister, string) {
	tb.Helper()
	var o postgres.Options
	if opts != nil {
		o = *opts
	}
	o.Schema = freshSchema(tb)
	p, err := postgres.New(context.Background(), testPool(tb), &o)
	if err != nil {
		tb.Fatal(err)
	}
	return p, o.Schema
}

// table returns the quoted, schema-qualified table name for direct queries.
func table(schema, name string) string {
	if name == "" {
		name = postgres.DefaultTable
	}
	return pgx.Identifier{schema, name}.Sanitize()
}

// countRows counts the rows of schema.name matching where (a SQL condition,
// "true" for all).
func countRows(tb testing.TB, schema, name, where string, args ...any) int {
	tb.Helper()
	var n int
	err := testPool(tb).QueryRow(context.Background(), "SELECT count(*) FROM "+table(schema, name)+" WHERE "+where, args...).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// record returns a valid record with the given ID and user, last updated
// at updated and expiring at exp, with metadata as a Store records it.
func record(id, user string, updated, exp time.Time) qsessions.Record {
	return qsessions.Record{
		ID:        id,
		Version:   1,
		UserID:    user,
		UpdatedAt: updated,
		ExpiresAt: exp,
		Data:      []byte("data-" + id),
		Meta: qsessions.EncodeMeta(qsessions.SessionInfo{
			IP:        "203.0.113.7",
			UserAgent: "Mozilla/5.0 (test)",
			CreatedAt: updated.Add(-time.Hour).Truncate(time.Millisecond),
		}),
	}
}
