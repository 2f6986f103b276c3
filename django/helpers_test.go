package django_test

// Tests of this package that need a database run on SQLite always, and on
// PostgreSQL when QSESSIONS_POSTGRES_DSN names a server, for example
//
//	QSESSIONS_POSTGRES_DSN='postgres://postgres@127.0.0.1:15432/postgres?sslmode=disable' \
//	QSESSIONS_REDIS_ADDR=127.0.0.1:16379 go test -race ./django/
//
// Without it they skip, unless QSESSIONS_REQUIRE_SERVICES=1, in which case
// they fail. Each test works in a schema of its own (a database of its own
// for the Django interop test), which it drops when it ends. With
// QSESSIONS_REDIS_ADDR, the Persisters invalidate a Django cache in Redis,
// under a key prefix of the test's own. The tables are made from
// testdata/ddl, which is what Django's sqlmigrate prints (mkddl.sh).

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/qsessions/qsessions/django"
	"github.com/qsessions/qsessions/internal/redistest"
	"github.com/qsessions/qsessions/internal/testenv"
)

const (
	envDSN   = "QSESSIONS_POSTGRES_DSN"
	envRedis = "QSESSIONS_REDIS_ADDR"
)

const testSecret = "django-insecure-go-test-secret"

// randomName returns prefix and 12 random hex digits.
func randomName(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// ddl returns the statements of testdata/ddl/name.sql.
func ddl(tb testing.TB, name string) []string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ddl", name+".sql"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, s := range strings.Split(string(b), ";\n") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// flavourName is the name of a Table in testdata/ddl.
func flavourName(t django.Table) string {
	if t == django.DjangoSessions {
		return "django"
	}
	return "qsessions"
}

// authUserSQL is a user table with the columns of Django's auth_user that
// sessions read.
const authUserSQL = `CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY, "password" varchar(128) NOT NULL, "is_active" bool NOT NULL)`

// sqliteDB returns a new SQLite database file, with Django's session table
// of the given flavour, and a user table when users.
func sqliteDB(tb testing.TB, flavour django.Table, users bool) *sql.DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "db.sqlite3")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	stmts := ddl(tb, "sqlite_"+flavourName(flavour))
	if users {
		stmts = append([]string{authUserSQL}, stmts...)
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
	return db
}

var pg struct {
	mu   sync.Mutex
	pool *pgxpool.Pool
}

// pgPool returns the test pool, connecting on first use; it skips (or
// fails) the test when there is no server.
func pgPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	dsn := testenv.Getenv(tb, envDSN, "a PostgreSQL server")
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.pool == nil {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.MaxConns = 8
		cfg.ConnConfig.RuntimeParams["application_name"] = "qsessions-django-test"
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err == nil {
			err = pool.Ping(context.Background())
		}
		if err != nil {
			testenv.Missing(tb, "PostgreSQL at "+envDSN+" cannot be reached: "+err.Error())
		}
		pg.pool = pool
	}
	return pg.pool
}

// widen makes Django's DDL hold what the conformance suite stores and
// Django's schema cannot: IDs of 43 characters (session_key is a
// varchar(40)) and user IDs that are not numbers (user_id is an integer
// key of auth_user).
func widen(stmts []string) []string {
	var out []string
	for _, s := range stmts {
		if strings.Contains(s, "FOREIGN KEY") {
			continue
		}
		s = strings.Replace(s, `"session_key" varchar(40)`, `"session_key" varchar(64)`, 1)
		s = strings.Replace(s, `"user_id" integer`, `"user_id" text`, 1)
		out = append(out, s)
	}
	return out
}

