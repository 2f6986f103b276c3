// Package keys lets a Persister that must store its clients' session keys
// as they are (package django: Django does not hash its session keys)
// tell the Store what those keys look like. A Persister that implements
// [Plain] is given the cookie's key as the session ID, unhashed, and the
// Store makes new keys with NewKey; every other Persister sees only the
// SHA-256 of a qsessions token.
package keys

// Plain is implemented by a Persister whose session IDs are the keys its
// clients' cookies carry.
type Plain interface {
	// ValidKey reports whether s has the shape of a session key. The
	// Store calls no backend for a key of another shape.
	ValidKey(s string) bool

	// NewKey returns a fresh, unguessable session key.
	NewKey() string
}
