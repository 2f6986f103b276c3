package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/qsessions/qsessions"
)

// TestPersister checks that the [qsessions.Persister] returned by newPersister
// keeps every sentence of the Persister contract. It runs one subtest per
// behaviour, each on a fresh, empty Persister from newPersister; see the
// package documentation for the subtests and for what newPersister must do.
func TestPersister(t *testing.T, newPersister func(t *testing.T) qsessions.Persister) {
	t.Helper()
	testPersister(realT{t}, defaultConfig, func(t tester) qsessions.Persister { return newPersister(testingT(t)) })
}

// persisterTest is one named subtest of TestPersister.
type persisterTest struct {
	name string
	run  func(t tester, p *persisterT)
}

// persisterTests lists TestPersister's subtests, grouped by contract sentence.
var persisterTests = []persisterTest{
	// Load returns the record stored under id, or an error wrapping
	// ErrNotFound; expired records are returned like any other.
	{"LoadMissing", testPersisterLoadMissing},
	{"LoadExpired", testPersisterLoadExpired},
	{"CreateLoad", testPersisterCreateLoad},
	// Create stores a new record, or returns an error wrapping ErrExists and
	// changes nothing when its ID is taken.
	{"CreateExists", testPersisterCreateExists},
	// Update replaces every field of the record with r's ID, or returns an
	// error wrapping ErrNotFound and writes nothing when there is no such
	// record: Update never inserts.
	{"Update", testPersisterUpdate},
	{"UpdateUser", testPersisterUpdateUser},
	{"UpdateMissing", testPersisterUpdateMissing},
	{"UpdateRevoked", testPersisterUpdateRevoked},
	// ...and moves the record in every index a store keeps: an Update of
	// ExpiresAt or UserID, there and back, is seen by DeleteExpired,
	// ListByUser and DeleteByUser.
	{"UpdateExpiryIndex", testPersisterUpdateExpiryIndex},
	{"UpdateUserIndex", testPersisterUpdateUserIndex},
	// Update is a compare-and-swap on the version: it writes only over the
	// Version it is given and stores the next one; over any other it returns
	// an error wrapping ErrConflict and writes nothing.
	{"CreateVersion", testPersisterCreateVersion},
	{"UpdateVersion", testPersisterUpdateVersion},
	{"UpdateConflict", testPersisterUpdateConflict},
	// Delete removes the records with the given ids; missing ids are not an
	// error.
	{"Delete", testPersisterDelete},
	{"DeleteMissing", testPersisterDeleteMissing},
	// ListByUser returns every record whose UserID is userID (and no other),
	// newest UpdatedAt first, or an empty slice when there are none.
	{"ListByUser", testPersisterListByUser},
	{"ListByUserOrder", testPersisterListByUserOrder},
	{"ListByUserIsolation", testPersisterListByUserIsolation},
	{"ListByUserEmpty", testPersisterListByUserEmpty},
	{"ListByUserTies", testPersisterListByUserTies},
	// DeleteByUser removes every record of userID except those whose ID is
	// listed in except, and returns the IDs it removed.
	{"DeleteByUser", testPersisterDeleteByUser},
	{"DeleteByUserExcept", testPersisterDeleteByUserExcept},
	{"DeleteByUserNone", testPersisterDeleteByUserNone},
	// DeleteExpired removes at most limit records whose ExpiresAt is before
	// the given time, oldest ExpiresAt first, and returns how many it
	// removed; a limit of zero or less means no limit.
	{"DeleteExpired", testPersisterDeleteExpired},
	{"DeleteExpiredBefore", testPersisterDeleteExpiredBefore},
	{"DeleteExpiredLimit", testPersisterDeleteExpiredLimit},
	{"DeleteExpiredOldestFirst", testPersisterDeleteExpiredOldestFirst},
	{"DeleteExpiredNoLimit", testPersisterDeleteExpiredNoLimit},
	{"DeleteExpiredTies", testPersisterDeleteExpiredTies},
	// Times round-trip with at least millisecond precision and come back in
	// UTC; byte and string fields round-trip exactly, including empty Data,
	// binary Data and any valid UTF-8 text.
	{"TimePrecision", testPersisterTimePrecision},
	{"TimeUTC", testPersisterTimeUTC},
	{"BinaryData", testPersisterBinaryData},
	{"LargeData", testPersisterLargeData},
	{"EmptyData", testPersisterEmptyData},
	{"EmptyFields", testPersisterEmptyFields},
	{"AuthAndBinding", testPersisterAuthAndBinding},
	{"Unicode", testPersisterUnicode},
	// Records passed in and returned are not retained or shared.
	{"CreateDataNotRetained", testPersisterCreateDataNotRetained},
	{"UpdateDataNotRetained", testPersisterUpdateDataNotRetained},
	{"LoadDataNotShared", testPersisterLoadDataNotShared},
	{"ListDataNotShared", testPersisterListDataNotShared},
	// A cancelled or expired ctx makes a method return an error wrapping
	// ctx.Err() without changing anything.
	{"CanceledLoad", testPersisterCanceledLoad},
	{"CanceledCreate", testPersisterCanceledCreate},
	{"CanceledUpdate", testPersisterCanceledUpdate},
	{"CanceledDelete", testPersisterCanceledDelete},
	{"CanceledListByUser", testPersisterCanceledListByUser},
	{"CanceledDeleteByUser", testPersisterCanceledDeleteByUser},
	{"CanceledDeleteExpired", testPersisterCanceledDeleteExpired},
	{"DeadlineExceeded", testPersisterDeadlineExceeded},
	{"CanceledWhileWaiting", testPersisterCanceledWhileWaiting},
	// All methods are safe for concurrent use by multiple goroutines.
	{"Concurrent", testPersisterConcurrent},
	{"ConcurrentCreate", testPersisterConcurrentCreate},
	{"ConcurrentUpdateDelete", testPersisterConcurrentUpdateDelete},
	{"ConcurrentUpdateConflict", testPersisterConcurrentUpdateConflict},
}

func testPersister(t tester, cfg config, newPersister func(t tester) qsessions.Persister) {
	t.Helper()
	for _, tc := range persisterTests {
		t.Run(tc.name, func(t tester) {
			p := newPersister(t)
			if p == nil {
				t.Fatalf("newPersister returned a nil Persister")
			}
			tc.run(t, &persisterT{t: t, cfg: cfg, p: p, now: time.Now().UTC().Truncate(time.Millisecond)})
		})
	}
}

// persisterT runs calls on one Persister under the watchdog.
type persisterT struct {
	t   tester
	cfg config
	p   qsessions.Persister
	now time.Time // UTC, whole milliseconds
}

func (p *persisterT) load(ctx context.Context, id string) (qsessions.Record, error) {
	p.t.Helper()
	return call1(p.t, p.cfg, ctx, "Load", func(ctx context.Context) (qsessions.Record, error) { return p.p.Load(ctx, id) })
}

func (p *persisterT) create(ctx context.Context, r qsessions.Record) error {
	p.t.Helper()
	return call(p.t, p.cfg, ctx, "Create", func(ctx context.Context) error { return p.p.Create(ctx, r) })
}

func (p *persisterT) update(ctx context.Context, r qsessions.Record) error {
	p.t.Helper()
	return call(p.t, p.cfg, ctx, "Update", func(ctx context.Context) error { return p.p.Update(ctx, r) })
}

func (p *persisterT) del(ctx context.Context, ids ...string) error {
	p.t.Helper()
	return call(p.t, p.cfg, ctx, "Delete", func(ctx context.Context) error { return p.p.Delete(ctx, ids...) })
}

func (p *persisterT) list(ctx context.Context, userID string) ([]qsessions.Record, error) {
	p.t.Helper()
	return call1(p.t, p.cfg, ctx, "ListByUser", func(ctx context.Context) ([]qsessions.Record, error) { return p.p.ListByUser(ctx, userID) })
}

func (p *persisterT) deleteByUser(ctx context.Context, userID string, except ...string) ([]string, error) {
	p.t.Helper()
	return call1(p.t, p.cfg, ctx, "DeleteByUser", func(ctx context.Context) ([]string, error) { return p.p.DeleteByUser(ctx, userID, except...) })
}

func (p *persisterT) deleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	p.t.Helper()
	return call1(p.t, p.cfg, ctx, "DeleteExpired", func(ctx context.Context) (int, error) { return p.p.DeleteExpired(ctx, before, limit) })
}

