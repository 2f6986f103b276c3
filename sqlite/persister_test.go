//go:build !js && !wasip1

package sqlite_test

import (
	"bytes"
	"context"
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

// backends lists the ways of making a fresh, empty Persister that every
// direct test runs against.
var backends = []struct {
	name string
	open func(t *testing.T) *sqlite.Persister
}{
	{"File", openFile},
	{"Memory", openMemory},
	{"New", openNew},
}

func openFile(t *testing.T) *sqlite.Persister {
	t.Helper()
	p, err := sqlite.Open(filepath.Join(t.TempDir(), "sessions.db"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func openMemory(t *testing.T) *sqlite.Persister {
	t.Helper()
	p, err := sqlite.Open(":memory:", nil)
	if err != nil {
		t.Fatalf("Open(:memory:): %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// openNew makes a Persister with New over a caller-owned *sql.DB on a file
// with a custom table name.
func openNew(t *testing.T) *sqlite.Persister {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "app.db"), "")
	p, err := sqlite.New(db, &sqlite.Options{Table: "app_sessions"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// openDB opens a caller-owned database with the settings the package
// recommends for New, plus extra DSN parameters.
func openDB(t *testing.T, path, extra string) *sql.DB {
	t.Helper()
	dsn := "file:" + path + "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_txlock=immediate" + extra
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func forEachBackend(t *testing.T, f func(t *testing.T, p *sqlite.Persister)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.open(t)) })
	}
}

var (
	ctx  = context.Background()
	base = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
)

func record(id, user string, updated time.Time) qsessions.Record {
	return qsessions.Record{
		ID:        id,
		Version:   1,
		UserID:    user,
		UpdatedAt: updated,
		ExpiresAt: base.Add(14 * 24 * time.Hour),
		Data:      []byte("values of " + id),
		Meta: qsessions.EncodeMeta(qsessions.SessionInfo{
			IP:        "198.51.100.23",
			UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
			CreatedAt: base.Add(-time.Hour),
		}),
	}
}

func mustCreate(t *testing.T, p *sqlite.Persister, rs ...qsessions.Record) {
	t.Helper()
	for _, r := range rs {
		if err := p.Create(ctx, r); err != nil {
			t.Fatalf("Create(%q): %v", r.ID, err)
		}
	}
}

// equalRecord reports whether a and b are the same record; nil and empty
// Meta are the same.
func equalRecord(a, b qsessions.Record) bool {
	return a.ID == b.ID && a.Version == b.Version && a.UserID == b.UserID &&
		a.UpdatedAt.Equal(b.UpdatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) &&
		bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil) && bytes.Equal(a.Meta, b.Meta)
}

func wantLoad(t *testing.T, p *sqlite.Persister, want qsessions.Record) {
	t.Helper()
	got, err := p.Load(ctx, want.ID)
	if err != nil {
		t.Fatalf("Load(%q): %v", want.ID, err)
	}
	if !equalRecord(got, want) {
		t.Fatalf("Load(%q) = %+v, want %+v", want.ID, got, want)
	}
}

func wantNotFound(t *testing.T, p *sqlite.Persister, id string) {
	t.Helper()
	if r, err := p.Load(ctx, id); !errors.Is(err, qsessions.ErrNotFound) {
		t.Fatalf("Load(%q) = %+v, %v; want ErrNotFound", id, r, err)
	}
}

func ids(rs []qsessions.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestCreateLoad(t *testing.T) {
	forEachBackend(t, func(t *testing.T, p *sqlite.Persister) {
		wantNotFound(t, p, "missing")
		r := record("a", "alice", base)
		mustCreate(t, p, r)
		wantLoad(t, p, r)

		// Expired records are returned like any other.
		old := record("old", "alice", base)
		old.ExpiresAt = base.Add(-24 * time.Hour)
		mustCreate(t, p, old)
		wantLoad(t, p, old)
	})
}

func TestCreateExists(t *testing.T) {
	forEachBackend(t, func(t *testing.T, p *sqlite.Persister) {
		r := record("a", "alice", base)
		mustCreate(t, p, r)
		dup := record("a", "mallory", base.Add(time.Minute))
		dup.Data = []byte("other")
		if err := p.Create(ctx, dup); !errors.Is(err, qsessions.ErrExists) {
			t.Fatalf("Create of a taken ID: %v, want ErrExists", err)
		}
		wantLoad(t, p, r)
		if err := p.Create(ctx, record("", "alice", base)); err == nil || errors.Is(err, qsessions.ErrExists) {
			t.Fatalf("Create with an empty ID: %v, want a plain error", err)
		}
	})
}

func TestUpdate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, p *sqlite.Persister) {
		r := record("a", "", base)
		r.Version = 7 // Create stores the version it is given
		mustCreate(t, p, r)
		wantLoad(t, p, r)
		r2 := qsessions.Record{
			ID:        "a",
			Version:   7,
			UserID:    "bob",
			UpdatedAt: base.Add(time.Minute),
			ExpiresAt: base.Add(time.Hour),
			Data:      []byte{0, 1, 2, 0xff},
			Meta:      qsessions.EncodeMeta(qsessions.SessionInfo{IP: "2001:db8::1", UserAgent: "curl/8.7.1", CreatedAt: base.Add(-2 * time.Hour)}),
		}
		if err := p.Update(ctx, r2); err != nil {
			t.Fatalf("Update: %v", err)
		}
		r2.Version = 8
		wantLoad(t, p, r2)
		if got, err := p.ListByUser(ctx, "bob"); err != nil || !slices.Equal(ids(got), []string{"a"}) || got[0].Version != 8 {
			t.Fatalf("ListByUser(bob) after Update = %v, %v; want [a] at version 8", got, err)
		}

		// A write over a version that is not the stored one conflicts and
		// changes nothing, whether the version is older or newer.
		for _, v := range []int64{7, 9, 0} {
			stale := r2
			stale.Version = v
			stale.Data = []byte("stale")
			if err := p.Update(ctx, stale); !errors.Is(err, qsessions.ErrConflict) || errors.Is(err, qsessions.ErrNotFound) {
				t.Fatalf("Update with version %d over version 8: %v, want ErrConflict", v, err)
			}
			wantLoad(t, p, r2)
		}

		// Update never inserts.
		if err := p.Update(ctx, record("ghost", "bob", base)); !errors.Is(err, qsessions.ErrNotFound) || errors.Is(err, qsessions.ErrConflict) {
			t.Fatalf("Update of a missing record: %v, want ErrNotFound", err)
		}
		wantNotFound(t, p, "ghost")

		// A revoked session cannot come back through Update.
		if err := p.Delete(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if err := p.Update(ctx, r2); !errors.Is(err, qsessions.ErrNotFound) {
			t.Fatalf("Update after Delete: %v, want ErrNotFound", err)
		}
		wantNotFound(t, p, "a")
	})
}

func TestDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, p *sqlite.Persister) {
		for i := range 5 {
			mustCreate(t, p, record(fmt.Sprint("r", i), "u", base))
		}
		if err := p.Delete(ctx); err != nil {
			t.Fatalf("Delete(): %v", err)
		}
		if err := p.Delete(ctx, "r0"); err != nil {
			t.Fatalf("Delete(r0): %v", err)
		}
		if err := p.Delete(ctx, "r1", "missing", "r3", "r1"); err != nil {
			t.Fatalf("Delete(r1, missing, r3, r1): %v", err)
		}
		if err := p.Delete(ctx, "missing"); err != nil {
			t.Fatalf("Delete(missing): %v", err)
		}
		for _, id := range []string{"r0", "r1", "r3"} {
			wantNotFound(t, p, id)
		}
		wantLoad(t, p, record("r2", "u", base))
		wantLoad(t, p, record("r4", "u", base))
	})
}

func TestListByUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, p *sqlite.Persister) {
		got, err := p.ListByUser(ctx, "nobody")
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("ListByUser(nobody) = %#v, %v; want an empty non-nil slice", got, err)
		}
		mustCreate(t, p,
			record("mid", "alice", base.Add(time.Minute)),
			record("old", "alice", base),
			record("new", "alice", base.Add(time.Hour)),
			record("tie-b", "alice", base.Add(time.Minute)),
			record("bob1", "bob", base.Add(2*time.Hour)),
			record("anon", "", base.Add(3*time.Hour)),
			record("alice2", "alice ", base), // a different user
		)
		got, err = p.ListByUser(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"new", "mid", "tie-b", "old"}; !slices.Equal(ids(got), want) {
			t.Fatalf("ListByUser(alice) = %v, want %v", ids(got), want)
		}
		// A listing leaves the values out, and has every other field.
		want := record("new", "alice", base.Add(time.Hour))
		want.Data = nil
		if !equalRecord(got[0], want) {
			t.Fatalf("ListByUser(alice)[0] = %+v, want %+v", got[0], want)
		}
	})
}

func TestDeleteByUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, p *sqlite.Persister) {
		// IDs that are not valid UTF-8 or hold quotes must be matched
		// exactly by the except list.
		odd := "\xff\x00\"],["
		mustCreate(t, p,
			record("a3", "alice", base), record("a1", "alice", base), record("a2", "alice", base),
			record(odd, "alice", base), record("b1", "bob", base),
		)
		got, err := p.DeleteByUser(ctx, "alice", "a2", odd, "not-alice", "b1")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"a1", "a3"}; !slices.Equal(got, want) {
			t.Fatalf("DeleteByUser(alice, except a2 and more) = %q, want %q", got, want)
		}
		for _, id := range []string{"a2", odd, "b1"} {
			wantLoad(t, p, record(id, map[bool]string{true: "bob", false: "alice"}[id == "b1"], base))
		}
		wantNotFound(t, p, "a1")

		got, err = p.DeleteByUser(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"a2", odd}; !slices.Equal(got, want) {
			t.Fatalf("DeleteByUser(alice) = %q, want %q", got, want)
		}
		got, err = p.DeleteByUser(ctx, "alice")
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("DeleteByUser of a user with no records = %#v, %v; want an empty non-nil slice", got, err)
		}
		wantLoad(t, p, record("b1", "bob", base))
	})
}

