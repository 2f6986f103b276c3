//go:build !js && !wasip1

package sqlite

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/qsessions/qsessions"
)

// A session's listing text holds what ListByUser returns of it, all its
// fields but Data (and UserID, which the listing is by):
//
//	version created updated expires len(id) len(ip) len(ua) SP id ip ua
//
// seven decimal integers (times in Unix milliseconds, lengths in bytes),
// each followed by a space, then the three strings back to back. The user
// index holds it, so that a listing reads one index range, and the
// listings of a user's sessions, concatenated by SQLite's group_concat,
// parse one after another. Schema version 3's migration writes the same
// text with printf.

// appendListing appends r's listing text, at the given version, to b.
func appendListing(b []byte, r qsessions.Record, version int64) []byte {
	for _, v := range [...]int64{version, ms(r.CreatedAt), ms(r.UpdatedAt), ms(r.ExpiresAt),
		int64(len(r.ID)), int64(len(r.IP)), int64(len(r.UserAgent))} {
		b = strconv.AppendInt(b, v, 10)
		b = append(b, ' ')
	}
	b = append(b, r.ID...)
	b = append(b, r.IP...)
	return append(b, r.UserAgent...)
}

// listing returns r's listing text at the given version.
func listing(r qsessions.Record, version int64) string {
	n := 7*8 + len(r.ID) + len(r.IP) + len(r.UserAgent)
	return string(appendListing(make([]byte, 0, n), r, version))
}

var errListing = errors.New("malformed listing text in the database")

// parseListing parses the listing text at the start of s into r (ID,
// Version, IP, UserAgent and the times) and returns the rest of s. The
// strings in r share s's memory.
func parseListing(s string, r *qsessions.Record) (rest string, err error) {
	var v [7]int64
	for i := range v {
		sp := strings.IndexByte(s, ' ')
		if sp < 0 {
			return "", errListing
		}
		n, err := strconv.ParseInt(s[:sp], 10, 64)
		if err != nil {
			return "", errListing
		}
		v[i], s = n, s[sp+1:]
	}
	lid, lip, lua := v[4], v[5], v[6]
	if lid < 0 || lip < 0 || lua < 0 || lid+lip+lua > int64(len(s)) {
		return "", errListing
	}
	r.Version = v[0]
	r.CreatedAt, r.UpdatedAt, r.ExpiresAt = fromMS(v[1]), fromMS(v[2]), fromMS(v[3])
	r.ID, s = s[:lid], s[lid:]
	r.IP, s = s[:lip], s[lip:]
	r.UserAgent, s = s[:lua], s[lua:]
	return s, nil
}

// parseListings parses the concatenated listing texts of userID's sessions
// into records, newest UpdatedAt first, ties by ID. The texts come in the
// user index's order, newest first, so there is rarely anything to sort.
func parseListings(s, userID string) ([]qsessions.Record, error) {
	out := make([]qsessions.Record, 0, 10)
	for s != "" {
		out = append(out, qsessions.Record{UserID: userID})
		var err error
		if s, err = parseListing(s, &out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	if !slices.IsSortedFunc(out, newestFirst) {
		slices.SortFunc(out, newestFirst)
	}
	return out, nil
}

// newestFirst orders records by UpdatedAt, newest first, then by ID.
func newestFirst(a, b qsessions.Record) int {
	if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}