// record returns a new record of userID, created at p.now and valid for a
// day, with every field set.
func (p *persisterT) record(userID string) qsessions.Record {
	return qsessions.Record{
		ID:        newID(),
		Version:   1,
		Data:      []byte("\x01\x00session values of " + userID),
		UserID:    userID,
		IP:        "203.0.113.7",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
		CreatedAt: p.now.Add(-time.Hour),
		UpdatedAt: p.now,
		ExpiresAt: p.now.Add(24 * time.Hour),

		AuthenticatedAt: p.now.Add(-30 * time.Minute),
		AuthMethod:      "passkey",
		Binding:         []byte("\x00binding of " + userID + "\xff"),
	}
}

func (p *persisterT) mustCreate(rs ...qsessions.Record) {
	p.t.Helper()
	for _, r := range rs {
		if err := p.create(context.Background(), r.Clone()); err != nil {
			p.t.Fatalf("Create(%s): %v", r.ID, err)
		}
	}
}

// mustUpdate updates *r and then bumps r.Version, as the Persister does.
func (p *persisterT) mustUpdate(r *qsessions.Record) {
	p.t.Helper()
	if err := p.update(context.Background(), r.Clone()); err != nil {
		p.t.Fatalf("Update(%s): %v", r.ID, err)
	}
	r.Version++
}

func (p *persisterT) mustDelete(ids ...string) {
	p.t.Helper()
	if err := p.del(context.Background(), ids...); err != nil {
		p.t.Fatalf("Delete(%q): %v", ids, err)
	}
}

func (p *persisterT) mustList(userID string) []qsessions.Record {
	p.t.Helper()
	rs, err := p.list(context.Background(), userID)
	if err != nil {
		p.t.Fatalf("ListByUser(%q): %v", userID, err)
	}
	return rs
}

// wantRecord checks that Load(want.ID) returns want.
func (p *persisterT) wantRecord(want qsessions.Record, what string) {
	p.t.Helper()
	got, err := p.load(context.Background(), want.ID)
	if err != nil {
		p.t.Errorf("Load of %s: %v", what, err)
		return
	}
	if diff := diffRecord(want, got); diff != "" {
		p.t.Errorf("Load of %s returned a different record (-want +got):\n%s", what, diff)
	}
}

// wantNotFound checks that Load(id) returns an error wrapping ErrNotFound.
func (p *persisterT) wantNotFound(id, what string) {
	p.t.Helper()
	got, err := p.load(context.Background(), id)
	switch {
	case err == nil:
		p.t.Errorf("Load of %s returned a record (user %q, %d bytes of data), nil error; want an error wrapping ErrNotFound", what, got.UserID, len(got.Data))
	case !errors.Is(err, qsessions.ErrNotFound):
		p.t.Errorf("Load of %s: error %q does not wrap ErrNotFound", what, err)
	}
}

// wantList checks that ListByUser(userID) returns want, in order.
func (p *persisterT) wantList(userID string, want []qsessions.Record, what string) {
	p.t.Helper()
	got := p.mustList(userID)
	if diff := diffIDs(recordIDs(want), recordIDs(got)); diff != "" {
		p.t.Errorf("ListByUser(%q) %s: wrong IDs or order (-want +got):\n%s", userID, what, diff)
		return
	}
	for i := range want {
		// ListByUser may leave Data out; when it returns Data, it must be
		// the record's.
		w := want[i]
		if got[i].Data == nil {
			w.Data = nil
		}
		if diff := diffRecord(w, got[i]); diff != "" {
			p.t.Errorf("ListByUser(%q) %s: record %d differs (-want +got):\n%s", userID, what, i, diff)
		}
	}
}

// timeOpt compares times as instants; their location is checked by TimeUTC.
var timeOpt = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

// diffRecord describes how got differs from want, or returns "". Times are
// compared as instants and nil Data equals empty Data.
func diffRecord(want, got qsessions.Record) string {
	if recordsEqual(want, got) {
		return ""
	}
	if hint := timePrecisionHint(want, got); hint != "" {
		// Name the times, then diff the rest (nothing, usually).
		var b strings.Builder
		b.WriteString(hint)
		names := [...]string{"CreatedAt", "UpdatedAt", "ExpiresAt", "AuthenticatedAt"}
		for i, w := range recordTimes(&want) {
			if g := *recordTimes(&got)[i]; !w.Equal(g) {
				fmt.Fprintf(&b, "  %s: want %s, got %s\n", names[i], w.Format(time.RFC3339Nano), g.Format(time.RFC3339Nano))
			}
		}
		return b.String() + diffRecord(withTimes(want, got), got)
	}
	var diff string
	if !bytes.Equal(want.Data, got.Data) {
		i := 0
		for i < min(len(want.Data), len(got.Data)) && want.Data[i] == got.Data[i] {
			i++
		}
		diff = fmt.Sprintf("  Data: want %s, got %s (first difference at byte %d)\n", describeBytes(want.Data), describeBytes(got.Data), i)
	}
	want.Data, got.Data = nil, nil
	return diff + cmp.Diff(want, got, timeOpt, cmpopts.EquateEmpty())
}

// timePrecisionHint explains a difference in times that comes from a
// Persister storing them with less than millisecond precision, which would
// otherwise show as a puzzling diff in many subtests.
func timePrecisionHint(want, got qsessions.Record) string {
	lost := false
	for i, w := range recordTimes(&want) {
		g := recordTimes(&got)[i]
		if d := w.Sub(*g).Abs(); d >= time.Second {
			return ""
		} else if d > 0 {
			lost = true
		}
	}
	if !lost {
		return ""
	}
	return "  Times differ only below the second: the Persister seems to store whole seconds, or to round.\n" +
		"  It must keep at least milliseconds (subtest TimePrecision says more):\n"
}

// withTimes returns want with got's times, to diff what else differs.
func withTimes(want, got qsessions.Record) qsessions.Record {
	for i, t := range recordTimes(&want) {
		*t = *recordTimes(&got)[i]
	}
	return want
}

func recordTimes(r *qsessions.Record) [4]*time.Time {
	return [...]*time.Time{&r.CreatedAt, &r.UpdatedAt, &r.ExpiresAt, &r.AuthenticatedAt}
}

func recordsEqual(a, b qsessions.Record) bool {
	return a.ID == b.ID && a.Version == b.Version && bytes.Equal(a.Data, b.Data) && a.UserID == b.UserID && a.IP == b.IP &&
		a.UserAgent == b.UserAgent && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.AuthenticatedAt.Equal(b.AuthenticatedAt) && a.AuthMethod == b.AuthMethod &&
		bytes.Equal(a.Binding, b.Binding)
}

// diffIDs describes how the ID list got differs from want, or returns "".
func diffIDs(want, got []string) string {
	if slices.Equal(want, got) {
		return ""
	}
	return cmp.Diff(want, got)
}

func recordIDs(rs []qsessions.Record) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// sortedIDs returns a sorted copy of ids, never nil.
func sortedIDs(ids []string) []string {
	ids = append([]string{}, ids...)
	slices.Sort(ids)
	return ids
}

func user(name string) string { return newName(name + "-") }

func testPersisterLoadMissing(t tester, p *persisterT) {
	p.wantNotFound(newID(), "an ID that was never created")
	r := p.record(user("alice"))
	p.mustCreate(r)
	p.wantNotFound(newID(), "an unknown ID while another record exists")
	p.wantNotFound(r.ID[:len(r.ID)-1], "a prefix of an existing ID")
}

func testPersisterLoadExpired(t tester, p *persisterT) {
	r := p.record(user("alice"))
	r.CreatedAt = p.now.Add(-48 * time.Hour)
	r.UpdatedAt = p.now.Add(-36 * time.Hour)
	r.ExpiresAt = p.now.Add(-24 * time.Hour)
	p.mustCreate(r)
	p.wantRecord(r, "a record whose ExpiresAt has passed")
}

func testPersisterCreateLoad(t tester, p *persisterT) {
	r := p.record(user("alice"))
	p.mustCreate(r)
	p.wantRecord(r, "a created record")
	p.wantRecord(r, "a created record, loaded again")
	anon := p.record("")
	p.mustCreate(anon)
	p.wantRecord(anon, "an anonymous record")
}

