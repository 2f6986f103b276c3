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
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	goredis "github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/postgres"
	qsredis "github.com/qsessions/qsessions/redis"
	"github.com/qsessions/qsessions/sqlite"
)

// openTimeout bounds connecting to a database and checking its schema.
const openTimeout = 30 * time.Second

// backendFlags choose the database of the admin commands.
type backendFlags struct {
	sqlite      string
	postgres    string
	redis       string // --redis-persister
	redisPrefix string
	table       string
	schema      string
}

func (b *backendFlags) register(fs *flagSet) {
	fs.StringVar(&b.sqlite, "sqlite", "", "the SQLite database `file` (the demo's is "+defaultDemoDB()+")")
	fs.StringVar(&b.postgres, "postgres", "", "the PostgreSQL `DSN`, postgres://user@host/db or key=value;\nPGPASSWORD and the other libpq variables are read too")
	fs.StringVar(&b.table, "table", "", "the sessions `table` (default qsessions)")
	fs.StringVar(&b.schema, "schema", "", "the PostgreSQL `schema` holding the table (default public)")
	fs.StringVar(&b.redis, "redis-persister", "", "the Redis that stores the sessions (package redis): `ADDR` host:port, a redis:// URL,\nor host:port,host:port,... of a Redis Cluster")
	fs.StringVar(&b.redisPrefix, "redis-prefix", "", "the key `prefix` of --redis-persister's sessions (default "+qsredis.DefaultPrefix+")")
}

// check reports a usage error unless exactly one database is named.
func (b *backendFlags) check(cmd string) error {
	n := 0
	for _, v := range []string{b.sqlite, b.postgres, b.redis} {
		if v != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return usagef(cmd, "no database: pass --sqlite FILE or --postgres DSN (or --redis-persister ADDR)")
	case n > 1:
		return usagef(cmd, "--sqlite, --postgres and --redis-persister are exclusive: pass one")
	case b.postgres == "" && b.schema != "":
		return usagef(cmd, "--schema applies to --postgres only")
	case b.redis != "" && b.table != "":
		return usagef(cmd, "--table applies to --sqlite and --postgres only")
	case b.redis == "" && b.redisPrefix != "":
		return usagef(cmd, "--redis-prefix applies to --redis-persister only")
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
	switch {
	case b.sqlite != "":
		return openSQLite(b.sqlite, b.table)
	case b.redis != "":
		return openRedisPersister(ctx, b.redis, b.redisPrefix)
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

// openRedisPersister connects to the Redis at addr: host:port, a redis://
// or rediss:// URL, or the comma-separated host:port of Redis Cluster
// nodes (one node of a cluster is enough: it is recognised as such).
func openRedisPersister(ctx context.Context, addr, prefix string) (*backend, error) {
	var client goredis.UniversalClient
	name := "redis persister at " + addr
	switch {
	case strings.Contains(addr, "://"):
		o, err := goredis.ParseURL(addr)
		if err != nil {
			// The error may quote the URL, password included.
			return nil, errors.New("redis: invalid URL in --redis-persister")
		}
		name = "redis persister at " + o.Addr
		client = goredis.NewClient(o)
	case strings.Contains(addr, ","):
		client = goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: strings.Split(addr, ","), MaxRetries: 1})
	default:
		client = goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: 1})
	}
	goredis.SetLogger(quietRedis{})
	if c, ok := client.(*goredis.Client); ok {
		info, err := c.Info(ctx, "cluster").Result()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if strings.Contains(info, "cluster_enabled:1") {
			o := c.Options()
			client = goredis.NewClusterClient(&goredis.ClusterOptions{
				Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig, MaxRetries: 1,
			})
			c.Close()
		}
	}
	p, err := qsredis.New(client, &qsredis.Options{Prefix: prefix})
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &backend{Persister: p, Closer: client, name: name}, nil
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
