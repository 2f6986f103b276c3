package conformance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

// The suite tests itself, as testing/fstest does: it must pass against the
// reference backends, and each deliberately broken backend below must fail
// the subtests named for it. A broken backend that gets through is a bug in
// the suite.

// selfConfig shortens the suite's waits and shrinks its large values and
// concurrency tests, so that the many broken backends are caught quickly (the
// fakes' size limits and races are well inside what it still checks);
// hangConfig shortens the call timeout further for backends that hang.
var selfConfig, hangConfig = func() (self, hang config) {
	self = defaultConfig
	self.callTimeout = 2 * time.Second
	self.grace = 250 * time.Millisecond
	self.ttlWait = 500 * time.Millisecond
	self.large = 128 << 10
	self.many = 100 // over the fake's batches of fakeBatch
	self.workers, self.rounds = 6, 10
	hang = self
	hang.callTimeout = 200 * time.Millisecond
	hang.grace = 100 * time.Millisecond
	return self, hang
}()

// A brokenCase is one deliberately broken backend and the subtests that
// must catch it.
type brokenCase struct {
	bug    string   // the fake's bug, see fakeCache and fakePersister
	doc    string   // what the bug breaks
	caught []string // subtests that must fail
	hangs  bool     // the bug makes calls hang: use hangConfig
}

