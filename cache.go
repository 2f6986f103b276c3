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
