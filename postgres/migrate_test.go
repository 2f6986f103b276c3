package postgres_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/binding"
	"github.com/qsessions/qsessions/postgres"
)

// An oldRecord is a session as schema versions 1 to 5 stored it, one
// column per field.
type oldRecord struct {
	ID, UserID, IP, UserAgent, AuthMethod            string
	Version                                          int64
	CreatedAt, UpdatedAt, ExpiresAt, AuthenticatedAt time.Time
	Data, Binding                                    []byte
}

// released lists the schema versions that released versions of the package
// wrote: testdata/schemaN.sql recreates a table of version N, insert stores
// a record the way that version's Create did, and kept is what of it that
// version stored (version 1 for rows written before versions existed; no
// authentication and no binding before versions 4 and 5).
var released = []struct {
	version int
	insert  func(tbl string, r oldRecord) (string, []any)
	kept    func(r oldRecord) oldRecord
}{
	{1, func(tbl string, r oldRecord) (string, []any) {
		return "INSERT INTO " + tbl + " (id, data, user_id, ip, user_agent, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			[]any{r.ID, r.Data, r.UserID, r.IP, r.UserAgent, r.CreatedAt, r.UpdatedAt, r.ExpiresAt}
	}, func(r oldRecord) oldRecord { r.Version = 1; return unauthenticated(r) }},
	{2, insertVersioned, unauthenticated},
	{3, insertVersioned, unauthenticated},
	{5, insertV5, func(r oldRecord) oldRecord { return r }},
}

// insertVersioned stores r as versions 2 and 3 of Create did.
func insertVersioned(tbl string, r oldRecord) (string, []any) {
	return "INSERT INTO " + tbl + " (id, version, data, user_id, ip, user_agent, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		[]any{r.ID, r.Version, r.Data, r.UserID, r.IP, r.UserAgent, r.CreatedAt, r.UpdatedAt, r.ExpiresAt}
}

// insertV5 stores r as version 5 of Create did.
func insertV5(tbl string, r oldRecord) (string, []any) {
	return "INSERT INTO " + tbl + " (id, version, data, user_id, ip, user_agent, created_at, updated_at, expires_at," +
			" authenticated_at, auth_method, binding) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
		[]any{r.ID, r.Version, r.Data, r.UserID, r.IP, r.UserAgent, r.CreatedAt, r.UpdatedAt, r.ExpiresAt,
			r.AuthenticatedAt, r.AuthMethod, r.Binding}
}

// unauthenticated is r as a version before 4 kept it.
func unauthenticated(r oldRecord) oldRecord {
	r.AuthenticatedAt, r.AuthMethod, r.Binding = time.Time{}, "", nil
	return r
}

// loadFixture recreates, in a new schema, the table that
// testdata/schema<version>.sql holds, and returns the schema.
func loadFixture(t *testing.T, pool *pgxpool.Pool, version int) string {
	t.Helper()
	schema := freshSchema(t)
	fixture, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("schema%d.sql", version)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), strings.ReplaceAll(string(fixture), "{{schema}}", schema)); err != nil {
		t.Fatalf("recreate a version %d table: %v", version, err)
	}
	return schema
}

