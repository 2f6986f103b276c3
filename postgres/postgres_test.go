package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/binding"
	"github.com/qsessions/qsessions/postgres"
)

func TestOptionsRejected(t *testing.T) {
	dsn := needService(t, envDSN, "a PostgreSQL server")
	pool := testPool(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts postgres.Options
		want string
	}{
		{"schema with quote", postgres.Options{Schema: `qs_test_x"; DROP TABLE t; --`}, "invalid schema name"},
		{"schema with space", postgres.Options{Schema: "qs test"}, "invalid schema name"},
		{"schema with dot", postgres.Options{Schema: "a.b"}, "invalid schema name"},
		{"schema starting with digit", postgres.Options{Schema: "1qs_test"}, "invalid schema name"},
		{"schema non-ASCII", postgres.Options{Schema: "qs_tést"}, "invalid schema name"},
		{"schema pg_", postgres.Options{Schema: "pg_qs_test"}, "reserved"},
		{"schema too long", postgres.Options{Schema: "qs_test_" + strings.Repeat("x", 56)}, "longer than 63"},
		{"table with hyphen", postgres.Options{Table: "qs-test"}, "invalid table name"},
		{"table too long", postgres.Options{Table: strings.Repeat("t", 41)}, "longer than 40"},
		{"negative batch", postgres.Options{BatchSize: -1}, "BatchSize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := schemaCount(t)
			p, err := postgres.New(ctx, pool, &tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: got %v, %v; want an error containing %q", p, err, tc.want)
			}
			p, err = postgres.Open(ctx, dsn, &tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: got %v, %v; want an error containing %q", p, err, tc.want)
			}
			if after := schemaCount(t); after != before {
				t.Errorf("rejected options changed the database: %d schemas before, %d after", before, after)
			}
		})
	}
	t.Run("nil pool", func(t *testing.T) {
		if _, err := postgres.New(ctx, nil, nil); err == nil {
			t.Fatal("New(nil pool) succeeded")
		}
	})
	t.Run("bad DSN does not echo it", func(t *testing.T) {
		_, err := postgres.Open(ctx, "postgres://u:s3cret-pw@[bad", nil)
		if err == nil {
			t.Fatal("Open with a malformed DSN succeeded")
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Fatalf("error leaks the password: %v", err)
		}
	})
}

func schemaCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := testPool(t).QueryRow(context.Background(), "SELECT count(*) FROM pg_namespace").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Eight app servers starting at once on an empty schema: all succeed, and
// the migration runs exactly once.
func TestNewConcurrentMigration(t *testing.T) {
	schema := freshSchema(t)
	const servers = 8
	var wg sync.WaitGroup
	errs := make([]error, servers)
	start := make(chan struct{})
	for i := range servers {
		pool := ownPool(t, fmt.Sprintf("qs-test-migrate-%d", i), 2)
		wg.Go(func() {
			<-start
			_, errs[i] = postgres.New(context.Background(), pool, &postgres.Options{Schema: schema})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("server %d: New: %v", i, err)
		}
	}
	if n := countRows(t, schema, "qsessions_migrations", "true"); n != postgres.SchemaVersion {
		t.Errorf("%d migration rows, want %d", n, postgres.SchemaVersion)
	}
	var v int
	var applied time.Time
	err := testPool(t).QueryRow(context.Background(),
		"SELECT version, applied_at FROM "+table(schema, "qsessions_migrations")+" ORDER BY version DESC LIMIT 1").Scan(&v, &applied)
	if err != nil {
		t.Fatal(err)
	}
	if v != postgres.SchemaVersion || time.Since(applied) > time.Minute {
		t.Errorf("migration row: version %d applied at %v", v, applied)
	}

	// Reopening runs no migration and keeps the data.
	p, err := postgres.New(context.Background(), testPool(t), &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := p.Create(context.Background(), record("reopen", "u", now, now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.New(context.Background(), testPool(t), &postgres.Options{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, schema, "qsessions_migrations", "true"); n != postgres.SchemaVersion {
		t.Errorf("after reopening: %d migration rows, want %d", n, postgres.SchemaVersion)
	}
	if n := countRows(t, schema, "", "true"); n != 1 {
		t.Errorf("after reopening: %d session rows, want 1", n)
	}
}

func TestNewRefusesNewerSchema(t *testing.T) {
	_, schema := newPersister(t, nil)
	_, err := testPool(t).Exec(context.Background(),
		"INSERT INTO "+table(schema, "qsessions_migrations")+" (version, name) VALUES ($1, 'from_the_future')", postgres.SchemaVersion+1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = postgres.New(context.Background(), testPool(t), &postgres.Options{Schema: schema})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("New on a newer schema: %v, want an error saying it is newer", err)
	}
}

// Custom names are quoted (so case is kept), and the indexes exist and
// serve the queries they are meant for.
func TestCustomTableAndIndexes(t *testing.T) {
	ctx := context.Background()
	p, schema := newPersister(t, &postgres.Options{Table: "Web_Sessions"})
	now := time.Now()
	if err := p.Create(ctx, record("a", "u1", now, now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, schema, "Web_Sessions", "true"); n != 1 {
		t.Fatalf("%d rows in %s.\"Web_Sessions\", want 1", n, schema)
	}
	if n := countRows(t, schema, "Web_Sessions_migrations", "true"); n != postgres.SchemaVersion {
		t.Fatalf("%d rows in the migrations table, want %d", n, postgres.SchemaVersion)
	}

	rows, err := testPool(t).Query(ctx, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2", schema, "Web_Sessions")
	if err != nil {
		t.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var name, def string
		err := r.Scan(&name, &def)
		return name + ": " + def, err
	})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(defs, "\n")
	for _, want := range []string{
		"(user_id, updated_at DESC, id) INCLUDE (version, expires_at, meta)",
		"(expires_at)", "(id)",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no index on %s; indexes:\n%s", want, all)
		}
	}

	// With sequential scans disabled the planner must still find an index
	// for each query shape; a missing or wrong index shows as a Seq Scan.
	tbl := table(schema, "Web_Sessions")
	// ListByUser is checked with the statement it runs: it must read
	// nothing but the index.
	for _, q := range []struct {
		name, sql, index string
		args             []any
	}{
		{"ListByUser", postgres.ListQuery(p), "Index Only Scan using \"Web_Sessions_user_listing_idx\"", []any{"u1"}},
		{"DeleteByUser", "SELECT id FROM " + tbl + " WHERE user_id = 'u1' AND id <> ALL('{a}')", "Web_Sessions_user_listing_idx", nil},
		{"DeleteExpired", "SELECT id FROM " + tbl + " WHERE expires_at < now() ORDER BY expires_at LIMIT 100", "Web_Sessions_expires_at_idx", nil},
		{"Load", "SELECT * FROM " + tbl + " WHERE id = 'a'", "Web_Sessions_pkey", nil},
	} {
		plan := explain(t, q.sql, q.args...)
		if !strings.Contains(plan, q.index) || strings.Contains(plan, "Sort") {
			t.Errorf("%s: plan does not use %s without sorting:\n%s", q.name, q.index, plan)
		}
	}
}

// explain returns the plan of query, run with args, with sequential and
// bitmap scans and sorts disabled.
func explain(t *testing.T, query string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	tx, err := testPool(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// Update is a compare-and-swap on the version: it bumps the version it was
// given, and a version that is not the stored one conflicts and writes
// nothing.
func TestUpdateVersion(t *testing.T) {
	ctx := context.Background()
	p, _ := newPersister(t, nil)
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := record("v", "u", now, now.Add(time.Hour))
	r.Version = 7 // Create stores the version it is given
	if err := p.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Load(ctx, "v"); err != nil || got.Version != 7 {
		t.Fatalf("Load after Create with version 7: version %d, %v", got.Version, err)
	}
	r.Data = []byte("new")
	if err := p.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{7, 9, 0} {
		stale := r
		stale.Version = v
		stale.Data = []byte("stale")
		err := p.Update(ctx, stale)
		if !errors.Is(err, qsessions.ErrConflict) || errors.Is(err, qsessions.ErrNotFound) {
			t.Fatalf("Update with version %d over version 8: %v, want ErrConflict", v, err)
		}
	}
	got, err := p.Load(ctx, "v")
	if err != nil || got.Version != 8 || string(got.Data) != "new" {
		t.Fatalf("after Update and stale ones: version %d, data %q, %v; want 8, \"new\"", got.Version, got.Data, err)
	}
	list, err := p.ListByUser(ctx, "u")
	if err != nil || len(list) != 1 || list[0].Version != 8 {
		t.Fatalf("ListByUser = %+v, %v; want one record at version 8", list, err)
	}
}

func TestUpdateNeverInserts(t *testing.T) {
	ctx := context.Background()
	p, schema := newPersister(t, nil)
	now := time.Now()
	err := p.Update(ctx, record("ghost", "u", now, now.Add(time.Hour)))
	if !errors.Is(err, qsessions.ErrNotFound) {
		t.Fatalf("Update of a missing row: %v, want ErrNotFound", err)
	}
	if n := countRows(t, schema, "", "true"); n != 0 {
		t.Fatalf("Update of a missing row left %d rows", n)
	}
	// Revoked meanwhile: created, deleted, then updated.
	r := record("revoked", "u", now, now.Add(time.Hour))
	if err := p.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := p.Update(ctx, r); !errors.Is(err, qsessions.ErrNotFound) {
		t.Fatalf("Update of a deleted row: %v, want ErrNotFound", err)
	}
	if n := countRows(t, schema, "", "true"); n != 0 {
		t.Fatalf("Update of a deleted row left %d rows", n)
	}
}

func TestCreateExists(t *testing.T) {
	ctx := context.Background()
	p, _ := newPersister(t, nil)
	now := time.Now().UTC().Truncate(time.Millisecond)
	first := record("dup", "u1", now, now.Add(time.Hour))
	if err := p.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := record("dup", "u2", now.Add(time.Minute), now.Add(2*time.Hour))
	second.Data = []byte("other")
	err := p.Create(ctx, second)
	if !errors.Is(err, qsessions.ErrExists) {
		t.Fatalf("Create of a taken ID: %v, want ErrExists", err)
	}
	got, err := p.Load(ctx, "dup")
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != "u1" || string(got.Data) != string(first.Data) || !got.ExpiresAt.Equal(first.ExpiresAt) {
		t.Fatalf("failed Create changed the row: %+v", got)
	}
	if err := p.Create(ctx, record("", "u", now, now)); err == nil {
		t.Fatal("Create with an empty ID succeeded")
	}
}

// Times are stored with microsecond precision and come back in UTC, the
// zero time as the zero time; nil and empty Data and Meta stay distinct,
// and any bytes round-trip.
func TestTimesAndData(t *testing.T) {
	ctx := context.Background()
	p, _ := newPersister(t, nil)
	tokyo := time.FixedZone("JST", 9*3600)
	at := time.Date(2031, 5, 6, 7, 8, 9, 123456789, tokyo)
	r := qsessions.Record{ID: "t", UserID: "ü/用户", UpdatedAt: at.Add(time.Nanosecond), ExpiresAt: at.Add(999 * time.Nanosecond)}
	if err := p.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := p.Load(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ got, sent time.Time }{
		"UpdatedAt": {got.UpdatedAt, r.UpdatedAt},
		"ExpiresAt": {got.ExpiresAt, r.ExpiresAt},
	} {
		tm, want := c.got, c.sent.Truncate(time.Microsecond).UTC()
		if tm.Location() != time.UTC || !tm.Equal(want) || tm.Nanosecond()%1000 != 0 {
			t.Errorf("%s = %v (%v), want %v in UTC", name, tm, tm.Location(), want)
		}
	}
	if got.Data != nil || got.Meta != nil || got.UserID != r.UserID {
		t.Errorf("got %+v, want nil Data and Meta and the user of %+v", got, r)
	}
	r.Data, r.Meta = []byte{}, []byte{}
	r.UpdatedAt = time.Time{}
	if err := p.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Version++
	got, _ = p.Load(ctx, "t")
	if got.Data == nil || len(got.Data) != 0 || got.Meta == nil || len(got.Meta) != 0 {
		t.Errorf("empty Data and Meta came back as %#v and %#v", got.Data, got.Meta)
	}
	if got.UpdatedAt != (time.Time{}) {
		t.Errorf("zero UpdatedAt came back as %v (%v)", got.UpdatedAt, got.UpdatedAt.Location())
	}
	r.Data = []byte{0, 0xff, 0xfe, '\'', '\\'}
	r.Meta = []byte{0xff, 0, '\\', 'x', 0}
	r.UpdatedAt = at.Truncate(time.Microsecond)
	if err := p.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Version++
	if got, _ := p.Load(ctx, "t"); string(got.Data) != string(r.Data) || string(got.Meta) != string(r.Meta) {
		t.Errorf("binary Data and Meta came back as %#v and %#v", got.Data, got.Meta)
	}
	r.UserID = "u"
	if err := p.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Version++
	list, err := p.ListByUser(ctx, "u")
	if err != nil || len(list) != 1 {
		t.Fatalf("ListByUser = %+v, %v; want one record", list, err)
	}
	r.Data = nil
	r.ExpiresAt = r.ExpiresAt.Truncate(time.Microsecond)
	if l := list[0]; !sameRecord(l, r) {
		t.Errorf("ListByUser lists %+v, want %+v", l, r)
	}
}

// seedExpiry creates n records expiring one second apart from base, IDs
// "<prefix>-000" upwards, in shuffled order.
func seedExpiry(t *testing.T, p *postgres.Persister, prefix string, n int, base time.Time) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	for _, i := range perm(n) {
		r := record(ids[i], "u", base, base.Add(time.Duration(i)*time.Second))
		if err := p.Create(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// perm is a fixed permutation of 0..n-1.
func perm(n int) []int {
	out := make([]int, n)
	for i := range n {
		out[i] = (i*37 + 11) % n
	}
	return out
}

// DeleteExpired removes every expired row, oldest first, in statements of
// at most BatchSize rows, each its own transaction: a statement-level
// trigger logs each DELETE's transaction and row count.
func TestDeleteExpiredBatches(t *testing.T) {
	ctx := context.Background()
	p, schema := newPersister(t, &postgres.Options{BatchSize: 7})
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	seedExpiry(t, p, "old", 50, base)                 // expire base .. base+49s
	seedExpiry(t, p, "live", 10, base.Add(time.Hour)) // expire an hour later
	tbl, log := table(schema, ""), table(schema, "sweep_log")
	fn := pgx.Identifier{schema, "log_sweep"}.Sanitize()
	if _, err := testPool(t).Exec(ctx, `
CREATE TABLE `+log+` (n serial, xact bigint, deleted bigint, oldest text, newest text);
CREATE FUNCTION `+fn+`() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
	INSERT INTO `+log+` (xact, deleted, oldest, newest)
		SELECT txid_current(), count(*), min(id), max(id) FROM gone;
	RETURN NULL;
END $$;
CREATE TRIGGER log_sweep AFTER DELETE ON `+tbl+` REFERENCING OLD TABLE AS gone
	FOR EACH STATEMENT EXECUTE FUNCTION `+fn+`();`); err != nil {
		t.Fatal(err)
	}

	cut := base.Add(50 * time.Second)
	n, err := p.DeleteExpired(ctx, cut)
	if err != nil || n != 50 {
		t.Fatalf("DeleteExpired = %d, %v; want 50", n, err)
	}
	if k := countRows(t, schema, "", "true"); k != 10 {
		t.Errorf("%d rows remain, want the 10 live ones", k)
	}
	rows, err := testPool(t).Query(ctx, "SELECT xact, deleted, oldest, newest FROM "+log+" ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	type batch struct {
		xact, deleted  int64
		oldest, newest string
	}
	batches, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (batch, error) {
		var b batch
		err := r.Scan(&b.xact, &b.deleted, &b.oldest, &b.newest)
		return b, err
	})
	if err != nil {
		t.Fatal(err)
	}
	// 7 batches of 7 and one of 1: each batch is the next 7 oldest.
	if len(batches) != 8 {
		t.Fatalf("DeleteExpired ran %d DELETE statements (%+v), want 8", len(batches), batches)
	}
	for i, b := range batches {
		want := batch{deleted: 7, oldest: fmt.Sprintf("old-%03d", 7*i), newest: fmt.Sprintf("old-%03d", 7*i+6)}
		if i == 7 {
			want = batch{deleted: 1, oldest: "old-049", newest: "old-049"}
		}
		if want.xact = b.xact; b != want {
			t.Errorf("batch %d removed %d rows, %s to %s; want %d, %s to %s", i, b.deleted, b.oldest, b.newest, want.deleted, want.oldest, want.newest)
		}
		if i > 0 && b.xact == batches[i-1].xact {
			t.Errorf("batches %d and %d ran in one transaction", i-1, i)
		}
	}
	n, err = p.DeleteExpired(ctx, cut)
	if err != nil || n != 0 {
		t.Fatalf("DeleteExpired with nothing expired = %d, %v; want 0", n, err)
	}
}

// A row expiring exactly at `before` is kept; one expiring a nanosecond
// earlier than a sub-microsecond `before` is not.
func TestDeleteExpiredBoundary(t *testing.T) {
	ctx := context.Background()
	p, schema := newPersister(t, nil)
	at := time.Date(2030, 1, 1, 0, 0, 0, 5000, time.UTC) // a whole microsecond
	if err := p.Create(ctx, record("edge", "u", at, at)); err != nil {
		t.Fatal(err)
	}
	if n, err := p.DeleteExpired(ctx, at); err != nil || n != 0 {
		t.Fatalf("DeleteExpired(before == ExpiresAt) = %d, %v; want 0", n, err)
	}
	if n, err := p.DeleteExpired(ctx, at.Add(time.Nanosecond)); err != nil || n != 1 {
		t.Fatalf("DeleteExpired(before == ExpiresAt+1ns) = %d, %v; want 1", n, err)
	}
	if k := countRows(t, schema, "", "true"); k != 0 {
		t.Fatalf("%d rows remain", k)
	}
}

// Rows another sweeper holds locked are skipped, not waited for, and two
// sweepers running at once delete every expired row exactly once between
// them.
func TestDeleteExpiredSkipLocked(t *testing.T) {
	ctx := context.Background()
	p, schema := newPersister(t, &postgres.Options{BatchSize: 5})
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	seedExpiry(t, p, "old", 40, base)
	cut := base.Add(time.Hour)

	// Another machine's sweeper holds the 10 oldest rows.
	tx, err := testPool(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT id FROM "+table(schema, "")+" ORDER BY expires_at LIMIT 10 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := p.DeleteExpired(tctx, cut)
	if err != nil || n != 30 {
		t.Fatalf("DeleteExpired beside a locking sweeper = %d, %v; want 30 without waiting", n, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// Two sweepers at once over 300 rows.
	seedExpiry(t, p, "more", 300, base)
	q, err := postgres.New(ctx, ownPool(t, "qs-test-sweeper-2", 4), &postgres.Options{Schema: schema, BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	for _, sw := range []*postgres.Persister{p, q, p, q} {
		wg.Go(func() {
			n, err := sw.DeleteExpired(ctx, cut)
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(n))
		})
	}
	wg.Wait()
	if total.Load() != 310 {
		t.Errorf("sweepers deleted %d rows in all, want 310", total.Load())
	}
	if k := countRows(t, schema, "", "true"); k != 0 {
		t.Errorf("%d rows remain", k)
	}
}

func TestListAndDeleteByUser(t *testing.T) {
	ctx := context.Background()
	p, schema := newPersister(t, nil)
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"b", "a", "c", "d"} {
		if err := p.Create(ctx, record(id, "alice", base.Add(time.Duration(i%3)*time.Minute), base.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Create(ctx, record("bob1", "bob", base, base.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	list, err := p.ListByUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		got = append(got, r.ID)
	}
	// updated: b 0m, a 1m, c 2m, d 0m → c, a, then b and d tied (by ID).
	if strings.Join(got, ",") != "c,a,b,d" {
		t.Errorf("ListByUser order %v, want c,a,b,d", got)
	}
	if l, err := p.ListByUser(ctx, "nobody"); err != nil || l == nil || len(l) != 0 {
		t.Errorf("ListByUser(nobody) = %#v, %v; want an empty slice", l, err)
	}
	ids, err := p.DeleteByUser(ctx, "alice", "c", "bob1")
	if err != nil || strings.Join(ids, ",") != "a,b,d" {
		t.Fatalf("DeleteByUser(alice except c) = %v, %v; want [a b d]", ids, err)
	}
	if k := countRows(t, schema, "", "true"); k != 2 {
		t.Fatalf("%d rows remain, want c and bob1", k)
	}
	ids, err = p.DeleteByUser(ctx, "alice")
	if err != nil || strings.Join(ids, ",") != "c" {
		t.Fatalf("DeleteByUser(alice) = %v, %v; want [c]", ids, err)
	}
	ids, err = p.DeleteByUser(ctx, "alice")
	if err != nil || ids == nil || len(ids) != 0 {
		t.Fatalf("DeleteByUser(alice) again = %#v, %v; want an empty slice", ids, err)
	}
	if k := countRows(t, schema, "", "user_id = 'bob'"); k != 1 {
		t.Fatal("DeleteByUser touched another user")
	}
}

// A cancelled context fails every method with an error wrapping
// context.Canceled and changes nothing.
func TestCancelledContext(t *testing.T) {
	p, schema := newPersister(t, nil)
	now := time.Now()
	r := record("keep", "u", now, now.Add(-time.Hour)) // already expired
	if err := p.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	changed := r
	changed.UserID = "other"
	checks := map[string]error{}
	_, checks["Load"] = p.Load(ctx, "keep")
	checks["Create"] = p.Create(ctx, record("new", "u", now, now))
	checks["Update"] = p.Update(ctx, changed)
	checks["Delete"] = p.Delete(ctx, "keep")
	_, checks["ListByUser"] = p.ListByUser(ctx, "u")
	_, checks["DeleteByUser"] = p.DeleteByUser(ctx, "u")
	_, checks["DeleteExpired"] = p.DeleteExpired(ctx, now)
	_, checks["New"] = postgres.New(ctx, testPool(t), &postgres.Options{Schema: schema})
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want an error wrapping context.Canceled", name, err)
		}
	}
	if k := countRows(t, schema, "", "true"); k != 1 {
		t.Fatalf("%d rows, want 1", k)
	}
	got, err := p.Load(context.Background(), "keep")
	if err != nil || got.UserID != "u" {
		t.Fatalf("after cancelled calls: %+v, %v", got, err)
	}
}

// A context that ends while New waits for another server's migration lock
// makes New fail with the context's error.
func TestNewWaitsForMigrationLock(t *testing.T) {
	schema := freshSchema(t)
	ctx := context.Background()
	// Create the schema first, so that the lock is the only thing in the
	// way of the migration of its new table.
	if _, err := testPool(t).Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	tx, err := testPool(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// Hold the lock another server's New would hold while migrating.
	lockKey := postgres.AdvisoryKey(schema, postgres.DefaultTable)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = postgres.New(tctx, testPool(t), &postgres.Options{Schema: schema})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("New while the lock is held: %v, want DeadlineExceeded", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.New(ctx, testPool(t), &postgres.Options{Schema: schema}); err != nil {
		t.Fatalf("New after the lock is released: %v", err)
	}

	// A table that is up to date is only read: New does not wait for
	// the lock.
	tx, err = testPool(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
		t.Fatal(err)
	}
	tctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := postgres.New(tctx, testPool(t), &postgres.Options{Schema: schema}); err != nil {
		t.Fatalf("New of an up-to-date table while the lock is held: %v", err)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	dsn := needService(t, envDSN, "a PostgreSQL server")
	schema := freshSchema(t)

	// A pool passed to New is the caller's: Close leaves it open.
	pool := ownPool(t, "qs-test-close", 2)
	p, err := postgres.New(ctx, pool, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("Close closed the caller's pool: %v", err)
	}

	// A pool Open created is closed by Close, and later calls fail cleanly.
	o, err := postgres.Open(ctx, dsn, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := o.Create(ctx, record("x", "u", now, now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := o.Load(ctx, "x"); err == nil || errors.Is(err, qsessions.ErrNotFound) {
		t.Fatalf("Load after Close: %v, want a closed-pool error", err)
	}
}

// The user index includes meta: the largest Meta a Store writes (a
// User-Agent of the default maximum length, an IPv6 address, an
// authentication method and the largest binding package dbsc writes, an
// RSA-4096 key of about 650 bytes; 1 KiB here, incompressible), and any
// Meta up to MaxListedMeta bytes, is kept in the index, beside a long user
// ID; a longer one goes to meta_overflow. Each round-trips through Create,
// Update, Load and ListByUser, and an Update that moves Meta from one
// column to the other clears the first.
func TestLargeMeta(t *testing.T) {
	ctx := context.Background()
	p, schema := newPersister(t, nil)
	now := time.Now().UTC().Truncate(time.Millisecond)
	long := make([]byte, 190)
	rand.Read(long)
	user := "u-" + base64.RawURLEncoding.EncodeToString(long) // 256 incompressible bytes
	r := record("big", user, now, now.Add(time.Hour))
	bind := make([]byte, 1024)
	rand.Read(bind)
	store, err := binding.SetInMeta(qsessions.EncodeMeta(qsessions.SessionInfo{
		IP:              "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
		UserAgent:       strings.Repeat("Mozilla/5.0 (X11; Linux x86_64) ", 10)[:300], // Options.MaxUserAgent's default
		CreatedAt:       now,
		AuthenticatedAt: now,
		AuthMethod:      "oauth:github",
	}), bind)
	if err != nil {
		t.Fatal(err)
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	for i, c := range []struct {
		name     string
		meta     []byte
		overflow bool
	}{
		{"the largest a Store writes", store, false},
		{"MaxListedMeta bytes", random(postgres.MaxListedMeta), false},
		{"MaxListedMeta+1 bytes", random(postgres.MaxListedMeta + 1), true},
		{"64 KiB", random(64 << 10), true},
		{"the largest a Store writes, again", store, false},
		{"nil", nil, false},
	} {
		r.Meta = c.meta
		if i == 0 {
			if err := p.Create(ctx, r); err != nil {
				t.Fatalf("Create with %s of Meta (%d bytes): %v", c.name, len(r.Meta), err)
			}
		} else {
			if err := p.Update(ctx, r); err != nil {
				t.Fatalf("Update with %s of Meta (%d bytes): %v", c.name, len(r.Meta), err)
			}
			r.Version++
		}
		if got, err := p.Load(ctx, r.ID); err != nil || !sameRecord(got, r) {
			t.Fatalf("Load of a record with %s of Meta = %+v, %v; want %+v", c.name, got, err, r)
		}
		list, err := p.ListByUser(ctx, user)
		if err != nil || len(list) != 1 {
			t.Fatalf("ListByUser = %+v, %v; want one record", list, err)
		}
		want := r
		want.Data = nil
		if !sameRecord(list[0], want) {
			t.Fatalf("ListByUser lists %+v, want %+v (%s of Meta)", list[0], want, c.name)
		}
		where := "meta IS NULL AND meta_overflow IS NOT NULL"
		if !c.overflow {
			where = "(meta IS NULL) = $1 AND meta_overflow IS NULL"
		}
		args := []any{c.meta == nil}
		if c.overflow {
			args = nil
		}
		if k := countRows(t, schema, "", where, args...); k != 1 {
			t.Errorf("%s of Meta: the row does not match %s", c.name, where)
		}
	}
}

// A listing reads the table only for records whose Meta is too long for the
// user index: with short Meta, the lookup of meta_overflow never runs.
func TestListingReadsTableOnlyForOverflow(t *testing.T) {
	ctx := context.Background()
	p, _ := newPersister(t, nil)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range 3 {
		if err := p.Create(ctx, record(fmt.Sprint("s", i), "u1", now, now.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	plan := explain(t, "(ANALYZE, COSTS OFF, TIMING OFF) "+postgres.ListQuery(p), "u1")
	if !strings.Contains(plan, "Index Only Scan using qsessions_user_listing_idx") || !regexp.MustCompile(`Index Scan using qsessions_pkey .*\(never executed\)`).MatchString(plan) {
		t.Errorf("listing records with short Meta: the plan is not an index-only scan that never looks up meta_overflow:\n%s", plan)
	}
	big := record("s3", "u1", now, now.Add(time.Hour))
	big.Meta = make([]byte, postgres.MaxListedMeta+1)
	if err := p.Create(ctx, big); err != nil {
		t.Fatal(err)
	}
	plan = explain(t, "(ANALYZE, COSTS OFF, TIMING OFF) "+postgres.ListQuery(p), "u1")
	if !regexp.MustCompile(`Index Scan using qsessions_pkey .*\(actual rows=1 loops=1\)`).MatchString(plan) {
		t.Errorf("listing one record with long Meta among short ones: the plan does not look up meta_overflow once:\n%s", plan)
	}
}
