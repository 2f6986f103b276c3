//go:build !js && !wasip1

package sqlite_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
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

// An oldRecord is a session as the package stored it up to schema version
// 5, before the Store's metadata became Record.Meta.
type oldRecord struct {
	ID              string
	Version         int64
	Data            []byte
	UserID          string
	IP              string
	UserAgent       string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	ExpiresAt       time.Time
	AuthenticatedAt time.Time
	AuthMethod      string
	Binding         []byte
}

// released lists the schema versions before 4 that released versions of
// the package wrote: testdata/schemaN.sql recreates a database of version
// N, insert stores a record the way that version's Create did, and stored
// is the version a record stored so has after migration (version 1 for
// rows written before versions existed). Version 5 has a database file of
// its own, written by the package itself (see TestMigrateFromVersion5).
var released = []struct {
	version int
	insert  func(r oldRecord) (string, []any)
	stored  func(r oldRecord) int64
}{
	{1, func(r oldRecord) (string, []any) {
		return `INSERT INTO "qsessions" (id, data, user_id, ip, user_agent, created_at, updated_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			[]any{r.ID, r.Data, r.UserID, r.IP, r.UserAgent,
				r.CreatedAt.UnixMilli(), r.UpdatedAt.UnixMilli(), r.ExpiresAt.UnixMilli()}
	}, func(oldRecord) int64 { return 1 }},
	{2, func(r oldRecord) (string, []any) {
		return `INSERT INTO "qsessions" (id, version, data, user_id, ip, user_agent, created_at, updated_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			[]any{r.ID, r.Version, r.Data, r.UserID, r.IP, r.UserAgent,
				r.CreatedAt.UnixMilli(), r.UpdatedAt.UnixMilli(), r.ExpiresAt.UnixMilli()}
	}, func(r oldRecord) int64 { return r.Version }},
	{3, func(r oldRecord) (string, []any) {
		text := fmt.Sprintf("%d %d %d %d %d %d %d %s%s%s", r.Version, r.CreatedAt.UnixMilli(), r.UpdatedAt.UnixMilli(),
			r.ExpiresAt.UnixMilli(), len(r.ID), len(r.IP), len(r.UserAgent), r.ID, r.IP, r.UserAgent)
		return `INSERT INTO "qsessions" (id, version, user_id, updated_at, expires_at, listing, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			[]any{r.ID, r.Version, r.UserID, r.UpdatedAt.UnixMilli(), r.ExpiresAt.UnixMilli(), text, r.Data}
	}, func(r oldRecord) int64 { return r.Version }},
}

// oldRecords are the records the migration tests store the old way: a mix
// of users, an anonymous session, nil, empty and binary data, an expired
// session.
func oldRecords() []oldRecord {
	var rs []oldRecord
	for i := range 12 {
		r := oldRecord{
			ID:        fmt.Sprint("old", i),
			Version:   int64(1 + i%4),
			Data:      []byte(fmt.Sprint("values of old", i)),
			UserID:    fmt.Sprint("user", i%3),
			IP:        "198.51.100.23",
			UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
			CreatedAt: base.Add(-time.Hour),
			UpdatedAt: base.Add(time.Duration(i) * time.Minute),
			// Expiry out of insertion order, as SetMaxAge makes it.
			ExpiresAt: base.Add(time.Duration(24-i) * time.Hour),
		}
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
		case 5:
			r.IP, r.UserAgent = "2001:db8::1", "ünïcødé 🍪 1 2 "
		}
		rs = append(rs, r)
	}
	return rs
}

// wantMigrated checks that got, read after a migration, holds old's values,
// the metadata through qsessions.DecodeMeta; a listing leaves Data out.
func wantMigrated(t *testing.T, got qsessions.Record, old oldRecord, listed bool) {
	t.Helper()
	info, err := qsessions.DecodeMeta(got.Meta)
	if err != nil {
		t.Fatalf("%s: DecodeMeta: %v", old.ID, err)
	}
	bound, err := sqlite.BindingInMeta(got.Meta)
	if err != nil {
		t.Fatal(err)
	}
	data := old.Data
	if listed {
		data = nil
	}
	if got.ID != old.ID || got.Version != old.Version || got.UserID != old.UserID ||
		!got.UpdatedAt.Equal(old.UpdatedAt) || !got.ExpiresAt.Equal(old.ExpiresAt) ||
		!bytes.Equal(got.Data, data) || (got.Data == nil) != (data == nil) {
		t.Errorf("%s after migration: %+v, want %+v", old.ID, got, old)
	}
	if info.IP != old.IP || info.UserAgent != old.UserAgent || !info.CreatedAt.Equal(old.CreatedAt) ||
		info.CreatedAt.IsZero() != old.CreatedAt.IsZero() || !info.AuthenticatedAt.Equal(old.AuthenticatedAt) ||
		info.AuthenticatedAt.IsZero() != old.AuthenticatedAt.IsZero() || info.AuthMethod != old.AuthMethod ||
		info.DeviceBound() != (len(old.Binding) > 0) || !bytes.Equal(bound, old.Binding) {
		t.Errorf("%s after migration: Meta decodes to IP %q, UserAgent %q, CreatedAt %v, AuthenticatedAt %v, AuthMethod %q, binding %q;\n"+
			"want %q, %q, %v, %v, %q, %q", old.ID, info.IP, info.UserAgent, info.CreatedAt, info.AuthenticatedAt, info.AuthMethod, bound,
			old.IP, old.UserAgent, old.CreatedAt, old.AuthenticatedAt, old.AuthMethod, old.Binding)
	}
}

func loadMigrated(t *testing.T, p *sqlite.Persister, old oldRecord) {
	t.Helper()
	got, err := p.Load(ctx, old.ID)
	if err != nil {
		t.Fatalf("Load(%q) after migration: %v", old.ID, err)
	}
	wantMigrated(t, got, old, false)
}

// TestMigrate opens, with this version of the package, a database written
// by each released schema version before 4 and checks that every record is
// kept, version included, and works like a new one.
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
				loadMigrated(t, p, old[i])
			}
			got, err := p.ListByUser(ctx, "user1")
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"old10", "old7", "old4", "old1"}; !slices.Equal(ids(got), want) {
				t.Fatalf("ListByUser(user1) after migration = %v, want %v", ids(got), want)
			}
			for _, r := range got {
				wantMigrated(t, r, old[slices.IndexFunc(old, func(o oldRecord) bool { return o.ID == r.ID })], true)
			}
			// old4 (expired) and old11 expire before base+14h.
			if n, err := p.DeleteExpired(ctx, base.Add(14*time.Hour)); err != nil || n != 2 {
				t.Fatalf("DeleteExpired = %d, %v; want 2", n, err)
			}
			wantNotFound(t, p, "old4")
			wantNotFound(t, p, "old11")
			loadMigrated(t, p, old[10])

			// Update with the version read works and bumps it; with a
			// stale one it conflicts and writes nothing.
			up, err := p.Load(ctx, old[5].ID)
			if err != nil {
				t.Fatal(err)
			}
			up.Data = []byte("changed after migration")
			up.Meta = qsessions.EncodeMeta(qsessions.SessionInfo{IP: "192.0.2.7", AuthenticatedAt: base, AuthMethod: "passkey"})
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
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			wantSecondOpenNoOp(t, path, up)
			wantNewerRefused(t, path)
		})
	}
}

// TestMigrateFromVersion5 opens a copy of testdata/schema5.db, which the
// package wrote at schema version 5 (testdata/mkschema5 made it), and
// checks that every session reads back with the values it was stored with
// (testdata/schema5.json), its metadata in Meta, and that the migrated
// schema is a new database's.
func TestMigrateFromVersion5(t *testing.T) {
	path := copyFixture(t, "schema5.db")
	js, err := os.ReadFile(filepath.Join("testdata", "schema5.json"))
	if err != nil {
		t.Fatal(err)
	}
	var old []oldRecord
	if err := json.Unmarshal(js, &old); err != nil {
		t.Fatal(err)
	}
	if db := openDB(t, path, ""); recordedVersion(t, db) != 5 {
		t.Fatalf("testdata/schema5.db is at schema version %d", recordedVersion(t, db))
	}

	p, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatalf("Open of a version 5 database: %v", err)
	}
	for _, o := range old {
		loadMigrated(t, p, o)
	}
	for user, want := range map[string][]string{
		// Newest first; s03 and s04 were last used at the same time.
		"alice":           {"s01-alice-chrome", "s02-alice-bound", "s03-alice-tie-a", "s04-alice-tie-b", "s05-alice-expired"},
		"bob@example.com": {"s07-bob-plain", "s06-bob"},
		"carol":           {"s09-bare"},
	} {
		got, err := p.ListByUser(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), want) {
			t.Fatalf("ListByUser(%s) after migration = %v, want %v", user, ids(got), want)
		}
		for _, r := range got {
			wantMigrated(t, r, old[slices.IndexFunc(old, func(o oldRecord) bool { return o.ID == r.ID })], true)
		}
	}
	s01, err := p.Load(ctx, "s01-alice-chrome")
	if err != nil {
		t.Fatal(err)
	}
	s01.Data = []byte("written at version 6")
	if err := p.Update(ctx, s01); err != nil {
		t.Fatalf("Update of a migrated session: %v", err)
	}
	s01.Version++
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// A listing still reads the user index alone, no row.
	if plan := queryPlan(t, openDB(t, path, ""), sqlite.Queries("qsessions")["ListByUser"], 1); plan != "SEARCH qsessions USING COVERING INDEX qsessions_user (user_id=?)" {
		t.Fatalf("the listing's plan after migrating version 5:\n%s\nwant it to search the covering user index alone", plan)
	}
	// The migrated schema is exactly the one a new database gets.
	fresh := filepath.Join(t.TempDir(), "new.db")
	p, err = sqlite.Open(fresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if got, want := schemaSQL(t, openDB(t, path, "")), schemaSQL(t, openDB(t, fresh, "")); got != want {
		t.Fatalf("schema after migrating version 5:\n%s\nwant a new database's:\n%s", got, want)
	}
	wantSecondOpenNoOp(t, path, s01)
	wantNewerRefused(t, path)
}

// TestMigrateInterrupted checks that a migration from version 5 that fails
// partway, in its Go step or in a statement after it, leaves the database at
// version 5 as it was, and that once the cause is gone the next Open
// migrates it.
func TestMigrateInterrupted(t *testing.T) {
	for _, c := range []struct {
		name        string
		break_, fix string // SQL that makes the migration fail, and that undoes it
		want        string // in the error
	}{
		{"MalformedRow",
			`UPDATE qsessions SET listing = '7 1 2' WHERE id = 's04-alice-tie-b'`,
			`UPDATE qsessions SET listing = (SELECT listing FROM qsessions WHERE id = 's03-alice-tie-a') WHERE id = 's04-alice-tie-b'`,
			`session "s04-alice-tie-b": malformed listing`},
		// A view over the table stops the renaming of the new table, after
		// the rows have been copied and the old table dropped.
		{"FailingStatement",
			`CREATE VIEW alice AS SELECT id FROM qsessions WHERE user_id = 'alice'`,
			`DROP VIEW alice`,
			`error in view alice`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := copyFixture(t, "schema5.db")
			db := openDB(t, path, "")
			if _, err := db.Exec(c.break_); err != nil {
				t.Fatal(err)
			}
			before := dump(t, db)
			db.Close()

			_, err := sqlite.Open(path, nil)
			if err == nil || !strings.Contains(err.Error(), "schema version 6") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open: %v, want an error about schema version 6 saying %q", err, c.want)
			}
			db = openDB(t, path, "")
			if v := recordedVersion(t, db); v != 5 {
				t.Fatalf("after a failed migration the recorded version is %d, want 5", v)
			}
			if after := dump(t, db); after != before {
				t.Fatalf("a failed migration changed the database:\n%s\nwas:\n%s", after, before)
			}
			if _, err := db.Exec(c.fix); err != nil {
				t.Fatal(err)
			}
			db.Close()
			p, err := sqlite.Open(path, nil)
			if err != nil {
				t.Fatalf("Open once the cause is gone: %v", err)
			}
			defer p.Close()
			if got, err := p.ListByUser(ctx, "alice"); err != nil || len(got) != 5 {
				t.Fatalf("ListByUser(alice) after the migration = %v, %v; want 5 sessions", ids(got), err)
			}
		})
	}
}

// copyFixture copies testdata/name to a temporary directory and returns
// the copy's path.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// dump returns the schema and every row of every table of db.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(schemaSQL(t, db))
	for _, table := range []string{"qsessions", "qsessions_schema"} {
		rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY rowid`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s: %q\n", table, vals)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// wantSecondOpenNoOp checks that opening the migrated database at path
// again, read-only and read-write, changes nothing and reads want.
func wantSecondOpenNoOp(t *testing.T, path string, want qsessions.Record) {
	t.Helper()
	db := openDB(t, path, "")
	if v := recordedVersion(t, db); v != sqlite.SchemaVersion {
		t.Fatalf("recorded schema version %d, want %d", v, sqlite.SchemaVersion)
	}
	before := dump(t, db)
	db.Close()

	// It needs no write access.
	ro := openDB(t, path, "&mode=ro")
	p, err := sqlite.New(ro, nil)
	if err != nil {
		t.Fatalf("second open, read-only: %v", err)
	}
	wantLoad(t, p, want)
	p.Close()
	ro.Close()
	p, err = sqlite.Open(path, nil)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	wantLoad(t, p, want)
	p.Close()
	if after := dump(t, openDB(t, path, "")); after != before {
		t.Fatalf("a second open changed the database:\n%s\nwas:\n%s", after, before)
	}
}

// wantNewerRefused checks that a table whose recorded version is newer than
// this package knows is refused, and left as it is.
func wantNewerRefused(t *testing.T, path string) {
	t.Helper()
	db := openDB(t, path, "")
	if _, err := db.Exec(`UPDATE qsessions_schema SET version = ? WHERE table_name = 'qsessions'`, sqlite.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := sqlite.Open(path, nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d, newer than version %d", sqlite.SchemaVersion+1, sqlite.SchemaVersion)) {
		t.Fatalf("Open of a newer schema: %v, want an error naming both versions", err)
	}
	if v := recordedVersion(t, openDB(t, path, "")); v != sqlite.SchemaVersion+1 {
		t.Fatalf("a refused open changed the recorded version to %d", v)
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