// checkMigrated fails the test unless got, read after migration, holds
// want's values: the indexed fields as columns, the rest in Meta.
func checkMigrated(t *testing.T, what string, got qsessions.Record, want oldRecord) {
	t.Helper()
	if got.ID != want.ID || got.Version != want.Version || got.UserID != want.UserID ||
		!got.UpdatedAt.Equal(want.UpdatedAt) || got.UpdatedAt.Location() != time.UTC ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || got.ExpiresAt.Location() != time.UTC ||
		!bytes.Equal(got.Data, want.Data) || (got.Data == nil) != (want.Data == nil) {
		t.Errorf("%s = %+v; want ID %s, version %d, user %q, updated %v, expires %v, data %q",
			what, got, want.ID, want.Version, want.UserID, want.UpdatedAt, want.ExpiresAt, want.Data)
	}
	info, err := qsessions.DecodeMeta(got.Meta)
	if err != nil {
		t.Errorf("%s: DecodeMeta(%x): %v", what, got.Meta, err)
		return
	}
	bind, err := binding.InMeta(got.Meta)
	if err != nil {
		t.Errorf("%s: the binding in Meta: %v", what, err)
	}
	if info.IP != want.IP || info.UserAgent != want.UserAgent || !info.CreatedAt.Equal(want.CreatedAt) ||
		!info.AuthenticatedAt.Equal(want.AuthenticatedAt) || info.AuthMethod != want.AuthMethod ||
		!bytes.Equal(bind, want.Binding) || info.DeviceBound() != (len(want.Binding) > 0) {
		t.Errorf("%s: Meta decodes to IP %q, User-Agent %q, created %v, authenticated %v by %q, binding %x;\n"+
			"want %q, %q, %v, %v by %q, %x",
			what, info.IP, info.UserAgent, info.CreatedAt, info.AuthenticatedAt, info.AuthMethod, bind,
			want.IP, want.UserAgent, want.CreatedAt, want.AuthenticatedAt, want.AuthMethod, want.Binding)
	}
}

