package conformance

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
// A failure opens with the contract sentence that the Persister broke.
func TestPersister(t *testing.T, newPersister func(t *testing.T) qsessions.Persister) {
	t.Helper()
	testPersister(realT{t}, defaultConfig, func(t tester) qsessions.Persister { return newPersister(testingT(t)) })
}

// The sentences of the Persister contract, as the documentation of
// qsessions.Persister words them (without its links). Every subtest checks
// one of them, and its failures open with it.
const (
	pLoad           = "Load returns the record stored under id, or an error wrapping ErrNotFound; expired records are returned like any other."
	pCreate         = "Create stores a new record as given, Version included, or returns an error wrapping ErrExists and changes nothing when its ID is taken."
	pUpdate         = "Update is a compare-and-swap on the version: when the stored record with r's ID has Version r.Version, it replaces every other field with r's and stores Version r.Version+1."
	pUpdateConflict = "Update returns an error wrapping ErrConflict and writes nothing when the stored record has another Version: someone else wrote it since the caller read it."
	pUpdateMissing  = "Update returns an error wrapping ErrNotFound and writes nothing when there is no record with r's ID: Update never inserts."
	pDelete         = "Delete removes the records with the given ids; missing ids are not an error."
	pListByUser     = "ListByUser returns every record whose UserID is userID (and no other), newest UpdatedAt first and ties in ascending ID order, or none (nil or empty); it may leave Data out (nil), but returns every other field, Meta included."
	pDeleteByUser   = "DeleteByUser removes every record of userID except those whose ID is listed in except, and returns the IDs it removed, in any order."
	pIndexes        = "Update moves a record in every index the Persister keeps: a record whose UserID or ExpiresAt an Update changed is found by ListByUser, DeleteByUser and DeleteExpired as it is now, never as it was."
	pDeleteExpired  = "DeleteExpired removes every record whose ExpiresAt is before the given time and returns how many it removed, in as many transactions as suit its database; when ctx ends partway it returns the count removed so far with an error wrapping ctx.Err()."
	pRoundTrip      = "Fields round-trip exactly: times with at least millisecond precision, in UTC, the zero time included; strings as any valid UTF-8; Data and Meta as any bytes, empty ones included (nil and empty may come back as either)."
	pNotRetained    = "Records passed in and returned are not retained or shared: the caller may mutate them afterwards."
	pContext        = "A cancelled or expired ctx makes a method return an error wrapping ctx.Err() without changing anything, even when the method had to wait (for a lock, a connection or a write transaction) before it could start."
	pConcurrent     = "All methods are safe for concurrent use by multiple goroutines."
)

// persisterSentences lists the contract's sentences in the documentation's
// order.
var persisterSentences = []string{
	pLoad, pCreate, pUpdate, pUpdateConflict, pUpdateMissing, pDelete, pListByUser,
	pDeleteByUser, pIndexes, pDeleteExpired, pRoundTrip, pNotRetained, pContext, pConcurrent,
}

// persisterTest is one named subtest of TestPersister and the contract
// sentence it checks.
type persisterTest struct {
	name string
	rule string
	run  func(t tester, p *persisterT)
}

