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
	{2, insertVersioned, func(r qsessions.Record) int64 { return r.Version }},
	{3, insertVersioned, func(r qsessions.Record) int64 { return r.Version }},
}

// insertVersioned stores r as versions 2 and 3 of Create did.
func insertVersioned(tbl string, r qsessions.Record) (string, []any) {
	return "INSERT INTO " + tbl + " (id, version, data, user_id, ip, user_agent, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		[]any{r.ID, r.Version, r.Data, r.UserID, r.IP, r.UserAgent, r.CreatedAt, r.UpdatedAt, r.ExpiresAt}
}

// TestMigrate opens, with this version of the package, a table written by
// each released schema version and checks that every record is kept,
// version included, reads the fields that version did not have as zero (no
// authentication, no binding) and works like a new one; and that the
// migrated table is the one a new database gets.
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
				if !got.AuthenticatedAt.IsZero() || got.AuthMethod != "" || got.Binding != nil {
					t.Fatalf("Load(%s) after migration: AuthenticatedAt %v, AuthMethod %q, Binding %#v; want the zero time, \"\" and nil",
						want.ID, got.AuthenticatedAt, got.AuthMethod, got.Binding)
				}
			}

			// A server still running the old version (a rolling deploy)
			// inserts rows the old way; they read as unauthenticated and
			// unbound.
			late := record("late", "user2", base, base.Add(time.Hour))
			q, args := rel.insert(table(schema, ""), late)
			if _, err := pool.Exec(ctx, q, args...); err != nil {
				t.Fatalf("insert the version %d way into a migrated table: %v", rel.version, err)
			}
			late.Version = rel.stored(late)
			if got, err := p.Load(ctx, late.ID); err != nil || !sameRecord(got, late) {
				t.Fatalf("Load of a row inserted the version %d way after migration = %+v, %v; want %+v", rel.version, got, err, late)
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

			// Update with the version read works, bumps it and stores the
			// new fields; with a stale one it conflicts and writes nothing.
			up := old[4]
			up.Data = []byte("changed after migration")
			up.AuthenticatedAt = base.Add(90 * time.Second)
			up.AuthMethod = "passkey"
			up.Binding = []byte{2, 1, 0, 0xff}
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
			list, err = p.ListByUser(ctx, up.UserID)
			if err != nil || len(list) != 4 || list[2].ID != up.ID {
				t.Fatalf("ListByUser(%s) after Update = %+v, %v; want %s third of 4", up.UserID, list, err, up.ID)
			}
			up.Data = nil
			if !sameRecord(list[2], up) {
				t.Fatalf("ListByUser(%s) after Update lists %+v, want %+v", up.UserID, list[2], up)
			}
			fresh := old[6].Clone()
			fresh.ID = "fresh"
			fresh.AuthenticatedAt = base
			fresh.AuthMethod = "password"
			fresh.Binding = []byte("bound")
			if err := p.Create(ctx, fresh); err != nil {
				t.Fatal(err)
			}
			if got, err := p.Load(ctx, fresh.ID); err != nil || !sameRecord(got, fresh) {
				t.Fatalf("Load after Create = %+v, %v; want %+v", got, err, fresh)
			}

			// The migrated table is the one New creates in an empty
			// schema (which also checks the fixture against the
			// migrations it copies), and listings are still index-only
			// scans.
			if got, want := tableDefinition(t, schema), tableDefinition(t, newSchema(t)); got != want {
				t.Fatalf("table migrated from version %d:\n%s\nnew table:\n%s", rel.version, got, want)
			}
			if plan := explain(t, postgres.ListQuery(p), "user1"); !strings.Contains(plan, "Index Only Scan using qsessions_user_listing_idx") {
				t.Errorf("ListByUser on the migrated table is not an index-only scan of the user index:\n%s", plan)
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
			want := []string{"1 0001_create_sessions", "2 0002_record_version", "3 0003_user_listing_index",
				"4 0004_authentication", "5 0005_device_binding"}
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

// sameRecord reports whether a and b hold the same fields, telling nil Data
// and Binding from empty ones (this package keeps them apart).
func sameRecord(a, b qsessions.Record) bool {
	return a.ID == b.ID && a.Version == b.Version && string(a.Data) == string(b.Data) && (a.Data == nil) == (b.Data == nil) &&
		a.UserID == b.UserID && a.IP == b.IP && a.UserAgent == b.UserAgent &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) &&
		a.AuthenticatedAt.Equal(b.AuthenticatedAt) && a.AuthMethod == b.AuthMethod &&
		string(a.Binding) == string(b.Binding) && (a.Binding == nil) == (b.Binding == nil)
}

// newSchema returns a fresh schema in which New has created the table.
func newSchema(t *testing.T) string {
	t.Helper()
	_, schema := newPersister(t, nil)
	return schema
}

// tableDefinition describes the sessions table's columns and indexes,
// with the schema's name left out so that two schemas can be compared.
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
	return strings.ReplaceAll(strings.Join(lines, "\n"), schema, "<schema>")
}