// pgSchema creates a schema of its own for the test, dropped when it ends,
// with Django's session table of the given flavour (widened by widen when
// wide), and a user table when users.
func pgSchema(tb testing.TB, flavour django.Table, users, wide bool) (*pgxpool.Pool, string) {
	tb.Helper()
	pool := pgPool(tb)
	schema := randomName("qsd_")
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	stmts := ddl(tb, "postgres_"+flavourName(flavour))
	if wide {
		stmts = widen(stmts)
	}
	if users {
		stmts = append([]string{authUserSQL}, stmts...)
	} else if !wide && flavour == django.QSessions {
		stmts = append([]string{authUserSQL}, stmts...) // the target of user_id's foreign key
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+schema); err != nil {
		tb.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
	return pool, schema
}

// djangoCache returns a Django cache in Redis when QSESSIONS_REDIS_ADDR is
// set, under a key prefix of its own, whose keys are deleted when the test
// ends, with the client and the prefix; nil without Redis.
func djangoCache(tb testing.TB) (django.Cache, *redis.Client, string) {
	tb.Helper()
	addr := os.Getenv(envRedis)
	if addr == "" {
		return nil, nil, ""
	}
	client := redis.NewClient(&redis.Options{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		tb.Fatalf("%s=%s is set, but that Redis does not answer: %v", envRedis, addr, err)
	}
	prefix := randomName("qsd-test-")
	tb.Cleanup(func() {
		redistest.DeleteKeys(tb, client, prefix)
		client.Close()
	})
	return django.NewRedisCache(client), client, prefix
}

// A testDB is one database to run a test on, with Django's session table
// of one flavour and a user table.
type testDB struct {
	name string
	// open returns a Persister over the table, closed when the test
	// ends; o.SecretKey and o.Table are filled in when empty.
	open func(o django.Options) *django.Persister
	// exec runs one statement on the database, with $n parameters.
	exec func(q string, args ...any)
}

// eachDB runs f on SQLite and, when there is a server, on PostgreSQL, each
// with Django's session table of the given flavour and a user table.
func eachDB(t *testing.T, flavour django.Table, f func(t *testing.T, db testDB)) {
	fill := func(t *testing.T, o *django.Options) {
		if o.SecretKey == "" {
			o.SecretKey = testSecret
		}
		o.Table = flavour
		if o.Logger == nil {
			o.Logger = testLogger(t)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		sdb := sqliteDB(t, flavour, true)
		addUsers(t, sdb.Exec)
		f(t, testDB{
			name: "sqlite",
			open: func(o django.Options) *django.Persister {
				fill(t, &o)
				p, err := django.NewSQLite(context.Background(), sdb, &o)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				return p
			},
			exec: func(q string, args ...any) {
				t.Helper()
				if _, err := sdb.Exec(strings.ReplaceAll(q, "$", "?"), args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			},
		})
	})
	t.Run("postgres", func(t *testing.T) {
		pool, schema := pgSchema(t, flavour, true, false)
		addUsers(t, func(q string, args ...any) (any, error) {
			return pool.Exec(context.Background(), strings.Replace(q, "auth_user", schema+".auth_user", 1), args...)
		})
		f(t, testDB{
			name: "postgres",
			open: func(o django.Options) *django.Persister {
				fill(t, &o)
				o.Schema = schema
				p, err := django.NewPostgres(context.Background(), pool, &o)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				return p
			},
			exec: func(q string, args ...any) {
				t.Helper()
				ctx := context.Background()
				tx, err := pool.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback(ctx)
				if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+schema); err != nil {
					t.Fatal(err)
				}
				if _, err := tx.Exec(ctx, q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			},
		})
	})
}

// testUsers are the users that eachDB puts in the user table (on
// PostgreSQL, user_id is a foreign key to it): active, each with the
// password "pw-ID".
var testUsers = []int{1, 2, 3, 42, 43}

func addUsers[R any](t *testing.T, exec func(q string, args ...any) (R, error)) {
	t.Helper()
	for _, id := range testUsers {
		if _, err := exec(`INSERT INTO auth_user (id, password, is_active) VALUES ($1, $2, $3)`, id, fmt.Sprintf("pw-%d", id), true); err != nil {
			t.Fatal(err)
		}
	}
}

// testLogger returns a logger that writes to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
