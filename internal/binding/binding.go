// Package binding connects package dbsc to the device-binding state that
// package qsessions keeps in each session's metadata, so that the root
// package needs no exported methods that only dbsc calls. Package qsessions
// sets the functions when it is initialised; their first argument is a
// *qsessions.Store or a *qsessions.Session.
package binding

import "context"

var (
	// Load returns the binding state of the session id, read from the
	// Persister: nil when the session is not bound, an error wrapping
	// qsessions.ErrNotFound when it does not exist, was revoked or has
	// expired.
	Load func(store any, ctx context.Context, id string) ([]byte, error)

	// Update replaces the binding state of the session id with
	// f(current), as a compare-and-swap on the session's record: f may
	// run more than once and must have no side effects; an error from f
	// aborts the update. Concurrent writes of the session's values keep
	// the new state, and the session's cache entry is evicted before
	// Update returns.
	Update func(store any, ctx context.Context, id string, f func(cur []byte) ([]byte, error)) error

	// Of returns the binding state a request's session was loaded with,
	// or nil. Reading it does not count as using the session: it alone
	// neither saves nor touches the session, nor adds Vary: Cookie.
	Of func(session any) []byte

	// InMeta returns the binding state held in meta, a Record's encoded
	// metadata, and SetInMeta returns meta with its binding state
	// replaced by b: the schema migrations of the in-tree Persisters use
	// them to move a binding column into Meta, and tests to look at it.
	InMeta    func(meta []byte) ([]byte, error)
	SetInMeta func(meta, b []byte) ([]byte, error)

	// Drop makes a request's session, for the rest of the request, a new,
	// empty, anonymous session, as if it had been revoked, without
	// writing anything.
	Drop func(session any)
)
