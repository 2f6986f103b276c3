//go:build !js && !wasip1

package sqlite

import (
	"errors"
	"slices"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/listorder"
)

// A listing is what ListByUser returns of one session, all its fields but
// Data (and UserID, which the listing is by):
//
//	version updated expires len(id) len(meta) SP id meta
//
// five decimal integers (times in Unix milliseconds, lengths in bytes),
// each followed by a space, then ID and Meta back to back. listingSQL
// writes it from a row's columns, and the user index holds its value for
// every row (an index on that expression, which SQLite computes when it
// writes the row), so that a listing reads one index range, no row, and
// computes nothing: SQLite's group_concat concatenates the listings of a
// user's sessions, and they parse one after another. The listing statement
// must spell the expression exactly as the index does (TestQueryPlans
// checks that it is read, not computed). Load computes a row's listing
// too: one value to scan rather than four. The bytes of Meta are kept as
// they are: SQLite's concatenation and the driver copy text by its length,
// so any byte, NUL included, comes back.
const listingSQL = `printf('%d %d %d %d %d ', version, updated_at, expires_at, octet_length(id), octet_length(meta)) || id || meta`

var errListing = errors.New("malformed listing in the database")

// parseListings parses the concatenated listings of userID's sessions into
// records, newest UpdatedAt first, ties by ID. The listings come in the
// user index's order, which is that one, so there is rarely anything to
// sort. The IDs share s's memory; the Metas share one new buffer.
func parseListings(s, userID string) ([]qsessions.Record, error) {
	out := make([]qsessions.Record, 0, 10)
	buf := []byte(s)
	for off := 0; off < len(s); {
		out = append(out, qsessions.Record{UserID: userID})
		var err error
		if off, err = parseListing(s, buf, off, &out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	if !slices.IsSortedFunc(out, listorder.Compare) {
		slices.SortFunc(out, listorder.Compare)
	}
	return out, nil
}

// parseListing parses the listing at s[off:] into r (every field but
// UserID and Data) and returns where the next one starts. buf holds s's
// bytes: r.Meta is a slice of it, capped at its length so that appending
// to one Meta cannot overwrite the next. r.ID shares s's memory.
func parseListing(s string, buf []byte, off int, r *qsessions.Record) (int, error) {
	var v [5]int64
	rest, err := parseInts(s[off:], v[:])
	if err != nil {
		return 0, err
	}
	lid, lmeta := v[3], v[4]
	if lid < 0 || lmeta < 0 || lid+lmeta > int64(len(rest)) {
		return 0, errListing
	}
	at := len(s) - len(rest) + int(lid) // where Meta starts
	end := at + int(lmeta)
	r.ID, r.Version, r.Meta = rest[:lid], v[0], buf[at:end:end]
	r.UpdatedAt, r.ExpiresAt = fromMS(v[1]), fromMS(v[2])
	return end, nil
}

// parseInts parses len(v) decimal integers, each followed by a space, from
// the start of s, and returns the rest of s. It is the inner loop of a
// listing, so it parses by hand what strconv.ParseInt would: an optional
// minus sign and 1 to 18 digits (times in milliseconds need 15).
func parseInts(s string, v []int64) (string, error) {
	for i := range v {
		j := 0
		neg := j < len(s) && s[j] == '-'
		if neg {
			j++
		}
		start := j
		var n int64
		for ; j < len(s) && j-start < 19; j++ {
			c := s[j]
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int64(c-'0')
		}
		if j == start || j-start > 18 || j >= len(s) || s[j] != ' ' {
			return "", errListing
		}
		if neg {
			n = -n
		}
		v[i], s = n, s[j+1:]
	}
	return s, nil
}
