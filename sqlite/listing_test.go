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
		"- 2 3 4 0 0 0 ",                         // a sign without digits
		"--1 2 3 4 0 0 0 ",                       // two signs
		"+1 2 3 4 0 0 0 ",                        // a plus sign
		" 1 2 3 4 0 0 0 ",                        // a leading space
		"1  2 3 4 0 0 0 ",                        // two spaces
		"1 2 3 1234567890123456789 0 0 0 ",       // 19 digits: past what a listing holds
		"1 2 3 99999999999999999999999 0 0 0 ",   // would overflow int64
		"1 2 3 4 0 0 0",                          // no space after the last length
	} {
		if _, err := parseListings(s, "u"); err == nil {
			t.Errorf("parseListings(%q) succeeded", s)
		}
	}
}

func BenchmarkParseListings(b *testing.B) {
	at := time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	var all []byte
	for i := range 10 {
		all = appendListing(all, qsessions.Record{
			ID: strings.Repeat("k", 43), IP: "203.0.113.9",
			UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			CreatedAt: at, UpdatedAt: at.Add(-time.Duration(i) * time.Minute), ExpiresAt: at.Add(time.Hour),
			AuthenticatedAt: at, AuthMethod: "password",
		}, int64(i+1))
	}
	s := string(all)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseListings(s, "u"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseInts(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"0 ", 0},
		{"7 ", 7},
		{"-1 ", -1},
		{"1742000000000 ", 1742000000000},
		{"-62135596800000 ", -62135596800000}, // the zero time.Time, as stored
		{"999999999999999999 ", 999999999999999999},
		{"-999999999999999999 ", -999999999999999999},
		{"007 ", 7},
	} {
		var v [1]int64
		rest, err := parseInts(c.in+"tail", v[:])
		if err != nil || v[0] != c.want || rest != "tail" {
			t.Errorf("parseInts(%q) = %d, %q, %v; want %d, %q, nil", c.in+"tail", v[0], rest, err, c.want, "tail")
		}
	}
}