func testPersisterCreateExists(t tester, p *persisterT) {
	u := user("alice")
	orig := p.record(u)
	p.mustCreate(orig)
	dup := p.record(user("mallory"))
	dup.ID = orig.ID
	dup.Data = []byte("overwritten")
	dup.UpdatedAt = p.now.Add(time.Minute)
	err := p.create(context.Background(), dup.Clone())
	switch {
	case err == nil:
		t.Errorf("Create of a taken ID: nil error; want an error wrapping ErrExists")
	case !errors.Is(err, qsessions.ErrExists):
		t.Errorf("Create of a taken ID: error %q does not wrap ErrExists", err)
	}
	p.wantRecord(orig, "a record after a Create with its ID failed")
	p.wantList(u, []qsessions.Record{orig}, "after a Create with a taken ID")
	p.wantList(dup.UserID, nil, "of the user of a refused Create")
}

func testPersisterUpdate(t tester, p *persisterT) {
	u := user("alice")
	orig := p.record(u)
	p.mustCreate(orig)
	next := qsessions.Record{
		ID:        orig.ID,
		Version:   orig.Version,
		Data:      []byte("new values"),
		UserID:    u,
		IP:        "2001:db8::1",
		UserAgent: "curl/8.15.0",
		CreatedAt: orig.CreatedAt.Add(-time.Minute),
		UpdatedAt: orig.UpdatedAt.Add(90*time.Second + 250*time.Millisecond),
		ExpiresAt: orig.ExpiresAt.Add(7 * time.Hour),
	}
	p.mustUpdate(&next)
	p.wantRecord(next, "an updated record")
	p.wantList(u, []qsessions.Record{next}, "after Update")

	// Shorter values replace longer ones entirely.
	next.Data = []byte("v")
	next.IP = ""
	next.UserAgent = "x"
	next.UpdatedAt = next.UpdatedAt.Add(time.Millisecond)
	p.mustUpdate(&next)
	p.wantRecord(next, "a record updated with shorter fields")
}

func testPersisterUpdateUser(t tester, p *persisterT) {
	anon := p.record("")
	p.mustCreate(anon)
	alice, bob := user("alice"), user("bob")
	r := anon
	r.UserID = alice
	r.UpdatedAt = p.now.Add(time.Second)
	p.mustUpdate(&r)
	p.wantRecord(r, "a record updated from anonymous to a user")
	p.wantList(alice, []qsessions.Record{r}, "after Update gave her the record")

	r.UserID = bob
	r.UpdatedAt = p.now.Add(2 * time.Second)
	p.mustUpdate(&r)
	p.wantRecord(r, "a record moved to another user")
	p.wantList(alice, nil, "after Update moved her record to another user")
	p.wantList(bob, []qsessions.Record{r}, "after Update moved a record to him")
	if ids, err := p.deleteByUser(context.Background(), alice); err != nil || len(ids) != 0 {
		t.Errorf("DeleteByUser of the record's former user = %q, %v; want no IDs, nil", ids, err)
	}
	p.wantRecord(r, "a moved record after DeleteByUser of its former user")
}

func testPersisterUpdateMissing(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	err := p.update(context.Background(), r.Clone())
	switch {
	case err == nil:
		t.Errorf("Update of a record that was never created: nil error; want an error wrapping ErrNotFound")
	case !errors.Is(err, qsessions.ErrNotFound):
		t.Errorf("Update of a record that was never created: error %q does not wrap ErrNotFound", err)
	}
	p.wantNotFound(r.ID, "a record only passed to Update (Update must not insert)")
	p.wantList(u, nil, "after an Update of a record that does not exist")
}

func testPersisterUpdateRevoked(t tester, p *persisterT) {
	u := user("alice")
	byDelete, byUser, byExpiry := p.record(u), p.record(u), p.record(u)
	byExpiry.ExpiresAt = p.now.Add(-time.Minute)
	byUser.UpdatedAt = p.now.Add(-time.Second)
	p.mustCreate(byDelete, byUser, byExpiry)

	p.mustDelete(byDelete.ID)
	if _, err := p.deleteExpired(context.Background(), p.now, 0); err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if _, err := p.deleteByUser(context.Background(), u); err != nil {
		t.Fatalf("DeleteByUser: %v", err)
	}
	for _, c := range []struct {
		r   qsessions.Record
		how string
	}{{byDelete, "Delete"}, {byUser, "DeleteByUser"}, {byExpiry, "DeleteExpired"}} {
		r := c.r
		r.Data = []byte("written by a request that was still running")
		r.UpdatedAt = p.now.Add(time.Minute)
		r.ExpiresAt = p.now.Add(48 * time.Hour)
		err := p.update(context.Background(), r.Clone())
		switch {
		case err == nil:
			t.Errorf("Update of a record removed by %s: nil error; want an error wrapping ErrNotFound", c.how)
		case !errors.Is(err, qsessions.ErrNotFound):
			t.Errorf("Update of a record removed by %s: error %q does not wrap ErrNotFound", c.how, err)
		}
		p.wantNotFound(r.ID, "a record removed by "+c.how+" and then updated (Update must not insert)")
	}
	p.wantList(u, nil, "after Updates of her removed records")
}

func testPersisterUpdateExpiryIndex(t tester, p *persisterT) {
	// Four records whose ExpiresAt Updates move across the cut-off of a
	// sweep: a store with an index by expiry must move their entries.
	u := user("alice")
	past, future := p.now.Add(-time.Hour), p.now.Add(time.Hour)
	moves := []struct {
		name string
		at   []time.Time // at Create, then after each Update
	}{
		{"extended", []time.Time{past, future}},
		{"ended", []time.Time{future, past}},
		{"extended and ended again", []time.Time{past, future, past.Add(time.Minute)}},
		{"ended and extended again", []time.Time{future, past, future.Add(time.Minute)}},
	}
	rs := make([]qsessions.Record, len(moves))
	for i, m := range moves {
		rs[i] = p.record(u)
		rs[i].ExpiresAt = m.at[0]
		p.mustCreate(rs[i])
	}
	for i, m := range moves {
		for _, at := range m.at[1:] {
			rs[i].ExpiresAt = at
			rs[i].UpdatedAt = rs[i].UpdatedAt.Add(time.Second)
			p.mustUpdate(&rs[i])
		}
	}
	n, err := p.deleteExpired(context.Background(), p.now, 0)
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	for i, m := range moves {
		what := fmt.Sprintf("a record whose expiry Updates %s (ExpiresAt %s, cut-off %s), after DeleteExpired", m.name,
			rs[i].ExpiresAt.Format(time.RFC3339), p.now.Format(time.RFC3339))
		if rs[i].ExpiresAt.Before(p.now) {
			p.wantNotFound(rs[i].ID, what+" (the sweep went by an expiry index that missed the Update?)")
		} else {
			p.wantRecord(rs[i], what+" (the sweep went by a stale expiry index and deleted a live session?)")
		}
	}
	if n != 2 {
		t.Errorf("DeleteExpired removed %d records; want the 2 whose last Update moved them before the cut-off", n)
	}
}

func testPersisterUpdateUserIndex(t tester, p *persisterT) {
	alice, bob := user("alice"), user("bob")
	r := p.record(alice)
	anon := p.record("")
	p.mustCreate(r, anon)
	for _, u := range []string{bob, alice} {
		r.UserID = u
		r.UpdatedAt = r.UpdatedAt.Add(time.Second)
		p.mustUpdate(&r)
	}
	for _, u := range []string{alice, ""} {
		anon.UserID = u
		anon.UpdatedAt = anon.UpdatedAt.Add(time.Second)
		p.mustUpdate(&anon)
	}
	p.wantList(bob, nil, "after Updates moved her record to him and back (a stale user index?)")
	if ids, err := p.deleteByUser(context.Background(), bob); err != nil || len(ids) != 0 {
		t.Errorf("DeleteByUser of a record's former user = %q, %v; want no IDs, nil (a stale user index?)", ids, err)
	}
	p.wantList(alice, []qsessions.Record{r}, "after Updates moved her record away and back, and an anonymous record to her and away")
	p.wantRecord(anon, "an anonymous record after Updates gave it a user and took it away")
	ids, err := p.deleteByUser(context.Background(), alice)
	if err != nil || !slices.Equal(ids, []string{r.ID}) {
		t.Errorf("DeleteByUser(alice) = %q, %v; want just her record %q", ids, err, r.ID)
	}
	p.wantRecord(anon, "an anonymous record that was hers for a while, after DeleteByUser of her")
}

func testPersisterCreateVersion(t tester, p *persisterT) {
	u := user("alice")
	first, later := p.record(u), p.record(u)
	later.Version = 42
	p.mustCreate(first, later)
	p.wantRecord(first, "a record created at Version 1")
	p.wantRecord(later, "a record created at Version 42 (Create stores the Version it is given)")
}

