package main

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/postgres"
	"github.com/qsessions/qsessions/sqlite"
)

// seedExpiry returns 3 expired and 2 live records.
func seedExpiry(t testing.TB) (expired, live []qsessions.Record) {
	now := time.Now()
	for i := range 3 {
		expired = append(expired, record(t, "alice", "192.0.2.1", macChrome, now.Add(-48*time.Hour), now.Add(-time.Duration(i+1)*time.Hour)))
	}
	live = append(live,
		record(t, "alice", "192.0.2.2", iPhoneSafari, now, now.Add(time.Hour)),
		record(t, "", "", "", now, now.Add(24*time.Hour)), // anonymous
	)
	return expired, live
}

func TestClearExpiredSQLite(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "s.db")
	expired, live := seedExpiry(t)
	seedSQLite(t, db, append(slices.Clone(expired), live...)...)

	r := cli(t, nil, "clear-expired", "--sqlite", db)
	wantExit(t, r, 0)
	if r.stdout != "deleted 3 expired sessions\n" {
		t.Errorf("stdout %q, want \"deleted 3 expired sessions\\n\"", r.stdout)
	}
	p, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range expired {
		if _, err := p.Load(context.Background(), rec.ID); !errors.Is(err, qsessions.ErrNotFound) {
			t.Errorf("expired session %s: Load returned %v, want ErrNotFound", rec.ID, err)
		}
	}
	for _, rec := range live {
		if _, err := p.Load(context.Background(), rec.ID); err != nil {
			t.Errorf("live session %s: %v", rec.ID, err)
		}
	}
	p.Close()

	r = cli(t, nil, "clear-expired", "--sqlite", db)
	wantExit(t, r, 0)
	if r.stdout != "deleted 0 expired sessions\n" {
		t.Errorf("second run: stdout %q", r.stdout)
	}
}

func TestClearExpiredPostgres(t *testing.T) {
	dsn := requireService(t, "QSESSIONS_POSTGRES_DSN", "PostgreSQL")
	t.Parallel()
	ctx := context.Background()
	table := "cli_clear_" + strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(newID(t)[:10]))
	p, err := postgres.Open(ctx, dsn, &postgres.Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropPostgresTable(t, dsn, table) })
	expired, live := seedExpiry(t)
	for _, rec := range append(slices.Clone(expired), live...) {
		if err := p.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()

	r := cli(t, nil, "clear-expired", "--postgres", dsn, "--table", table)
	wantExit(t, r, 0)
	if r.stdout != "deleted 3 expired sessions\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	p, err = postgres.Open(ctx, dsn, &postgres.Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, rec := range expired {
		if _, err := p.Load(ctx, rec.ID); !errors.Is(err, qsessions.ErrNotFound) {
			t.Errorf("expired session %s: %v", rec.ID, err)
		}
	}
	for _, rec := range live {
		if _, err := p.Load(ctx, rec.ID); err != nil {
			t.Errorf("live session %s: %v", rec.ID, err)
		}
	}

	// A table that does not exist is an error, and is not created.
	missing := table + "_missing"
	r = cli(t, nil, "clear-expired", "--postgres", dsn, "--table", missing)
	wantExit(t, r, 1, "no table", missing)
	if postgresHasTable(t, dsn, missing) {
		t.Errorf("clear-expired created the table %s", missing)
	}
}

func dropPostgresTable(t testing.TB, dsn, table string) {
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Log(err)
		return
	}
	defer conn.Close(context.Background())
	for _, name := range []string{table, table + "_migrations"} {
		if _, err := conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{"public", name}.Sanitize()); err != nil {
			t.Log(err)
		}
	}
}

func postgresHasTable(t testing.TB, dsn, table string) bool {
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var found *string
	if err := conn.QueryRow(context.Background(), "SELECT to_regclass($1)::text", pgx.Identifier{"public", table}.Sanitize()).Scan(&found); err != nil {
		t.Fatal(err)
	}
	return found != nil
}

// TestBackendErrors checks, for every command that opens a database, the
// errors of bad database flags and unreadable databases: exit 1 or 2, a
// clear message, and the file left as it was.
func TestBackendErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	garbageBytes := []byte(strings.Repeat("this is not an SQLite database\n", 10))
	os.WriteFile(garbage, garbageBytes, 0o644)
	// An SQLite database of some other application: no qsessions table.
	other := filepath.Join(dir, "other.db")
	odb, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := odb.Exec("CREATE TABLE notes (body TEXT)"); err != nil {
		t.Fatal(err)
	}
	odb.Close()
	otherBefore, _ := os.ReadFile(other)
	missing := filepath.Join(dir, "missing.db")

	commands := map[string][]string{
		"clear-expired":   {"clear-expired"},
		"sessions list":   {"sessions", "list", "--user", "alice"},
		"sessions revoke": {"sessions", "revoke", "--user", "alice"},
	}
	for name, cmd := range commands {
		for _, c := range []struct {
			name string
			args []string
			code int
			msgs []string
		}{
			{"no database", nil, 2, []string{"no database: pass --sqlite FILE or --postgres DSN", "qsessions " + name + " --help"}},
			{"two databases", []string{"--sqlite", missing, "--postgres", "postgres://x"}, 2, []string{"exclusive"}},
			{"schema with sqlite", []string{"--sqlite", missing, "--schema", "s"}, 2, []string{"--schema"}},
			{"bad flag", []string{"--sqlite", missing, "--nope"}, 2, []string{"flag provided but not defined: -nope"}},
			{"missing file", []string{"--sqlite", missing}, 1, []string{"sqlite database " + missing + " does not exist"}},
			{"directory", []string{"--sqlite", dir}, 1, []string{"is a directory"}},
			{"garbage file", []string{"--sqlite", garbage}, 1, []string{"not an SQLite database"}},
			{"other database", []string{"--sqlite", other}, 1, []string{`no table "qsessions"`, "is this a qsessions database?"}},
			{"bad DSN", []string{"--postgres", "postgres://u:hunter2@127.0.0.1:1/db?sslmode=nonsense"}, 1, []string{"invalid DSN"}},
			{"unreachable server", []string{"--postgres", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=5"}, 1, []string{"127.0.0.1"}},
		} {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				r := cli(t, nil, append(slices.Clone(cmd), c.args...)...)
				wantExit(t, r, c.code, c.msgs...)
				if strings.Contains(r.stderr, "hunter2") {
					t.Error("the password in the DSN is printed")
				}
				if r.stdout != "" {
					t.Errorf("stdout is not empty on failure\n%s", r)
				}
			})
		}
	}
	if b, _ := os.ReadFile(garbage); string(b) != string(garbageBytes) {
		t.Error("the garbage file was changed")
	}
	if b, _ := os.ReadFile(other); string(b) != string(otherBefore) {
		t.Error("the other application's database was changed")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a missing database file was created")
	}

	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"clear-expired", "--sqlite", missing, "--batch", "10"}, "flag provided but not defined: -batch"},
		{[]string{"clear-expired", "--sqlite", missing, "extra"}, `unexpected argument "extra"`},
	} {
		wantExit(t, cli(t, nil, c.args...), 2, c.msg)
	}
}