// TestMigrate opens, with this version of the package, a table written by
// each released schema version and checks that every record is kept,
// version included, with the fields that version had in Meta and the ones
// it did not have zero (no authentication, no binding); that it then works
// like a new one; and that the migrated table is the one a new database
// gets.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	pool := testPool(t)
	for _, rel := range released {
		t.Run(fmt.Sprint("FromVersion", rel.version), func(t *testing.T) {
			schema := loadFixture(t, pool, rel.version)
			base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			var old []oldRecord
			for i := range 12 {
				r := oldRecord{
					ID:        fmt.Sprint("old", i),
					Version:   int64(1 + i%4),
					Data:      []byte(fmt.Sprint("data-old", i)),
					UserID:    fmt.Sprint("user", i%3),
					IP:        "203.0.113.7",
					UserAgent: "Mozilla/5.0 (test)",
					CreatedAt: base.Add(time.Duration(i) * time.Second),
					UpdatedAt: base.Add(time.Duration(i) * time.Minute),
					ExpiresAt: base.Add(time.Hour),
				}
				if i%3 != 0 {
					r.AuthenticatedAt = r.CreatedAt.Add(time.Second)
					r.AuthMethod = []string{"", "password", "oauth:github ✓"}[i%3]
				}
				switch i % 4 {
				case 1:
					r.Binding = bytes.Repeat([]byte{byte(i), 0, 0xff, '\\'}, 49)
				case 2:
					r.Binding = []byte{} // unbound, as nil is
				}
				switch i {
				case 0:
					r.Data = nil
					r.IP = "2001:db8::1"
				case 1:
					r.Data = []byte{}
				case 2:
					r.UserID = ""
				case 3:
					r.ExpiresAt = base.Add(-time.Hour)
				case 5:
					r.IP, r.UserAgent = "", ""
				case 6:
					r.UserAgent = "Mobile Safari ✓ ünïcödé 用户"
				case 7:
					// Longer than the user index keeps (compressible, so
					// that version 5's index entry held it).
					r.Binding = bytes.Repeat([]byte("dbsc"), 600)
				}
				q, args := rel.insert(table(schema, ""), r)
				if _, err := pool.Exec(ctx, q, args...); err != nil {
					t.Fatalf("insert %s the version %d way: %v", r.ID, rel.version, err)
				}
				old = append(old, rel.kept(r))
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
				checkMigrated(t, "Load("+want.ID+") after migration", got, want)
			}

			// A server still running the old version (a rolling deploy)
			// fails: it cannot write a session whose metadata the new
			// ones would not see.
			late := old[4]
			late.ID = "late"
			q, args := rel.insert(table(schema, ""), late)
			var pgErr *pgconn.PgError
			if _, err := pool.Exec(ctx, q, args...); !errors.As(err, &pgErr) || pgErr.Code != "42703" { // undefined_column
				t.Fatalf("insert the version %d way into a migrated table: %v; want an undefined_column error", rel.version, err)
			}
			// old7's Meta, with a long binding, is too long for the user
			// index.
			wantOverflow := 0
			if len(old[7].Binding) > postgres.MaxListedMeta {
				wantOverflow = 1
			}
			if k := countRows(t, schema, "", "meta_overflow IS NOT NULL AND meta IS NULL"); k != wantOverflow {
				t.Errorf("%d rows with their Meta in meta_overflow after migration, want %d", k, wantOverflow)
			}
			list, err := p.ListByUser(ctx, "user1")
			if err != nil || len(list) != 4 {
				t.Fatalf("ListByUser(user1) after migration = %d records, %v; want 4", len(list), err)
			}
			for i, r := range list {
				want := old[10-3*i] // newest UpdatedAt first: old10, old7, old4, old1
				want.Data = nil
				checkMigrated(t, fmt.Sprintf("ListByUser(user1)[%d] after migration", i), r, want)
			}

			// Update with the version read works, bumps it and stores the
			// new fields; with a stale one it conflicts and writes nothing.
			up, err := p.Load(ctx, old[4].ID)
			if err != nil {
				t.Fatal(err)
			}
			up.Data = []byte("changed after migration")
			up.Meta = qsessions.EncodeMeta(qsessions.SessionInfo{IP: "192.0.2.1", UserAgent: "ua 2",
				CreatedAt: base, AuthenticatedAt: base.Add(90 * time.Second), AuthMethod: "passkey"})
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
			fresh := record("fresh", "user1", base, base.Add(time.Hour))
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
				"4 0004_authentication", "5 0005_device_binding", "6 0006_narrow_record"}
			if postgres.SchemaVersion > len(want) || !slices.Equal(names, want[:postgres.SchemaVersion]) {
				t.Fatalf("migrations table holds %q, want one row per version up to %d", names, postgres.SchemaVersion)
			}

			// A second New is a no-op: it changes neither the schema nor
			// the bookkeeping.
			checkReopenNoop(t, pool, schema)

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

// The sessions of testdata/schema5.sql, as the program that wrote them
// printed them.
var v5Sessions = []struct{ name, token, id string }{
	{"alice-laptop", "nWEKueujs83QmtIa9stNn2Bk6IzbF8G2O6aV_9sTOLw", "Ij7M3rXrdeFl6boYhCPaxIaqt3Di-Wxr8tUsU4wbL3I"},
	{"alice-phone", "kuUGrBA1zj9Gv0htqT5m2Lm6OfP7vim_E9yydXeFBHw", "yuzZpO4yZMyKscq_-64asQHS9wuqWMzfQ5HO2acaFGI"},
	{"alice-private", "V5ECv8izGvXX36h7QGYHTvRlBBpLADYTMoJ4eukUoQc", "SdHITStztfoZWISqCphWarTDP5W2lrEU9-UN7mR1Q2w"},
	{"bob", "Evnq5Ka0iuBIGRgO5vHt6QsnDIf8KUsoHOR5CAJToE8", "Z14tgCCj2up_tOC_9NZAgEYDpmQoyQ2JIje_mtHOR8Y"},
	{"anon", "ihEEKSTJDFpiDv6oHsQwwbw2ifuRl-mS6HNUlFHX7DQ", "-46-Kr8EPzzraC5igUP7mbOS6y9WKKNi5ug80gy0THg"},
	{"carol-expired", "ir2rrydjZVic2tv7dQMory-6dUcCSuOkdudsR4ytxXQ", "ZBDxyWrH3tqcAOG_LA_J8H1OcUGYfFDVupEIAdYdKbs"},
}

// readV5 reads the sessions of a version-5 table, as it stores them, by ID.
func readV5(t *testing.T, pool *pgxpool.Pool, schema string) map[string]oldRecord {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT id, version, data, user_id, ip, user_agent, created_at, updated_at, expires_at,"+
		" authenticated_at, auth_method, binding FROM "+table(schema, ""))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (oldRecord, error) {
		var r oldRecord
		err := row.Scan(&r.ID, &r.Version, &r.Data, &r.UserID, &r.IP, &r.UserAgent, &r.CreatedAt, &r.UpdatedAt, &r.ExpiresAt,
			&r.AuthenticatedAt, &r.AuthMethod, &r.Binding)
		return r, err
	})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]oldRecord{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	return byID
}