func testPersisterUpdateVersion(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	p.mustCreate(r)
	for range 3 {
		r.Data = append(r.Data, '+')
		r.UpdatedAt = r.UpdatedAt.Add(time.Second)
		if err := p.update(context.Background(), r.Clone()); err != nil {
			t.Fatalf("Update at the stored Version %d: %v", r.Version, err)
		}
		r.Version++
		p.wantRecord(r, fmt.Sprintf("a record after an Update at Version %d (Update must store Version+1)", r.Version-1))
	}
	p.wantList(u, []qsessions.Record{r}, "after three Updates")
}

func testPersisterUpdateConflict(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	p.mustCreate(r)
	stale := r.Clone() // read by a request that saves late
	r.Data = []byte("saved first")
	p.mustUpdate(&r)

	for _, v := range []int64{stale.Version, r.Version + 1, r.Version + 1000, 0} {
		w := stale.Clone()
		w.Version = v
		w.Data = []byte("written over a version that is not the stored one")
		w.UserID = user("mallory")
		w.ExpiresAt = w.ExpiresAt.Add(time.Hour)
		err := p.update(context.Background(), w)
		switch {
		case err == nil:
			t.Errorf("Update at Version %d of a record stored at Version %d: nil error; want an error wrapping ErrConflict", v, r.Version)
		case !errors.Is(err, qsessions.ErrConflict):
			t.Errorf("Update at Version %d of a record stored at Version %d: error %q does not wrap ErrConflict", v, r.Version, err)
		}
		p.wantRecord(r, fmt.Sprintf("a record after a refused Update at Version %d (a conflict must write nothing, not even the version)", v))
		p.wantList(w.UserID, nil, "after a refused Update gave her a record")
	}
	// The refused Updates changed nothing: one at the stored version works.
	r.Data = []byte("saved second")
	p.mustUpdate(&r)
	p.wantRecord(r, "a record updated at its stored Version after refused Updates")
	p.wantList(u, []qsessions.Record{r}, "after refused and accepted Updates")
}

func testPersisterDelete(t tester, p *persisterT) {
	u := user("alice")
	a, b, c, keep := p.record(u), p.record(u), p.record(u), p.record(u)
	other := p.record(user("bob"))
	p.mustCreate(a, b, c, keep, other)
	p.mustDelete(a.ID)
	p.wantNotFound(a.ID, "a deleted record")
	p.mustDelete(b.ID, c.ID)
	p.wantNotFound(b.ID, "the first of two records deleted in one call")
	p.wantNotFound(c.ID, "the second of two records deleted in one call")
	p.wantRecord(keep, "a record of the same user that was not deleted")
	p.wantRecord(other, "another user's record")
	p.wantList(u, []qsessions.Record{keep}, "after Delete")
	if err := p.del(context.Background()); err != nil {
		t.Errorf("Delete() with no IDs: %v; want nil", err)
	}
	p.wantRecord(keep, "a record after Delete() with no IDs")
}

func testPersisterDeleteMissing(t tester, p *persisterT) {
	r := p.record(user("alice"))
	p.mustCreate(r)
	if err := p.del(context.Background(), newID()); err != nil {
		t.Errorf("Delete of a missing ID: %v; want nil", err)
	}
	p.wantRecord(r, "a record after Delete of another, missing ID")
	if err := p.del(context.Background(), newID(), r.ID, newID()); err != nil {
		t.Errorf("Delete of missing IDs around an existing one: %v; want nil", err)
	}
	p.wantNotFound(r.ID, "a record deleted along with missing IDs")
	if err := p.del(context.Background(), r.ID); err != nil {
		t.Errorf("Delete of an ID deleted before: %v; want nil", err)
	}
}

func testPersisterListByUser(t tester, p *persisterT) {
	u := user("alice")
	var want []qsessions.Record
	for i := range 4 {
		r := p.record(u)
		r.Data = []byte(fmt.Sprintf("session %d", i))
		r.IP = fmt.Sprintf("198.51.100.%d", i)
		r.UpdatedAt = p.now.Add(-time.Duration(i) * time.Minute)
		want = append(want, r)
	}
	p.mustCreate(want[2], want[0], want[3], want[1])
	p.mustCreate(p.record(user("bob")))
	p.wantList(u, want, "of a user with four records")
}

func testPersisterListByUserOrder(t tester, p *persisterT) {
	u := user("alice")
	// Created oldest first, then updated so that UpdatedAt order differs
	// from both creation order and CreatedAt order, down to milliseconds.
	rs := make([]qsessions.Record, 5)
	for i := range rs {
		rs[i] = p.record(u)
		rs[i].CreatedAt = p.now.Add(time.Duration(i-10) * time.Minute)
		rs[i].UpdatedAt = rs[i].CreatedAt
		p.mustCreate(rs[i])
	}
	offsets := []time.Duration{3 * time.Millisecond, 50 * time.Second, 1 * time.Millisecond, 2 * time.Millisecond, 40 * time.Second}
	for i := range rs {
		rs[i].UpdatedAt = p.now.Add(offsets[i])
		p.mustUpdate(&rs[i])
	}
	want := []qsessions.Record{rs[1], rs[4], rs[0], rs[3], rs[2]}
	p.wantList(u, want, "after Updates reordered her records (want newest UpdatedAt first)")
}

func testPersisterListByUserIsolation(t tester, p *persisterT) {
	base := user("alice")
	// User IDs that a sloppy backend confuses: prefixes, case, padding,
	// Unicode normalization, LIKE wildcards.
	users := []string{
		base, base + "2", base[:len(base)-1], strings.ToUpper(base), base + " ",
		"caf\u00e9-" + base, "cafe\u0301-" + base, base + "%", base + "_", base + "\\",
	}
	byUser := make(map[string]qsessions.Record)
	for i, u := range users {
		r := p.record(u)
		r.Data = []byte(fmt.Sprintf("user %d", i))
		byUser[u] = r
		p.mustCreate(r)
	}
	p.mustCreate(p.record(""))
	for _, u := range users {
		p.wantList(u, []qsessions.Record{byUser[u]}, "among users with similar IDs")
	}
}

func testPersisterListByUserEmpty(t tester, p *persisterT) {
	p.mustCreate(p.record(user("bob")), p.record(""))
	u := user("alice")
	got, err := p.list(context.Background(), u)
	if err != nil {
		t.Fatalf("ListByUser of a user without records: %v; want an empty slice and a nil error", err)
	}
	if len(got) != 0 {
		t.Errorf("ListByUser of a user without records returned %d records; want none", len(got))
	}
	r := p.record(u)
	p.mustCreate(r)
	p.mustDelete(r.ID)
	p.wantList(u, nil, "after her only record was deleted")
}

