package device

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/qsessions/qsessions"
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

func TestCacheBounded(t *testing.T) {
	for _, size := range []int{1, 8, 1000, 5000} {
		c := newLRU(size)
		for i := range 3 * size {
			c.add(strconv.Itoa(i), qsessions.Device{Browser: strconv.Itoa(i)})
			if n := c.len(); n > size {
				t.Fatalf("size %d: cache holds %d after %d adds", size, n, i+1)
			}
		}
		if n := c.len(); n < size/2 {
			t.Errorf("size %d: cache holds only %d", size, n)
		}
		// The most recent add is always there, with its value.
		last := strconv.Itoa(3*size - 1)
		if d, ok := c.get(last); !ok || d.Browser != last {
			t.Errorf("size %d: most recent entry: %+v, %v", size, d, ok)
		}
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newLRU(2)
	c.add("a", qsessions.Device{Browser: "A"})
	c.add("b", qsessions.Device{Browser: "B"})
	c.get("a") // a is now more recent than b
	c.add("c", qsessions.Device{Browser: "C"})
	if _, ok := c.get("b"); ok {
		t.Error("b, the least recently used, was kept")
	}
	if d, ok := c.get("a"); !ok || d.Browser != "A" {
		t.Errorf("a = %+v, %v; want kept", d, ok)
	}
	c.add("a", qsessions.Device{Browser: "A2"}) // overwrite, no growth
	if d, _ := c.get("a"); d.Browser != "A2" || c.len() != 2 {
		t.Errorf("after overwrite: a = %+v, len %d", d, c.len())
	}
}

func TestCacheKeysDoNotPinLongHeaders(t *testing.T) {
	p := New(&Options{CacheSize: 4})
	long := "curl/8.5.0 " + strings.Repeat("z", 10<<10)
	p.Parse(long)
	if n := p.cache.len(); n != 1 {
		t.Fatalf("cache holds %d entries, want 1", n)
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(long)))
	for i := range p.cache.shards {
		for k := range p.cache.shards[i].m {
			if len(k) > DefaultMaxLength {
				t.Errorf("cache key is %d bytes", len(k))
			}
			if a := uintptr(unsafe.Pointer(unsafe.StringData(k))); a >= start && a < start+uintptr(len(long)) {
				t.Error("cache key points into the caller's header, keeping it alive")
			}
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