// TestMigrateVersion5Sessions migrates the sessions that the package and
// the Store of schema version 5 wrote (testdata/schema5.sql) and checks
// that the Persister and a Store read exactly the old values, through
// Meta; over the default pool, and over the simple protocol in a session
// time zone whose offset in year 1 is not whole minutes (the zero
// authentication time of version 4 is 0001-01-01).
func TestMigrateVersion5Sessions(t *testing.T) {
	for _, tc := range []struct {
		name string
		pool func(tb testing.TB) *pgxpool.Pool
	}{
		{"Default", testPool},
		{"SimpleProtocol", simplePool},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pool := tc.pool(t)
			schema := loadFixture(t, pool, 5)
			old := readV5(t, pool, schema)
			if len(old) != len(v5Sessions) {
				t.Fatalf("the fixture holds %d sessions, want %d", len(old), len(v5Sessions))
			}
			// Spot checks that the fixture is what it says.
			laptop, phone, anon := old[v5Sessions[0].id], old[v5Sessions[1].id], old[v5Sessions[4].id]
			if laptop.IP != "203.0.113.8" || laptop.AuthMethod != "password" || len(laptop.Binding) != 196 || laptop.Version != 3 ||
				phone.IP != "2001:db8::7" || phone.AuthMethod != "passkey" || !strings.Contains(phone.UserAgent, "用户") ||
				anon.UserID != "" || !anon.AuthenticatedAt.Equal(time.Time{}) {
				t.Fatalf("the fixture is not the one described: %+v, %+v, %+v", laptop, phone, anon)
			}

			p, err := postgres.New(ctx, pool, &postgres.Options{Schema: schema})
			if err != nil {
				t.Fatalf("New on the version 5 table: %v", err)
			}
			for _, s := range v5Sessions {
				got, err := p.Load(ctx, s.id)
				if err != nil {
					t.Fatalf("Load(%s) after migration: %v", s.name, err)
				}
				checkMigrated(t, "Load("+s.name+")", got, old[s.id])
			}
			// alice's sessions: alice-private and alice-phone last wrote
			// at the same instant, so they are listed in ID order.
			list, err := p.ListByUser(ctx, "alice")
			if err != nil || len(list) != 3 {
				t.Fatalf("ListByUser(alice) = %+v, %v; want 3 records", list, err)
			}
			for i, id := range []string{v5Sessions[2].id, v5Sessions[1].id, v5Sessions[0].id} {
				want := old[id]
				want.Data = nil
				checkMigrated(t, fmt.Sprintf("ListByUser(alice)[%d]", i), list[i], want)
			}

			// A Store shows them as the old one did, and reads their
			// values.
			st, err := qsessions.New(nil, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			infos, err := st.Sessions(ctx, "alice")
			if err != nil || len(infos) != 3 {
				t.Fatalf("Store.Sessions(alice) = %+v, %v; want 3", infos, err)
			}
			for i, info := range infos {
				want := old[list[i].ID]
				if info.ID != want.ID || info.IP != want.IP || info.UserAgent != want.UserAgent || !info.CreatedAt.Equal(want.CreatedAt) ||
					!info.UpdatedAt.Equal(want.UpdatedAt) || !info.ExpiresAt.Equal(want.ExpiresAt) ||
					!info.AuthenticatedAt.Equal(want.AuthenticatedAt) || info.AuthMethod != want.AuthMethod ||
					info.DeviceBound() != (len(want.Binding) > 0) {
					t.Errorf("Store.Sessions(alice)[%d] = %+v (bound %v); want %+v", i, info, info.DeviceBound(), want)
				}
			}
			s, err := st.Load(ctx, v5Sessions[0].token)
			if err != nil || s.IsNew() {
				t.Fatalf("Store.Load(alice-laptop) = new %v, %v; want the stored session", s != nil && s.IsNew(), err)
			}
			var cart []string
			var theme string
			if ok, err := s.Get("cart", &cart); !ok || err != nil || !slices.Equal(cart, []string{"book", "pen"}) {
				t.Errorf("alice-laptop's cart = %q, %v, %v; want [book pen]", cart, ok, err)
			}
			if ok, err := s.Get("theme", &theme); !ok || err != nil || theme != "dark" {
				t.Errorf("alice-laptop's theme = %q, %v, %v; want dark", theme, ok, err)
			}
			if info := s.Info(); s.UserID() != "alice" || info.IP != laptop.IP || info.AuthMethod != "password" || !info.DeviceBound() {
				t.Errorf("alice-laptop loaded as user %q, %+v (bound %v); want alice, %s, password, bound", s.UserID(), info, info.DeviceBound(), laptop.IP)
			}

			checkReopenNoop(t, pool, schema)

			// The expired session is swept.
			if n, err := p.DeleteExpired(ctx, time.Now()); err != nil || n != 1 {
				t.Fatalf("DeleteExpired after migration = %d, %v; want 1 (carol-expired)", n, err)
			}
			if _, err := p.Load(ctx, v5Sessions[5].id); !errors.Is(err, qsessions.ErrNotFound) {
				t.Fatalf("Load(carol-expired) after DeleteExpired: %v, want ErrNotFound", err)
			}
		})
	}
}

