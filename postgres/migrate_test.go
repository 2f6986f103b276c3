package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/postgres"
)

// released lists the schema versions that released versions of the package
// wrote: testdata/schemaN.sql recreates a table of version N, insert stores
// a record the way that version's Create did, and stored is the version a
// record stored so has after migration (version 1 for rows written before
// versions existed).
var released = []struct {
	version int
	insert  func(tbl string, r qsessions.Record) (string, []any)
	stored  func(r qsessions.Record) int64
}{
	{1, func(tbl string, r qsessions.Record) (string, []any) {
		return "INSERT INTO " + tbl + " (id, data, user_id, ip, user_agent, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			[]any{r.ID, r.Data, r.UserID, r.IP, r.UserAgent, r.CreatedAt, r.UpdatedAt, r.ExpiresAt}
	}, func(qsessions.Record) int64 { return 1 }},
	{2, func(tbl string, r qsessions.Record) (string, []any) {
		return "INSERT INTO " + tbl + " (id, version, data, user_id, ip, user_agent, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			[]any{r.ID, r.Version, r.Data, r.UserID, r.IP, r.UserAgent, r.CreatedAt, r.UpdatedAt, r.ExpiresAt}
	}, func(r qsessions.Record) int64 { return r.Version }},
}

// TestMigrate opens, with this version of the package, a table written by
// each released schema version and checks that every record is kept,
// version included, and works like a new one.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	pool := testPool(t)
	for _, rel := range released {
		t.Run(fmt.Sprint("FromVersion", rel.version), func(t *testing.T) {
			schema := freshSchema(t)
			fixture, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("schema%d.sql", rel.version)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(ctx, strings.ReplaceAll(string(fixture), "{{schema}}", schema)); err != nil {
				t.Fatalf("recreate a version %d table: %v", rel.version, err)
			}
			base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			var old []qsessions.Record
			for i := range 12 {
				r := record(fmt.Sprint("old", i), fmt.Sprint("user", i%3), base.Add(time.Duration(i)*time.Minute), base.Add(time.Hour))
				r.Version = int64(1 + i%4)
				switch i {
				case 0:
					r.Data = nil
				case 1:
					r.Data = []byte{}
				case 2:
					r.UserID = ""
				case 3:
					r.ExpiresAt = base.Add(-time.Hour)
				}
				q, args := rel.insert(table(schema, ""), r)
				if _, err := pool.Exec(ctx, q, args...); err != nil {
					t.Fatalf("insert %s the version %d way: %v", r.ID, rel.version, err)
				}
				r.Version = rel.stored(r)
				old = append(old, r)
			}

			p, err := postgres.New(ctx, pool, &postgres.Options{Schema: schema})
			if err != nil {
				t.Fatalf("New on a version %d table: %v", rel.version, err)
			}
			for _, want := range old {
				got, err := p.Load(ctx, want.ID)
				if err != nil {
					t.Fatalf("Load(%s) after migration: %v", want.ID, err)
				}
				if !sameRecord(got, want) {
					t.Fatalf("Load(%s) after migration = %+v, want %+v", want.ID, got, want)
				}
			}
			list, err := p.ListByUser(ctx, "user1")
			if err != nil || len(list) != 4 {
				t.Fatalf("ListByUser(user1) after migration = %d records, %v; want 4", len(list), err)
			}
			for i, r := range list {
				want := old[10-3*i] // newest UpdatedAt first: old10, old7, old4, old1
				want.Data = nil
				if !sameRecord(r, want) {
					t.Errorf("ListByUser(user1)[%d] = %+v, want %+v", i, r, want)
				}
			}

			// Update with the version read works and bumps it; with a
			// stale one it conflicts and writes nothing.
			up := old[5]
			up.Data = []byte("changed after migration")
			if err := p.Update(ctx, up); err != nil {
				t.Fatalf("Update with version %d: %v", up.Version, err)
			}
			stale := up
			stale.Data = []byte("stale")
			if err := p.Update(ctx, stale); !errors.Is(err, qsessions.ErrConflict) {
				t.Fatalf("Update with a stale version: %v, want ErrConflict", err)
			}
			up.Version++
			if got, err := p.Load(ctx, up.ID); err != nil || !sameRecord(got, up) {
				t.Fatalf("Load after Update = %+v, %v; want %+v", got, err, up)
			}

			// The migrations table records every version once.
			rows, err := pool.Query(ctx, "SELECT version, name FROM "+table(schema, "qsessions_migrations")+" ORDER BY version")
			if err != nil {
				t.Fatal(err)
			}
			names, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
				var v int
				var name string
				err := r.Scan(&v, &name)
				return fmt.Sprint(v, " ", name), err
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"1 0001_create_sessions", "2 0002_record_version", "3 0003_user_listing_index"}
			if !slices.Equal(names, want[:postgres.SchemaVersion]) || postgres.SchemaVersion > len(want) {
				t.Fatalf("migrations table holds %q, want one row per version up to %d", names, postgres.SchemaVersion)
			}

			// A second New is a no-op: it changes neither the schema nor
			// the bookkeeping.
			before := tableDefinition(t, schema)
			if _, err := postgres.New(ctx, pool, &postgres.Options{Schema: schema}); err != nil {
				t.Fatalf("second New: %v", err)
			}
			if after := tableDefinition(t, schema); after != before {
				t.Fatalf("a second New changed the table:\n%s\nwas:\n%s", after, before)
			}
			if n := countRows(t, schema, "qsessions_migrations", "true"); n != postgres.SchemaVersion {
				t.Fatalf("after a second New: %d migration rows, want %d", n, postgres.SchemaVersion)
			}

			// A newer version than this package knows is refused.
			if _, err := pool.Exec(ctx, "INSERT INTO "+table(schema, "qsessions_migrations")+" (version, name) VALUES ($1, 'from_the_future')",
				postgres.SchemaVersion+1); err != nil {
				t.Fatal(err)
			}
			_, err = postgres.New(ctx, pool, &postgres.Options{Schema: schema})
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d, newer than the %d", postgres.SchemaVersion+1, postgres.SchemaVersion)) {
				t.Fatalf("New on a newer schema: %v, want an error naming both versions", err)
			}
		})
	}
}

func sameRecord(a, b qsessions.Record) bool {
	return a.ID == b.ID && a.Version == b.Version && string(a.Data) == string(b.Data) && (a.Data == nil) == (b.Data == nil) &&
		a.UserID == b.UserID && a.IP == b.IP && a.UserAgent == b.UserAgent &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

// tableDefinition describes the sessions table's columns and indexes.
func tableDefinition(t *testing.T, schema string) string {
	t.Helper()
	rows, err := testPool(t).Query(context.Background(), `
		SELECT 'column ' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'qsessions'
		UNION ALL
		SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'qsessions'
		ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
