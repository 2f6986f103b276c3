package qsessions

import (
	"context"
	"time"
)

// A Record is one session as the [Persister] stores it.
//
// The Store fills every field. Times are in UTC, truncated to the
// millisecond, so that every Persister can store them without loss.
type Record struct {
	ID        string    // SHA-256 of the session token, base64url; the token itself is never stored
	Version   int64     // bumped by every Update; Update writes only over the version it was given
	Data      []byte    // encoded session values, opaque to the Persister
	UserID    string    // "" for an anonymous session
	IP        string    // last client IP, "" when unknown or not recorded
	UserAgent string    // last User-Agent, truncated
	CreatedAt time.Time // when the session was created
	UpdatedAt time.Time // last write: the session's last recorded activity
	ExpiresAt time.Time // when the session stops being valid

	AuthenticatedAt time.Time // when the user last proved who they are (Login); zero when anonymous
	AuthMethod      string    // how: "password", "passkey", "oauth:github"...; "" when not told
	Binding         []byte    // device-binding state (package dbsc), opaque to the Persister; nil when unbound
}

// Clone returns a deep copy of r whose Data and Binding do not share
// memory with r's.
func (r Record) Clone() Record {
	if r.Data != nil {
		r.Data = append(make([]byte, 0, len(r.Data)), r.Data...)
	}
	if r.Binding != nil {
		r.Binding = append(make([]byte, 0, len(r.Binding)), r.Binding...)
	}
	return r
}

// A Persister is the durable source of truth for sessions.
//
// A Persister stores and returns what it is given: it applies no expiry
// policy of its own (the Store does), except that DeleteExpired removes rows
// whose ExpiresAt has passed.
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
//     newest UpdatedAt first and ties in ascending ID order, or no records
//     (nil or empty: the Store does not tell them apart) when there are none;
//     it may leave Data out (nil), since a listing never needs the values,
//     but returns every other field.
//   - DeleteByUser removes every record of userID except those whose ID is
//     listed in except, and returns the IDs it removed, in any order (nil or
//     empty when none).
//   - The Store never calls ListByUser or DeleteByUser with an empty userID:
//     a Persister need not index anonymous sessions by user.
//   - Update moves a record in every index the Persister keeps: a record
//     whose UserID or ExpiresAt an Update changed is found by ListByUser,
//     DeleteByUser and DeleteExpired as it is now, never as it was.
//   - DeleteExpired removes the records whose ExpiresAt is before the given
//     time, oldest ExpiresAt first (records that expired at the same instant
//     in any order), and returns how many it removed: all of them when limit
//     is zero or less (the Store's call), at most limit otherwise. It may
//     remove them in several transactions of its own choosing, so as not to
//     stall other writes; when ctx ends partway it returns the count removed
//     so far with an error wrapping ctx.Err().
//   - Times round-trip with at least millisecond precision and come back in
//     UTC, the zero time included; byte and string fields round-trip exactly,
//     including empty Data and Binding, binary Data and Binding, and any
//     valid UTF-8 text.
//   - Records passed in and returned are not retained or shared: the caller
//     may mutate them afterwards.
//   - A cancelled or expired ctx makes a method return an error wrapping
//     ctx.Err() without changing anything. A Persister whose storage cannot
//     be interrupted checks ctx once it holds whatever serialises its writes
//     (a lock, a write transaction), before it changes anything: a context
//     cancelled while the method waited for the lock must still change
//     nothing.
//   - All methods are safe for concurrent use by multiple goroutines.
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
	// time, at most limit of them when limit is positive, oldest first, in
	// steps that suit its database, and returns how many it removed.
	DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error)
}
