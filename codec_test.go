package qsessions

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

func decodeRecord(b []byte) (Record, error) {
	var r Record
	err := decodeRecordTo(&r, b)
	return r, err
}

func sameRecord(a, b Record) bool {
	return a.ID == b.ID && a.Version == b.Version && a.UserID == b.UserID && a.UpdatedAt.Equal(b.UpdatedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Meta, b.Meta)
}

func TestCodecRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	for _, r := range []Record{
		{},
		{ID: "id", UpdatedAt: now, ExpiresAt: now},
		{ID: "v", Version: 1<<62 - 1},
		{ID: newToken(), Version: 7, Data: []byte(`{"a":1}`), UserID: "ünïcode 👤", UpdatedAt: now.Add(time.Second), ExpiresAt: now.Add(time.Hour),
			Meta: EncodeMeta(SessionInfo{IP: "2001:db8::1", UserAgent: "Mozilla/5.0", CreatedAt: now})},
		{ID: "x", Data: bytes.Repeat([]byte{0, 255}, 1<<15), Meta: []byte{0, 1, 2, 255}},
		{ID: "epoch", UpdatedAt: time.UnixMilli(0).UTC(), ExpiresAt: time.UnixMilli(-1).UTC()},
	} {
		got, err := decodeRecord(encodeRecord(&r))
		if err != nil {
			t.Fatal(err)
		}
		if !sameRecord(got, r) || got.UpdatedAt.IsZero() != r.UpdatedAt.IsZero() {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func TestCodecRejectsTruncated(t *testing.T) {
	r := Record{ID: "abc", Data: []byte("data"), UserID: "u", Meta: []byte("meta"), UpdatedAt: time.Now()}
	b := encodeRecord(&r)
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
// an earlier codec version.
func TestCodecRejectsLeaseAndOldVersion(t *testing.T) {
	lease := make([]byte, leaseBytes)
	if !isLease(lease) {
		t.Fatal("isLease of a lease: false")
	}
	if _, err := decodeRecord(lease); err == nil {
		t.Error("a lease decodes as a record")
	}
	b := encodeRecord(&Record{ID: "abc"})
	if isLease(b) {
		t.Error("a record reads as a lease")
	}
	for v := byte(1); v < codecVersion; v++ {
		b[0] = v
		if _, err := decodeRecord(b); err == nil {
			t.Errorf("an entry of codec version %d decodes", v)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(&Record{ID: "abc", Data: []byte("{}"), UserID: "u", Meta: []byte{metaVersion}}))
	f.Add([]byte{codecVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{codecVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := decodeRecord(encodeRecord(&r))
		if err != nil || !sameRecord(again, r) {
			t.Fatalf("re-encoding a decoded record changed it: %v", err)
		}
	})
}

func TestMetaRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	for _, m := range []meta{
		{},
		{ip: netip.MustParseAddr("192.0.2.1")},
		{ip: netip.MustParseAddr("2001:db8::1"), userAgent: []byte("Mozilla/5.0 ünï"), createdAt: now},
		{createdAt: time.UnixMilli(0).UTC(), authAt: time.UnixMilli(-5).UTC(), authMethod: []byte("oauth:github"), binding: []byte{0, 1, 255}},
		{userAgent: bytes.Repeat([]byte("x"), 1000), binding: bytes.Repeat([]byte{7}, 400)},
	} {
		b := m.encode()
		var got meta
		if err := parseMeta(b, &got); err != nil {
			t.Fatalf("parse(encode(%+v)): %v", m, err)
		}
		if got.ip != m.ip || !bytes.Equal(got.userAgent, m.userAgent) || !got.createdAt.Equal(m.createdAt) ||
			!got.authAt.Equal(m.authAt) || !bytes.Equal(got.authMethod, m.authMethod) || !bytes.Equal(got.binding, m.binding) ||
			len(got.unknown) != 0 {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, m)
		}
		if again := got.encode(); !bytes.Equal(again, b) {
			t.Errorf("re-encoding changed the bytes: %x, then %x", b, again)
		}
	}
}

// Fields of a later version survive a Store of this version that decodes
// and rewrites the metadata: a rolling deploy never loses them.
func TestMetaKeepsUnknownFields(t *testing.T) {
	m := meta{ip: netip.MustParseAddr("192.0.2.1"), userAgent: []byte("ua")}
	b := m.encode()
	b = binary.AppendUvarint(b, 42) // a tag from the future
	b = binary.AppendUvarint(b, 3)
	b = append(b, "new"...)
	var got meta
	if err := parseMeta(b, &got); err != nil {
		t.Fatal(err)
	}
	got.userAgent = []byte("changed")
	again := got.encode()
	var back meta
	if err := parseMeta(again, &back); err != nil {
		t.Fatal(err)
	}
	if string(back.userAgent) != "changed" || !bytes.Contains(again, []byte("new")) || !bytes.Equal(back.unknown, got.unknown) {
		t.Errorf("the unknown field was not kept: %x", again)
	}
	info, err := DecodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if out := EncodeMeta(info); !bytes.Equal(out, b) {
		t.Errorf("EncodeMeta(DecodeMeta(b)) = %x, want %x", out, b)
	}
}

func TestMetaRejectsMalformed(t *testing.T) {
	good := (&meta{ip: netip.MustParseAddr("192.0.2.1"), userAgent: []byte("ua"), createdAt: time.Now()}).encode()
	for i := 1; i < len(good); i++ {
		var m meta
		if err := parseMeta(good[:i], &m); err == nil && i != 1 && !fieldBoundary(good, i) {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
	for name, b := range map[string][]byte{
		"version 0":       {0},
		"version 2":       {2},
		"bad IP length":   {metaVersion, tagIP, 3, 1, 2, 3},
		"duplicate field": {metaVersion, tagUserAgent, 1, 'a', tagUserAgent, 1, 'b'},
		"bad time":        {metaVersion, tagCreatedAt, 1, 0x80},
		"time too long":   {metaVersion, tagCreatedAt, 2, 0, 0},
		"length overflow": {metaVersion, tagUserAgent, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		var m meta
		if err := parseMeta(b, &m); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := DecodeMeta(b); err == nil {
			t.Errorf("DecodeMeta, %s: no error", name)
		}
	}
}

// fieldBoundary reports whether b[:i] ends between two whole fields, where
// a truncation is a valid, shorter metadata.
func fieldBoundary(b []byte, i int) bool {
	p := b[1:]
	off := 1
	for len(p) > 0 {
		_, n := binary.Uvarint(p)
		size, m := binary.Uvarint(p[n:])
		step := n + m + int(size)
		off += step
		p = p[step:]
		if off == i {
			return true
		}
	}
	return false
}

func FuzzParseMeta(f *testing.F) {
	f.Add((&meta{ip: netip.MustParseAddr("2001:db8::1"), userAgent: []byte("ua"), binding: []byte{1}}).encode())
	f.Add([]byte{metaVersion, 99, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m meta
		if err := parseMeta(b, &m); err != nil {
			return
		}
		var again meta
		if err := parseMeta(m.encode(), &again); err != nil {
			t.Fatalf("re-encoding parsed metadata made it unparsable: %v", err)
		}
		if again.ip != m.ip || !bytes.Equal(again.userAgent, m.userAgent) || !bytes.Equal(again.binding, m.binding) || !bytes.Equal(again.unknown, m.unknown) {
			t.Fatalf("re-encoding changed the metadata")
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
