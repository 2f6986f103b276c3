package qsessions

import (
	"context"
	"time"
)

// A Cache is fast, lossy storage in front of the [Persister].
//
// The Store keeps a whole session record (values and metadata) under one key
// in the cache, so that a request is served without touching the Persister.
// A Cache may lose entries at any time; the Store treats every failure as a
// miss and falls back to the Persister. Implementations never need to
// interpret keys or values, nor know about sessions or clocks beyond TTLs.
//
// The contract, one sentence per behaviour (the conformance package checks
// each one):
//
//   - Get of a key that was never set, was deleted, or has expired returns an
//     error wrapping [ErrCacheMiss].
//   - Get returns exactly the bytes last Set for the key, binary-safe, and an
//     empty non-nil value is distinct from a missing key.
//   - Set of an existing key replaces its value and its TTL.
//   - An entry set with a positive ttl is not returned once ttl has elapsed;
//     a ttl of zero or less means the entry does not expire by time.
//   - Delete removes every key given; keys that are missing are not an error.
//   - Values passed to Set and returned by Get are not retained or shared:
//     the caller may mutate them afterwards.
//   - A cancelled or expired ctx makes a method return an error wrapping
//     ctx.Err() without changing anything.
//   - All methods are safe for concurrent use by multiple goroutines.
type Cache interface {
	// Get returns the value stored under key, or an error wrapping
	// ErrCacheMiss when there is none.
	Get(ctx context.Context, key string) ([]byte, error)

	// Set stores value under key for ttl, replacing any previous entry.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error

	// Delete removes the given keys. Missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error
}

// A ConditionalCache is a [Cache] that can also write an entry on a
// condition, atomically with respect to every other write of the key by any
// process sharing the cache. With one, the Store guarantees that the cache
// never holds a copy of a session older than the Persister's, and that no
// process serves a session once its revocation has returned; with a plain
// Cache, a cache refill racing a write or a revocation can expose the old
// copy for the time of one Persister read (see "Caching" in the package
// documentation).
//
// The Store uses it for leases: on a miss it adds a short-lived marker under
// the key, reads the Persister, and swaps the marker for the record only if
// the marker is still there. A write or revocation deletes the key, and so
// the marker, between the two: the stale record is never written.
//
// The contract, beyond the Cache's (the conformance package checks each
// sentence):
//
//   - Conditional reports whether Add and CompareAndSwap are available; an
//     adapter may offer them over some stores only. The Store asks once, at
//     New, and uses a cache that reports false as a plain Cache.
//   - Add stores value under key with ttl, as Set does, only when the key
//     has no live entry, and reports whether it did.
//   - CompareAndSwap replaces the value under key with value and its ttl, as
//     Set does, only when the key's live entry holds exactly old, and reports
//     whether it did; a missing or expired key is never swapped.
//   - A Delete, an expiry or a Set of another value of the key between an
//     Add and a CompareAndSwap makes the CompareAndSwap report false (the
//     Store's lease values are random, so no other write repeats one).
//   - Values passed in are not retained; a cancelled ctx returns an error
//     wrapping ctx.Err() and changes nothing; both are safe for concurrent use.
type ConditionalCache interface {
	Cache

	// Conditional reports whether Add and CompareAndSwap may be used.
	Conditional() bool

	// Add stores value under key only when there is no live entry for key.
	Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)

	// CompareAndSwap replaces the value under key with value only when the
	// live entry holds exactly old.
	CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
}
