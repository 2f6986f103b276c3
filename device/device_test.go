package device_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/device"
)

// Real User-Agents, as browsers and bots send them.
const (
	chromeMac     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	firefoxWin    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"
	safariIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1"
	androidK      = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Mobile Safari/537.36"
	samsung       = "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Mobile Safari/537.36"
	safariIPad    = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
	edgeWin       = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80"
	firefoxLinux  = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"
	googlebot     = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	googlebotEver = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/124.0.6367.155 Safari/537.36"
	bingbot       = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
	curl          = "curl/8.5.0"
	pyRequests    = "python-requests/2.31.0"
	headless      = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36"
)

var cases = []struct {
	name, ua string
	want     qsessions.Device
	str      string // Detail, django-qsessions' rendering
	friendly string // Label
}{
	{"Chrome on macOS", chromeMac,
		qsessions.Device{Browser: "Chrome", BrowserVersion: "124.0.0", OS: "Mac OS X", OSVersion: "10.15.7", Family: "Mac", Brand: "Apple", Model: "Mac"},
		"Mac / Mac OS X 10.15.7 / Chrome 124.0.0", "Chrome on macOS"},
	{"Firefox on Windows", firefoxWin,
		qsessions.Device{Browser: "Firefox", BrowserVersion: "125.0", OS: "Windows", OSVersion: "10", Family: "Other"},
		"Other / Windows 10 / Firefox 125.0", "Firefox on Windows"},
	{"Safari on iPhone", safariIPhone,
		qsessions.Device{Browser: "Mobile Safari", BrowserVersion: "17.4.1", OS: "iOS", OSVersion: "17.4.1", Family: "iPhone", Brand: "Apple", Model: "iPhone"},
		"iPhone / iOS 17.4.1 / Mobile Safari 17.4.1", "Safari on iOS"},
	{"Android Chrome, reduced UA", androidK,
		qsessions.Device{Browser: "Chrome Mobile", BrowserVersion: "118.0.0", OS: "Android", OSVersion: "10", Family: "K", Brand: "Generic_Android", Model: "K"},
		"K / Android 10 / Chrome Mobile 118.0.0", "Chrome on Android"},
	{"Android Chrome, Samsung", samsung,
		qsessions.Device{Browser: "Chrome Mobile", BrowserVersion: "112.0.0", OS: "Android", OSVersion: "13", Family: "Samsung SM-S911B", Brand: "Samsung", Model: "SM-S911B"},
		"Samsung SM-S911B / Android 13 / Chrome Mobile 112.0.0", "Chrome on Android"},
	{"Safari on iPad", safariIPad,
		qsessions.Device{Browser: "Mobile Safari", BrowserVersion: "16.6", OS: "iOS", OSVersion: "16.6", Family: "iPad", Brand: "Apple", Model: "iPad"},
		"iPad / iOS 16.6 / Mobile Safari 16.6", "Safari on iOS"},
	{"Edge on Windows", edgeWin,
		qsessions.Device{Browser: "Edge", BrowserVersion: "124.0.2478", OS: "Windows", OSVersion: "10", Family: "Other"},
		"Other / Windows 10 / Edge 124.0.2478", "Edge on Windows"},
	{"Firefox on Ubuntu", firefoxLinux,
		qsessions.Device{Browser: "Firefox", BrowserVersion: "115.0", OS: "Ubuntu", Family: "Other"},
		"Other / Ubuntu / Firefox 115.0", "Firefox on Ubuntu"},
	{"Googlebot", googlebot,
		qsessions.Device{Browser: "Googlebot", BrowserVersion: "2.1", OS: "Other", Family: "Spider", Brand: "Spider", Model: "Desktop", Bot: true},
		"Spider / Other / Googlebot 2.1", "Googlebot (bot)"},
	{"Googlebot evergreen", googlebotEver,
		qsessions.Device{Browser: "Googlebot", BrowserVersion: "2.1", OS: "Other", Family: "Spider", Brand: "Spider", Model: "Desktop", Bot: true},
		"Spider / Other / Googlebot 2.1", "Googlebot (bot)"},
	{"bingbot", bingbot,
		qsessions.Device{Browser: "bingbot", BrowserVersion: "2.0", OS: "Other", Family: "Spider", Brand: "Spider", Model: "Desktop", Bot: true},
		"Spider / Other / bingbot 2.0", "bingbot (bot)"},
	{"curl", curl,
		qsessions.Device{Browser: "curl", BrowserVersion: "8.5.0", OS: "Other", Family: "Other", Bot: true},
		"Other / Other / curl 8.5.0", "curl (bot)"},
	{"python-requests", pyRequests,
		qsessions.Device{Browser: "Python Requests", BrowserVersion: "2.31", OS: "Other", Family: "Other", Bot: true},
		"Other / Other / Python Requests 2.31", "Python Requests (bot)"},
	{"HeadlessChrome", headless,
		qsessions.Device{Browser: "HeadlessChrome", BrowserVersion: "124.0.0", OS: "Linux", Family: "Other", Bot: true},
		"Other / Linux / HeadlessChrome 124.0.0", "HeadlessChrome on Linux (bot)"},
	{"empty", "", qsessions.Device{}, "", ""},
	{"blank", "   \t", qsessions.Device{}, "", ""},
	{"garbage", "asdkjh qwe 123 !!!",
		qsessions.Device{Browser: "Other", OS: "Other", Family: "Other"},
		"Other / Other / Other", "Unknown browser"},
	{"10 KB garbage", garbage(10 << 10),
		qsessions.Device{Browser: "Other", OS: "Other", Family: "Other"},
		"Other / Other / Other", "Unknown browser"},
	{"invalid UTF-8", "\xff\xfe\xfd Mozilla/5.0 \xc3",
		qsessions.Device{Browser: "Other", OS: "Other", Family: "Other"},
		"Other / Other / Other", "Unknown browser"},
}