// A migration that fails partway leaves the table at version 5, as it was:
// the migrations run in one transaction, DDL included. Here an operator's
// view over the ip column makes dropping it fail, after meta has been
// filled.
func TestMigrateFailureKeepsVersion5(t *testing.T) {
	ctx := context.Background()
	pool := testPool(t)
	schema := loadFixture(t, pool, 5)
	view := table(schema, "session_ips")
	if _, err := pool.Exec(ctx, "CREATE VIEW "+view+" AS SELECT id, ip FROM "+table(schema, "")); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		t.Helper()
		var rows, versions string
		err := pool.QueryRow(ctx, "SELECT string_agg(s::text, E'\\n' ORDER BY id) FROM "+table(schema, "")+" s").Scan(&rows)
		if err != nil {
			t.Fatal(err)
		}
		err = pool.QueryRow(ctx, "SELECT string_agg(m::text, E'\\n' ORDER BY version) FROM "+table(schema, "qsessions_migrations")+" m").Scan(&versions)
		if err != nil {
			t.Fatal(err)
		}
		return tableDefinition(t, schema) + "\n" + rows + "\n" + versions
	}
	before := snapshot()

	_, err := postgres.New(ctx, pool, &postgres.Options{Schema: schema})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "2BP01" || !strings.Contains(err.Error(), "apply 0006_narrow_record") { // dependent_objects_still_exist
		t.Fatalf("New with a view on the ip column: %v; want the migration to 6 to fail on the view", err)
	}
	if after := snapshot(); after != before {
		t.Fatalf("the failed migration changed the table:\n%s\nwas:\n%s", after, before)
	}
	// Servers of version 5 keep working on it.
	old := readV5(t, pool, schema)[v5Sessions[0].id]
	old.ID = "v5-after-failure"
	q, args := insertV5(table(schema, ""), old)
	if _, err := pool.Exec(ctx, q, args...); err != nil {
		t.Fatalf("insert the version 5 way after the failed migration: %v", err)
	}

	if _, err := pool.Exec(ctx, "DROP VIEW "+view); err != nil {
		t.Fatal(err)
	}
	p, err := postgres.New(ctx, pool, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatalf("New once the view is gone: %v", err)
	}
	got, err := p.Load(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkMigrated(t, "Load of a session a version 5 server wrote after the failed migration", got, old)
	if n := countRows(t, schema, "qsessions_migrations", "true"); n != postgres.SchemaVersion {
		t.Fatalf("%d migration rows, want %d", n, postgres.SchemaVersion)
	}
}

