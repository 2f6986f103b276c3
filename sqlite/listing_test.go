//go:build !js && !wasip1

package sqlite

import (
	"strings"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
)

func TestListingRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	rs := []qsessions.Record{
		{ID: "a", UserID: "u", IP: "203.0.113.9", UserAgent: "Firefox", CreatedAt: at, UpdatedAt: at.Add(time.Minute), ExpiresAt: at.Add(time.Hour)},
		{ID: "\xff\x00 1 2 3 ", UserID: "u", UserAgent: "ünï 🍪 7 8 ", CreatedAt: time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC)},
		{ID: "", UserID: "u"},
		{ID: "bound", UserID: "u", UpdatedAt: at.Add(-time.Hour), AuthenticatedAt: at.Add(-time.Second), AuthMethod: "oauth:github 1 2 ",
			Binding: []byte{0, ' ', '1', 0xff, 0xfe}},
	}
	var all []byte
	for i, r := range rs {
		all = appendListing(all, r, int64(i+1))
	}
	got, err := parseListings(string(all), "u")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rs) {
		t.Fatalf("parsed %d records, want %d", len(got), len(rs))
	}
	// Newest UpdatedAt first: a, bound, then the two at the zero time, by ID.
	for i, want := range []int{0, 3, 2, 1} {
		r := rs[want]
		r.Version = int64(want + 1)
		r.CreatedAt, r.UpdatedAt, r.ExpiresAt = fromMS(ms(r.CreatedAt)), fromMS(ms(r.UpdatedAt)), fromMS(ms(r.ExpiresAt))
		r.AuthenticatedAt = fromMS(ms(r.AuthenticatedAt))
		if g := got[i]; g.ID != r.ID || g.Version != r.Version || g.UserID != "u" || g.IP != r.IP || g.UserAgent != r.UserAgent ||
			!g.CreatedAt.Equal(r.CreatedAt) || !g.UpdatedAt.Equal(r.UpdatedAt) || !g.ExpiresAt.Equal(r.ExpiresAt) || g.Data != nil ||
			!g.AuthenticatedAt.Equal(r.AuthenticatedAt) || g.AuthenticatedAt.IsZero() != r.AuthenticatedAt.IsZero() ||
			g.AuthMethod != r.AuthMethod || string(g.Binding) != string(r.Binding) {
			t.Errorf("record %d = %+v, want %+v", i, g, r)
		}
	}
}

func TestListingMalformed(t *testing.T) {
	good := listing(qsessions.Record{ID: "abc", IP: "::1", UserAgent: "x"}, 3)
	for _, s := range []string{
		"1 2 3",
		strings.Replace(good, "3 ", "x ", 1),
		good[:len(good)-1],
		"1 2 3 4 -1 0 0 ",
		"1 2 3 4 5 6 7 abc",
		good[:strings.LastIndex(good, "0 ")],     // no binding length
		strings.TrimSuffix(good, "0 ") + "4 ***", // binding not base64
		strings.TrimSuffix(good, "0 ") + "9 ab",  // binding longer than the text
	} {
		if _, err := parseListings(s, "u"); err == nil {
			t.Errorf("parseListings(%q) succeeded", s)
		}
	}
}
