//go:build !js && !wasip1

package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/sqlite"
)

// released lists the schema versions that released versions of the package
// wrote: testdata/schemaN.sql recreates a database of version N, insert
// stores a record the way that version's Create did, and stored is the
// version a record stored so has after migration (version 1 for rows
// written before versions existed).
var released = []struct {
	version int
	insert  func(r qsessions.Record) (string, []any)
	stored  func(r qsessions.Record) int64
}{
	{1, func(r qsessions.Record) (string, []any) {
		return `INSERT INTO "qsessions" (id, data, user_id, ip, user_agent, created_at, updated_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			[]any{r.ID, r.Data, r.UserID, r.IP, r.UserAgent,
				r.CreatedAt.UnixMilli(), r.UpdatedAt.UnixMilli(), r.ExpiresAt.UnixMilli()}
	}, func(qsessions.Record) int64 { return 1 }},
	{2, func(r qsessions.Record) (string, []any) {
		return `INSERT INTO "qsessions" (id, version, data, user_id, ip, user_agent, created_at, updated_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			[]any{r.ID, r.Version, r.Data, r.UserID, r.IP, r.UserAgent,
				r.CreatedAt.UnixMilli(), r.UpdatedAt.UnixMilli(), r.ExpiresAt.UnixMilli()}
	}, func(r qsessions.Record) int64 { return r.Version }},
	{3, func(r qsessions.Record) (string, []any) {
		// Version 3's listing text: the first line of today's.
		text := fmt.Sprintf("%d %d %d %d %d %d %d %s%s%s", r.Version, r.CreatedAt.UnixMilli(), r.UpdatedAt.UnixMilli(),
			r.ExpiresAt.UnixMilli(), len(r.ID), len(r.IP), len(r.UserAgent), r.ID, r.IP, r.UserAgent)
		return `INSERT INTO "qsessions" (id, version, user_id, updated_at, expires_at, listing, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			[]any{r.ID, r.Version, r.UserID, r.UpdatedAt.UnixMilli(), r.ExpiresAt.UnixMilli(), text, r.Data}
	}, func(r qsessions.Record) int64 { return r.Version }},
}

// oldRecords are the records the migration tests store the old way: a mix
// of users, an anonymous session, nil, empty and binary data, an expired
// session.
func oldRecords() []qsessions.Record {
	var rs []qsessions.Record
	for i := range 12 {
		r := record(fmt.Sprint("old", i), fmt.Sprint("user", i%3), base.Add(time.Duration(i)*time.Minute))
		r.Version = int64(1 + i%4)
		// Expiry out of insertion order, as SetMaxAge makes it.
		r.ExpiresAt = base.Add(time.Duration(24-i) * time.Hour)
		switch i {
		case 0:
			r.Data = nil
		case 1:
			r.Data = []byte{}
		case 2:
			r.Data = []byte{0, 0xff, 0}
		case 3:
			r.UserID = ""
		case 4:
			r.ExpiresAt = base.Add(-time.Hour)
		}
		rs = append(rs, r)
	}
	return rs
}

// TestMigrate opens, with this version of the package, a database written
// by each released schema version and checks that every record is kept,
// version included, and works like a new one.
func TestMigrate(t *testing.T) {
	for _, rel := range released {
		t.Run(fmt.Sprint("FromVersion", rel.version), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "old.db")
			fixture, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("schema%d.sql", rel.version)))
			if err != nil {
				t.Fatal(err)
			}
			db := openDB(t, path, "")
			if _, err := db.Exec(string(fixture)); err != nil {
				t.Fatalf("recreate a version %d database: %v", rel.version, err)
			}
			old := oldRecords()
			for _, r := range old {
				q, args := rel.insert(r)
				if _, err := db.Exec(q, args...); err != nil {
					t.Fatalf("insert %s the version %d way: %v", r.ID, rel.version, err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			p, err := sqlite.Open(path, nil)
			if err != nil {
				t.Fatalf("Open of a version %d database: %v", rel.version, err)
			}
			for i := range old {
				old[i].Version = rel.stored(old[i])
				wantLoad(t, p, old[i])
			}
			got, err := p.ListByUser(ctx, "user1")
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"old10", "old7", "old4", "old1"}; !slices.Equal(ids(got), want) {
				t.Fatalf("ListByUser(user1) after migration = %v, want %v", ids(got), want)
			}
			for _, r := range got {
				want := old[slices.IndexFunc(old, func(o qsessions.Record) bool { return o.ID == r.ID })]
				want.Data = nil
				if !equalRecord(r, want) {
					t.Errorf("ListByUser: %+v, want %+v", r, want)
				}
			}
			// The oldest expiry goes first: old4 (expired), then old11.
			if n, err := p.DeleteExpired(ctx, base.Add(14*time.Hour), 2); err != nil || n != 2 {
				t.Fatalf("DeleteExpired(limit 2) = %d, %v; want 2", n, err)
			}
			wantNotFound(t, p, "old4")
			wantNotFound(t, p, "old11")
			wantLoad(t, p, old[10])

			// Update with the version read works and bumps it; with a
			// stale one it conflicts and writes nothing.
			up := old[5]
			up.Data = []byte("changed after migration")
			if err := p.Update(ctx, up); err != nil {
				t.Fatalf("Update with version %d: %v", up.Version, err)
			}
			up.Version++
			wantLoad(t, p, up)
			stale := up
			stale.Version--
			stale.Data = []byte("stale")
			if err := p.Update(ctx, stale); !errors.Is(err, qsessions.ErrConflict) {
				t.Fatalf("Update with a stale version: %v, want ErrConflict", err)
			}
			wantLoad(t, p, up)

			// Rows stored before versions 4 and 5 were never
			// authenticated nor bound, as far as the record knows; the
			// fields are writable now.
			if got, _ := p.Load(ctx, up.ID); !got.AuthenticatedAt.IsZero() || got.AuthMethod != "" || got.Binding != nil {
				t.Fatalf("a migrated row reads AuthenticatedAt %v, AuthMethod %q, Binding %q", got.AuthenticatedAt, got.AuthMethod, got.Binding)
			}
			up.AuthenticatedAt, up.AuthMethod, up.Binding = base.Add(time.Minute), "passkey", []byte{0, 1, 0xfe, 0xff}
			if err := p.Update(ctx, up); err != nil {
				t.Fatal(err)
			}
			up.Version++
			wantLoad(t, p, up)
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}

			db = openDB(t, path, "")
			if v := recordedVersion(t, db); v != sqlite.SchemaVersion {
				t.Fatalf("recorded schema version %d, want %d", v, sqlite.SchemaVersion)
			}
			schema := schemaSQL(t, db)
			db.Close()

			// A second open is a no-op: it needs no write access and
			// changes no schema.
			ro := openDB(t, path, "&mode=ro")
			p, err = sqlite.New(ro, nil)
			if err != nil {
				t.Fatalf("second open, read-only: %v", err)
			}
			wantLoad(t, p, up)
			p.Close()
			ro.Close()
			p, err = sqlite.Open(path, nil)
			if err != nil {
				t.Fatalf("second Open: %v", err)
			}
			wantLoad(t, p, up)
			p.Close()
			db = openDB(t, path, "")
			if got := schemaSQL(t, db); got != schema {
				t.Fatalf("a second open changed the schema:\n%s\nwas:\n%s", got, schema)
			}

			// A newer version than this package knows is refused, and
			// left as it is.
			if _, err := db.Exec(`UPDATE qsessions_schema SET version = ? WHERE table_name = 'qsessions'`, sqlite.SchemaVersion+1); err != nil {
				t.Fatal(err)
			}
			db.Close()
			_, err = sqlite.Open(path, nil)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d, newer than version %d", sqlite.SchemaVersion+1, sqlite.SchemaVersion)) {
				t.Fatalf("Open of a newer schema: %v, want an error naming both versions", err)
			}
			db = openDB(t, path, "")
			if v := recordedVersion(t, db); v != sqlite.SchemaVersion+1 {
				t.Fatalf("a refused open changed the recorded version to %d", v)
			}
		})
	}
}

func recordedVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow(`SELECT version FROM qsessions_schema WHERE table_name = 'qsessions'`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// schemaSQL returns the definitions of every table and index, in order.
func schemaSQL(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, def string
		if err := rows.Scan(&typ, &name, &def); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s: %s\n", typ, name, def)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