func TestDeleteExpired(t *testing.T) {
	forEachBackend(t, testDeleteExpired)
	// One statement per transaction: every limit crosses transactions.
	t.Run("ShortTransactions", func(t *testing.T) {
		p, err := sqlite.Open(filepath.Join(t.TempDir(), "s.db"), &sqlite.Options{SweepBudget: time.Nanosecond})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		testDeleteExpired(t, p)
	})
}

func testDeleteExpired(t *testing.T, p *sqlite.Persister) {
	// Statements of 100 rows, so that 250 expired records take three.
	sqlite.SetSweepChunk(p, 100)
	// 250 expired records, expiring one millisecond apart and created in
	// shuffled order, and 10 live ones.
	const n = 250
	expiry := func(i int) time.Time { return base.Add(time.Duration(i) * time.Millisecond) }
	var rs []qsessions.Record
	for i := range n {
		j := (i * 97) % n // a permutation of 0..n-1
		r := record(fmt.Sprintf("e%03d", j), "u", base)
		r.ExpiresAt = expiry(j)
		rs = append(rs, r)
	}
	for i := range 10 {
		r := record(fmt.Sprint("live", i), "u", base)
		r.ExpiresAt = expiry(n + i)
		rs = append(rs, r)
	}
	mustCreate(t, p, rs...)
	before := expiry(n) // e000..e249 expired before it; live0 expires at it

	if k, err := p.DeleteExpired(ctx, before); err != nil || k != n {
		t.Fatalf("DeleteExpired = %d, %v; want %d, nil", k, err, n)
	}
	for i := range n {
		wantNotFound(t, p, fmt.Sprintf("e%03d", i))
	}
	for _, r := range rs[n:] {
		wantLoad(t, p, r)
	}
	if k, err := p.DeleteExpired(ctx, before); err != nil || k != 0 {
		t.Fatalf("DeleteExpired with nothing expired = %d, %v; want 0, nil", k, err)
	}
}