var brokenCaches = []brokenCase{
	{bug: "MissIsNilNil", doc: "Get of a missing key returns nil, nil", caught: []string{"GetMissing", "GetDeleted", "GetExpired"}},
	{bug: "MissWrongError", doc: "Get of a missing key returns an error not wrapping ErrCacheMiss", caught: []string{"GetMissing"}},
	{bug: "DeleteIgnored", doc: "Delete does nothing", caught: []string{"GetDeleted", "DeleteMany"}},
	{bug: "ExpiresAtOnce", doc: "entries with a TTL expire at once", caught: []string{"SetGet", "TTLExpiry"}},
	{bug: "IgnoresTTL", doc: "entries never expire", caught: []string{"GetExpired", "TTLExpiry"}},
	{bug: "TTLWholeSeconds", doc: "TTLs are cut to whole seconds, so 50ms means none", caught: []string{"TTLExpiry"}},
	{bug: "ZeroTTLExpiresAtOnce", doc: "a ttl of zero expires at once", caught: []string{"NoExpiry", "OverwriteTTL"}},
	{bug: "NegativeTTLExpiresAtOnce", doc: "a negative ttl expires at once", caught: []string{"NoExpiry"}},
	{bug: "FirstWriteWins", doc: "Set of an existing key keeps the old value", caught: []string{"Overwrite"}},
	{bug: "KeepsOldTTL", doc: "Set of an existing key keeps the old TTL", caught: []string{"OverwriteTTL"}},
	{bug: "EmptyIsMiss", doc: "an empty value reads as a miss", caught: []string{"EmptyValue"}},
	{bug: "EmptyIsNil", doc: "an empty value reads as nil", caught: []string{"EmptyValue"}},
	{bug: "NotBinarySafe", doc: "values are stored as UTF-8 text", caught: []string{"BinaryValue"}},
	{bug: "StopsAtNUL", doc: "values are cut at the first NUL byte", caught: []string{"BinaryValue"}},
	{bug: "CapsValueSize", doc: "values are cut at 64 KiB", caught: []string{"LargeValue"}},
	{bug: "CaseInsensitiveKeys", doc: "keys differing in case collide", caught: []string{"KeysDistinct"}},
	{bug: "DeleteFirstKeyOnly", doc: "Delete removes only its first key", caught: []string{"DeleteMany", "DeleteMissing"}},
	{bug: "DeleteMissingErrors", doc: "Delete of a missing key is an error", caught: []string{"DeleteMissing"}},
	{bug: "RetainsSetValue", doc: "Set keeps the caller's slice", caught: []string{"SetValueNotRetained"}},
	{bug: "SharesGetValue", doc: "Get returns the stored slice", caught: []string{"GetValueNotShared"}},
	{bug: "IgnoresCtx", doc: "a cancelled context is ignored", caught: []string{"CanceledGet", "CanceledSet", "CanceledDelete", "DeadlineExceeded"}},
	{bug: "WritesDespiteCanceled", doc: "a cancelled write is done, then reported as cancelled", caught: []string{"CanceledSet", "CanceledDelete", "DeadlineExceeded"}},
	{bug: "CtxErrorNotWrapped", doc: "context errors are returned as text, not wrapped", caught: []string{"CanceledGet", "CanceledSet", "CanceledDelete", "DeadlineExceeded"}},
	{bug: "LostUpdates", doc: "concurrent Sets lose each other's writes", caught: []string{"Concurrent"}},
	{bug: "DeleteHangs", doc: "Delete blocks and ignores its context", caught: []string{"GetDeleted", "DeleteMany"}, hangs: true},
	{bug: "GetPanics", doc: "Get of a missing key panics", caught: []string{"GetMissing"}},

	// Conditional writes.
	{bug: "AddFails", doc: "Conditional reports true, but Add fails with ErrUnsupported", caught: []string{"AddMissing", "AddExpired", "AddTTL", "ConcurrentAdd"}},
	{bug: "AddOverwrites", doc: "Add of a present key replaces it", caught: []string{"AddPresent", "ConcurrentAdd"}},
	{bug: "AddEmptyIsAbsent", doc: "Add takes a key holding an empty value for a missing one", caught: []string{"AddPresent"}},
	{bug: "AddIgnoresExpired", doc: "Add takes an expired entry for a live one", caught: []string{"AddExpired"}},
	{bug: "AddIgnoresTTL", doc: "entries written by Add never expire", caught: []string{"AddTTL", "AddExpired", "LeaseExpired"}},
	{bug: "CASNeverSwaps", doc: "Conditional reports true, but CompareAndSwap never swaps", caught: []string{"CompareAndSwapMatch", "CompareAndSwapTTL", "CompareAndSwapBinary", "ConcurrentCompareAndSwap"}},
	{bug: "CASIgnoresOld", doc: "CompareAndSwap swaps any live entry, whatever old is", caught: []string{"CompareAndSwapMismatch", "CompareAndSwapBinary", "LeaseOverwritten", "ConcurrentCompareAndSwap"}},
	{bug: "CASComparesPrefix", doc: "CompareAndSwap matches an old value that begins the entry's", caught: []string{"CompareAndSwapBinary"}},
	{bug: "CASLongerMatches", doc: "CompareAndSwap matches an old value that the entry's begins", caught: []string{"CompareAndSwapBinary"}},
	{bug: "CASStopsAtNUL", doc: "CompareAndSwap compares values up to their first NUL byte", caught: []string{"CompareAndSwapBinary"}},
	{bug: "CASSwapsMissing", doc: "CompareAndSwap of a missing key writes it", caught: []string{"CompareAndSwapMissing", "LeaseDeleted"}},
	{bug: "CASMissingIsEmpty", doc: "CompareAndSwap takes a missing key for an empty value", caught: []string{"CompareAndSwapMissing"}},
	{bug: "CASSwapsExpired", doc: "CompareAndSwap swaps an expired entry", caught: []string{"CompareAndSwapExpired", "LeaseExpired"}},
	{bug: "CASKeepsOldTTL", doc: "CompareAndSwap keeps the entry's TTL", caught: []string{"CompareAndSwapTTL"}},
	{bug: "AddRetainsValue", doc: "Add keeps the caller's slice", caught: []string{"AddValueNotRetained"}},
	{bug: "CASRetainsValue", doc: "CompareAndSwap keeps the caller's slice", caught: []string{"CompareAndSwapValueNotRetained"}},
	{bug: "ConditionalIgnoresCtx", doc: "Add and CompareAndSwap ignore a cancelled context", caught: []string{"CanceledAdd", "CanceledCompareAndSwap"}},
	{bug: "ConditionalWritesDespiteCanceled", doc: "Add and CompareAndSwap write, then report the cancelled context", caught: []string{"CanceledAdd", "CanceledCompareAndSwap"}},
	{bug: "RacyAdd", doc: "Add checks for the key and writes it in two steps", caught: []string{"ConcurrentAdd", "ConcurrentLease"}},
	{bug: "RacyCompareAndSwap", doc: "CompareAndSwap compares and writes in two steps", caught: []string{"ConcurrentCompareAndSwap", "ConcurrentLease"}},
	{bug: "ConditionalRacesWrites", doc: "Add and CompareAndSwap are atomic against each other, not against Set and Delete", caught: []string{"ConcurrentLease"}},
}