// The migration to version 6 fills meta in batches (of 1000 rows, in ID
// order): on a table of several batches, with IDs whose byte order is not
// their order in a linguistic collation, every row gets its own metadata.
func TestMigrateManyRows(t *testing.T) {
	ctx := context.Background()
	pool := testPool(t)
	schema := loadFixture(t, pool, 5)
	const n = 2345
	base := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
	_, err := pool.Exec(ctx, "INSERT INTO "+table(schema, "")+` (id, version, data, user_id, ip, user_agent, created_at,
		updated_at, expires_at, authenticated_at, auth_method, binding)
	SELECT translate(encode(sha256(i::text::bytea), 'base64'), '+/=', '-_'), 1 + i % 5, int4send(i), 'bulk-' || i,
		'10.0.' || i / 256 || '.' || i % 256, 'ua-' || i, $1::timestamptz + i * interval '1 millisecond',
		$1, $1::timestamptz + interval '1 day',
		CASE WHEN i % 2 = 0 THEN '0001-01-01 00:00:00+00' ELSE $1::timestamptz + i * interval '1 second' END,
		CASE WHEN i % 2 = 0 THEN '' ELSE 'm' || i % 3 END,
		CASE WHEN i % 2 = 0 THEN NULL ELSE sha256(i::text::bytea) END
	FROM generate_series(1, `+fmt.Sprint(n)+`) AS i`, base)
	if err != nil {
		t.Fatal(err)
	}
	p, err := postgres.New(ctx, pool, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for i := 1; i <= n; i++ {
		list, err := p.ListByUser(ctx, fmt.Sprint("bulk-", i))
		if err != nil || len(list) != 1 {
			t.Fatalf("ListByUser(bulk-%d) = %+v, %v; want one record", i, list, err)
		}
		want := oldRecord{
			ID: list[0].ID, Version: int64(1 + i%5), UserID: fmt.Sprint("bulk-", i),
			IP: fmt.Sprintf("10.0.%d.%d", i/256, i%256), UserAgent: fmt.Sprint("ua-", i),
			CreatedAt: base.Add(time.Duration(i) * time.Millisecond), UpdatedAt: base, ExpiresAt: base.Add(24 * time.Hour),
		}
		if i%2 == 1 {
			want.AuthenticatedAt = base.Add(time.Duration(i) * time.Second)
			want.AuthMethod = fmt.Sprint("m", i%3)
			sum := sha256.Sum256([]byte(fmt.Sprint(i)))
			want.Binding = sum[:]
		}
		checkMigrated(t, fmt.Sprintf("ListByUser(bulk-%d)[0]", i), list[0], want)
		if t.Failed() {
			t.FailNow()
		}
		seen++
	}
	if k := countRows(t, schema, "", "meta IS NULL AND meta_overflow IS NULL"); k != 0 || seen != n {
		t.Fatalf("%d rows without meta after migration, %d checked; want 0 and %d", k, seen, n)
	}
}

// checkReopenNoop checks that New on an up-to-date table changes neither
// the table nor the bookkeeping.
func checkReopenNoop(t *testing.T, pool *pgxpool.Pool, schema string) {
	t.Helper()
	before := tableDefinition(t, schema)
	var rowsBefore string
	q := "SELECT string_agg(s::text, E'\\n' ORDER BY id) FROM " + table(schema, "") + " s"
	if err := pool.QueryRow(context.Background(), q).Scan(&rowsBefore); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.New(context.Background(), pool, &postgres.Options{Schema: schema}); err != nil {
		t.Fatalf("second New: %v", err)
	}
	if after := tableDefinition(t, schema); after != before {
		t.Fatalf("a second New changed the table:\n%s\nwas:\n%s", after, before)
	}
	var rowsAfter string
	if err := pool.QueryRow(context.Background(), q).Scan(&rowsAfter); err != nil || rowsAfter != rowsBefore {
		t.Fatalf("a second New changed the rows (%v):\n%s\nwere:\n%s", err, rowsAfter, rowsBefore)
	}
	if n := countRows(t, schema, "qsessions_migrations", "true"); n != postgres.SchemaVersion {
		t.Fatalf("after a second New: %d migration rows, want %d", n, postgres.SchemaVersion)
	}
}

// sameRecord reports whether a and b hold the same fields, telling nil Data
// and Meta from empty ones (this package keeps them apart).
func sameRecord(a, b qsessions.Record) bool {
	return a.ID == b.ID && a.Version == b.Version && a.UserID == b.UserID &&
		a.UpdatedAt.Equal(b.UpdatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) &&
		bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil) &&
		bytes.Equal(a.Meta, b.Meta) && (a.Meta == nil) == (b.Meta == nil)
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