// TestDeleteExpiredCanceled checks that a sweep whose ctx ends partway
// returns the count of the rows it removed, the oldest, with an error
// wrapping ctx.Err(), and keeps the rest.
func TestDeleteExpiredCanceled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, p *sqlite.Persister) {
		const n = 100
		for i := range n {
			r := record(fmt.Sprintf("e%03d", (i*37)%n), "u", base)
			r.ExpiresAt = base.Add(time.Duration((i*37)%n) * time.Millisecond)
			mustCreate(t, p, r)
		}
		// Statements of 10 rows; ctx ends during the fourth.
		sqlite.SetSweepChunk(p, 10)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		statements := 0
		sqlite.SetSweepHook(p, func(step string, _ int, _ time.Duration) {
			if step == "statement" {
				if statements++; statements == 4 {
					cancel()
				}
			}
		})
		sqlite.SetSweepBudget(p, time.Nanosecond) // one statement per transaction
		k, err := p.DeleteExpired(cctx, base.Add(time.Hour))
		if !errors.Is(err, context.Canceled) || k != 30 {
			t.Fatalf("DeleteExpired cancelled in its fourth transaction = %d, %v; want 30, an error wrapping context.Canceled", k, err)
		}
		for i := range n {
			if _, err := p.Load(ctx, fmt.Sprintf("e%03d", i)); (err == nil) != (i >= 30) {
				t.Fatalf("after the cancelled sweep, Load(e%03d): %v; want the 30 oldest gone, the rest kept", i, err)
			}
		}
	})
}

func TestRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, p *sqlite.Persister) {
		local := time.FixedZone("UTC+5:30", 5*3600+1800)
		odd := []byte{0, 0xff, 0xfe, 0, '\n', 0x80, ' ', '1', ' '}
		cases := []qsessions.Record{
			{ID: "nil", UpdatedAt: base, ExpiresAt: base},
			{ID: "empty", Data: []byte{}, Meta: []byte{}, UpdatedAt: base, ExpiresAt: base},
			{ID: "binary", Data: odd, Meta: odd, UserID: "u\x00v", UpdatedAt: base, ExpiresAt: base},
			{ID: "meta", Meta: qsessions.EncodeMeta(qsessions.SessionInfo{IP: "::1", UserAgent: "ünïcødé 🍪 日本語 \u2028",
				CreatedAt: base, AuthenticatedAt: base, AuthMethod: "passkey"}), UserID: "u\x00v", UpdatedAt: base, ExpiresAt: base},
			{ID: "large", Data: bytes.Repeat([]byte{0xab, 0}, 1<<19), Meta: bytes.Repeat([]byte{0, 0xcd}, 1<<15),
				UpdatedAt: base, ExpiresAt: base},
			{ID: "zero-times", UserID: "u\x00v"},
			{ID: "local", UpdatedAt: base.Add(-time.Millisecond).In(local),
				ExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, local)},
			{ID: "pre-1970", UpdatedAt: time.Date(1969, 7, 20, 20, 17, 40, 1_000_000, time.UTC), ExpiresAt: base},
		}
		for _, r := range cases {
			mustCreate(t, p, r)
			got, err := p.Load(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !equalRecord(got, r) {
				t.Errorf("%s: Load = %+v, want %+v", r.ID, got, r)
			}
			for _, tm := range []time.Time{got.UpdatedAt, got.ExpiresAt} {
				if tm.Location() != time.UTC {
					t.Errorf("%s: time %v is in %v, want UTC", r.ID, tm, tm.Location())
				}
			}
		}
		// A listing returns every byte of Meta as it is, NUL included.
		got, err := p.ListByUser(ctx, "u\x00v")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"binary", "meta", "zero-times"}; !slices.Equal(ids(got), want) {
			t.Fatalf("ListByUser = %v, want %v", ids(got), want)
		}
		for i, k := range []int{2, 3, 5} {
			want := cases[k]
			want.Data = nil
			if !equalRecord(got[i], want) {
				t.Errorf("ListByUser: %+v, want %+v", got[i], want)
			}
		}
		// Sub-millisecond parts are dropped, never rounded up.
		r := record("sub-ms", "u", base.Add(999_999*time.Nanosecond))
		mustCreate(t, p, r)
		loaded, _ := p.Load(ctx, r.ID)
		if !loaded.UpdatedAt.Equal(base) {
			t.Errorf("UpdatedAt %v stored as %v, want %v", r.UpdatedAt, loaded.UpdatedAt, base)
		}
		// Data and Meta passed in are not retained; those returned are
		// the caller's.
		r = record("retained", "u", base)
		mustCreate(t, p, r)
		r.Data[0], r.Meta[1] = 'X', 'X'
		want := record("retained", "u", base)
		wantLoad(t, p, want)
		loaded, _ = p.Load(ctx, r.ID)
		loaded.Data[0], loaded.Meta[1] = 'Y', 'Y'
		listed, _ := p.ListByUser(ctx, "u")
		for i := range listed {
			listed[i].Meta[1] = 'Z'
		}
		wantLoad(t, p, want)
		listed, _ = p.ListByUser(ctx, "u")
		if i := slices.IndexFunc(listed, func(r qsessions.Record) bool { return r.ID == "retained" }); i < 0 || !bytes.Equal(listed[i].Meta, want.Meta) {
			t.Errorf("ListByUser(u) = %+v after the caller changed an earlier listing's Meta, want %q's Meta %q", listed, want.ID, want.Meta)
		}
	})
}