var brokenPersisters = []brokenCase{
	{bug: "LoadMissingNoError", doc: "Load of a missing ID returns a zero Record, nil", caught: []string{"LoadMissing", "UpdateMissing"}},
	{bug: "LoadSkipsExpired", doc: "Load hides expired records", caught: []string{"LoadExpired"}},
	{bug: "LoadPanics", doc: "Load of a missing ID panics", caught: []string{"LoadMissing"}},
	{bug: "CreateOverwrites", doc: "Create of a taken ID replaces the record", caught: []string{"CreateExists", "ConcurrentCreate"}},
	{bug: "CreateOverwritesReportsExists", doc: "Create of a taken ID replaces the record, then reports ErrExists", caught: []string{"CreateExists"}},
	{bug: "CreateWrongError", doc: "Create of a taken ID returns an error not wrapping ErrExists", caught: []string{"CreateExists", "ConcurrentCreate"}},
	{bug: "RacyCreate", doc: "Create checks for the ID and inserts in two steps", caught: []string{"ConcurrentCreate"}},
	{bug: "CreateIgnoresVersion", doc: "Create stores Version 1 whatever it is given", caught: []string{"CreateVersion"}},
	{bug: "UpdateInserts", doc: "Update of a missing record inserts it", caught: []string{"UpdateMissing", "UpdateRevoked", "ConcurrentUpdateDelete"}},
	{bug: "UpdateMissingNoError", doc: "Update of a missing record returns nil", caught: []string{"UpdateMissing", "UpdateRevoked"}},
	{bug: "RacyUpdate", doc: "Update checks for the record and its version and writes it in two steps", caught: []string{"ConcurrentUpdateDelete", "ConcurrentUpdateConflict"}},
	{bug: "UpdateIgnoresVersion", doc: "Update writes over any stored version", caught: []string{"UpdateConflict", "ConcurrentUpdateConflict"}},
	{bug: "UpdateKeepsVersion", doc: "Update does not bump the version", caught: []string{"UpdateVersion", "Update"}},
	{bug: "UpdateConflictBumps", doc: "a refused Update bumps the stored version", caught: []string{"UpdateConflict"}},
	{bug: "UpdateConflictWrites", doc: "an Update at another version writes, then reports ErrConflict", caught: []string{"UpdateConflict"}},
	{bug: "UpdateConflictWrongError", doc: "a refused Update returns an error not wrapping ErrConflict", caught: []string{"UpdateConflict", "ConcurrentUpdateConflict"}},
	{bug: "UpdateKeepsUserID", doc: "Update does not change UserID", caught: []string{"UpdateUser"}},
	{bug: "UpdateKeepsMeta", doc: "Update does not change Meta", caught: []string{"Update", "UpdateMeta"}},
	{bug: "UpdateOverlaysMeta", doc: "Update writes a shorter Meta over the old one, keeping its tail", caught: []string{"Update", "UpdateMeta"}},
	{bug: "TouchKeepsMeta", doc: "an Update that keeps UserID and ExpiresAt does not store Meta", caught: []string{"Update", "UpdateMeta"}},
	{bug: "DeleteFirstIDOnly", doc: "Delete removes only its first ID", caught: []string{"Delete", "DeleteMissing"}},
	{bug: "DeleteMissingErrors", doc: "Delete of a missing ID is an error", caught: []string{"DeleteMissing"}},
	{bug: "StaleExpiryIndex", doc: "an Update of ExpiresAt leaves the old entry in the expiry index", caught: []string{"UpdateExpiryIndex"}},
	{bug: "StaleUserIndex", doc: "an Update of UserID leaves the old entry in the user index", caught: []string{"UpdateUser", "UpdateUserIndex"}},
	{bug: "ListTiesDescending", doc: "ListByUser orders records of equal UpdatedAt by descending ID", caught: []string{"ListByUserTies"}},
	{bug: "ListPrefixMatch", doc: "ListByUser also returns users whose ID starts with the one asked for", caught: []string{"ListByUserIsolation"}},
	{bug: "ListCaseInsensitive", doc: "ListByUser matches user IDs regardless of case", caught: []string{"ListByUserIsolation"}},
	{bug: "ListOldestFirst", doc: "ListByUser returns oldest UpdatedAt first", caught: []string{"ListByUser", "ListByUserOrder"}},
	{bug: "ListByExpiresAt", doc: "ListByUser orders by ExpiresAt", caught: []string{"ListByUserOrder"}},
	{bug: "ListNewestCreatedFirst", doc: "ListByUser returns the most recently created first", caught: []string{"ListByUserOrder"}},
	{bug: "ListSecondPrecision", doc: "ListByUser orders by UpdatedAt cut to seconds", caught: []string{"ListByUserOrder"}},
	{bug: "ListEmptyNotFound", doc: "ListByUser of a user without records is an error", caught: []string{"ListByUserEmpty"}},
	{bug: "ListOmitsMeta", doc: "ListByUser leaves Meta out", caught: []string{"ListByUser", "ListByUserMeta"}},
	{bug: "DeleteByUserIgnoresExcept", doc: "DeleteByUser removes the excepted records too", caught: []string{"DeleteByUserExcept", "DeleteByUserNone"}},
	{bug: "DeleteByUserReturnsNothing", doc: "DeleteByUser does not return the removed IDs", caught: []string{"DeleteByUser", "DeleteByUserExcept"}},
	{bug: "DeleteByUserReturnsKept", doc: "DeleteByUser returns the excepted IDs too", caught: []string{"DeleteByUserExcept", "DeleteByUserNone"}},
	{bug: "DeleteByUserPrefixMatch", doc: "DeleteByUser removes users whose ID starts with the one asked for", caught: []string{"DeleteByUser"}},
	{bug: "DeleteExpiredUsesNow", doc: "DeleteExpired uses the clock instead of before", caught: []string{"DeleteExpiredBefore"}},
	{bug: "DeleteExpiredInclusive", doc: "DeleteExpired removes records expiring exactly at before", caught: []string{"DeleteExpiredBefore"}},
	{bug: "DeleteExpiredOneBatch", doc: "DeleteExpired removes one batch of records and stops", caught: []string{"DeleteExpiredMany", "DeleteExpiredTies"}},
	{bug: "DeleteExpiredSkipsTies", doc: "DeleteExpired pages by expiry and skips the ties at a batch's end", caught: []string{"DeleteExpiredTies"}},
	{bug: "DeleteExpiredLosesCount", doc: "DeleteExpired cancelled between batches returns 0, not what it removed", caught: []string{"DeleteExpiredInterrupted"}},
	{bug: "DeleteExpiredCountsFound", doc: "DeleteExpired finds and deletes in two steps and counts what it found", caught: []string{"ConcurrentDeleteExpired"}},
	{bug: "SecondPrecision", doc: "times are stored to the second", caught: []string{"TimePrecision"}},
	{bug: "LocalTime", doc: "times come back in another location", caught: []string{"TimeUTC"}},
	{bug: "ZeroTimeAsEpoch", doc: "the zero time is stored as the Unix epoch", caught: []string{"ZeroTime"}},
	{bug: "NotBinarySafe", doc: "Data is stored as UTF-8 text", caught: []string{"BinaryData"}},
	{bug: "StopsAtNUL", doc: "Data is cut at the first NUL byte", caught: []string{"BinaryData"}},
	{bug: "CapsData", doc: "Data is cut at 64 KiB", caught: []string{"LargeData"}},
	{bug: "MetaAsText", doc: "Meta is stored as UTF-8 text", caught: []string{"BinaryMeta", "ListByUserMeta"}},
	{bug: "CapsMeta", doc: "Meta is cut at 255 bytes", caught: []string{"LargeMeta", "Unicode", "UpdateMeta"}},
	{bug: "DropsMeta", doc: "Meta is not stored", caught: []string{"CreateLoad", "Update", "BinaryMeta", "ListByUserMeta"}},
	{bug: "DefaultsEmptyMeta", doc: "an empty Meta is stored as the encoding of no metadata", caught: []string{"EmptyMeta", "EmptyFields"}},
	{bug: "MetaAsColumns", doc: "Meta is decoded into columns and encoded again from them", caught: []string{"OpaqueMeta", "BinaryMeta"}},
	{bug: "ASCIIOnly", doc: "non-ASCII user IDs are stored with '?' for each rune", caught: []string{"Unicode"}},
	{bug: "RetainsInputData", doc: "Create and Update keep the caller's Data", caught: []string{"CreateDataNotRetained", "UpdateDataNotRetained"}},
	{bug: "RetainsInputMeta", doc: "Create and Update keep the caller's Meta", caught: []string{"CreateDataNotRetained", "UpdateDataNotRetained"}},
	{bug: "SharesLoadData", doc: "Load returns the stored Data", caught: []string{"LoadDataNotShared"}},
	{bug: "SharesListData", doc: "ListByUser returns the stored Data", caught: []string{"ListDataNotShared"}},
	{bug: "SharesMeta", doc: "Load and ListByUser return the stored Meta", caught: []string{"LoadDataNotShared", "ListDataNotShared"}},
	{bug: "IgnoresCtx", doc: "a cancelled context is ignored", caught: []string{"CanceledLoad", "CanceledCreate", "CanceledUpdate", "CanceledDelete", "CanceledListByUser", "CanceledDeleteByUser", "CanceledDeleteExpired", "DeadlineExceeded"}},
	{bug: "WritesDespiteCanceled", doc: "a cancelled write is done, then reported as cancelled", caught: []string{"CanceledCreate", "CanceledUpdate", "CanceledDelete", "CanceledDeleteByUser", "CanceledDeleteExpired", "DeadlineExceeded"}},
	{bug: "CtxErrorNotWrapped", doc: "context errors are returned as text, not wrapped", caught: []string{"CanceledLoad", "CanceledCreate", "DeadlineExceeded"}},
	{bug: "ChecksCtxAfterWrite", doc: "a write checks ctx at entry and again after writing, and reports a cancellation in between", caught: []string{"CanceledWhileWaiting"}},
	{bug: "DeleteExpiredHangs", doc: "DeleteExpired blocks and ignores its context", caught: []string{"DeleteExpired", "UpdateRevoked"}, hangs: true},
}

