package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SchemaVersion is the schema version this package migrates to and expects.
const SchemaVersion = len(migrations)

// A migration takes a sessions table from one schema version to the next.
// Its SQL may hold several statements; in it {{table}} stands for the
// table's quoted, schema-qualified name, {{schema}} for the quoted schema
// name and {{name}} for the table's bare name, from which index names are
// derived.
type migration struct {
	name string // recorded as NNNN_name in the migrations table
	sql  string
}

// migrations[i] takes a sessions table from version i to version i+1, all of
// them in one transaction. Append; never edit a released entry, since
// databases in the field were made by it.
var migrations = [...]migration{
	{"create_sessions", `
CREATE TABLE {{table}} (
	id         text COLLATE "C" PRIMARY KEY,   -- SHA-256 of the token, base64url
	data       bytea,                          -- NULL stores a nil Record.Data
	user_id    text COLLATE "C" NOT NULL,      -- '' for an anonymous session
	ip         text NOT NULL,
	user_agent text NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);

-- ListByUser and DeleteByUser: WHERE user_id = $1 ORDER BY updated_at DESC.
CREATE INDEX "{{name}}_user_updated_at_idx" ON {{table}} (user_id, updated_at DESC);

-- DeleteExpired: WHERE expires_at < $1 ORDER BY expires_at LIMIT $2.
CREATE INDEX "{{name}}_expires_at_idx" ON {{table}} (expires_at);`},

	// Version 2: Record.Version, for Update's compare-and-swap. Rows
	// written before it are version 1. A constant default adds the column
	// without rewriting the table.
	{"record_version", `ALTER TABLE {{table}} ADD COLUMN version bigint NOT NULL DEFAULT 1;`},

	// Version 3: ListByUser served by an index-only scan. The user index
	// carries, besides its key, every column a listing returns but the
	// values, so that listing a user's sessions reads no table rows; its
	// key ends with id, the listing's tie-break, so that nothing is sorted.
	// It replaces the version-1 user index, which DeleteByUser used too.
	{"user_listing_index", `
CREATE INDEX "{{name}}_user_listing_idx" ON {{table}} (user_id, updated_at DESC, id)
	INCLUDE (version, ip, user_agent, created_at, expires_at);
DROP INDEX {{schema}}."{{name}}_user_updated_at_idx";`},

	// Version 4: Record.AuthenticatedAt and Record.AuthMethod. Rows written
	// before it are anonymous or signed in by unknown means: the zero time
	// (which pgx reads back as the zero time.Time, in any session time
	// zone) and no method. Constant defaults add the columns without
	// rewriting the table, and let servers still running the previous
	// version insert rows while a rolling deploy is under way. The user
	// index is rebuilt to carry them, so that listings stay index-only.
	{"authentication", `
ALTER TABLE {{table}}
	ADD COLUMN authenticated_at timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00+00',
	ADD COLUMN auth_method      text        NOT NULL DEFAULT '';
DROP INDEX {{schema}}."{{name}}_user_listing_idx";
CREATE INDEX "{{name}}_user_listing_idx" ON {{table}} (user_id, updated_at DESC, id)
	INCLUDE (version, ip, user_agent, created_at, expires_at, authenticated_at, auth_method);`},

	// Version 5: Record.Binding, the device-binding state; NULL when the
	// session is unbound, as every row written before it is. The user
	// index is rebuilt to carry it too: a listing shows which sessions
	// are bound.
	{"device_binding", `
ALTER TABLE {{table}} ADD COLUMN binding bytea;
DROP INDEX {{schema}}."{{name}}_user_listing_idx";
CREATE INDEX "{{name}}_user_listing_idx" ON {{table}} (user_id, updated_at DESC, id)
	INCLUDE (version, ip, user_agent, created_at, expires_at, authenticated_at, auth_method, binding);`},
}

// migrationName is the name a migration is recorded under: the version, on
// four digits, and its name.
func migrationName(version int) string {
	return fmt.Sprintf("%04d_%s", version, migrations[version-1].name)
}

// advisoryKey is the pg_advisory_xact_lock key that serialises migrations
// of one table: a hash of its schema-qualified name.
func advisoryKey(schema, table string) int64 {
	h := fnv.New64a()
	h.Write([]byte("qsessions/postgres migrate " + schema + "." + table))
	return int64(h.Sum64())
}

// querier is what schemaVersion needs of a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaVersion returns the schema version recorded in the migrations
// table, 0 when there is none.
func schemaVersion(ctx context.Context, q querier, versions string) (int, error) {
	var found *string
	if err := q.QueryRow(ctx, "SELECT to_regclass($1)::text", versions).Scan(&found); err != nil {
		return 0, fmt.Errorf("look up migrations table: %w", err)
	}
	if found == nil {
		return 0, nil
	}
	var v int
	if err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+versions).Scan(&v); err != nil {
		return 0, fmt.Errorf("read version: %w", err)
	}
	return v, nil
}

// migrate brings schema.table up to SchemaVersion. A table that is up to
// date is only read, so a role without CREATE privilege can open it.
// Otherwise the migrations run in one transaction, serialised across
// processes by an advisory lock.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema, table string) (err error) {
	wrap := func(step string, err error) error {
		if step == "" {
			return fmt.Errorf("postgres: migrate %s.%s: %w", schema, table, err)
		}
		return fmt.Errorf("postgres: migrate %s.%s: %s: %w", schema, table, step, err)
	}
	newer := func(v int) error {
		return fmt.Errorf("postgres: %s.%s is at schema version %d, newer than the %d this version of qsessions knows; upgrade qsessions",
			schema, table, v, SchemaVersion)
	}
	versions := pgx.Identifier{schema, table + "_migrations"}.Sanitize()
	v, err := schemaVersion(ctx, pool, versions)
	if err != nil {
		return wrap("", err)
	}
	if v == SchemaVersion {
		return nil
	}
	if v > SchemaVersion {
		return newer(v)
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			// Rollback on a broken connection fails too; the original
			// error is the one worth returning.
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", advisoryKey(schema, table)); err != nil {
		return wrap("advisory lock", err)
	}
	// CREATE SCHEMA IF NOT EXISTS would need the CREATE privilege on the
	// database even when the schema exists.
	var schemaExists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&schemaExists); err != nil {
		return wrap("look up schema", err)
	}
	if !schemaExists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return wrap("create schema", err)
		}
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+versions+` (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
		return wrap("create migrations table", err)
	}
	// Read again under the lock: another server may have migrated
	// meanwhile.
	if v, err = schemaVersion(ctx, tx, versions); err != nil {
		return wrap("", err)
	}
	if v > SchemaVersion {
		return newer(v)
	}
	placeholders := strings.NewReplacer(
		"{{table}}", pgx.Identifier{schema, table}.Sanitize(),
		"{{schema}}", pgx.Identifier{schema}.Sanitize(),
		"{{name}}", table,
	)
	for ; v < SchemaVersion; v++ {
		name := migrationName(v + 1)
		// Without arguments pgx uses the simple protocol, which runs a
		// script of several statements.
		if _, err := tx.Exec(ctx, placeholders.Replace(migrations[v].sql)); err != nil {
			return wrap("apply "+name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+versions+" (version, name) VALUES ($1, $2)", v+1, name); err != nil {
			return wrap("record "+name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap("commit", err)
	}
	return nil
}