func TestCanceledContext(t *testing.T) {
	forEachBackend(t, func(t *testing.T, p *sqlite.Persister) {
		live := record("live", "alice", base)
		dead := record("dead", "alice", base)
		dead.ExpiresAt = base.Add(-time.Hour)
		mustCreate(t, p, live, dead)

		cctx, cancel := context.WithCancel(ctx)
		cancel()
		dctx, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel2()
		for _, c := range []struct {
			ctx  context.Context
			want error
		}{{cctx, context.Canceled}, {dctx, context.DeadlineExceeded}} {
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, c.want) {
					t.Errorf("%s with a done context: %v, want an error wrapping %v", op, err, c.want)
				}
			}
			_, err := p.Load(c.ctx, "live")
			check("Load", err)
			check("Create", p.Create(c.ctx, record("new", "alice", base)))
			changed := live
			changed.Data = []byte("changed")
			check("Update", p.Update(c.ctx, changed))
			check("Delete", p.Delete(c.ctx, "live"))
			check("Delete many", p.Delete(c.ctx, "live", "dead"))
			_, err = p.ListByUser(c.ctx, "alice")
			check("ListByUser", err)
			_, err = p.DeleteByUser(c.ctx, "alice")
			check("DeleteByUser", err)
			_, err = p.DeleteExpired(c.ctx, base)
			check("DeleteExpired", err)
		}
		wantNotFound(t, p, "new")
		wantLoad(t, p, live)
		wantLoad(t, p, dead)
	})
}

