package qsessions

import (
	"context"
	"time"
)

// A Record is one session as the [Persister] stores it: the fields a
// Persister indexes or orders by, and two opaque blobs.
//
// The Store fills every field. Times are in UTC, truncated to the
// millisecond, so that every Persister can store them without loss. Data
// and Meta are the Store's business: a Persister stores and returns them as
// they are. Everything the Store keeps about a session beyond the indexed
// fields (its client IP and User-Agent, when it was created, how and when
// its user signed in, its device binding, and whatever a later version
// adds) travels in Meta, so a new Store feature changes no Persister and no
// schema. A Persister that wants some of it as columns of its own, for its
// own queries, decodes Meta with [DecodeMeta].
type Record struct {
	ID        string    // SHA-256 of the session token, base64url; the token itself is never stored
	Version   int64     // bumped by every Update; Update writes only over the version it was given
	UserID    string    // "" for an anonymous session
	UpdatedAt time.Time // last write: the session's last recorded activity
	ExpiresAt time.Time // when the session stops being valid
	Data      []byte    // the encoded session values
	Meta      []byte    // the encoded metadata (see DecodeMeta)
}

// A Persister is the durable source of truth for sessions.
//
// A Persister stores and returns what it is given: it applies no expiry
// policy of its own (the Store does), except that DeleteExpired removes
// records whose ExpiresAt has passed.
//
// The contract, one sentence per behaviour (the conformance package checks
// each one):
//
//   - Load returns the record stored under id, or an error wrapping
//     [ErrNotFound]; expired records are returned like any other.
//   - Create stores a new record as given, Version included, or returns an
//     error wrapping [ErrExists] and changes nothing when its ID is taken.
//   - Update is a compare-and-swap on the version: when the stored record
//     with r's ID has Version r.Version, it replaces every other field
//     with r's and stores Version r.Version+1.
//   - Update returns an error wrapping [ErrConflict] and writes nothing when
//     the stored record has another Version: someone else wrote it since
//     the caller read it.
//   - Update returns an error wrapping ErrNotFound and writes nothing when
//     there is no record with r's ID: Update never inserts.
//   - Delete removes the records with the given ids; missing ids are not an
//     error.
//   - ListByUser returns every record whose UserID is userID (and no other),
//     newest UpdatedAt first and ties in ascending ID order, or none (nil
//     or empty); it may leave Data out (nil), but returns every other
//     field, Meta included.
//   - DeleteByUser removes every record of userID except those whose ID is
//     listed in except, and returns the IDs it removed, in any order.
//   - Update moves a record in every index the Persister keeps: a record
//     whose UserID or ExpiresAt an Update changed is found by ListByUser,
//     DeleteByUser and DeleteExpired as it is now, never as it was.
//   - DeleteExpired removes every record whose ExpiresAt is before the
//     given time and returns how many it removed, in as many transactions
//     as suit its database; when ctx ends partway it returns the count
//     removed so far with an error wrapping ctx.Err().
//   - Fields round-trip exactly: times with at least millisecond precision,
//     in UTC, the zero time included; strings as any valid UTF-8; Data and
//     Meta as any bytes, empty ones included (nil and empty may come back
//     as either).
//   - Records passed in and returned are not retained or shared: the caller
//     may mutate them afterwards.
//   - A cancelled or expired ctx makes a method return an error wrapping
//     ctx.Err() without changing anything, even when the method had to
//     wait (for a lock, a connection or a write transaction) before it
//     could start.
//   - All methods are safe for concurrent use by multiple goroutines.
//
// The Store never calls ListByUser or DeleteByUser with an empty userID,
// so a Persister need not index anonymous sessions by user.
type Persister interface {
	// Load returns the record with the given ID.
	Load(ctx context.Context, id string) (Record, error)

	// Create stores a new record.
	Create(ctx context.Context, r Record) error

	// Update overwrites an existing record if its version is still
	// r.Version, and stores it as version r.Version+1; it never inserts.
	Update(ctx context.Context, r Record) error

	// Delete removes the records with the given IDs.
	Delete(ctx context.Context, ids ...string) error

	// ListByUser returns a user's records, newest UpdatedAt first.
	ListByUser(ctx context.Context, userID string) ([]Record, error)

	// DeleteByUser removes a user's records, except the listed IDs, and
	// returns the IDs it removed.
	DeleteByUser(ctx context.Context, userID string, except ...string) ([]string, error)

	// DeleteExpired removes the records that expired before the given
	// time and returns how many it removed.
	DeleteExpired(ctx context.Context, before time.Time) (int, error)
}
