package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/postgres"
	"github.com/qsessions/qsessions/sqlite"
)

// openTimeout bounds connecting to a database and checking its schema.
const openTimeout = 30 * time.Second

// backendFlags choose the database of the admin commands.
type backendFlags struct {
	sqlite   string
	postgres string
	table    string
	schema   string
}

func (b *backendFlags) register(fs *flagSet) {
	fs.StringVar(&b.sqlite, "sqlite", "", "the SQLite database `file` (the demo's is "+defaultDemoDB()+")")
	fs.StringVar(&b.postgres, "postgres", "", "the PostgreSQL `DSN`, postgres://user@host/db or key=value;\nPGPASSWORD and the other libpq variables are read too")
	fs.StringVar(&b.table, "table", "", "the sessions `table` (default qsessions)")
	fs.StringVar(&b.schema, "schema", "", "the PostgreSQL `schema` holding the table (default public)")
}

// check reports a usage error unless exactly one database is named.
func (b *backendFlags) check(cmd string) error {
	switch {
	case b.sqlite == "" && b.postgres == "":
		return usagef(cmd, "no database: pass --sqlite FILE or --postgres DSN")
	case b.sqlite != "" && b.postgres != "":
		return usagef(cmd, "--sqlite and --postgres are exclusive: pass one")
	case b.sqlite != "" && b.schema != "":
		return usagef(cmd, "--schema applies to --postgres only")
	}
	return nil
}

// A backend is an open Persister and how to close it.
type backend struct {
	qsessions.Persister
	io.Closer
	name string // for messages: "sqlite database x.db"
}

// open opens the database named by the flags. It refuses a database that
// holds no sessions table rather than create one: an admin command pointed
// at the wrong database must change nothing.
func (b *backendFlags) open(ctx context.Context) (*backend, error) {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if b.sqlite != "" {
		return openSQLite(b.sqlite, b.table)
	}
	return openPostgres(ctx, b.postgres, b.schema, b.table)
}

func openSQLite(path, table string) (*backend, error) {
	name := "sqlite database " + path
	if table == "" {
		table = sqlite.DefaultTable
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s does not exist", name)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", name, err)
	case fi.IsDir():
		return nil, fmt.Errorf("%s is a directory", name)
	}
	if err := sqliteHasTable(path, table); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p, err := sqlite.Open(path, &sqlite.Options{Table: table})
	if err != nil {
		return nil, err
	}
	return &backend{Persister: p, Closer: p, name: name}, nil
}

// sqliteHasTable checks, on a read-only connection, that the file is an
// SQLite database holding the sessions table.
func sqliteHasTable(path, table string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	f, err := os.Open(abs)
	if err != nil {
		return err
	}
	var magic [16]byte
	n, _ := io.ReadFull(f, magic[:])
	f.Close()
	if string(magic[:n]) != "SQLite format 3\x00" {
		return errors.New("not an SQLite database")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "mode=ro&_busy_timeout=5000"}
	if u.Path[0] != '/' {
		u.Path = "/" + u.Path // C:/x on Windows
	}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return err
	}
	defer db.Close()
	var found int
	err = db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", table).Scan(&found)
	if err != nil {
		return fmt.Errorf("reading the schema: %w", err)
	}
	if found == 0 {
		return fmt.Errorf("no table %q: is this a qsessions database?", table)
	}
	return nil
}

func openPostgres(ctx context.Context, dsn, schema, table string) (*backend, error) {
	if schema == "" {
		schema = postgres.DefaultSchema
	}
	if table == "" {
		table = postgres.DefaultTable
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The error may quote the DSN, password included.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			return nil, errors.New("postgres: invalid DSN")
		}
		return nil, fmt.Errorf("postgres: %w", err)
	}
	name := fmt.Sprintf("postgres database %s on %s", cfg.Database, cfg.Host)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var found *string
	qualified := pgx.Identifier{schema, table}.Sanitize()
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1)::text", qualified).Scan(&found); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if found == nil {
		return nil, fmt.Errorf("%s: no table %s: is this a qsessions database?", name, qualified)
	}
	p, err := postgres.Open(ctx, dsn, &postgres.Options{Schema: schema, Table: table})
	if err != nil {
		return nil, err
	}
	return &backend{Persister: p, Closer: p, name: name}, nil
}

// A faultLog is a slog handler that counts the errors logged through it,
// so that a command can fail when the Store logged, and so survived, a
// fault (a cache eviction that failed, say).
type faultLog struct {
	slog.Handler
	errors *atomic.Int32
}

func newFaultLog(w io.Writer) *faultLog {
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})
	return &faultLog{Handler: h, errors: new(atomic.Int32)}
}

func (h *faultLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.errors.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h *faultLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &faultLog{Handler: h.Handler.WithAttrs(as), errors: h.errors}
}

func (h *faultLog) WithGroup(name string) slog.Handler {
	return &faultLog{Handler: h.Handler.WithGroup(name), errors: h.errors}
}