func TestClose(t *testing.T) {
	t.Run("Open", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.db")
		p, err := sqlite.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, p, record("a", "u", base))
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := p.Load(ctx, "a"); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Fatalf("Load after Close: %v, want a 'closed' error", err)
		}
		if err := p.Create(ctx, record("b", "u", base)); err == nil {
			t.Fatal("Create after Close succeeded")
		}
		// The data is durable.
		p2, err := sqlite.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p2.Close()
		wantLoad(t, p2, record("a", "u", base))
	})
	t.Run("New", func(t *testing.T) {
		db := openDB(t, filepath.Join(t.TempDir(), "s.db"), "")
		p, err := sqlite.New(db, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, p, record("a", "u", base))
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		// The caller's db is still open.
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM qsessions`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("caller's db after Close: count = %d, %v; want 1, nil", n, err)
		}
	})
}

func TestSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	p, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, p, record("a", "u", base))
	p.Close()

	db := openDB(t, path, "")
	var v int
	if err := db.QueryRow(`SELECT version FROM qsessions_schema WHERE table_name = 'qsessions'`).Scan(&v); err != nil || v != sqlite.SchemaVersion {
		t.Fatalf("recorded version = %d, %v; want %d", v, err, sqlite.SchemaVersion)
	}
	// The indexes the queries rely on exist.
	for _, idx := range []string{"qsessions_id", "qsessions_user", "qsessions_expires"} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, idx).Scan(&n); err != nil || n != 1 {
			t.Fatalf("index %s: count %d, %v", idx, n, err)
		}
	}
	// Re-opening is a no-op that keeps the data.
	p, err = sqlite.New(db, nil)
	if err != nil {
		t.Fatalf("re-open: %v", err)
	}
	wantLoad(t, p, record("a", "u", base))
	p.Close()

	// A second table in the same database is independent.
	p2, err := sqlite.New(db, &sqlite.Options{Table: "Other_2"})
	if err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, p2, "a")
	mustCreate(t, p2, record("b", "u", base))
	p2.Close()

	// A newer schema version is refused, and nothing is changed.
	if _, err := db.Exec(`UPDATE qsessions_schema SET version = ? WHERE table_name = 'qsessions'`, sqlite.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.New(db, nil)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("New on a newer schema: %v, want an error about a newer version", err)
	}
	if _, err := sqlite.Open(path, nil); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open on a newer schema: %v, want an error about a newer version", err)
	}
	if err := db.QueryRow(`SELECT version FROM qsessions_schema WHERE table_name = 'qsessions'`).Scan(&v); err != nil || v != sqlite.SchemaVersion+1 {
		t.Fatalf("version after a refused open = %d, %v", v, err)
	}
	p2, err = sqlite.New(db, &sqlite.Options{Table: "Other_2"})
	if err != nil {
		t.Fatalf("the other table is unaffected: %v", err)
	}
	wantLoad(t, p2, record("b", "u", base))
	p2.Close()
}

func TestOptions(t *testing.T) {
	bad := []string{"1abc", "a-b", "a b", `a"b`, "sessions;drop", "sqlite_x", "SQLITE_master", "qsessions_schema",
		"é", strings.Repeat("a", 65)}
	for _, name := range bad {
		if p, err := sqlite.Open(":memory:", &sqlite.Options{Table: name}); err == nil {
			p.Close()
			t.Errorf("Open with table %q succeeded", name)
		} else if !strings.Contains(err.Error(), "invalid table name") {
			t.Errorf("Open with table %q: %v", name, err)
		}
	}
	good := []string{"s", "_s", "Sessions_2", strings.Repeat("a", 64)}
	for _, name := range good {
		p, err := sqlite.Open(":memory:", &sqlite.Options{Table: name})
		if err != nil {
			t.Errorf("Open with table %q: %v", name, err)
			continue
		}
		mustCreate(t, p, record("a", "u", base))
		p.Close()
	}
	if _, err := sqlite.Open(":memory:", &sqlite.Options{BusyTimeout: -1}); err == nil {
		t.Error("negative BusyTimeout accepted")
	}
	if _, err := sqlite.Open(":memory:", &sqlite.Options{MaxOpenConns: -1}); err == nil {
		t.Error("negative MaxOpenConns accepted")
	}
	if _, err := sqlite.Open(":memory:", &sqlite.Options{SweepBudget: -1}); err == nil {
		t.Error("negative SweepBudget accepted")
	}
	if _, err := sqlite.Open("", nil); err == nil {
		t.Error("empty path accepted")
	}
	if _, err := sqlite.New(nil, nil); err == nil {
		t.Error("nil db accepted")
	}
}

// TestMemoryShared checks that all calls on an in-memory Persister see the
// same database, and that two in-memory Persisters do not.
func TestMemoryShared(t *testing.T) {
	p1, p2 := openMemory(t), openMemory(t)
	mustCreate(t, p1, record("a", "u", base))
	done := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := p1.Load(ctx, "a")
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	wantNotFound(t, p2, "a")
}

// TestPathCharacters checks that file names are not parsed as DSNs.
func TestPathCharacters(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "we?ird #name%20&mode=ro.db")
	p, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, p, record("a", "u", base))
	p.Close()
	p, err = sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantLoad(t, p, record("a", "u", base))
	p.Close()
	matches, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(matches) != 1 || matches[0] != path {
		t.Fatalf("files in dir: %q, want only %q", matches, path)
	}
}