// persisterTests lists TestPersister's subtests, in the order of the
// contract's sentences.
var persisterTests = []persisterTest{
	{"LoadMissing", pLoad, testPersisterLoadMissing},
	{"LoadExpired", pLoad, testPersisterLoadExpired},
	{"CreateLoad", pLoad, testPersisterCreateLoad},

	{"CreateExists", pCreate, testPersisterCreateExists},
	{"CreateVersion", pCreate, testPersisterCreateVersion},

	{"Update", pUpdate, testPersisterUpdate},
	{"UpdateUser", pUpdate, testPersisterUpdateUser},
	{"UpdateMeta", pUpdate, testPersisterUpdateMeta},
	{"UpdateVersion", pUpdate, testPersisterUpdateVersion},

	{"UpdateConflict", pUpdateConflict, testPersisterUpdateConflict},

	{"UpdateMissing", pUpdateMissing, testPersisterUpdateMissing},
	{"UpdateRevoked", pUpdateMissing, testPersisterUpdateRevoked},

	{"Delete", pDelete, testPersisterDelete},
	{"DeleteMissing", pDelete, testPersisterDeleteMissing},

	{"ListByUser", pListByUser, testPersisterListByUser},
	{"ListByUserOrder", pListByUser, testPersisterListByUserOrder},
	{"ListByUserTies", pListByUser, testPersisterListByUserTies},
	{"ListByUserIsolation", pListByUser, testPersisterListByUserIsolation},
	{"ListByUserEmpty", pListByUser, testPersisterListByUserEmpty},
	{"ListByUserMeta", pListByUser, testPersisterListByUserMeta},

	{"DeleteByUser", pDeleteByUser, testPersisterDeleteByUser},
	{"DeleteByUserExcept", pDeleteByUser, testPersisterDeleteByUserExcept},
	{"DeleteByUserNone", pDeleteByUser, testPersisterDeleteByUserNone},

	{"UpdateExpiryIndex", pIndexes, testPersisterUpdateExpiryIndex},
	{"UpdateUserIndex", pIndexes, testPersisterUpdateUserIndex},

	{"DeleteExpired", pDeleteExpired, testPersisterDeleteExpired},
	{"DeleteExpiredBefore", pDeleteExpired, testPersisterDeleteExpiredBefore},
	{"DeleteExpiredMany", pDeleteExpired, testPersisterDeleteExpiredMany},
	{"DeleteExpiredTies", pDeleteExpired, testPersisterDeleteExpiredTies},
	{"DeleteExpiredInterrupted", pDeleteExpired, testPersisterDeleteExpiredInterrupted},

	{"TimePrecision", pRoundTrip, testPersisterTimePrecision},
	{"TimeUTC", pRoundTrip, testPersisterTimeUTC},
	{"ZeroTime", pRoundTrip, testPersisterZeroTime},
	{"BinaryData", pRoundTrip, testPersisterBinaryData},
	{"LargeData", pRoundTrip, testPersisterLargeData},
	{"EmptyData", pRoundTrip, testPersisterEmptyData},
	{"BinaryMeta", pRoundTrip, testPersisterBinaryMeta},
	{"LargeMeta", pRoundTrip, testPersisterLargeMeta},
	{"EmptyMeta", pRoundTrip, testPersisterEmptyMeta},
	{"OpaqueMeta", pRoundTrip, testPersisterOpaqueMeta},
	{"EmptyFields", pRoundTrip, testPersisterEmptyFields},
	{"Unicode", pRoundTrip, testPersisterUnicode},

	{"CreateDataNotRetained", pNotRetained, testPersisterCreateDataNotRetained},
	{"UpdateDataNotRetained", pNotRetained, testPersisterUpdateDataNotRetained},
	{"LoadDataNotShared", pNotRetained, testPersisterLoadDataNotShared},
	{"ListDataNotShared", pNotRetained, testPersisterListDataNotShared},

	{"CanceledLoad", pContext, testPersisterCanceledLoad},
	{"CanceledCreate", pContext, testPersisterCanceledCreate},
	{"CanceledUpdate", pContext, testPersisterCanceledUpdate},
	{"CanceledDelete", pContext, testPersisterCanceledDelete},
	{"CanceledListByUser", pContext, testPersisterCanceledListByUser},
	{"CanceledDeleteByUser", pContext, testPersisterCanceledDeleteByUser},
	{"CanceledDeleteExpired", pContext, testPersisterCanceledDeleteExpired},
	{"DeadlineExceeded", pContext, testPersisterDeadlineExceeded},
	{"CanceledWhileWaiting", pContext, testPersisterCanceledWhileWaiting},

	{"Concurrent", pConcurrent, testPersisterConcurrent},
	{"ConcurrentCreate", pConcurrent, testPersisterConcurrentCreate},
	{"ConcurrentUpdateDelete", pConcurrent, testPersisterConcurrentUpdateDelete},
	{"ConcurrentUpdateConflict", pConcurrent, testPersisterConcurrentUpdateConflict},
	{"ConcurrentDeleteExpired", pConcurrent, testPersisterConcurrentDeleteExpired},
}

func testPersister(t tester, cfg config, newPersister func(t tester) qsessions.Persister) {
	t.Helper()
	for _, tc := range persisterTests {
		t.Run(tc.name, func(raw tester) {
			t := contractT{tester: raw, kind: "Persister contract", rule: tc.rule}
			p := newPersister(raw)
			if p == nil {
				raw.Fatalf("newPersister returned a nil Persister")
			}
			tc.run(t, &persisterT{t: t, cfg: cfg, p: p, now: time.Now().UTC().Truncate(time.Millisecond)})
		})
	}
}