func testPersisterListByUserTies(t tester, p *persisterT) {
	u := user("alice")
	var rs []qsessions.Record
	for i := range 6 {
		r := p.record(u)
		if i >= 3 {
			r.UpdatedAt = r.UpdatedAt.Add(time.Minute) // three newer, tied too
		}
		rs = append(rs, r)
	}
	p.mustCreate(rs...)
	older, newer := rs[:3], rs[3:]
	slices.SortFunc(older, func(a, b qsessions.Record) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(newer, func(a, b qsessions.Record) int { return strings.Compare(a.ID, b.ID) })
	p.wantList(u, append(slices.Clone(newer), older...), "holding records with equal UpdatedAt (ties come in ascending ID order)")
}

func testPersisterDeleteByUser(t tester, p *persisterT) {
	u := user("alice")
	mine := []qsessions.Record{p.record(u), p.record(u), p.record(u)}
	p.mustCreate(mine...)
	// Other users, some with IDs close to hers, and an anonymous session.
	others := []qsessions.Record{p.record(user("bob")), p.record(u + "2"), p.record(strings.ToUpper(u)), p.record(u[:len(u)-1]), p.record("")}
	p.mustCreate(others...)
	ids, err := p.deleteByUser(context.Background(), u)
	if err != nil {
		t.Fatalf("DeleteByUser: %v", err)
	}
	if diff := diffIDs(sortedIDs(recordIDs(mine)), sortedIDs(ids)); diff != "" {
		t.Errorf("DeleteByUser returned the wrong IDs (-want +got, in any order):\n%s", diff)
	}
	for _, r := range mine {
		p.wantNotFound(r.ID, "a record removed by DeleteByUser")
	}
	p.wantList(u, nil, "after DeleteByUser")
	for _, r := range others {
		p.wantRecord(r, fmt.Sprintf("the record of user %q after DeleteByUser(%q)", r.UserID, u))
	}
	ids, err = p.deleteByUser(context.Background(), u)
	if err != nil || len(ids) != 0 {
		t.Errorf("a second DeleteByUser = %q, %v; want no IDs, nil", ids, err)
	}
}

func testPersisterDeleteByUserExcept(t tester, p *persisterT) {
	u, other := user("alice"), user("bob")
	var mine []qsessions.Record
	for i := range 5 {
		r := p.record(u)
		r.UpdatedAt = p.now.Add(-time.Duration(i) * time.Second)
		mine = append(mine, r)
	}
	theirs := p.record(other)
	p.mustCreate(mine...)
	p.mustCreate(theirs)

	// Keep two; the except list also names another user's record and an
	// unknown ID, which change nothing.
	ids, err := p.deleteByUser(context.Background(), u, mine[1].ID, theirs.ID, newID(), mine[3].ID)
	if err != nil {
		t.Fatalf("DeleteByUser with exceptions: %v", err)
	}
	want := []string{mine[0].ID, mine[2].ID, mine[4].ID}
	if diff := diffIDs(sortedIDs(want), sortedIDs(ids)); diff != "" {
		t.Errorf("DeleteByUser with exceptions returned the wrong IDs (-want +got, in any order):\n%s", diff)
	}
	p.wantList(u, []qsessions.Record{mine[1], mine[3]}, "after DeleteByUser kept two")
	p.wantRecord(theirs, "another user's record named in except")

	// Keep one of the two: only the other goes.
	ids, err = p.deleteByUser(context.Background(), u, mine[3].ID)
	if err != nil {
		t.Fatalf("DeleteByUser with one exception: %v", err)
	}
	if diff := diffIDs([]string{mine[1].ID}, sortedIDs(ids)); diff != "" {
		t.Errorf("DeleteByUser with one exception returned the wrong IDs (-want +got):\n%s", diff)
	}
	p.wantList(u, []qsessions.Record{mine[3]}, "after DeleteByUser kept one")
}

func testPersisterDeleteByUserNone(t tester, p *persisterT) {
	u := user("alice")
	other := p.record(user("bob"))
	p.mustCreate(other)
	ids, err := p.deleteByUser(context.Background(), u)
	if err != nil || len(ids) != 0 {
		t.Errorf("DeleteByUser of a user without records = %q, %v; want no IDs, nil", ids, err)
	}
	r := p.record(u)
	p.mustCreate(r)
	ids, err = p.deleteByUser(context.Background(), u, r.ID)
	if err != nil || len(ids) != 0 {
		t.Errorf("DeleteByUser excepting the user's only record = %q, %v; want no IDs, nil", ids, err)
	}
	p.wantRecord(r, "a record named in except")
	p.wantRecord(other, "another user's record")
}

// expiring returns n records that expired 1..n hours before p.now, newest
// first.
func (p *persisterT) expiring(n int) []qsessions.Record {
	rs := make([]qsessions.Record, n)
	for i := range rs {
		rs[i] = p.record(user(fmt.Sprintf("user%d", i)))
		rs[i].ExpiresAt = p.now.Add(-time.Duration(i+1) * time.Hour)
		rs[i].UpdatedAt = rs[i].ExpiresAt.Add(-time.Hour)
		rs[i].CreatedAt = rs[i].UpdatedAt.Add(-time.Hour)
	}
	return rs
}

func (p *persisterT) mustDeleteExpired(before time.Time, limit, want int) {
	p.t.Helper()
	n, err := p.deleteExpired(context.Background(), before, limit)
	if err != nil {
		p.t.Fatalf("DeleteExpired(%v, %d): %v", before, limit, err)
	}
	if n != want {
		p.t.Errorf("DeleteExpired(%v, %d) = %d; want %d", before, limit, n, want)
	}
}

func testPersisterDeleteExpired(t tester, p *persisterT) {
	expired := p.expiring(3)
	live := p.record(user("alice"))
	p.mustCreate(expired[1], live, expired[0], expired[2])
	p.mustDeleteExpired(p.now, 0, 3)
	for _, r := range expired {
		p.wantNotFound(r.ID, "an expired record after DeleteExpired")
	}
	p.wantRecord(live, "a live record after DeleteExpired")
	p.mustDeleteExpired(p.now, 0, 0)
	p.wantRecord(live, "a live record after a second DeleteExpired")
}

func testPersisterDeleteExpiredBefore(t tester, p *persisterT) {
	before := p.now.Add(-30 * time.Minute)
	mk := func(d time.Duration) qsessions.Record {
		r := p.record(user("alice"))
		r.ExpiresAt = before.Add(d)
		return r
	}
	gone := []qsessions.Record{mk(-time.Hour), mk(-time.Millisecond)}
	kept := []qsessions.Record{mk(0), mk(time.Millisecond), mk(10 * time.Minute)}
	p.mustCreate(append(slices.Clone(kept), gone...)...)
	p.mustDeleteExpired(before, 0, len(gone))
	for _, r := range gone {
		p.wantNotFound(r.ID, fmt.Sprintf("a record that expired %v before the cut-off, after DeleteExpired", before.Sub(r.ExpiresAt)))
	}
	for _, r := range kept {
		what := fmt.Sprintf("a record expiring %v after the cut-off, after DeleteExpired", r.ExpiresAt.Sub(before))
		if r.ExpiresAt.Equal(before) {
			what = "a record expiring exactly at the cut-off (not before it), after DeleteExpired"
		}
		p.wantRecord(r, what)
	}
}

func testPersisterDeleteExpiredLimit(t tester, p *persisterT) {
	expired := p.expiring(5)
	live := p.record(user("alice"))
	p.mustCreate(expired...)
	p.mustCreate(live)
	p.mustDeleteExpired(p.now, 2, 2)
	p.mustDeleteExpired(p.now, 2, 2)
	p.mustDeleteExpired(p.now, 2, 1)
	p.mustDeleteExpired(p.now, 2, 0)
	for _, r := range expired {
		p.wantNotFound(r.ID, "an expired record after DeleteExpired in batches")
	}
	p.wantRecord(live, "a live record after DeleteExpired in batches")
}

func testPersisterDeleteExpiredTies(t tester, p *persisterT) {
	// Records that expired at the same instant: a limit may cut through
	// them, in any order, but removes exactly limit of them.
	u := user("alice")
	var rs []qsessions.Record
	for range 5 {
		r := p.record(u)
		r.ExpiresAt = p.now.Add(-time.Minute)
		rs = append(rs, r)
	}
	p.mustCreate(rs...)
	p.mustDeleteExpired(p.now, 3, 3)
	if left := p.mustList(u); len(left) != 2 {
		t.Errorf("after DeleteExpired with limit 3 of 5 records expired at one instant, %d are left; want 2", len(left))
	}
	p.mustDeleteExpired(p.now, 3, 2)
	p.wantList(u, nil, "after two DeleteExpired removed all the records expired at one instant")
}

func testPersisterDeleteExpiredOldestFirst(t tester, p *persisterT) {
	expired := p.expiring(6) // newest first
	shuffled := []qsessions.Record{expired[3], expired[0], expired[5], expired[2], expired[4], expired[1]}
	p.mustCreate(shuffled...)
	p.mustDeleteExpired(p.now, 2, 2)
	for _, r := range expired[4:] {
		p.wantNotFound(r.ID, fmt.Sprintf("one of the two oldest expired records (expired %v ago), after DeleteExpired with limit 2", p.now.Sub(r.ExpiresAt)))
	}
	for _, r := range expired[:4] {
		p.wantRecord(r, fmt.Sprintf("a newer expired record (expired %v ago), after DeleteExpired with limit 2", p.now.Sub(r.ExpiresAt)))
	}
	p.mustDeleteExpired(p.now, 3, 3)
	p.wantRecord(expired[0], "the newest expired record, after DeleteExpired removed the five oldest")
}

func testPersisterDeleteExpiredNoLimit(t tester, p *persisterT) {
	for _, limit := range []int{0, -1} {
		expired := p.expiring(4)
		p.mustCreate(expired...)
		p.mustDeleteExpired(p.now, limit, 4)
		for _, r := range expired {
			p.wantNotFound(r.ID, fmt.Sprintf("an expired record after DeleteExpired with limit %d", limit))
		}
	}
}

// testTimes are UTC times at whole milliseconds, as the Store hands them to
// a Persister.
func (p *persisterT) testTimes() []time.Time {
	return []time.Time{
		p.now,
		time.Date(2001, 9, 9, 1, 46, 40, 123_000_000, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(2038, 1, 19, 3, 14, 8, 1_000_000, time.UTC),
		time.Date(2099, 12, 31, 23, 59, 59, 500_000_000, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
	}
}

func testPersisterTimePrecision(t tester, p *persisterT) {
	times := p.testTimes()
	u := user("alice")
	for i, tm := range times {
		r := p.record(u)
		r.CreatedAt = tm.Add(-time.Duration(i+1) * 7 * time.Millisecond)
		r.UpdatedAt = tm
		r.ExpiresAt = tm.Add(time.Duration(i+1) * 11 * time.Millisecond)
		p.mustCreate(r)
		got, err := p.load(context.Background(), r.ID)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		for _, f := range []struct {
			name      string
			want, got time.Time
		}{{"CreatedAt", r.CreatedAt, got.CreatedAt}, {"UpdatedAt", r.UpdatedAt, got.UpdatedAt}, {"ExpiresAt", r.ExpiresAt, got.ExpiresAt}} {
			if g := f.got.UTC(); g != f.want {
				t.Errorf("%s stored as %s came back as %s (off by %v): times must round-trip with millisecond precision",
					f.name, f.want.Format(time.RFC3339Nano), g.Format(time.RFC3339Nano), g.Sub(f.want))
			}
		}
		r.UpdatedAt = r.UpdatedAt.Add(time.Millisecond)
		p.mustUpdate(&r)
		p.wantRecord(r, "a record whose UpdatedAt moved by one millisecond")
	}
}

func testPersisterTimeUTC(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	p.mustCreate(r)
	got, err := p.load(context.Background(), r.ID)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checkUTC(t, "Load", got)
	for _, r := range p.mustList(u) {
		checkUTC(t, "ListByUser", r)
	}
}

func checkUTC(t tester, op string, r qsessions.Record) {
	t.Helper()
	for name, tm := range map[string]time.Time{"CreatedAt": r.CreatedAt, "UpdatedAt": r.UpdatedAt, "ExpiresAt": r.ExpiresAt, "AuthenticatedAt": r.AuthenticatedAt} {
		if tm.Location() != time.UTC {
			t.Errorf("%s returned %s in location %q (%s); want UTC", op, name, tm.Location(), tm.Format(time.RFC3339Nano))
		}
	}
}

func testPersisterBinaryData(t tester, p *persisterT) {
	all := make([]byte, 0, 512)
	for i := range 256 {
		all = append(all, byte(i))
	}
	for i := 255; i >= 0; i-- {
		all = append(all, byte(i))
	}
	values := map[string][]byte{
		"all-bytes":      all,
		"nul":            {0},
		"trailing-nuls":  {'a', 0, 0},
		"invalid-utf8":   {0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1},
		"trailing-space": []byte("value \t\r\n"),
	}
	for name, v := range values {
		r := p.record(user("alice"))
		r.Data = v
		p.mustCreate(r)
		p.wantRecord(r, "a record with binary Data ("+name+")")
	}
}

func testPersisterLargeData(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	r.Data = pattern(p.cfg.large)
	p.mustCreate(r)
	p.wantRecord(r, fmt.Sprintf("a record with %d bytes of Data", len(r.Data)))
	r.Data = pattern(p.cfg.large + 1)[1:]
	r.UpdatedAt = r.UpdatedAt.Add(time.Second)
	p.mustUpdate(&r)
	p.wantRecord(r, "a record updated with as much other Data")
	p.wantList(u, []qsessions.Record{r}, "holding a record with large Data")
}

func testPersisterEmptyData(t tester, p *persisterT) {
	for _, data := range [][]byte{{}, nil} {
		r := p.record(user("alice"))
		r.Data = data
		p.mustCreate(r)
		got, err := p.load(context.Background(), r.ID)
		if err != nil {
			t.Errorf("Load of a record with Data %#v: %v", data, err)
			continue
		}
		if len(got.Data) != 0 {
			t.Errorf("Load of a record with Data %#v returned Data %s; want it empty", data, describeBytes(got.Data))
		}
		// And a record whose Data is emptied by Update.
		r.Data = []byte("some values")
		p.mustUpdate(&r)
		r.Data = data
		p.mustUpdate(&r)
		p.wantRecord(r, fmt.Sprintf("a record whose Data was updated to %#v", data))
	}
}

func testPersisterEmptyFields(t tester, p *persisterT) {
	r := p.record("")
	r.IP = ""
	r.UserAgent = ""
	p.mustCreate(r)
	p.wantRecord(r, "an anonymous record without IP or User-Agent")
	r.UserID = user("alice")
	r.IP = "192.0.2.1"
	r.UserAgent = "agent"
	p.mustUpdate(&r)
	p.wantRecord(r, "a record after its empty fields were filled by Update")
	r.UserID, r.IP, r.UserAgent = "", "", ""
	p.mustUpdate(&r)
	p.wantRecord(r, "a record after Update emptied its fields")
}

// unicodeStrings are valid UTF-8 texts that trip up backends with narrow
// character sets, normalization, or byte-length limits. (None holds U+0000,
// which no SQL text column stores and the Store never passes on.)
var unicodeStrings = []string{
	"用户-ユーザー-사용자",
	"👩‍💻🏳️‍🌈 emoji with ZWJ and 4-byte runes 𝄞",
	"caf\u00e9 vs cafe\u0301",
	"עברית العربية mixed RTL",
	"Ωmega \u200b zero-width \ufeff BOM",
	"\U0010FFFF last code point",
	strings.Repeat("Mozilla/5.0 (Linux; Android 14; 设备) 🦊 ", 30),
}

func testPersisterAuthAndBinding(t tester, p *persisterT) {
	// Anonymous: no authentication time or method, no binding.
	u := user("alice")
	r := p.record("")
	r.AuthenticatedAt, r.AuthMethod, r.Binding = time.Time{}, "", nil
	p.mustCreate(r)
	p.wantRecord(r, "a record with a zero AuthenticatedAt, no AuthMethod and no Binding")
	got, err := p.load(context.Background(), r.ID)
	if err == nil && !got.AuthenticatedAt.IsZero() {
		t.Errorf("a zero AuthenticatedAt came back as %s; want the zero time", got.AuthenticatedAt.Format(time.RFC3339Nano))
	}

	// Signed in, then bound to a device, then re-authenticated.
	r.UserID = u
	r.AuthenticatedAt = p.now.Add(-time.Second)
	r.AuthMethod = "oauth:github"
	p.mustUpdate(&r)
	p.wantRecord(r, "a record after Update recorded a sign-in")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	r.Binding = all
	p.mustUpdate(&r)
	p.wantRecord(r, "a record after Update stored a binary Binding")
	p.wantList(u, []qsessions.Record{r}, "holding a record with a Binding (ListByUser returns every field but Data)")
	r.AuthenticatedAt = p.now.Add(3 * time.Millisecond)
	r.AuthMethod = "password"
	r.Binding = []byte("rotated")
	p.mustUpdate(&r)
	p.wantRecord(r, "a record after Update replaced its authentication and Binding")
	r.Binding = nil
	p.mustUpdate(&r)
	p.wantRecord(r, "a record after Update removed its Binding")
}

func testPersisterUnicode(t tester, p *persisterT) {
	for i, s := range unicodeStrings {
		u := s + "-" + user("")
		r := p.record(u)
		r.UserAgent = s
		r.IP = "2001:db8:85a3::8a2e:370:7334"
		r.Data = []byte(s)
		p.mustCreate(r)
		p.wantRecord(r, fmt.Sprintf("a record with Unicode user ID and User-Agent #%d", i))
		p.wantList(u, []qsessions.Record{r}, fmt.Sprintf("of Unicode user ID #%d", i))
	}
}

func testPersisterCreateDataNotRetained(t tester, p *persisterT) {
	r := p.record(user("alice"))
	want := r.Clone()
	p.mustCreateNoClone(r)
	scribble(r.Data)
	p.wantRecord(want, "a record whose Data the caller overwrote after Create")
}

func testPersisterUpdateDataNotRetained(t tester, p *persisterT) {
	r := p.record(user("alice"))
	p.mustCreate(r)
	r.Data = []byte("updated values")
	want := r.Clone()
	if err := p.update(context.Background(), r); err != nil {
		t.Fatalf("Update: %v", err)
	}
	want.Version++
	scribble(r.Data)
	p.wantRecord(want, "a record whose Data the caller overwrote after Update")
}

func testPersisterLoadDataNotShared(t tester, p *persisterT) {
	r := p.record(user("alice"))
	p.mustCreate(r)
	got, err := p.load(context.Background(), r.ID)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	scribbleReturned(t, got.Data, "Data of a record that Load returned")
	scribbleReturned(t, got.Binding, "Binding of a record that Load returned")
	p.wantRecord(r, "a record after the caller overwrote the Data and Binding of the records Load returned")
}

func testPersisterListDataNotShared(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	p.mustCreate(r)
	for _, got := range p.mustList(u) {
		scribbleReturned(t, got.Data, "Data of a record that ListByUser returned")
		scribbleReturned(t, got.Binding, "Binding of a record that ListByUser returned")
	}
	p.wantRecord(r, "a record after the caller overwrote the Data and Binding of the records ListByUser returned")
	p.wantList(u, []qsessions.Record{r}, "after the caller overwrote the Data and Binding of the records it returned")
}

// mustCreateNoClone is mustCreate passing r's own Data.
func (p *persisterT) mustCreateNoClone(r qsessions.Record) {
	p.t.Helper()
	if err := p.create(context.Background(), r); err != nil {
		p.t.Fatalf("Create(%s): %v", r.ID, err)
	}
}

// scribble overwrites b, as a caller reusing its buffer would.
func scribble(b []byte) {
	for i := range b {
		b[i] = 'X'
	}
}

// scribbleReturned overwrites a byte slice that the Persister returned.
// When the slice is memory the store maps read-only (an mmap'd database
// page, say), the write faults: that becomes a failure of the subtest that
// says so, instead of a crash of the whole test binary.
func scribbleReturned(t tester, b []byte, what string) {
	t.Helper()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("writing to the %s faulted (%v): it aliases memory the store owns, "+
				"read-only here; copy it before returning it", what, r)
		}
	}()
	scribble(b)
}

// wantCanceled checks that err wraps context.Canceled.
func wantCanceled(t tester, op string, err error) {
	t.Helper()
	if !wrapsCtxErr(err, context.Canceled) {
		t.Errorf("%s with a cancelled context: error %v; want an error wrapping context.Canceled", op, err)
	}
}

func testPersisterCanceledLoad(t tester, p *persisterT) {
	r := p.record(user("alice"))
	p.mustCreate(r)
	_, err := p.load(canceledContext(), r.ID)
	wantCanceled(t, "Load", err)
	p.wantRecord(r, "a record after a cancelled Load")
}

func testPersisterCanceledCreate(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	wantCanceled(t, "Create", p.create(canceledContext(), r.Clone()))
	p.wantNotFound(r.ID, "a record only passed to Create with a cancelled context")
	p.wantList(u, nil, "after a cancelled Create")
}

func testPersisterCanceledUpdate(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	p.mustCreate(r)
	next := r.Clone()
	next.Data = []byte("changed")
	next.UserID = user("bob")
	next.UpdatedAt = p.now.Add(time.Minute)
	wantCanceled(t, "Update", p.update(canceledContext(), next))
	p.wantRecord(r, "a record after an Update with a cancelled context")
	p.wantList(u, []qsessions.Record{r}, "after a cancelled Update")
	p.wantList(next.UserID, nil, "after a cancelled Update would have moved a record to him")
}

func testPersisterCanceledDelete(t tester, p *persisterT) {
	r := p.record(user("alice"))
	p.mustCreate(r)
	wantCanceled(t, "Delete", p.del(canceledContext(), r.ID))
	p.wantRecord(r, "a record after a cancelled Delete")
}

func testPersisterCanceledListByUser(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	p.mustCreate(r)
	_, err := p.list(canceledContext(), u)
	wantCanceled(t, "ListByUser", err)
	p.wantList(u, []qsessions.Record{r}, "after a cancelled ListByUser")
}

func testPersisterCanceledDeleteByUser(t tester, p *persisterT) {
	u := user("alice")
	a, b := p.record(u), p.record(u)
	b.UpdatedAt = p.now.Add(-time.Second)
	p.mustCreate(a, b)
	_, err := p.deleteByUser(canceledContext(), u)
	wantCanceled(t, "DeleteByUser", err)
	_, err = p.deleteByUser(canceledContext(), u, a.ID)
	wantCanceled(t, "DeleteByUser with an exception", err)
	p.wantList(u, []qsessions.Record{a, b}, "after a cancelled DeleteByUser")
}

func testPersisterCanceledDeleteExpired(t tester, p *persisterT) {
	expired := p.expiring(2)
	p.mustCreate(expired...)
	_, err := p.deleteExpired(canceledContext(), p.now, 0)
	wantCanceled(t, "DeleteExpired", err)
	_, err = p.deleteExpired(canceledContext(), p.now, 1)
	wantCanceled(t, "DeleteExpired with a limit", err)
	for _, r := range expired {
		p.wantRecord(r, "an expired record after a cancelled DeleteExpired")
	}
}

// A lateContext is live when first asked and cancelled from then on: the
// context of a call that is cancelled while the call waits for a lock,
// after its first check.
type lateContext struct {
	context.Context
	mu    sync.Mutex
	asked bool
	done  chan struct{}
}

func newLateContext() *lateContext {
	return &lateContext{Context: context.Background(), done: make(chan struct{})}
}

func (c *lateContext) Done() <-chan struct{} { return c.done }

func (c *lateContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.asked {
		c.asked = true
		return nil
	}
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	return context.Canceled
}

func testPersisterCanceledWhileWaiting(t tester, p *persisterT) {
	// A write whose context is cancelled after the method first checked it
	// either completes and returns nil, or returns an error wrapping
	// context.Canceled and changes nothing: never both.
	u := user("alice")
	r := p.record(u)
	p.mustCreate(r)

	next := r.Clone()
	next.Data = []byte("changed")
	next.UserID = user("bob")
	// The calls get the late context itself, not one derived from it,
	// which would not ask it for its error.
	late := func(op string, f func(ctx context.Context) error) error {
		t.Helper()
		return call(t, p.cfg, context.Background(), op, func(context.Context) error { return f(newLateContext()) })
	}
	if err := late("Update", func(ctx context.Context) error { return p.p.Update(ctx, next.Clone()) }); err == nil {
		next.Version++
		r = next
	} else {
		wantCanceled(t, "Update cancelled after its first check of ctx", err)
	}
	p.wantRecord(r, "a record after an Update cancelled while it ran")

	fresh := p.record(u)
	if err := late("Create", func(ctx context.Context) error { return p.p.Create(ctx, fresh.Clone()) }); err == nil {
		p.wantRecord(fresh, "a record created with a context cancelled while Create ran, which returned nil")
	} else {
		wantCanceled(t, "Create cancelled after its first check of ctx", err)
		p.wantNotFound(fresh.ID, "a record passed to a Create that reported its context cancelled")
	}

	if err := late("Delete", func(ctx context.Context) error { return p.p.Delete(ctx, r.ID) }); err == nil {
		p.wantNotFound(r.ID, "a record deleted with a context cancelled while Delete ran, which returned nil")
	} else {
		wantCanceled(t, "Delete cancelled after its first check of ctx", err)
		p.wantRecord(r, "a record after a Delete that reported its context cancelled")
	}
}

func testPersisterDeadlineExceeded(t tester, p *persisterT) {
	u := user("alice")
	r, expired := p.record(u), p.expiring(1)[0]
	p.mustCreate(r, expired)
	ctx := expiredContext(t)
	want := func(op string, err error) {
		t.Helper()
		if !wrapsCtxErr(err, context.DeadlineExceeded) {
			t.Errorf("%s with an expired context: error %v; want an error wrapping context.DeadlineExceeded", op, err)
		}
	}
	_, err := p.load(ctx, r.ID)
	want("Load", err)
	fresh := p.record(u)
	want("Create", p.create(ctx, fresh.Clone()))
	next := r.Clone()
	next.Data = []byte("changed")
	want("Update", p.update(ctx, next))
	want("Delete", p.del(ctx, r.ID))
	_, err = p.list(ctx, u)
	want("ListByUser", err)
	_, err = p.deleteByUser(ctx, u)
	want("DeleteByUser", err)
	_, err = p.deleteExpired(ctx, p.now, 0)
	want("DeleteExpired", err)
	p.wantRecord(r, "a record after calls with an expired context")
	p.wantRecord(expired, "an expired record after DeleteExpired with an expired context")
	p.wantNotFound(fresh.ID, "a record only passed to Create with an expired context")
}

// run is cfg.run on p's Persister, for use off the test goroutine.
func (p *persisterT) run(op string, f func(ctx context.Context, p qsessions.Persister) error) error {
	return p.cfg.run(context.Background(), op, func(ctx context.Context) error { return f(ctx, p.p) })
}

// race runs f on every worker at once and returns the workers whose call
// succeeded; a call that fails with an error not wrapping loser fails t.
func (p *persisterT) race(t tester, what string, loser error, f func(w int) error) []int {
	t.Helper()
	var mu sync.Mutex
	winners := []int{}
	runWorkers(t, p.cfg.workers, func(w int) error {
		err := f(w)
		switch {
		case err == nil:
			mu.Lock()
			winners = append(winners, w)
			mu.Unlock()
		case !errors.Is(err, loser):
			return fmt.Errorf("%s: error %q wraps neither nil nor %v", what, err, loser)
		}
		return nil
	})
	return winners
}

// runWorkers runs n workers and reports their errors.
func runWorkers(t tester, n int, work func(w int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{}) // all start together, so that they overlap
	for w := range n {
		wg.Go(func() {
			<-start
			if err := work(w); err != nil {
				errs <- fmt.Errorf("goroutine %d: %w", w, err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("%v", err)
	}
}

func testPersisterConcurrent(t tester, p *persisterT) {
	users := make([]string, p.cfg.workers)
	final := make([][]qsessions.Record, p.cfg.workers) // live records per worker, newest first
	for w := range users {
		users[w] = user(fmt.Sprintf("worker%d", w))
	}
	runWorkers(t, p.cfg.workers, func(w int) error {
		var live []qsessions.Record
		for r := range p.cfg.rounds {
			rec := p.record(users[w])
			rec.Data = workerValue(w, r)
			rec.UpdatedAt = p.now.Add(time.Duration(r) * time.Second)
			if err := p.run("Create", func(ctx context.Context, q qsessions.Persister) error { return q.Create(ctx, rec.Clone()) }); err != nil {
				return fmt.Errorf("Create: %w", err)
			}
			rec.Data = workerValue(w, r+1000)
			rec.IP = fmt.Sprintf("10.0.%d.%d", w, r)
			if err := p.run("Update", func(ctx context.Context, q qsessions.Persister) error { return q.Update(ctx, rec.Clone()) }); err != nil {
				return fmt.Errorf("Update: %w", err)
			}
			rec.Version++
			var got qsessions.Record
			if err := p.run("Load", func(ctx context.Context, q qsessions.Persister) (err error) {
				got, err = q.Load(ctx, rec.ID)
				return err
			}); err != nil {
				return fmt.Errorf("Load right after Update: %w", err)
			}
			if diff := diffRecord(rec, got); diff != "" {
				return fmt.Errorf("Load right after Update (-want +got):\n%s", diff)
			}
			live = append([]qsessions.Record{rec}, live...)
			if r%5 == 4 {
				victim := live[len(live)-1]
				if err := p.run("Delete", func(ctx context.Context, q qsessions.Persister) error { return q.Delete(ctx, victim.ID) }); err != nil {
					return fmt.Errorf("Delete: %w", err)
				}
				live = live[:len(live)-1]
			}
			var list []qsessions.Record
			if err := p.run("ListByUser", func(ctx context.Context, q qsessions.Persister) (err error) {
				list, err = q.ListByUser(ctx, users[w])
				return err
			}); err != nil {
				return fmt.Errorf("ListByUser: %w", err)
			}
			if diff := diffIDs(recordIDs(live), recordIDs(list)); diff != "" {
				return fmt.Errorf("ListByUser of the goroutine's own user (-want +got):\n%s", diff)
			}
		}
		final[w] = live
		return nil
	})
	if t.Failed() {
		return
	}
	for w, u := range users {
		p.wantList(u, final[w], "after concurrent use")
	}
	// Clear the lot concurrently; each user loses exactly its records.
	runWorkers(t, p.cfg.workers, func(w int) error {
		var ids []string
		err := p.run("DeleteByUser", func(ctx context.Context, q qsessions.Persister) (err error) {
			ids, err = q.DeleteByUser(ctx, users[w])
			return err
		})
		if err != nil {
			return fmt.Errorf("DeleteByUser: %w", err)
		}
		if diff := diffIDs(sortedIDs(recordIDs(final[w])), sortedIDs(ids)); diff != "" {
			return fmt.Errorf("concurrent DeleteByUser returned the wrong IDs (-want +got):\n%s", diff)
		}
		return nil
	})
	for _, u := range users {
		p.wantList(u, nil, "after concurrent DeleteByUser")
	}
}

func testPersisterConcurrentCreate(t tester, p *persisterT) {
	const rounds = 5
	for round := range rounds {
		id := newID()
		winners := p.race(t, "Create racing for one ID", qsessions.ErrExists, func(w int) error {
			r := p.record(user(fmt.Sprintf("worker%d", w)))
			r.ID = id
			r.Data = workerValue(w, round)
			return p.run("Create", func(ctx context.Context, q qsessions.Persister) error { return q.Create(ctx, r) })
		})
		if len(winners) != 1 {
			t.Fatalf("%d goroutines creating one ID at once: %d Creates succeeded (goroutines %v); want exactly one, the others failing with ErrExists", p.cfg.workers, len(winners), winners)
		}
		got, err := p.load(context.Background(), id)
		if err != nil {
			t.Fatalf("Load of the ID goroutines raced to create: %v", err)
		}
		if want := workerValue(winners[0], round); !bytes.Equal(got.Data, want) {
			t.Errorf("the record created by the one successful Create holds %s; want its Data %s", describeBytes(got.Data), describeBytes(want))
		}
	}
}

func testPersisterConcurrentUpdateDelete(t tester, p *persisterT) {
	// An Update racing with the Delete of its record either lands before the
	// Delete or fails with ErrNotFound: the record is gone in the end.
	const records = 16
	u := user("alice")
	rs := make([]qsessions.Record, records)
	for i := range rs {
		rs[i] = p.record(u)
		p.mustCreate(rs[i])
	}
	runWorkers(t, 2*records, func(w int) error {
		// Deleters and updaters alternate in start order, so that either
		// may reach its record first.
		r := rs[w/2]
		if w%2 == (w/2)%2 {
			return p.run("Delete", func(ctx context.Context, q qsessions.Persister) error { return q.Delete(ctx, r.ID) })
		}
		for i := range 3 {
			r.Data = workerValue(w, i)
			r.UpdatedAt = r.UpdatedAt.Add(time.Millisecond)
			err := p.run("Update", func(ctx context.Context, q qsessions.Persister) error { return q.Update(ctx, r.Clone()) })
			if err != nil && !errors.Is(err, qsessions.ErrNotFound) {
				return fmt.Errorf("Update racing with Delete: error %q wraps neither nil nor ErrNotFound", err)
			}
			if err == nil {
				r.Version++
			}
		}
		return nil
	})
	resurrected := 0
	for _, r := range rs {
		if _, err := p.load(context.Background(), r.ID); err == nil {
			resurrected++
		}
	}
	if resurrected > 0 {
		t.Errorf("%d of %d records deleted while Updates of them ran still exist: an Update re-created them", resurrected, records)
	}
	p.wantList(u, nil, "after Updates raced with Deletes of all her records")
}

func testPersisterConcurrentUpdateConflict(t tester, p *persisterT) {
	// Requests that read the same version race to write it: exactly one
	// wins, the others get ErrConflict, and the winner's record is stored
	// at the next version.
	const rounds = 5
	u := user("alice")
	r := p.record(u)
	p.mustCreate(r)
	for round := range rounds {
		winners := p.race(t, "Update racing others at the same Version", qsessions.ErrConflict, func(w int) error {
			mine := r.Clone()
			mine.Data = workerValue(w, round)
			mine.UpdatedAt = r.UpdatedAt.Add(time.Duration(w+1) * time.Millisecond)
			return p.run("Update", func(ctx context.Context, q qsessions.Persister) error { return q.Update(ctx, mine) })
		})
		if len(winners) != 1 {
			t.Fatalf("round %d: %d goroutines updating one record at the same Version: %d Updates succeeded (goroutines %v); want exactly one, the others failing with ErrConflict",
				round, p.cfg.workers, len(winners), winners)
		}
		r.Data = workerValue(winners[0], round)
		r.UpdatedAt = r.UpdatedAt.Add(time.Duration(winners[0]+1) * time.Millisecond)
		r.Version++
		p.wantRecord(r, fmt.Sprintf("round %d: the record after racing Updates (the one successful Update's, at the next Version)", round))
	}
}
