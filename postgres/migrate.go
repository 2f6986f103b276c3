package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/binding"
)

// SchemaVersion is the schema version this package migrates to and expects.
const SchemaVersion = len(migrations)

// A migration takes a sessions table from one schema version to the next:
// it runs sql, then fill (when set) for what SQL alone cannot do, then
// sqlAfter. Its SQL may hold several statements; in it {{table}} stands for
// the table's quoted, schema-qualified name, {{schema}} for the quoted
// schema name and {{name}} for the table's bare name, from which index
// names are derived.
type migration struct {
	name     string // recorded as NNNN_name in the migrations table
	sql      string
	fill     func(ctx context.Context, tx pgx.Tx, table string) error // table quoted, schema-qualified
	sqlAfter string
}

// migrations[i] takes a sessions table from version i to version i+1, all of
// them in one transaction. Append; never edit a released entry, since
// databases in the field were made by it.
var migrations = [...]migration{
	{name: "create_sessions", sql: `
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
	{name: "record_version", sql: `ALTER TABLE {{table}} ADD COLUMN version bigint NOT NULL DEFAULT 1;`},

	// Version 3: ListByUser served by an index-only scan. The user index
	// carries, besides its key, every column a listing returns but the
	// values, so that listing a user's sessions reads no table rows; its
	// key ends with id, the listing's tie-break, so that nothing is sorted.
	// It replaces the version-1 user index, which DeleteByUser used too.
	{name: "user_listing_index", sql: `
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
	{name: "authentication", sql: `
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
	{name: "device_binding", sql: `
ALTER TABLE {{table}} ADD COLUMN binding bytea;
DROP INDEX {{schema}}."{{name}}_user_listing_idx";
CREATE INDEX "{{name}}_user_listing_idx" ON {{table}} (user_id, updated_at DESC, id)
	INCLUDE (version, ip, user_agent, created_at, expires_at, authenticated_at, auth_method, binding);`},

	// Version 6: the narrow Record. Everything the Store keeps about a
	// session beyond the columns this package indexes or orders by travels
	// in Meta, a blob that package qsessions encodes and this package
	// stores as it is: in meta, which the user index includes, or when it
	// is too long for an index entry in meta_overflow (see splitMeta). The
	// user index is dropped first, so that filling them does not maintain
	// it; fillMeta encodes each row's ip, user_agent, created_at,
	// authenticated_at, auth_method and binding as qsessions.EncodeMeta
	// does; those columns are dropped; the user index is built again to
	// carry meta, so that listings stay index-only. Servers still running
	// an older version fail from then on (their statements name the
	// dropped columns), so none of them can write a session that the new
	// ones would read without its metadata or its binding.
	{name: "narrow_record", sql: `
ALTER TABLE {{table}} ADD COLUMN meta bytea, ADD COLUMN meta_overflow bytea;
DROP INDEX {{schema}}."{{name}}_user_listing_idx";`,
		fill: fillMeta,
		sqlAfter: `
ALTER TABLE {{table}}
	DROP COLUMN ip, DROP COLUMN user_agent, DROP COLUMN created_at,
	DROP COLUMN authenticated_at, DROP COLUMN auth_method, DROP COLUMN binding;
CREATE INDEX "{{name}}_user_listing_idx" ON {{table}} (user_id, updated_at DESC, id)
	INCLUDE (version, expires_at, meta);`},
}

// fillBatch is how many rows one statement of fillMeta reads and writes.
const fillBatch = 1000

// fillMeta sets the meta (or meta_overflow) column of every row of a
// version-5 table (during migration 6) to the encoding of its metadata
// columns, in batches of fillBatch rows in ID order. Times are read as Unix
// milliseconds, the precision Meta keeps, so that the zero time that
// versions 4 and 5 stored as 0001-01-01 reads back exactly whatever the
// session time zone and protocol.
func fillMeta(ctx context.Context, tx pgx.Tx, table string) error {
	const cols = "id, ip, user_agent, floor(extract(epoch FROM created_at) * 1000)::bigint," +
		" floor(extract(epoch FROM authenticated_at) * 1000)::bigint, auth_method, binding"
	first := "SELECT " + cols + " FROM " + table + " ORDER BY id LIMIT $1"
	next := "SELECT " + cols + " FROM " + table + " WHERE id > $2 ORDER BY id LIMIT $1"
	update := "UPDATE " + table + " AS t SET meta = v.meta, meta_overflow = v.overflow" +
		" FROM unnest($1::text[], $2::bytea[], $3::bytea[]) AS v(id, meta, overflow) WHERE t.id = v.id"
	ids := make([]string, 0, fillBatch)
	listed := make([][]byte, 0, fillBatch)
	overflow := make([][]byte, 0, fillBatch)
	args := []any{fillBatch}
	for q := first; ; q = next {
		ids, listed, overflow = ids[:0], listed[:0], overflow[:0]
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, ip, ua, method string
			var created, authAt int64
			var bind []byte
			if err := rows.Scan(&id, &ip, &ua, &created, &authAt, &method, &bind); err != nil {
				rows.Close()
				return err
			}
			meta := qsessions.EncodeMeta(qsessions.SessionInfo{
				IP:              ip,
				UserAgent:       ua,
				CreatedAt:       time.UnixMilli(created).UTC(),
				AuthenticatedAt: time.UnixMilli(authAt).UTC(),
				AuthMethod:      method,
			})
			if len(bind) > 0 {
				if meta, err = binding.SetInMeta(meta, bind); err != nil {
					rows.Close()
					return fmt.Errorf("session %q: %w", id, err)
				}
			}
			l, o := splitMeta(meta)
			ids, listed, overflow = append(ids, id), append(listed, l), append(overflow, o)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, update, ids, listed, overflow); err != nil {
			return err
		}
		if len(ids) < fillBatch {
			return nil
		}
		args = []any{fillBatch, ids[len(ids)-1]}
	}
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
		m := migrations[v]
		// Without arguments pgx uses the simple protocol, which runs a
		// script of several statements.
		if _, err := tx.Exec(ctx, placeholders.Replace(m.sql)); err != nil {
			return wrap("apply "+name, err)
		}
		if m.fill != nil {
			if err := m.fill(ctx, tx, pgx.Identifier{schema, table}.Sanitize()); err != nil {
				return wrap("apply "+name, err)
			}
		}
		if m.sqlAfter != "" {
			if _, err := tx.Exec(ctx, placeholders.Replace(m.sqlAfter)); err != nil {
				return wrap("apply "+name, err)
			}
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