// garbage is n bytes of printable noise, the same for every call.
func garbage(n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	var b strings.Builder
	for b.Len() < n {
		b.WriteByte(byte(' ' + rng.IntN(95)))
	}
	return b.String()
}

// Building a Parser's regexes is the slow part of these tests (seconds on
// WebAssembly), so tests share parsers where their options agree.
var (
	defaultParser  = sync.OnceValue(func() *device.Parser { return device.New(nil) })
	uncachedParser = sync.OnceValue(func() *device.Parser { return device.New(&device.Options{CacheSize: -1}) })
	smallParser    = sync.OnceValue(func() *device.Parser { return device.New(&device.Options{CacheSize: 4}) })
)

func TestParse(t *testing.T) {
	p := defaultParser()
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			// Twice: the second answer comes from the cache.
			for range 2 {
				got := p.Parse(c.ua)
				if got != c.want {
					t.Errorf("Parse = %#v\nwant    %#v", got, c.want)
				}
				if s := device.Detail(got); s != c.str {
					t.Errorf("Detail = %q, want %q", s, c.str)
				}
				if f := device.Label(got); f != c.friendly {
					t.Errorf("Label = %q, want %q", f, c.friendly)
				}
			}
		})
	}
}

// TestTruncation: what lies past MaxLength bytes does not change the
// result, because it is never looked at.
func TestTruncation(t *testing.T) {
	p := uncachedParser()
	// A real UA whose tail, if parsed, would change the result.
	long := firefoxWin + " " + strings.Repeat("x", device.DefaultMaxLength) + " " + googlebot
	if got, want := p.Parse(long), p.Parse(firefoxWin); got != want {
		t.Errorf("long UA = %#v, want its head's %#v", got, want)
	}
	if d := device.New(&device.Options{MaxLength: 4096}).Parse(long); d.Browser != "Googlebot" || !d.Bot {
		t.Errorf("with MaxLength 4096 the bot in the tail should be seen: %#v", d)
	}
	// MaxLength 20 keeps "Mozilla/5.0 (iPhone", enough for the device only.
	short := device.New(&device.Options{MaxLength: 20})
	if got, want := short.Parse(safariIPhone), p.Parse(safariIPhone[:20]); got != want {
		t.Errorf("MaxLength 20: %#v, want the result for the first 20 bytes %#v", got, want)
	}
}

func TestCacheIsBoundedAndCorrect(t *testing.T) {
	p := smallParser()
	nocache := uncachedParser()
	uas := []string{chromeMac, firefoxWin, safariIPhone, androidK, samsung, googlebot, curl}
	// Cycle through more User-Agents than the cache holds, with varying
	// versions, and check every answer against an uncached parser.
	for i := range 21 {
		ua := strings.Replace(uas[i%len(uas)], "5.0", fmt.Sprintf("5.%d", i/len(uas)), 1)
		if got, want := p.Parse(ua), nocache.Parse(ua); got != want {
			t.Fatalf("Parse(%q) = %#v, uncached %#v", ua, got, want)
		}
	}
}

func TestConcurrentParse(t *testing.T) {
	// Six User-Agents through a four-entry cache: hits, misses and
	// evictions race each other. (Cold parses are slow under the race
	// detector; keep the count small.)
	p := smallParser()
	cs := []int{0, 3, 8, 11, 14, 16}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2 * len(cs) {
				c := cases[cs[(g+i)%len(cs)]]
				if got := p.Parse(c.ua); got != c.want {
					t.Errorf("%s: Parse = %#v, want %#v", c.name, got, c.want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkBuild(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		device.New(nil).Warm()
	}
}

var realUAs = []string{chromeMac, firefoxWin, safariIPhone, androidK, samsung, safariIPad, edgeWin, firefoxLinux, googlebot, bingbot, curl}

// BenchmarkParseCold parses User-Agents the parser has not seen: built
// parser, no cache.
func BenchmarkParseCold(b *testing.B) {
	p := device.New(&device.Options{CacheSize: -1})
	p.Warm()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Parse(realUAs[i%len(realUAs)])
		i++
	}
}

// BenchmarkParseCached parses User-Agents found in the cache.
func BenchmarkParseCached(b *testing.B) {
	p := device.New(nil)
	for _, ua := range realUAs {
		p.Parse(ua)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Parse(realUAs[i%len(realUAs)])
		i++
	}
}

func BenchmarkParseCachedParallel(b *testing.B) {
	p := device.New(nil)
	for _, ua := range realUAs {
		p.Parse(ua)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			p.Parse(realUAs[i%len(realUAs)])
			i++
		}
	})
}

// BenchmarkParseGarbage10KB parses a 10 KB header, uncached: truncation
// keeps it to the cost of a long real User-Agent.
func BenchmarkParseGarbage10KB(b *testing.B) {
	p := device.New(&device.Options{CacheSize: -1})
	p.Warm()
	g := garbage(10 << 10)
	b.ReportAllocs()
	for b.Loop() {
		p.Parse(g)
	}
}