// persisterT runs calls on one Persister under the watchdog.
type persisterT struct {
	t   contractT
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

func (p *persisterT) deleteExpired(ctx context.Context, before time.Time) (int, error) {
	p.t.Helper()
	return call1(p.t, p.cfg, ctx, "DeleteExpired", func(ctx context.Context) (int, error) { return p.p.DeleteExpired(ctx, before) })
}

// testInfo is the metadata of the suite's records, as a Store records it.
func (p *persisterT) testInfo() qsessions.SessionInfo {
	return qsessions.SessionInfo{
		IP:              "203.0.113.7",
		UserAgent:       "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
		CreatedAt:       p.now.Add(-time.Hour),
		AuthenticatedAt: p.now.Add(-30 * time.Minute),
		AuthMethod:      "passkey",
	}
}

// record returns a new record of userID, last written at p.now and valid
// for a day, with every field set: Meta as a Store encodes it.
func (p *persisterT) record(userID string) qsessions.Record {
	return qsessions.Record{
		ID:        newID(),
		Version:   1,
		UserID:    userID,
		UpdatedAt: p.now,
		ExpiresAt: p.now.Add(24 * time.Hour),
		Data:      []byte("\x01\x00session values of " + userID),
		Meta:      qsessions.EncodeMeta(p.testInfo()),
	}
}

// clone returns r with Data and Meta of its own.
func clone(r qsessions.Record) qsessions.Record {
	r.Data, r.Meta = bytes.Clone(r.Data), bytes.Clone(r.Meta)
	return r
}

func (p *persisterT) mustCreate(rs ...qsessions.Record) {
	p.t.Helper()
	for _, r := range rs {
		if err := p.create(context.Background(), clone(r)); err != nil {
			p.t.under(pCreate).Fatalf("Create of a new record (ID %s): %v", r.ID, err)
		}
	}
}

// mustCreateAll creates rs, from several goroutines when there are many.
func (p *persisterT) mustCreateAll(rs []qsessions.Record) {
	p.t.Helper()
	if len(rs) < 4*p.cfg.workers {
		p.mustCreate(rs...)
		return
	}
	var failed atomic.Bool
	runWorkers(p.t.under(pCreate), p.cfg.workers, func(w int) error {
		for i := w; i < len(rs) && !failed.Load(); i += p.cfg.workers {
			if err := p.run("Create", func(ctx context.Context, q qsessions.Persister) error { return q.Create(ctx, clone(rs[i])) }); err != nil {
				failed.Store(true)
				return fmt.Errorf("Create of a new record (ID %s): %w", rs[i].ID, err)
			}
		}
		return nil
	})
	if failed.Load() {
		p.t.under(pCreate).Fatalf("could not create the subtest's %d records (see above)", len(rs))
	}
}

// mustUpdate updates *r and then bumps r.Version, as the Persister does.
func (p *persisterT) mustUpdate(r *qsessions.Record) {
	p.t.Helper()
	if err := p.update(context.Background(), clone(*r)); err != nil {
		p.t.under(pUpdate).Fatalf("Update at the stored Version %d (ID %s): %v", r.Version, r.ID, err)
	}
	r.Version++
}

func (p *persisterT) mustDelete(ids ...string) {
	p.t.Helper()
	if err := p.del(context.Background(), ids...); err != nil {
		p.t.under(pDelete).Fatalf("Delete(%q): %v", ids, err)
	}
}

func (p *persisterT) mustList(userID string) []qsessions.Record {
	p.t.Helper()
	rs, err := p.list(context.Background(), userID)
	if err != nil {
		p.t.under(pListByUser).Fatalf("ListByUser(%q): %v", userID, err)
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

// wantList checks that ListByUser(userID) returns want, in order, every
// field but Data (which it may leave out) included.
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
		diff := diffRecord(w, got[i])
		if diff == "" {
			continue
		}
		if len(w.Meta) > 0 && len(got[i].Meta) == 0 {
			if r, err := p.load(context.Background(), w.ID); err == nil && bytes.Equal(r.Meta, w.Meta) {
				diff = "  ListByUser left Meta out, which Load returns: it may leave Data out, never Meta\n" + diff
			}
		}
		p.t.Errorf("ListByUser(%q) %s: record %d differs (-want +got):\n%s", userID, what, i, diff)
	}
}

// timeOpt compares times as instants; their location is checked by TimeUTC.
var timeOpt = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

// diffRecord describes how got differs from want, or returns "". Times are
// compared as instants, and nil Data or Meta equals empty.
func diffRecord(want, got qsessions.Record) string {
	if recordsEqual(want, got) {
		return ""
	}
	if hint := timePrecisionHint(want, got); hint != "" {
		// Name the times, then diff the rest (nothing, usually).
		var b strings.Builder
		b.WriteString(hint)
		names := [...]string{"UpdatedAt", "ExpiresAt"}
		for i, w := range recordTimes(&want) {
			if g := *recordTimes(&got)[i]; !w.Equal(g) {
				fmt.Fprintf(&b, "  %s: want %s, got %s\n", names[i], w.Format(time.RFC3339Nano), g.Format(time.RFC3339Nano))
			}
		}
		return b.String() + diffRecord(withTimes(want, got), got)
	}
	diff := diffBytes("Data", want.Data, got.Data) + diffMeta(want.Meta, got.Meta)
	want.Data, got.Data, want.Meta, got.Meta = nil, nil, nil, nil
	return diff + cmp.Diff(want, got, timeOpt, cmpopts.EquateEmpty())
}

// diffBytes describes how the bytes of the field name differ, or returns "".
func diffBytes(name string, want, got []byte) string {
	if bytes.Equal(want, got) {
		return ""
	}
	i := 0
	for i < min(len(want), len(got)) && want[i] == got[i] {
		i++
	}
	return fmt.Sprintf("  %s: want %s, got %s (first difference at byte %d)\n", name, describeBytes(want), describeBytes(got), i)
}

// diffMeta is diffBytes for Meta, with what the two decode to when both
// do: Meta is opaque to a Persister, but a Store wrote it.
func diffMeta(want, got []byte) string {
	diff := diffBytes("Meta", want, got)
	if diff == "" {
		return ""
	}
	wi, werr := qsessions.DecodeMeta(want)
	gi, gerr := qsessions.DecodeMeta(got)
	switch {
	case werr != nil:
		return diff
	case gerr != nil:
		return diff + fmt.Sprintf("  (the Meta stored was a Store's; the Meta returned does not decode: %v)\n", gerr)
	}
	if d := cmp.Diff(wi, gi, timeOpt, cmpopts.IgnoreUnexported(qsessions.SessionInfo{})); d != "" {
		return diff + "  decoded with qsessions.DecodeMeta (-want +got):\n" + d
	}
	return diff + "  (both decode to the same IP, User-Agent, times and AuthMethod, but Meta must come back\n" +
		"  byte for byte: it may hold what DecodeMeta does not show, such as a later Store version's fields)\n"
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

func recordTimes(r *qsessions.Record) [2]*time.Time {
	return [...]*time.Time{&r.UpdatedAt, &r.ExpiresAt}
}

func recordsEqual(a, b qsessions.Record) bool {
	return a.ID == b.ID && a.Version == b.Version && a.UserID == b.UserID && a.UpdatedAt.Equal(b.UpdatedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Meta, b.Meta)
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
	dup.Meta = []byte("other metadata")
	dup.UpdatedAt = p.now.Add(time.Minute)
	err := p.create(context.Background(), clone(dup))
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

func testPersisterCreateVersion(t tester, p *persisterT) {
	u := user("alice")
	first, later := p.record(u), p.record(u)
	later.Version = 42
	p.mustCreate(first, later)
	p.wantRecord(first, "a record created at Version 1")
	p.wantRecord(later, "a record created at Version 42 (Create stores the Version it is given)")
}

func testPersisterUpdate(t tester, p *persisterT) {
	u := user("alice")
	orig := p.record(u)
	p.mustCreate(orig)
	next := qsessions.Record{
		ID:        orig.ID,
		Version:   orig.Version,
		UserID:    u,
		UpdatedAt: orig.UpdatedAt.Add(90*time.Second + 250*time.Millisecond),
		ExpiresAt: orig.ExpiresAt.Add(7 * time.Hour),
		Data:      []byte("new values"),
		Meta: qsessions.EncodeMeta(qsessions.SessionInfo{
			IP: "2001:db8::1", UserAgent: "curl/8.15.0", CreatedAt: p.now.Add(-2 * time.Hour),
		}),
	}
	p.mustUpdate(&next)
	p.wantRecord(next, "an updated record (new Data, Meta, UpdatedAt and ExpiresAt)")
	p.wantList(u, []qsessions.Record{next}, "after Update")

	// Shorter values replace longer ones entirely, also in an Update that
	// keeps the user and the expiry (the Store's usual write).
	next.Data = []byte("v")
	next.Meta = []byte{1}
	next.UpdatedAt = next.UpdatedAt.Add(time.Millisecond)
	p.mustUpdate(&next)
	p.wantRecord(next, "a record updated with shorter Data and Meta, its user and expiry kept")
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

func testPersisterUpdateMeta(t tester, p *persisterT) {
	// Updates that change Meta and nothing else, as the Store's write of a
	// session whose client moved does: each must store the new Meta whole,
	// whatever its length, and Meta must stay as it was through an Update
	// that changes everything else.
	u := user("alice")
	r := p.record(u)
	p.mustCreate(r)
	info := p.testInfo()
	info.UserAgent = strings.Repeat("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) ", 20)
	longer := qsessions.EncodeMeta(info)
	lastByte := bytes.Clone(longer)
	lastByte[len(lastByte)-1] ^= 0x20
	steps := []struct {
		what string
		meta []byte
	}{
		{"a longer Meta", longer},
		{"a Meta that differs only in its last byte", lastByte},
		{"a shorter Meta", qsessions.EncodeMeta(qsessions.SessionInfo{IP: "192.0.2.1"})},
		{"an empty Meta", nil},
		{"a Meta again, after an empty one", qsessions.EncodeMeta(p.testInfo())},
		{"binary Meta", allBytes()},
	}
	for _, step := range steps {
		r.Meta = step.meta
		p.mustUpdate(&r)
		p.wantRecord(r, "a record after an Update that changed only its Meta, to "+step.what)
	}
	p.wantList(u, []qsessions.Record{r}, "after Updates that changed only Meta")

	r.UserID = user("bob")
	r.UpdatedAt = r.UpdatedAt.Add(time.Second)
	r.ExpiresAt = r.ExpiresAt.Add(time.Hour)
	r.Data = []byte("other values")
	p.mustUpdate(&r)
	p.wantRecord(r, "a record after an Update that changed every field but Meta")
}

func testPersisterUpdateVersion(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	p.mustCreate(r)
	for range 3 {
		r.Data = append(r.Data, '+')
		r.UpdatedAt = r.UpdatedAt.Add(time.Second)
		if err := p.update(context.Background(), clone(r)); err != nil {
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
	stale := clone(r) // read by a request that saves late
	r.Data = []byte("saved first")
	p.mustUpdate(&r)

	for _, v := range []int64{stale.Version, r.Version + 1, r.Version + 1000, 0} {
		w := clone(stale)
		w.Version = v
		w.Data = []byte("written over a version that is not the stored one")
		w.Meta = []byte("metadata written over a version that is not the stored one")
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

func testPersisterUpdateMissing(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	err := p.update(context.Background(), clone(r))
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
	if _, err := p.deleteExpired(context.Background(), p.now); err != nil {
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
		err := p.update(context.Background(), clone(r))
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
		r.Meta = qsessions.EncodeMeta(qsessions.SessionInfo{IP: fmt.Sprintf("198.51.100.%d", i)})
		r.UpdatedAt = p.now.Add(-time.Duration(i) * time.Minute)
		want = append(want, r)
	}
	p.mustCreate(want[2], want[0], want[3], want[1])
	p.mustCreate(p.record(user("bob")))
	p.wantList(u, want, "of a user with four records")
}

func testPersisterListByUserOrder(t tester, p *persisterT) {
	u := user("alice")
	// Created oldest first, each expiring later than the one before, then
	// updated so that UpdatedAt order differs from both creation order and
	// expiry order, down to milliseconds.
	rs := make([]qsessions.Record, 5)
	for i := range rs {
		rs[i] = p.record(u)
		rs[i].UpdatedAt = p.now.Add(time.Duration(i-10) * time.Minute)
		rs[i].ExpiresAt = p.now.Add(24*time.Hour + time.Duration(i)*time.Minute)
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
		t.Fatalf("ListByUser of a user without records: %v; want no records and a nil error", err)
	}
	if len(got) != 0 {
		t.Errorf("ListByUser of a user without records returned %d records; want none", len(got))
	}
	r := p.record(u)
	p.mustCreate(r)
	p.mustDelete(r.ID)
	p.wantList(u, nil, "after her only record was deleted")
}

func testPersisterListByUserMeta(t tester, p *persisterT) {
	// The session list shows what Meta holds: ListByUser returns each
	// record's own Meta, whatever it is.
	u := user("alice")
	info := p.testInfo()
	info.IP, info.UserAgent = "2001:db8:85a3::8a2e:370:7334", "Mozilla/5.0 (Linux; Android 14; 设备) 🦊"
	metas := [][]byte{qsessions.EncodeMeta(p.testInfo()), nil, allBytes(), qsessions.EncodeMeta(info), laterMeta(info), pattern(4 << 10)}
	want := make([]qsessions.Record, len(metas))
	for i, m := range metas {
		want[i] = p.record(u)
		want[i].Meta = m
		want[i].UpdatedAt = p.now.Add(-time.Duration(i) * time.Second)
	}
	p.mustCreate(want...)
	p.wantList(u, want, "of records with different Meta")
	for i := range want {
		want[i].Meta = pattern(i + 1)
		p.mustUpdate(&want[i])
	}
	p.wantList(u, want, "after Updates gave each record other Meta")
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
	n, err := p.deleteExpired(context.Background(), p.now)
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

// expiring returns n records of userID that expired 1..n hours before
// p.now, newest first.
func (p *persisterT) expiring(userID string, n int) []qsessions.Record {
	rs := make([]qsessions.Record, n)
	for i := range rs {
		rs[i] = p.record(userID)
		rs[i].ExpiresAt = p.now.Add(-time.Duration(i+1) * time.Hour)
		rs[i].UpdatedAt = rs[i].ExpiresAt.Add(-time.Hour)
	}
	return rs
}

func (p *persisterT) mustDeleteExpired(before time.Time, want int) {
	p.t.Helper()
	n, err := p.deleteExpired(context.Background(), before)
	if err != nil {
		p.t.under(pDeleteExpired).Fatalf("DeleteExpired(%v): %v", before, err)
	}
	if n != want {
		p.t.Errorf("DeleteExpired(%v) = %d; want %d", before, n, want)
	}
}

func testPersisterDeleteExpired(t tester, p *persisterT) {
	expired := p.expiring(user("alice"), 3)
	live := p.record(user("alice"))
	p.mustCreate(expired[1], live, expired[0], expired[2])
	p.mustDeleteExpired(p.now, 3)
	for _, r := range expired {
		p.wantNotFound(r.ID, "an expired record after DeleteExpired")
	}
	p.wantRecord(live, "a live record after DeleteExpired")
	p.mustDeleteExpired(p.now, 0)
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
	p.mustDeleteExpired(before, len(gone))
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

// wantSwept checks that DeleteExpired(p.now) removes all of expired, the
// records of user u, in one call, and leaves live alone.
func (p *persisterT) wantSwept(u string, expired []qsessions.Record, live qsessions.Record, what string) {
	p.t.Helper()
	n, err := p.deleteExpired(context.Background(), p.now)
	if err != nil {
		p.t.Fatalf("DeleteExpired of %d %s: %v", len(expired), what, err)
	}
	left := p.mustList(u)
	if n != len(expired) || len(left) > 0 {
		p.t.Errorf("one DeleteExpired of %d %s returned %d and left %d of them; want all removed, in as many transactions "+
			"as the Persister likes (does it stop after one batch?)", len(expired), what, n, len(left))
	}
	p.wantRecord(live, "a live record after DeleteExpired of "+what)
}

func testPersisterDeleteExpiredMany(t tester, p *persisterT) {
	// More records than a Persister that deletes in batches puts in one:
	// one call removes them all.
	u := user("alice")
	expired := make([]qsessions.Record, p.cfg.many)
	for i := range expired {
		expired[i] = p.record(u)
		expired[i].ExpiresAt = p.now.Add(-time.Duration(i+1) * time.Millisecond)
	}
	live := p.record(user("bob"))
	p.mustCreateAll(append(expired, live))
	p.wantSwept(u, expired, live, "records that expired a millisecond apart")
}

func testPersisterDeleteExpiredTies(t tester, p *persisterT) {
	// As many records, expired at one instant: a Persister that deletes in
	// batches must not lose the ties at a batch's edge.
	u := user("alice")
	expired := make([]qsessions.Record, p.cfg.many)
	for i := range expired {
		expired[i] = p.record(u)
		expired[i].ExpiresAt = p.now.Add(-time.Minute)
	}
	live := p.record(user("bob"))
	p.mustCreateAll(append(expired, live))
	p.wantSwept(u, expired, live, "records that expired at the same instant")
}

func testPersisterDeleteExpiredInterrupted(t tester, p *persisterT) {
	// A sweep whose context is cancelled after the method's first check of
	// it either removes everything and returns nil, or returns an error
	// wrapping context.Canceled with the count of what it removed so far.
	u := user("alice")
	expired := p.expiring(u, max(p.cfg.many/4, 2))
	live := p.record(user("bob"))
	p.mustCreateAll(append(expired, live))
	var n int
	err := call(t, p.cfg, context.Background(), "DeleteExpired", func(context.Context) (err error) {
		n, err = p.p.DeleteExpired(newLateContext(), p.now)
		return err
	})
	removed := len(expired) - len(p.mustList(u))
	switch {
	case err == nil:
		if n != len(expired) || removed != len(expired) {
			t.Errorf("DeleteExpired of %d expired records, its context cancelled while it ran, returned %d, nil and removed %d; "+
				"want all removed and counted, or an error wrapping context.Canceled", len(expired), n, removed)
		}
	case !wrapsCtxErr(err, context.Canceled):
		t.Errorf("DeleteExpired, its context cancelled while it ran: error %q; want nil or an error wrapping context.Canceled", err)
	case n != removed:
		t.Errorf("DeleteExpired, its context cancelled while it ran, returned %d with %q, but removed %d of %d expired records; "+
			"want the count of those it removed so far", n, err, removed, len(expired))
	}
	p.wantRecord(live, "a live record after an interrupted DeleteExpired")
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
	u := user("alice")
	for i, tm := range p.testTimes() {
		r := p.record(u)
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
		}{{"UpdatedAt", r.UpdatedAt, got.UpdatedAt}, {"ExpiresAt", r.ExpiresAt, got.ExpiresAt}} {
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
	for i, name := range [...]string{"UpdatedAt", "ExpiresAt"} {
		if tm := *recordTimes(&r)[i]; tm.Location() != time.UTC {
			t.Errorf("%s returned %s in location %q (%s); want UTC", op, name, tm.Location(), tm.Format(time.RFC3339Nano))
		}
	}
}

func testPersisterZeroTime(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	r.UpdatedAt, r.ExpiresAt = time.Time{}, time.Time{}
	p.mustCreate(r)
	got, err := p.load(context.Background(), r.ID)
	if err != nil {
		t.Fatalf("Load of a record whose UpdatedAt and ExpiresAt are the zero time: %v", err)
	}
	if !got.UpdatedAt.IsZero() || !got.ExpiresAt.IsZero() {
		t.Errorf("the zero UpdatedAt and ExpiresAt came back as %s and %s; want the zero time",
			got.UpdatedAt.Format(time.RFC3339Nano), got.ExpiresAt.Format(time.RFC3339Nano))
	}
	p.wantRecord(r, "a record whose UpdatedAt and ExpiresAt are the zero time")
	newer := p.record(u)
	p.mustCreate(newer)
	p.wantList(u, []qsessions.Record{newer, r}, "holding a record whose UpdatedAt is the zero time (listed last)")
	// The zero time is before every cut-off.
	p.mustDeleteExpired(p.now, 1)
	p.wantNotFound(r.ID, "a record whose ExpiresAt is the zero time, after DeleteExpired")
}

// binaryValues are byte strings that text columns, C strings and encoding
// conversions mangle.
func binaryValues() map[string][]byte {
	return map[string][]byte{
		"all-bytes":      allBytes(),
		"nul":            {0},
		"trailing-nuls":  {'a', 0, 0},
		"invalid-utf8":   {0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1},
		"trailing-space": []byte("value \t\r\n"),
	}
}

func testPersisterBinaryData(t tester, p *persisterT) {
	for name, v := range binaryValues() {
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

func testPersisterBinaryMeta(t tester, p *persisterT) {
	u := user("alice")
	for name, v := range binaryValues() {
		r := p.record(u)
		r.Meta = v
		p.mustCreate(r)
		p.wantRecord(r, "a record with binary Meta ("+name+")")
		p.wantList(u, []qsessions.Record{r}, "holding a record with binary Meta ("+name+")")
		p.mustDelete(r.ID)
	}
}

func testPersisterLargeMeta(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	r.Meta = pattern(p.cfg.largeMeta)
	p.mustCreate(r)
	p.wantRecord(r, fmt.Sprintf("a record with %d bytes of Meta", len(r.Meta)))
	p.wantList(u, []qsessions.Record{r}, fmt.Sprintf("holding a record with %d bytes of Meta", len(r.Meta)))
	r.Meta = pattern(p.cfg.largeMeta + 1)[1:]
	r.UpdatedAt = r.UpdatedAt.Add(time.Second)
	p.mustUpdate(&r)
	p.wantRecord(r, "a record updated with as much other Meta")
}

func testPersisterEmptyMeta(t tester, p *persisterT) {
	u := user("alice")
	for _, meta := range [][]byte{{}, nil} {
		r := p.record(u)
		r.Meta = meta
		p.mustCreate(r)
		got, err := p.load(context.Background(), r.ID)
		if err != nil {
			t.Errorf("Load of a record with Meta %#v: %v", meta, err)
			continue
		}
		if len(got.Meta) != 0 {
			t.Errorf("Load of a record with Meta %#v returned Meta %s; want it empty", meta, describeBytes(got.Meta))
		}
		p.wantList(u, []qsessions.Record{r}, fmt.Sprintf("holding a record with Meta %#v", meta))
		// And a record whose Meta is emptied by Update.
		r.Meta = qsessions.EncodeMeta(p.testInfo())
		p.mustUpdate(&r)
		r.Meta = meta
		p.mustUpdate(&r)
		p.wantRecord(r, fmt.Sprintf("a record whose Meta was updated to %#v", meta))
		p.mustDelete(r.ID)
	}
}

// laterMeta returns the Meta of a Store of a later version: i's fields,
// and one that this version does not know. DecodeMeta keeps such fields,
// so that EncodeMeta writes them back, but a SessionInfo cannot show them.
func laterMeta(i qsessions.SessionInfo) []byte {
	const tag = 1000 // far beyond the tags of this version
	b := qsessions.EncodeMeta(i)
	b = binary.AppendUvarint(b, tag)
	b = binary.AppendUvarint(b, 5)
	return append(b, "later"...)
}

func testPersisterOpaqueMeta(t tester, p *persisterT) {
	// Meta is opaque: a Persister that keeps some of it in columns of its
	// own must still return it byte for byte, with the fields a later
	// Store version added, and also when it does not decode at all.
	u := user("alice")
	info := p.testInfo()
	later := laterMeta(info)
	if got, err := qsessions.DecodeMeta(later); err != nil || got.IP != info.IP {
		t.Fatalf("the suite's Meta of a later Store version does not decode (%v, IP %q): a bug in the suite", err, got.IP)
	}
	metas := []struct {
		what string
		meta []byte
	}{
		{"Meta with a field of a later Store version", later},
		{"Meta that qsessions.DecodeMeta rejects", []byte("\xffno metadata of any version")},
		{"Meta of an unknown version", append([]byte{0x7f}, qsessions.EncodeMeta(info)[1:]...)},
	}
	for _, m := range metas {
		r := p.record(u)
		r.Meta = m.meta
		p.mustCreate(r)
		p.wantRecord(r, "a record with "+m.what)
		p.wantList(u, []qsessions.Record{r}, "holding a record with "+m.what)
		r.Data = []byte("changed")
		r.UpdatedAt = r.UpdatedAt.Add(time.Second)
		p.mustUpdate(&r)
		p.wantRecord(r, "a record with "+m.what+", after an Update that kept it")
		p.mustDelete(r.ID)
	}
}

func testPersisterEmptyFields(t tester, p *persisterT) {
	r := p.record("")
	r.Data, r.Meta = nil, nil
	p.mustCreate(r)
	p.wantRecord(r, "an anonymous record without Data or Meta")
	r.UserID = user("alice")
	r.Data = []byte("values")
	r.Meta = qsessions.EncodeMeta(p.testInfo())
	p.mustUpdate(&r)
	p.wantRecord(r, "a record after its empty fields were filled by Update")
	r.UserID, r.Data, r.Meta = "", []byte{}, []byte{}
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

func testPersisterUnicode(t tester, p *persisterT) {
	for i, s := range unicodeStrings {
		u := s + "-" + user("")
		r := p.record(u)
		r.Data = []byte(s)
		r.Meta = qsessions.EncodeMeta(qsessions.SessionInfo{IP: "2001:db8:85a3::8a2e:370:7334", UserAgent: s, AuthMethod: s})
		p.mustCreate(r)
		p.wantRecord(r, fmt.Sprintf("a record with Unicode user ID, Data and User-Agent in Meta #%d", i))
		p.wantList(u, []qsessions.Record{r}, fmt.Sprintf("of Unicode user ID #%d", i))
	}
}

func testPersisterCreateDataNotRetained(t tester, p *persisterT) {
	r := p.record(user("alice"))
	want := clone(r)
	if err := p.create(context.Background(), r); err != nil {
		t.Fatalf("Create: %v", err)
	}
	scribble(r.Data)
	scribble(r.Meta)
	p.wantRecord(want, "a record whose Data and Meta the caller overwrote after Create")
}

func testPersisterUpdateDataNotRetained(t tester, p *persisterT) {
	r := p.record(user("alice"))
	p.mustCreate(r)
	r.Data = []byte("updated values")
	r.Meta = []byte("updated metadata")
	want := clone(r)
	if err := p.update(context.Background(), r); err != nil {
		t.Fatalf("Update: %v", err)
	}
	want.Version++
	scribble(r.Data)
	scribble(r.Meta)
	p.wantRecord(want, "a record whose Data and Meta the caller overwrote after Update")
}

func testPersisterLoadDataNotShared(t tester, p *persisterT) {
	r := p.record(user("alice"))
	p.mustCreate(r)
	got, err := p.load(context.Background(), r.ID)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	scribbleReturned(t, got.Data, "Data of a record that Load returned")
	scribbleReturned(t, got.Meta, "Meta of a record that Load returned")
	p.wantRecord(r, "a record after the caller overwrote the Data and Meta of the record Load returned")
}

func testPersisterListDataNotShared(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	p.mustCreate(r)
	for _, got := range p.mustList(u) {
		scribbleReturned(t, got.Data, "Data of a record that ListByUser returned")
		scribbleReturned(t, got.Meta, "Meta of a record that ListByUser returned")
	}
	p.wantRecord(r, "a record after the caller overwrote the Data and Meta of the records ListByUser returned")
	p.wantList(u, []qsessions.Record{r}, "after the caller overwrote the Data and Meta of the records it returned")
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
	wantCanceled(t, "Create", p.create(canceledContext(), clone(r)))
	p.wantNotFound(r.ID, "a record only passed to Create with a cancelled context")
	p.wantList(u, nil, "after a cancelled Create")
}

func testPersisterCanceledUpdate(t tester, p *persisterT) {
	u := user("alice")
	r := p.record(u)
	p.mustCreate(r)
	next := clone(r)
	next.Data = []byte("changed")
	next.Meta = []byte("changed")
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
	expired := p.expiring(user("alice"), 2)
	p.mustCreate(expired...)
	_, err := p.deleteExpired(canceledContext(), p.now)
	wantCanceled(t, "DeleteExpired", err)
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

	next := clone(r)
	next.Data = []byte("changed")
	next.Meta = []byte("changed")
	next.UserID = user("bob")
	// The calls get the late context itself, not one derived from it,
	// which would not ask it for its error.
	late := func(op string, f func(ctx context.Context) error) error {
		t.Helper()
		return call(t, p.cfg, context.Background(), op, func(context.Context) error { return f(newLateContext()) })
	}
	if err := late("Update", func(ctx context.Context) error { return p.p.Update(ctx, clone(next)) }); err == nil {
		next.Version++
		r = next
	} else {
		wantCanceled(t, "Update cancelled after its first check of ctx", err)
	}
	p.wantRecord(r, "a record after an Update cancelled while it ran")

	fresh := p.record(u)
	if err := late("Create", func(ctx context.Context) error { return p.p.Create(ctx, clone(fresh)) }); err == nil {
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
	r, expired := p.record(u), p.expiring(user("bob"), 1)[0]
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
	want("Create", p.create(ctx, clone(fresh)))
	next := clone(r)
	next.Data = []byte("changed")
	want("Update", p.update(ctx, next))
	want("Delete", p.del(ctx, r.ID))
	_, err = p.list(ctx, u)
	want("ListByUser", err)
	_, err = p.deleteByUser(ctx, u)
	want("DeleteByUser", err)
	_, err = p.deleteExpired(ctx, p.now)
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
			if err := p.run("Create", func(ctx context.Context, q qsessions.Persister) error { return q.Create(ctx, clone(rec)) }); err != nil {
				return fmt.Errorf("Create: %w", err)
			}
			rec.Data = workerValue(w, r+1000)
			rec.Meta = qsessions.EncodeMeta(qsessions.SessionInfo{IP: fmt.Sprintf("10.0.%d.%d", w, r)})
			if err := p.run("Update", func(ctx context.Context, q qsessions.Persister) error { return q.Update(ctx, clone(rec)) }); err != nil {
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
			err := p.run("Update", func(ctx context.Context, q qsessions.Persister) error { return q.Update(ctx, clone(r)) })
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
			mine := clone(r)
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

func testPersisterConcurrentDeleteExpired(t tester, p *persisterT) {
	// Sweepers racing over the same expired records (one per machine, say)
	// share them: each record is removed once, and counted once.
	u := user("alice")
	expired := p.expiring(u, max(p.cfg.many/4, 2*p.cfg.workers))
	live := p.record(user("bob"))
	p.mustCreateAll(append(expired, live))
	var total atomic.Int64
	runWorkers(t, p.cfg.workers, func(w int) error {
		var n int
		err := p.run("DeleteExpired", func(ctx context.Context, q qsessions.Persister) (err error) {
			n, err = q.DeleteExpired(ctx, p.now)
			return err
		})
		if err != nil {
			return fmt.Errorf("DeleteExpired racing other sweeps: %w", err)
		}
		total.Add(int64(n))
		return nil
	})
	left := p.mustList(u)
	if n := total.Load(); n != int64(len(expired)) || len(left) > 0 {
		t.Errorf("%d concurrent DeleteExpired calls over %d expired records returned %d in all and left %d; "+
			"want all removed, each counted by the one call that removed it", p.cfg.workers, len(expired), n, len(left))
	}
	p.wantRecord(live, "a live record after concurrent DeleteExpired calls")
}
