package qsessions

import (
	"bytes"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	for _, r := range []Record{
		{},
		{ID: "id", CreatedAt: now, UpdatedAt: now, ExpiresAt: now},
		{ID: "v", Version: 1<<62 - 1},
		{ID: newToken(), Version: 7, Data: []byte(`{"a":1}`), UserID: "ünïcode 👤", IP: "2001:db8::1", UserAgent: "Mozilla/5.0",
			CreatedAt: now, UpdatedAt: now.Add(time.Second), ExpiresAt: now.Add(time.Hour)},
		{ID: "x", Data: bytes.Repeat([]byte{0, 255}, 1<<15)},
		{ID: "auth", UserID: "u", AuthenticatedAt: now.Add(-time.Minute), AuthMethod: "oauth:github",
			Binding: []byte{0, 1, 2, 255}, Data: []byte("{}"), CreatedAt: time.UnixMilli(0).UTC()},
	} {
		got, err := decodeRecord(encodeRecord(r))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != r.ID || got.Version != r.Version || got.UserID != r.UserID || got.IP != r.IP || got.UserAgent != r.UserAgent ||
			!bytes.Equal(got.Data, r.Data) || !got.CreatedAt.Equal(r.CreatedAt.Truncate(time.Millisecond)) ||
			!got.UpdatedAt.Equal(r.UpdatedAt) || !got.ExpiresAt.Equal(r.ExpiresAt) ||
			!got.AuthenticatedAt.Equal(r.AuthenticatedAt) || got.AuthMethod != r.AuthMethod ||
			!bytes.Equal(got.Binding, r.Binding) || got.CreatedAt.IsZero() != r.CreatedAt.IsZero() {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func TestCodecRejectsTruncated(t *testing.T) {
	b := encodeRecord(Record{ID: "abc", Data: []byte("data"), UserID: "u", CreatedAt: time.Now()})
	for i := range len(b) {
		if _, err := decodeRecord(b[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", i)
		}
	}
	if _, err := decodeRecord(append(b, 0)); err == nil {
		t.Fatal("trailing byte: no error")
	}
}

// A lease marker never decodes as a record, nor does an entry written by
// the previous codec version.
func TestCodecRejectsLeaseAndOldVersion(t *testing.T) {
	lease := make([]byte, leaseBytes)
	if !isLease(lease) {
		t.Fatal("isLease of a lease: false")
	}
	if _, err := decodeRecord(lease); err == nil {
		t.Error("a lease decodes as a record")
	}
	b := encodeRecord(Record{ID: "abc"})
	if isLease(b) {
		t.Error("a record reads as a lease")
	}
	b[0] = 1
	if _, err := decodeRecord(b); err == nil {
		t.Error("an entry of codec version 1 decodes")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(Record{ID: "abc", Data: []byte("{}"), UserID: "u"}))
	f.Add([]byte{codecVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{codecVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := decodeRecord(encodeRecord(r))
		if err != nil || again.ID != r.ID || again.Version != r.Version || !bytes.Equal(again.Data, r.Data) {
			t.Fatalf("re-encoding a decoded record changed it: %v", err)
		}
	})
}

func TestTruncateUserAgent(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 10, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"}, // é is 2 bytes: never cut in half
		{"a\xffb", 10, "a\uFFFDb"},
		{"😀😀", 5, "😀"},
	} {
		if got := truncateUserAgent(c.in, c.max); got != c.want {
			t.Errorf("truncateUserAgent(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}