// TestQueryPlans checks that every statement finds its rows through the
// index meant for it, and that the listing reads the user index alone.
func TestQueryPlans(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	p, err := sqlite.Open(path, &sqlite.Options{Table: "plans"})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	db := openDB(t, path, "")
	want := map[string][]string{
		"Load":          {"USING INDEX plans_id"},
		"Create":        {"USING INDEX plans_id"},
		"Touch":         {"USING INDEX plans_id"},
		"Update":        {"USING INDEX plans_id"},
		"Exists":        {"USING INDEX plans_id"},
		"Delete":        {"USING INDEX plans_id"},
		"ListByUser":    {"USING COVERING INDEX plans_user"},
		"DeleteByUser":  {"INDEX plans_user"},
		"DeleteExpired": {"USING COVERING INDEX plans_expires"},
	}
	args := map[string]int{"Load": 2, "Create": 9, "Touch": 8, "Update": 8, "Exists": 2, "Delete": 2, "DeleteByUser": 2, "DeleteExpired": 2}
	for name, q := range sqlite.Queries("plans") {
		all := queryPlan(t, db, q, max(1, args[name]))
		for _, w := range want[name] {
			if !strings.Contains(all, w) {
				t.Errorf("%s: plan does not say %q:\n%s", name, w, all)
			}
		}
		if strings.Contains(all, "SCAN plans") || strings.Contains(all, "TEMP B-TREE") {
			t.Errorf("%s: plan scans the table or sorts:\n%s", name, all)
		}
	}
	// The listing reads each session's listing from the index, where
	// SQLite stored it, rather than computing it again.
	rows, err := db.Query("EXPLAIN "+sqlite.Queries("plans")["ListByUser"], "u")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var addr, p1, p2, p3, p5 int
		var opcode string
		var p4, comment sql.NullString
		if err := rows.Scan(&addr, &opcode, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
			t.Fatal(err)
		}
		if opcode == "Function" || opcode == "PureFunc" || opcode == "Concat" {
			t.Errorf("ListByUser computes its listings (%s %s) instead of reading them from the user index", opcode, p4.String)
		}
	}
}

// queryPlan returns what EXPLAIN QUERY PLAN says of q, which takes args
// parameters, one line per step.
func queryPlan(t *testing.T, db *sql.DB, q string, args int) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, make([]any, args)...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN %s: %v", q, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// TestCheckpoints checks that a Persister made by Open, whose database has
// SQLite's automatic checkpoints off, checkpoints the write-ahead log
// itself: the log stays bounded while writes go on, and Close leaves none.
func TestCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	p, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 3000 writes of several pages each: over 48 MB of log unless someone
	// checkpoints it, and a few MB if the Persister checkpoints every 256
	// writes and has writes wait for the end of a checkpoint when the log
	// is over 1000 pages (4 MB). The checkpointer runs beside the writes,
	// as soon as it gets a processor; so that the test does not depend on
	// when that is, every 256 writes it also runs one of the
	// checkpointer's checkpoints itself (it finds nothing to do when the
	// checkpointer is at it).
	sqlite.SetForceCheckpoint(p, 1000)
	big := bytes.Repeat([]byte{1}, 2000)
	var maxWAL int64
	for i := range 3000 {
		r := record(fmt.Sprint("r", i), fmt.Sprint("u", i%100), base)
		r.Data = big
		mustCreate(t, p, r)
		if fi, err := os.Stat(path + "-wal"); err == nil {
			maxWAL = max(maxWAL, fi.Size())
		}
		if i%256 == 255 {
			sqlite.Checkpoint(p)
		}
	}
	t.Logf("the write-ahead log grew to %d bytes at most", maxWAL)
	if maxWAL == 0 || maxWAL > 24<<20 {
		t.Errorf("the write-ahead log grew to %d bytes, want it checkpointed (well under 24 MB)", maxWAL)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		t.Errorf("after Close the write-ahead log holds %d bytes, want none", fi.Size())
	}
	p, err = sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := record("r2999", "u99", base)
	r.Data = big
	wantLoad(t, p, r)
}
