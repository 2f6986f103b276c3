//go:build !js && !wasip1

package sqlite

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
)

// testListing writes r's listing the way listingSQL does.
func testListing(r qsessions.Record) string {
	return fmt.Sprintf("%d %d %d %d %d %s%s", r.Version, ms(r.UpdatedAt), ms(r.ExpiresAt), len(r.ID), len(r.Meta), r.ID, r.Meta)
}

func TestParseListings(t *testing.T) {
	at := time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	rs := []qsessions.Record{
		{ID: "a", Version: 1, UpdatedAt: at.Add(time.Minute), ExpiresAt: at.Add(time.Hour),
			Meta: qsessions.EncodeMeta(qsessions.SessionInfo{IP: "203.0.113.9", UserAgent: "Firefox", CreatedAt: at})},
		{ID: "\xff\x00 1 2 3 ", Version: 2, Meta: []byte("\x00 1 2 3 \xff")},
		{ID: "", Version: 3},
		{ID: "b", Version: 4, UpdatedAt: at.Add(-time.Hour), ExpiresAt: time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC),
			Meta: bytes.Repeat([]byte{0, ' ', '1', 0xff}, 300)},
	}
	var all strings.Builder
	for _, r := range rs {
		all.WriteString(testListing(r))
	}
	got, err := parseListings(all.String(), "u")
	if err != nil {
		t.Fatal(err)
	}
	// Newest UpdatedAt first: a, b, then the two at the zero time, by ID.
	order := []int{0, 3, 2, 1}
	if len(got) != len(order) {
		t.Fatalf("parsed %d records, want %d", len(got), len(order))
	}
	for i, k := range order {
		want := rs[k]
		want.UserID = "u"
		want.UpdatedAt, want.ExpiresAt = fromMS(ms(want.UpdatedAt)), fromMS(ms(want.ExpiresAt))
		if g := got[i]; g.ID != want.ID || g.Version != want.Version || g.UserID != "u" || !bytes.Equal(g.Meta, want.Meta) ||
			!g.UpdatedAt.Equal(want.UpdatedAt) || !g.ExpiresAt.Equal(want.ExpiresAt) || g.Data != nil {
			t.Errorf("record %d = %+v, want %+v", i, g, want)
		}
	}
	// The Metas share a buffer, but appending to one leaves the next alone.
	_ = append(got[2].Meta, "overwrite?"...)
	if !bytes.Equal(got[3].Meta, rs[1].Meta) {
		t.Errorf("appending to one Meta changed the next: %q", got[3].Meta)
	}
}

func TestParseListingsMalformed(t *testing.T) {
	good := testListing(qsessions.Record{ID: "abc", Version: 3, Meta: []byte("xy")})
	for _, s := range []string{
		"1 2 3",
		strings.Replace(good, "3 ", "x ", 1),
		good[:len(good)-1],                 // Meta shorter than its length
		"1 2 3 -1 0 ",                      // a negative length
		"1 2 3 4 5 abc",                    // strings shorter than their lengths
		"1 2 3 0 0 1 2 3 0 0",              // a second listing cut short
		"- 2 3 0 0 ",                       // a sign without digits
		"--1 2 3 0 0 ",                     // two signs
		"+1 2 3 0 0 ",                      // a plus sign
		" 1 2 3 0 0 ",                      // a leading space
		"1  2 3 0 0 ",                      // two spaces
		"1 2 1234567890123456789 0 0 ",     // 19 digits: past what a listing holds
		"1 2 99999999999999999999999 0 0 ", // would overflow int64
		"1 2 3 0 0",                        // no space after the last length
	} {
		if _, err := parseListings(s, "u"); err == nil {
			t.Errorf("parseListings(%q) succeeded", s)
		}
	}
}

func BenchmarkParseListings(b *testing.B) {
	at := time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	var all strings.Builder
	for i := range 10 {
		all.WriteString(testListing(qsessions.Record{
			ID: strings.Repeat("k", 43), Version: int64(i + 1), UpdatedAt: at.Add(-time.Duration(i) * time.Minute), ExpiresAt: at.Add(time.Hour),
			Meta: qsessions.EncodeMeta(qsessions.SessionInfo{
				IP:              "203.0.113.9",
				UserAgent:       "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
				CreatedAt:       at,
				AuthenticatedAt: at, AuthMethod: "password",
			}),
		}))
	}
	s := all.String()
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

// TestV5Meta checks that a version 5 listing text becomes the Meta that
// holds its values, and that a malformed one is an error.
func TestV5Meta(t *testing.T) {
	at := time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	v5 := func(ip, ua string, created, auth time.Time, method, bound string) string {
		return fmt.Sprintf("7 %d %d %d 3 %d %d abc%s%s%d %d %s%d %s", ms(created), ms(at), ms(at), len(ip), len(ua), ip, ua,
			ms(auth), len(method), method, len(bound), bound)
	}
	for _, c := range []struct {
		text string
		want qsessions.SessionInfo
		bind []byte
	}{
		{v5("198.51.100.23", "Firefox 1 2 ", at, at.Add(time.Second), "oauth:github 1 ", "AAH+/w"),
			qsessions.SessionInfo{IP: "198.51.100.23", UserAgent: "Firefox 1 2 ", CreatedAt: at, AuthenticatedAt: at.Add(time.Second),
				AuthMethod: "oauth:github 1 "}, []byte{0, 1, 0xfe, 0xff}},
		// As versions 4 and 5 migrated older rows: never authenticated,
		// not bound.
		{v5("", "", at, time.Time{}, "", ""), qsessions.SessionInfo{CreatedAt: at}, nil},
		{v5("2001:db8::1", "\xff\x00", time.Time{}, time.Time{}, "", ""), qsessions.SessionInfo{IP: "2001:db8::1", UserAgent: "\xff\x00"}, nil},
	} {
		meta, err := v5Meta(c.text)
		if err != nil {
			t.Fatalf("v5Meta(%q): %v", c.text, err)
		}
		got, err := qsessions.DecodeMeta(meta)
		if err != nil {
			t.Fatal(err)
		}
		if got.IP != c.want.IP || got.UserAgent != c.want.UserAgent || !got.CreatedAt.Equal(c.want.CreatedAt) ||
			got.CreatedAt.IsZero() != c.want.CreatedAt.IsZero() || !got.AuthenticatedAt.Equal(c.want.AuthenticatedAt) ||
			got.AuthenticatedAt.IsZero() != c.want.AuthenticatedAt.IsZero() || got.AuthMethod != c.want.AuthMethod ||
			got.DeviceBound() != (c.bind != nil) {
			t.Errorf("v5Meta(%q) decodes to %+v (bound %v), want %+v (bound %v)", c.text, got, got.DeviceBound(), c.want, c.bind != nil)
		}
		if b := testBinding(t, meta); !bytes.Equal(b, c.bind) {
			t.Errorf("v5Meta(%q) holds the binding %q, want %q", c.text, b, c.bind)
		}
	}
	good := v5("::1", "ua", at, at, "pw", "AAH+/w")
	for _, s := range []string{
		good[:len(good)-1], // binding shorter than its length
		good + "x",         // something after the binding
		strings.Replace(good, "AAH+/w", "AAH+/*", 1),    // binding not base64
		strings.Replace(good, " 3 3 2 ", " 3 3 99 ", 1), // strings shorter than their lengths
		"7 1 2 3 0 0 0 ",     // no authentication
		"7 1 2 3 0 0 0 5 0 ", // no binding length
	} {
		if _, err := v5Meta(s); err == nil {
			t.Errorf("v5Meta(%q) succeeded", s)
		}
	}
}
