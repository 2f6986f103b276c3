package device

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

func TestTruncate(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"", 4, ""},
		{"abc", 4, "abc"},
		{"abcd", 4, "abcd"},
		{"abcde", 4, "abcd"},
		{"abcé", 4, "abc"},                      // é is 2 bytes at 3..4: cut before it
		{"abé", 4, "abé"},                       // fits exactly
		{"ab€x", 4, "ab"},                       // € is 3 bytes at 2..4
		{"a😀b", 4, "a"},                         // 4-byte rune at 1..4
		{"\x80\x80\x80\x80\x80", 2, "\x80\x80"}, // not UTF-8: plain byte cut
	} {
		got := truncate(c.s, c.n)
		if got != c.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
		if len(got) > c.n {
			t.Errorf("truncate(%q, %d) is %d bytes", c.s, c.n, len(got))
		}
		if utf8.ValidString(c.s) && !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q split a rune", c.s, c.n, got)
		}
	}
}

func TestBuiltLazily(t *testing.T) {
	p := New(nil)
	if p.uap != nil {
		t.Fatal("New built the uap parser")
	}
	p.Parse("")
	if p.uap != nil {
		t.Fatal("Parse of an empty User-Agent built the uap parser")
	}
	p.Parse("curl/8.5.0")
	if p.uap == nil {
		t.Fatal("Parse did not build the uap parser")
	}
	u := p.uap
	p.Parse("Wget/1.21.4")
	p.Warm()
	if p.uap != u {
		t.Fatal("the uap parser was built twice")
	}
}

// TestCacheBounded: CacheSize bounds the cache, and the latest answer is
// in it.
func TestCacheBounded(t *testing.T) {
	p := New(&Options{CacheSize: 4})
	for i := range 10 {
		p.Parse("curl/8." + strconv.Itoa(i))
		if n := p.cache.Len(); n > 4 {
			t.Fatalf("cache holds %d after %d User-Agents", n, i+1)
		}
	}
	if d, ok := p.cache.Get("curl/8.9"); !ok || d.Browser != "curl" {
		t.Errorf("most recent entry: %+v, %v", d, ok)
	}
}

func TestCacheKeysDoNotPinLongHeaders(t *testing.T) {
	p := New(&Options{CacheSize: 4})
	long := "curl/8.5.0 " + strings.Repeat("z", 10<<10)
	p.Parse(long)
	keys := p.cache.Keys()
	if len(keys) != 1 {
		t.Fatalf("cache holds %d entries, want 1", len(keys))
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(long)))
	for _, k := range keys {
		if len(k) > DefaultMaxLength {
			t.Errorf("cache key is %d bytes", len(k))
		}
		if a := uintptr(unsafe.Pointer(unsafe.StringData(k))); a >= start && a < start+uintptr(len(long)) {
			t.Error("cache key points into the caller's header, keeping it alive")
		}
	}
}

func TestCacheDisabled(t *testing.T) {
	p := New(&Options{CacheSize: -1})
	if p.cache != nil {
		t.Fatal("negative CacheSize still made a cache")
	}
}

func TestZeroParser(t *testing.T) {
	var p Parser
	if d := p.Parse("curl/8.5.0"); d.Browser != "curl" || !d.Bot {
		t.Errorf("zero Parser: Parse = %#v", d)
	}
	if d := p.Parse(strings.Repeat("x", 600) + " curl/8.5.0"); d.Browser == "curl" {
		t.Errorf("zero Parser does not truncate: %#v", d)
	}
}
