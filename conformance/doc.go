// Package conformance is the test suite that every [qsessions.Cache] and
// [qsessions.Persister] must pass: call [TestCache], [TestPersister] and
// [TestStore] from your backend's tests, and wrap a Cache in
// [NewFaultyCache] to test how your code copes when it fails.
//
// The suite checks every sentence of the contracts written in the
// Cache and Persister documentation, one named subtest (or more) per
// sentence, and the invariants a [qsessions.Store] keeps over the backends.
// A failure opens with the sentence (or the invariant) that the backend
// broke, in the words of the documentation, and gives the details on the
// lines that follow.
// qsessions runs it against its own backends (memory, sqlite, postgres,
// the gocache adapter); a backend of yours that passes it works with the
// Store.
//
// # Testing your own backend
//
// Give each entry point its own Test function, and a factory that returns
// a fresh, empty backend for every subtest. For the in-memory reference
// backends the whole test file is:
//
//	package memory_test
//
//	import (
//		"testing"
//
//		"github.com/qsessions/qsessions"
//		"github.com/qsessions/qsessions/conformance"
//		"github.com/qsessions/qsessions/memory"
//	)
//
//	func TestCache(t *testing.T) {
//		conformance.TestCache(t, func(t *testing.T) qsessions.Cache {
//			return memory.NewCache()
//		})
//	}
//
//	func TestPersister(t *testing.T) {
//		conformance.TestPersister(t, func(t *testing.T) qsessions.Persister {
//			return memory.NewPersister()
//		})
//	}
//
//	func TestStore(t *testing.T) {
//		conformance.TestStore(t, func(t *testing.T) (qsessions.Cache, qsessions.Persister) {
//			return memory.NewCache(), memory.NewPersister()
//		})
//	}
//
// A backend on a database gives each subtest a schema (or a database, or a
// key prefix) of its own, dropped through t.Cleanup, and skips when its
// server is not configured:
//
//	package mystore_test
//
//	import (
//		"os"
//		"testing"
//
//		"github.com/qsessions/qsessions"
//		"github.com/qsessions/qsessions/conformance"
//		"github.com/qsessions/qsessions/memory"
//
//		"example.com/mystore"
//	)
//
//	func newPersister(t *testing.T) *mystore.Persister {
//		dsn := os.Getenv("MYSTORE_DSN")
//		if dsn == "" {
//			t.Skip("MYSTORE_DSN not set")
//		}
//		p, err := mystore.OpenTemporary(t.Context(), dsn) // a new, empty schema
//		if err != nil {
//			t.Fatal(err)
//		}
//		t.Cleanup(func() { p.DropAndClose() })
//		return p
//	}
//
//	func TestPersister(t *testing.T) {
//		conformance.TestPersister(t, func(t *testing.T) qsessions.Persister {
//			return newPersister(t)
//		})
//	}
//
//	// TestStore wires the backends into two Stores, as two processes
//	// sharing them would be. Pair your Persister with any Cache, or with
//	// none (a nil Cache: the cache-outage subtests are then skipped).
//	func TestStore(t *testing.T) {
//		conformance.TestStore(t, func(t *testing.T) (qsessions.Cache, qsessions.Persister) {
//			return memory.NewCache(), newPersister(t)
//		})
//	}
//
// Run it under the race detector, which the concurrency subtests rely on to
// report unsynchronised access:
//
//	go test -race ./mystore/
//
// Subtest names are flat and stable, so one check runs alone with
//
//	go test -race -run 'TestPersister/UpdateRevoked' ./mystore/
//
// # What the factories must do
//
// newCache, newPersister and newBackends are called once per subtest with
// that subtest's *testing.T. Each call must return a backend that holds
// nothing: the DeleteExpired subtests count what a Persister removes, and
// would miscount rows left by another subtest or an earlier run. A factory
// may call t.Skip (say, when its database is not configured) and should
// register its cleanup with t.Cleanup. The suite uses random session IDs and
// user IDs, and cache keys under "qsessions-conformance:" (TestCache) and
// "qsessions:" (the KeyPrefix of TestStore's Stores).
//
// # Timing and the watchdog
//
// Every backend call gets a context that ends after 10 seconds, and runs
// under a watchdog: a call still running 2 seconds after its context ended
// (one that ignores ctx, or is stuck on a lock) fails its subtest with a
// message that names the call, instead of stalling the test binary until
// go test's timeout. A call that panics fails its subtest with the stack.
//
// Cache expiry is checked with a TTL of 50 milliseconds, polled for up to 2
// seconds, so a cache whose TTLs have a coarser grain than that still passes
// while one that never expires entries fails quickly. Against the memory
// backends the whole suite takes about a second, under -race too.
//
// # What the suite requires beyond the obvious
//
//   - Times: the Store hands a Persister UTC times truncated to the
//     millisecond, and so does the suite. It requires each to come back equal
//     to what was stored once converted with .UTC() (a backend may store more
//     precision, but not less), in time.UTC (subtest TimeUTC), and the zero
//     time as the zero time (subtest ZeroTime).
//   - Data and Meta: a Persister may return nil for an empty one and the
//     reverse; every other byte must round-trip, 1 MiB of Data and 64 KiB of
//     Meta included. A Cache must return an empty, non-nil value for an
//     empty one: a hit, distinct from a miss (subtest EmptyValue).
//   - Meta is opaque. The suite stores Meta as a Store encodes it (with
//     qsessions.EncodeMeta), with a field that only a later Store version
//     knows, and bytes that do not decode at all: a Persister that keeps
//     decoded columns of its own must still return Meta byte for byte
//     (subtest OpaqueMeta), from ListByUser too (subtest ListByUserMeta).
//   - Text: user IDs round-trip as any valid UTF-8, including 4-byte runes,
//     combining marks and 1 KiB of text, except U+0000, which SQL text
//     columns cannot hold and the suite does not send. They are compared
//     byte for byte: no case folding, no Unicode normalisation, no
//     trailing-space trimming, no LIKE patterns.
//   - Batches: DeleteExpiredMany and DeleteExpiredTies sweep 1200 expired
//     records in one call, DeleteExpiredInterrupted and
//     ConcurrentDeleteExpired 300. A Persister that deletes in batches of
//     more rows than that by default should be given smaller batches in its
//     test, or those subtests see only one batch.
//   - Errors: missing sessions wrap qsessions.ErrNotFound, taken IDs
//     qsessions.ErrExists, cache misses qsessions.ErrCacheMiss, and a
//     cancelled or expired context ctx.Err(); compare with errors.Is.
//
// # Subtests
//
// TestCache, by contract sentence:
//
//   - Get of a missing, deleted or expired key: GetMissing, GetDeleted,
//     GetExpired.
//   - Get returns exactly the bytes set: SetGet, BinaryValue, LargeValue
//     (1 MiB), EmptyValue, KeysDistinct.
//   - Set replaces value and TTL: Overwrite, OverwriteTTL.
//   - TTLs: TTLExpiry, NoExpiry (a ttl of zero or less).
//   - Delete: DeleteMany, DeleteMissing.
//   - Values not retained or shared: SetValueNotRetained, GetValueNotShared.
//   - Contexts: CanceledGet, CanceledSet, CanceledDelete, DeadlineExceeded.
//   - Concurrency: Concurrent.
//
// and, for a [qsessions.ConditionalCache] whose Conditional reports true
// (they are skipped for any other Cache):
//
//   - Add: AddMissing, AddPresent (an empty value is present too),
//     AddExpired, AddTTL.
//   - CompareAndSwap: CompareAndSwapMatch, CompareAndSwapMismatch,
//     CompareAndSwapMissing, CompareAndSwapExpired, CompareAndSwapTTL,
//     CompareAndSwapBinary (only the exact bytes match: not a prefix of the
//     value, nor the value and more).
//   - A Delete, a Set or an expiry between Add and CompareAndSwap:
//     LeaseDeleted, LeaseOverwritten, LeaseExpired.
//   - Values not retained: AddValueNotRetained,
//     CompareAndSwapValueNotRetained.
//   - Contexts: CanceledAdd, CanceledCompareAndSwap.
//   - Concurrency: ConcurrentAdd and ConcurrentCompareAndSwap (of the
//     goroutines racing on one key, exactly one wins), ConcurrentLease (Adds
//     or swaps racing a Set or a Delete of the key never outlast it).
//
// TestPersister, by contract sentence:
//
//   - Load returns the record, or ErrNotFound, expired or not: LoadMissing,
//     LoadExpired, CreateLoad.
//   - Create stores the record as given, or returns ErrExists and changes
//     nothing: CreateExists, CreateVersion (Create stores the Version it is
//     given).
//   - Update replaces every other field and stores the next Version: Update,
//     UpdateUser, UpdateMeta (Updates that change only Meta, to a longer, a
//     shorter, an empty and a binary one, and one that changes all but
//     Meta), UpdateVersion.
//   - Update at another Version returns ErrConflict and writes nothing, not
//     even the version: UpdateConflict.
//   - Update never inserts: UpdateMissing, UpdateRevoked (records removed
//     by Delete, DeleteByUser and DeleteExpired).
//   - Delete: Delete, DeleteMissing.
//   - ListByUser: ListByUser, ListByUserOrder, ListByUserTies,
//     ListByUserIsolation, ListByUserEmpty, ListByUserMeta (each record's
//     own Meta, never left out).
//   - DeleteByUser: DeleteByUser, DeleteByUserExcept, DeleteByUserNone.
//   - Update moves a record in every index: UpdateExpiryIndex,
//     UpdateUserIndex.
//   - DeleteExpired: DeleteExpired, DeleteExpiredBefore (strictly before the
//     cut-off), DeleteExpiredMany and DeleteExpiredTies (more records than a
//     batch, expired a millisecond apart or all at one instant, go in one
//     call), DeleteExpiredInterrupted (a context cancelled while it runs:
//     everything removed and nil, or ctx's error and the count of what it
//     removed so far).
//   - Round trips: TimePrecision, TimeUTC, ZeroTime, BinaryData, LargeData,
//     EmptyData, BinaryMeta, LargeMeta, EmptyMeta, OpaqueMeta, EmptyFields,
//     Unicode.
//   - Records not retained or shared, Data and Meta both:
//     CreateDataNotRetained, UpdateDataNotRetained, LoadDataNotShared,
//     ListDataNotShared.
//   - Contexts: CanceledLoad, CanceledCreate, CanceledUpdate, CanceledDelete,
//     CanceledListByUser, CanceledDeleteByUser, CanceledDeleteExpired,
//     DeadlineExceeded, CanceledWhileWaiting (a context cancelled after the
//     method's first check: nil and the change made, or ctx's error and no
//     change, never both).
//   - Concurrency: Concurrent, ConcurrentCreate, ConcurrentUpdateDelete,
//     ConcurrentUpdateConflict (Updates racing at one version: exactly one
//     wins), ConcurrentDeleteExpired (sweeps racing over the same records
//     remove and count each one once).
//
// TestStore, with two Stores A and B sharing the backends:
//
//   - Sharing: SaveLoad, Login (the old token dies, the new one is seen by
//     the other Store).
//   - Revocation is seen by the other Store at once: Revoke, RevokeUser,
//     Logout.
//   - A request in flight cannot resurrect a revoked session, in the
//     Persister or in the Cache: RevokeInFlight (A loads and changes the
//     session, B revokes it, A's save fails with ErrNotFound),
//     RevokeUserInFlight, and RevokeInFlightRace (the same with goroutines,
//     in rounds with varied timings).
//   - No lost update: LostUpdate (eight requests save a key each, from the
//     same version; then two write the same key: the last save wins),
//     LostUpdateConcurrent (the same with goroutines), TouchKeepsValues (an
//     activity write due after another request's change keeps the change).
//   - No stale copy: StaleFill (a cache fill that read the row before a
//     save neither serves nor writes back the old values), RevokeDuringFill
//     (a revocation that lands while a fill reads the row is not undone by
//     the fill). A third Store over the same backends does the fill, and a
//     wrapper around the Persister stops it at the right moment.
//   - Contention: Contention (a save whose Updates lose five races to the
//     other Store's saves succeeds, keeping both Stores' changes; one that
//     loses every race until its context is cancelled fails with an error
//     wrapping ErrConflict and context.Canceled, and writes nothing). A
//     wrapper around the Persister has the other Store save first.
//   - Expiry: Expiry (with a fake clock; DeleteExpired removes the expired).
//   - Account security: Authentication (LoginWith and Reauthenticate record
//     when and how, seen by the other Store and in its Sessions list),
//     MaxSessionsPerUser (a sign-in over the cap through one Store revokes
//     the least recently active session in both).
//   - Cache outages, through a [FaultyCache]: CacheOutage (the cache is
//     down: everything works from the Persister, and nothing stale is served
//     once it is back), CacheOutageRevoke and CacheOutageRevokeUser (a
//     revocation during an outage is not undone when the cache comes back),
//     CacheFlaky (Get, Set or Delete alone failing, before or after reaching
//     the cache). They are skipped when newBackends returns no Cache.
//
// # The suite tests itself
//
// Like testing/fstest, the suite has tests of its own: it must pass against
// the memory backends, and fail against each of its 122 deliberately broken
// backends (a Cache that ignores TTLs, a Persister whose Update inserts,
// whose ListByUser leaks another user's sessions, sorts oldest first or
// leaves Meta out, that loses sub-second times, truncates or rebuilds Meta,
// stops its sweep after one batch, ignores ctx, hangs, ...), each in the
// subtests named for it. A broken backend that gets through is a bug in the
// suite; so is a subtest that catches none. Run
//
//	go test -v -run 'TestSelf.*Broken' ./conformance/
//
// to see which subtests catch which broken backend.
package conformance
