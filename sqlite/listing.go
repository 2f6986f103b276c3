//go:build !js && !wasip1

package sqlite

import (
	"encoding/base64"
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
//	authenticated len(method) SP method len(binding) SP binding
//
// decimal integers (times in Unix milliseconds, lengths in bytes), each
// followed by a space, and the strings back to back after their lengths;
// binding is in unpadded standard base64, so that the text column holds
// text. The user index holds it, so that a listing reads one index range,
// and the listings of a user's sessions, concatenated by SQLite's
// group_concat, parse one after another. Each schema version that added
// fields appended them, and its migration appended them, empty, to the
// texts already stored (version 3 wrote the first line with printf,
// version 4 the authentication, version 5 the binding).

var b64 = base64.RawStdEncoding

// appendListing appends r's listing text, at the given version, to b.
func appendListing(b []byte, r qsessions.Record, version int64) []byte {
	for _, v := range [...]int64{version, ms(r.CreatedAt), ms(r.UpdatedAt), ms(r.ExpiresAt),
		int64(len(r.ID)), int64(len(r.IP)), int64(len(r.UserAgent))} {
		b = strconv.AppendInt(b, v, 10)
		b = append(b, ' ')
	}
	b = append(b, r.ID...)
	b = append(b, r.IP...)
	b = append(b, r.UserAgent...)
	b = strconv.AppendInt(b, ms(r.AuthenticatedAt), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(r.AuthMethod)), 10)
	b = append(b, ' ')
	b = append(b, r.AuthMethod...)
	b = strconv.AppendInt(b, int64(b64.EncodedLen(len(r.Binding))), 10)
	b = append(b, ' ')
	return b64.AppendEncode(b, r.Binding)
}

// listing returns r's listing text at the given version.
func listing(r qsessions.Record, version int64) string {
	n := 10*8 + len(r.ID) + len(r.IP) + len(r.UserAgent) + len(r.AuthMethod) + b64.EncodedLen(len(r.Binding))
	return string(appendListing(make([]byte, 0, n), r, version))
}

var errListing = errors.New("malformed listing text in the database")

// parseListing parses the listing text at the start of s into r (every
// field but UserID and Data) and returns the rest of s. The strings in r
// share s's memory.
func parseListing(s string, r *qsessions.Record) (rest string, err error) {
	var v [7]int64
	if s, err = parseInts(s, v[:]); err != nil {
		return "", err
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

	var auth [2]int64
	if s, err = parseInts(s, auth[:]); err != nil {
		return "", err
	}
	if auth[1] < 0 || auth[1] > int64(len(s)) {
		return "", errListing
	}
	r.AuthenticatedAt = fromMS(auth[0])
	r.AuthMethod, s = s[:auth[1]], s[auth[1]:]

	var lb [1]int64
	if s, err = parseInts(s, lb[:]); err != nil {
		return "", err
	}
	if lb[0] < 0 || lb[0] > int64(len(s)) {
		return "", errListing
	}
	r.Binding = nil
	if lb[0] > 0 {
		if r.Binding, err = b64.DecodeString(s[:lb[0]]); err != nil {
			return "", errListing
		}
	}
	return s[lb[0]:], nil
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