// selfRun runs one entry point of the suite under a fakeT and returns what
// it recorded.
func selfRun(cfg config, suite func(t tester, cfg config)) *recording {
	ft := newFakeT()
	ft.Run("", func(t tester) { suite(t, cfg) })
	return ft.rec
}

// checkClean fails t if rec holds any failure.
func checkClean(t *testing.T, what string, rec *recording) {
	t.Helper()
	if failed := rec.failedTests(); len(failed) > 0 {
		t.Errorf("the suite failed %s, which keeps the contract:%s", what, rec.report())
	}
	for _, p := range rec.panics {
		t.Errorf("the suite itself panicked: %s", p)
	}
}

// checkBroken runs suite against each broken case and checks that the named
// subtests catch it; it then lists, per subtest, the cases it caught, and
// fails for a subtest that caught none.
func checkBroken(t *testing.T, cases []brokenCase, names []string, suite func(t tester, cfg config, bug string, stop chan struct{})) {
	// The runs mostly wait (on TTLs, on hung calls), so they run side by
	// side, more of them than t.Parallel would allow on a small machine.
	recs := make([]*recording, len(cases))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, bc := range cases {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cfg := selfConfig
			if bc.hangs {
				cfg = hangConfig
			}
			stop := make(chan struct{})
			defer close(stop)
			recs[i] = selfRun(cfg, func(t tester, cfg config) { suite(t, cfg, bc.bug, stop) })
		})
	}
	wg.Wait()

	catches := make(map[string][]string) // subtest → bugs
	t.Run("Broken", func(t *testing.T) {
		for i, bc := range cases {
			t.Run(bc.bug, func(t *testing.T) {
				rec := recs[i]
				for _, p := range rec.panics {
					t.Errorf("the suite itself panicked: %s", p)
				}
				failed := rec.failedTests()
				t.Logf("%s (%s) is caught by %s", bc.bug, bc.doc, strings.Join(failed, ", "))
				if len(failed) == 0 {
					t.Fatalf("no subtest caught the broken backend %s (%s)", bc.bug, bc.doc)
				}
				for _, want := range bc.caught {
					if !slices.Contains(failed, want) {
						t.Errorf("subtest %s did not catch the broken backend %s (%s); it failed only %s", want, bc.bug, bc.doc, strings.Join(failed, ", "))
					}
				}
				for _, name := range failed {
					catches[name] = append(catches[name], bc.bug)
				}
			})
		}
	})
	var b strings.Builder
	for _, name := range names {
		bugs := catches[name]
		slices.Sort(bugs)
		fmt.Fprintf(&b, "\n\t%-26s %s", name, strings.Join(bugs, ", "))
		if len(bugs) == 0 {
			t.Errorf("subtest %s caught no broken backend: add one that it catches, or it cannot be shown to fail", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(catches)) {
		if !slices.Contains(names, name) {
			fmt.Fprintf(&b, "\n\t%-26s %s", name, strings.Join(catches[name], ", "))
		}
	}
	t.Logf("broken backends caught, by subtest:%s", b.String())
}

func cacheTestNames() []string {
	var names []string
	for _, tc := range slices.Concat(cacheTests, conditionalCacheTests) {
		names = append(names, tc.name)
	}
	return names
}

func persisterTestNames() []string {
	names := make([]string, len(persisterTests))
	for i, tc := range persisterTests {
		names[i] = tc.name
	}
	return names
}

func TestSelfCacheReference(t *testing.T) {
	t.Parallel()
	checkClean(t, "memory.Cache", selfRun(selfConfig, func(t tester, cfg config) {
		testCache(t, cfg, func(tester) qsessions.Cache { return memory.NewCache() })
	}))
	checkClean(t, "the fake Cache without a bug", selfRun(selfConfig, func(t tester, cfg config) {
		testCache(t, cfg, func(tester) qsessions.Cache { return newFakeConditionalCache("", nil) })
	}))
	// A Cache without conditional writes skips their subtests, and only
	// those.
	for what, newCache := range map[string]func() qsessions.Cache{
		"a fake Cache whose Conditional reports false": func() qsessions.Cache { return newFakeCache("", nil) },
		"a Cache that is no ConditionalCache":          func() qsessions.Cache { return plainCache{memory.NewCache()} },
	} {
		rec := selfRun(selfConfig, func(t tester, cfg config) {
			testCache(t, cfg, func(tester) qsessions.Cache { return newCache() })
		})
		checkClean(t, what, rec)
		for _, tc := range slices.Concat(cacheTests, conditionalCacheTests) {
			_, skipped := rec.skipped[tc.name]
			if want := slices.ContainsFunc(conditionalCacheTests, func(c cacheTest) bool { return c.name == tc.name }); skipped != want {
				t.Errorf("for %s, subtest %s skipped: %v; want %v", what, tc.name, skipped, want)
			}
		}
	}
}

// plainCache hides every method but the Cache's.
type plainCache struct{ qsessions.Cache }

func TestSelfPersisterReference(t *testing.T) {
	t.Parallel()
	checkClean(t, "memory.Persister", selfRun(selfConfig, func(t tester, cfg config) {
		testPersister(t, cfg, func(tester) qsessions.Persister { return memory.NewPersister() })
	}))
	checkClean(t, "the fake Persister without a bug", selfRun(selfConfig, func(t tester, cfg config) {
		testPersister(t, cfg, func(tester) qsessions.Persister { return newFakePersister("", nil) })
	}))
}

func TestSelfCacheBroken(t *testing.T) {
	t.Parallel()
	checkBroken(t, brokenCaches, cacheTestNames(), func(t tester, cfg config, bug string, stop chan struct{}) {
		testCache(t, cfg, func(tester) qsessions.Cache { return newFakeConditionalCache(bug, stop) })
	})
}

func TestSelfPersisterBroken(t *testing.T) {
	t.Parallel()
	checkBroken(t, brokenPersisters, persisterTestNames(), func(t tester, cfg config, bug string, stop chan struct{}) {
		testPersister(t, cfg, func(tester) qsessions.Persister { return newFakePersister(bug, stop) })
	})
}

// TestSelfFakeT checks the fake tester: failures are recorded under the
// subtest's name, Fatalf ends only its subtest, cleanups run, and a panic in
// the suite is caught and reported.
func TestSelfFakeT(t *testing.T) {
	var cleaned []string
	var after bool
	rec := selfRun(selfConfig, func(t tester, cfg config) {
		t.Run("A", func(t tester) {
			t.Cleanup(func() { cleaned = append(cleaned, "A") })
			t.Errorf("first")
			t.Fatalf("second")
			after = true
		})
		t.Run("B", func(t tester) { t.Cleanup(func() { cleaned = append(cleaned, "B") }) })
		t.Run("C", func(t tester) { panic("boom") })
		t.Run("D", func(t tester) { t.Skipf("skipped") })
	})
	if got, want := rec.failedTests(), []string{"A", "C"}; !slices.Equal(got, want) {
		t.Errorf("failed subtests = %q; want %q", got, want)
	}
	if n := len(rec.failures["A"]); n != 2 {
		t.Errorf("subtest A recorded %d failures; want 2", n)
	}
	if after {
		t.Errorf("Fatalf did not end its subtest")
	}
	if !slices.Equal(cleaned, []string{"A", "B"}) {
		t.Errorf("cleanups ran for %q; want A and B", cleaned)
	}
	if len(rec.panics) != 1 {
		t.Errorf("recorded %d panics; want 1", len(rec.panics))
	}
	if _, ok := rec.skipped["D"]; !ok {
		t.Errorf("the skip of D was not recorded")
	}
}

// brokenStores are broken backends that the Store-level subtests catch: each
// bug is "cache:" or "persister:" followed by a bug of that fake. (A cache
// that keeps the first value of a key does not show at this level: the
// Store only ever writes absent keys, evicting on update; TestCache's
// Overwrite catches it.)
var brokenStores = []brokenCase{
	{bug: "persister:UpdateInserts", doc: "Update of a revoked session re-creates it", caught: []string{"RevokeInFlight", "RevokeUserInFlight", "RevokeInFlightRace"}},
	{bug: "persister:UpdateIgnoresVersion", doc: "Update writes over any version, so a save based on an old read undoes newer ones", caught: []string{"LostUpdate", "TouchKeepsValues", "StaleFill"}},
	{bug: "persister:UpdateConflictWrites", doc: "a refused Update writes anyway", caught: []string{"LostUpdate", "TouchKeepsValues"}},
	{bug: "persister:UpdateConflictWrongError", doc: "a refused Update returns an error not wrapping ErrConflict, so the Store cannot tell a lost race and retry", caught: []string{"Contention", "LostUpdate"}},
	{bug: "persister:DropsMeta", doc: "the Persister does not store Meta, so how and when a session was authenticated is lost", caught: []string{"Authentication"}},
	{bug: "persister:ListOldestFirst", doc: "ListByUser lists the least recently active first, so the cap revokes the newest", caught: []string{"MaxSessionsPerUser"}},
	{bug: "persister:DeleteByUserReturnsNothing", doc: "DeleteByUser does not say what it removed, so the cache keeps it", caught: []string{"RevokeUser"}},
	{bug: "persister:DeleteExpiredUsesNow", doc: "DeleteExpired uses the clock instead of before", caught: []string{"Expiry"}},
	{bug: "cache:DeleteIgnored", doc: "the cache never evicts", caught: []string{"Revoke", "RevokeUser", "Logout", "RevokeInFlight"}},
	{bug: "cache:DeleteFirstKeyOnly", doc: "the cache evicts only the first of several keys", caught: []string{"RevokeUser"}},
}

// storeBackends returns fresh fake backends, one of them broken by bug.
func storeBackends(bug string, stop chan struct{}) (qsessions.Cache, qsessions.Persister) {
	cacheBug, _ := strings.CutPrefix(bug, "cache:")
	persisterBug, _ := strings.CutPrefix(bug, "persister:")
	if cacheBug == bug {
		cacheBug = ""
	}
	if persisterBug == bug {
		persisterBug = ""
	}
	return newFakeCache(cacheBug, stop), newFakePersister(persisterBug, stop)
}

func storeTestNames() []string {
	names := make([]string, len(storeTests))
	for i, tc := range storeTests {
		names[i] = tc.name
	}
	return names
}

func TestSelfStoreReference(t *testing.T) {
	t.Parallel()
	checkClean(t, "memory.Cache and memory.Persister", selfRun(selfConfig, func(t tester, cfg config) {
		testStore(t, cfg, func(tester) (qsessions.Cache, qsessions.Persister) { return memory.NewCache(), memory.NewPersister() })
	}))
	rec := selfRun(selfConfig, func(t tester, cfg config) {
		testStore(t, cfg, func(tester) (qsessions.Cache, qsessions.Persister) { return nil, memory.NewPersister() })
	})
	checkClean(t, "memory.Persister without a cache", rec)
	for _, tc := range storeTests {
		if _, skipped := rec.skipped[tc.name]; skipped != tc.needsCache {
			t.Errorf("without a cache, subtest %s skipped: %v; want %v", tc.name, skipped, tc.needsCache)
		}
	}
	checkClean(t, "the fake backends without a bug", selfRun(selfConfig, func(t tester, cfg config) {
		testStore(t, cfg, func(tester) (qsessions.Cache, qsessions.Persister) { return storeBackends("", nil) })
	}))
}

// TestSelfStoreBroken checks the Store-level subtests against broken
// backends. Not every Store subtest has one: the cache-outage subtests are
// about the Store, not the backends, and are checked against broken Stores
// in the qsessions package's own tests.
func TestSelfStoreBroken(t *testing.T) {
	t.Parallel()
	checkBroken(t, brokenStores, nil, func(t tester, cfg config, bug string, stop chan struct{}) {
		testStore(t, cfg, func(tester) (qsessions.Cache, qsessions.Persister) { return storeBackends(bug, stop) })
	})
}

// TestSelfWatchdog checks that calls that hang, overrun or panic are
// reported as such.
func TestSelfWatchdog(t *testing.T) {
	t.Parallel()
	cfg := hangConfig
	release := make(chan struct{})
	defer close(release)
	for _, c := range []struct {
		name string
		f    func(ctx context.Context) error
		want string
	}{
		{"ignores ctx", func(ctx context.Context) error { <-release; return nil }, "ignores ctx"},
		{"overruns", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, "did not finish within"},
		{"panics", func(ctx context.Context) error { panic("boom") }, "panicked: boom"},
	} {
		err := cfg.run(context.Background(), "Op", c.f)
		if !errors.Is(err, errWatchdog) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("a call that %s: error %v; want a watchdog error saying %q", c.name, err, c.want)
		}
	}
	// A call that returns its cancelled context's error is no watchdog case.
	err := cfg.run(canceledContext(), "Op", func(ctx context.Context) error { return ctx.Err() })
	if errors.Is(err, errWatchdog) || !errors.Is(err, context.Canceled) {
		t.Errorf("a call with a cancelled context: error %v; want context.Canceled", err)
	}
}
