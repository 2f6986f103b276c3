package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema, one file per version: migrations/NNNN_description.sql.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string // file name without extension
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".sql")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: embedded migration %q: no version number", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("postgres: embedded migrations: %w", err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("postgres: embedded migrations: version %d missing", i+1)
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("postgres: no embedded migrations")
	}
	return ms, nil
}

// SchemaVersion is the schema version this package migrates to and expects.
const SchemaVersion = 1

// advisoryKey is the pg_advisory_xact_lock key that serialises migrations
// of one table: a hash of its schema-qualified name.
func advisoryKey(schema, table string) int64 {
	h := fnv.New64a()
	h.Write([]byte("qsessions/postgres migrate " + schema + "." + table))
	return int64(h.Sum64())
}

// migrate brings schema.table up to SchemaVersion in one transaction,
// serialised across processes by an advisory lock. It runs DDL only for what
// is missing, so it needs no CREATE privilege on an up-to-date database.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema, table string) (err error) {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if ms[len(ms)-1].version != SchemaVersion {
		return fmt.Errorf("postgres: embedded migrations end at version %d, want %d", ms[len(ms)-1].version, SchemaVersion)
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
	wrap := func(step string, err error) error {
		return fmt.Errorf("postgres: migrate %s.%s: %s: %w", schema, table, step, err)
	}

	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", advisoryKey(schema, table)); err != nil {
		return wrap("advisory lock", err)
	}

	var schemaExists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&schemaExists); err != nil {
		return wrap("look up schema", err)
	}
	if !schemaExists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return wrap("create schema", err)
		}
	}

	versions := pgx.Identifier{schema, table + "_migrations"}.Sanitize()
	var found *string
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1)::text", versions).Scan(&found); err != nil {
		return wrap("look up migrations table", err)
	}
	if found == nil {
		_, err := tx.Exec(ctx, "CREATE TABLE "+versions+` (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`)
		if err != nil {
			return wrap("create migrations table", err)
		}
	}

	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+versions).Scan(&current); err != nil {
		return wrap("read version", err)
	}
	if current > SchemaVersion {
		return fmt.Errorf("postgres: %s.%s is at schema version %d, newer than the %d this version of qsessions knows; upgrade qsessions",
			schema, table, current, SchemaVersion)
	}

	placeholders := strings.NewReplacer(
		"{{table}}", pgx.Identifier{schema, table}.Sanitize(),
		"{{user_index}}", pgx.Identifier{table + "_user_updated_at_idx"}.Sanitize(),
		"{{expires_index}}", pgx.Identifier{table + "_expires_at_idx"}.Sanitize(),
	)
	for _, m := range ms[current:] {
		// Without arguments pgx uses the simple protocol, which runs a
		// script of several statements.
		if _, err := tx.Exec(ctx, placeholders.Replace(m.sql)); err != nil {
			return wrap("apply "+m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+versions+" (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return wrap("record "+m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap("commit", err)
	}
	return nil
}
