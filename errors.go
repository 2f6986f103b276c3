package qsessions

import "errors"

// Sentinel errors. Match them with [errors.Is]: backends and the Store wrap
// them with context, so compare with errors.Is, never with ==.
var (
	// ErrNotFound reports that a session does not exist: it was never
	// created, it was revoked or logged out, or it was deleted as expired.
	// A Persister returns it from Load and Update; the Store returns it from
	// a save whose session was revoked while the request ran.
	ErrNotFound = errors.New("qsessions: session not found")

	// ErrConflict reports that a session changed between the moment it was
	// read and a write based on what was read: Persister.Update returns it
	// when the stored version is not the one it was given. The Store
	// handles it by reloading the session and applying the request's
	// changes again; it returns it only when that keeps failing.
	ErrConflict = errors.New("qsessions: session changed concurrently")

	// ErrExists reports that Persister.Create was given an ID that is taken.
	ErrExists = errors.New("qsessions: session already exists")

	// ErrCacheMiss reports that a Cache holds no live entry for a key:
	// it was never set, it was deleted, it expired or it was evicted.
	ErrCacheMiss = errors.New("qsessions: cache miss")

	// ErrInvalidID reports a session ID of the wrong shape, such as one
	// passed to Store.Revoke.
	ErrInvalidID = errors.New("qsessions: malformed session ID")

	// ErrReservedKey reports an attempt to set a value under a key that
	// qsessions reserves for itself (keys starting with "_session_").
	ErrReservedKey = errors.New("qsessions: reserved session key")

	// ErrNoUser reports a user-scoped call made with an empty user ID.
	ErrNoUser = errors.New("qsessions: empty user ID")
)
