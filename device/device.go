// Package device parses User-Agent strings into [qsessions.Device] values
// with the regexes of uap-core, through github.com/ua-parser/uap-go: it is
// the [qsessions.DeviceParser] that turns a session's User-Agent into
// "Chrome on macOS". Make one [Parser] with [New] and share it: put it in
// qsessions.Options.DeviceParser.
//
// # Cost
//
// Building uap-core's parser compiles about a thousand regular expressions:
// about 45 MB of allocations and a tenth of a second. A [Parser]
// builds it once, on the first Parse of a non-empty User-Agent (or on
// [Parser.Warm], to pay at start-up instead), never at import time or in
// [New]. Parsing an unseen User-Agent then costs milliseconds, so
// results are kept in a bounded least-recently-used cache keyed by
// User-Agent (github.com/hashicorp/golang-lru/v2, one lock: parsing runs
// only when sessions are listed). User-Agents are cut to
// [Options].MaxLength bytes (on a rune boundary) before they are parsed or
// cached, so a 10 KB garbage header costs no more than a long real one and
// the cache's memory stays bounded.
//
// # Results
//
// Browser, OS and device fields are uap-core's families and versions:
// "Chrome Mobile" 118.0.0 on "Android" 10, device "K". Parts it cannot
// identify read "Other", as in uap-core; the empty User-Agent gives the
// zero Device. Bot is set for crawlers (uap-core's "Spider" device) and for
// HTTP libraries and headless browsers such as curl, python-requests and
// HeadlessChrome. [Label] renders a Device for people, "Chrome on Android"
// (calling a family what people call it: "Chrome" for "Chrome Mobile",
// "macOS" for "Mac OS X"), and [Detail] as django-qsessions does,
// "K / Android 10 / Chrome Mobile 118.0.0".
package device

import (
	"strings"
	"sync"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ua-parser/uap-go/uaparser"

	"github.com/qsessions/qsessions"
)

var _ qsessions.DeviceParser = (*Parser)(nil)

// Defaults for [Options].
const (
	DefaultCacheSize = 4096
	DefaultMaxLength = 512
)

// Options configure a [Parser]. The zero value, like a nil *Options, gives
// the defaults.
type Options struct {
	// CacheSize is how many User-Agents keep their parsed Device; the
	// least recently used is dropped first. 0 means [DefaultCacheSize];
	// negative disables the cache.
	CacheSize int

	// MaxLength is the length in bytes beyond which a User-Agent is cut,
	// on a rune boundary, before it is parsed. 0 means
	// [DefaultMaxLength].
	MaxLength int
}

// A Parser turns User-Agent strings into [qsessions.Device] values. It
// implements [qsessions.DeviceParser]. Its methods are safe for concurrent
// use. The zero Parser works, without a cache; [New] makes one with.
type Parser struct {
	maxLen int
	cache  *lru.Cache[string, qsessions.Device] // nil when disabled

	once sync.Once
	uap  *uaparser.Parser // set by once; nil if building it failed
}

// New returns a Parser. It is cheap: uap-core's regexes are compiled on the
// first Parse, or by [Parser.Warm]. opts may be nil.
func New(opts *Options) *Parser {
	if opts == nil {
		opts = &Options{}
	}
	p := &Parser{maxLen: opts.MaxLength}
	if p.maxLen <= 0 {
		p.maxLen = DefaultMaxLength
	}
	size := opts.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 {
		p.cache, _ = lru.New[string, qsessions.Device](size) // fails only for size <= 0
	}
	return p
}

// Warm builds uap-core's parser now, if it is not built yet, so that the
// first Parse does not pay for it. It is safe to call more than once.
func (p *Parser) Warm() { p.once.Do(p.build) }

func (p *Parser) build() {
	defer func() {
		if recover() != nil {
			p.uap = nil // Parse then reports the zero Device
		}
	}()
	// uap-go's own cache is not wanted: ours is in front of it. Its
	// smallest is one entry.
	u, err := uaparser.New(uaparser.WithCacheSize(1))
	if err == nil {
		p.uap = u
	}
}

// Parse returns what userAgent says about the browser, OS and device. It
// never fails: an empty User-Agent gives the zero Device, and an
// unrecognised one a Device whose families read "Other".
func (p *Parser) Parse(userAgent string) qsessions.Device {
	n := p.maxLen
	if n <= 0 {
		n = DefaultMaxLength
	}
	ua := truncate(userAgent, n)
	if strings.TrimSpace(ua) == "" {
		return qsessions.Device{}
	}
	if p.cache != nil {
		if d, ok := p.cache.Get(ua); ok {
			return d
		}
	}
	// Own the bytes: a cache key must not pin a long header it was cut from.
	ua = strings.Clone(ua)
	d := p.parse(ua)
	if p.cache != nil {
		p.cache.Add(ua, d)
	}
	return d
}

func (p *Parser) parse(ua string) (d qsessions.Device) {
	p.once.Do(p.build)
	if p.uap == nil {
		return qsessions.Device{}
	}
	defer func() {
		if r := recover(); r != nil {
			d = qsessions.Device{}
		}
	}()
	// One after the other: uaparser.Parser.Parse starts three goroutines
	// per call.
	b := p.uap.ParseUserAgent(ua)
	o := p.uap.ParseOs(ua)
	dv := p.uap.ParseDevice(ua)
	d = qsessions.Device{
		Browser:        b.Family,
		BrowserVersion: b.ToVersionString(),
		OS:             o.Family,
		OSVersion:      o.ToVersionString(),
		Family:         dv.Family,
		Brand:          dv.Brand,
		Model:          dv.Model,
	}
	d.Bot = dv.Family == "Spider" || automated[b.Family] || crawlerName(b.Family)
	return d
}

// crawlerName reports whether a browser family names a crawler, as
// "Googlebot", "bingbot" and "Baiduspider" do. uap-core's Spider device
// pattern only looks at the first 100 bytes.
func crawlerName(family string) bool {
	f := strings.ToLower(family)
	return strings.Contains(f, "bot") || strings.Contains(f, "spider") || strings.Contains(f, "crawler")
}

// automated are uap-core browser families of HTTP libraries, command-line
// clients and headless browsers: automated clients that uap-core does not
// class as spiders.
var automated = map[string]bool{
	"curl": true, "libcurl-agent": true, "PycURL": true, "Wget": true, "wget2": true,
	"aria2": true, "HTTPie": true, "insomnia": true, "PostmanRuntime": true,
	"Python Requests": true, "Python-urllib": true, "Go-http-client": true,
	"go-resty": true, "okhttp": true, "Apache-HttpClient": true,
	"Google-HTTP-Java-Client": true, "Java": true, "axios": true, "reqwest": true,
	"libwww-perl": true, "HeadlessChrome": true, "PhantomJS": true,
}

// friendlyBrowsers and friendlyOSes are what people call the uap-core
// families whose names they would not use: [Label] shows these.
var friendlyBrowsers = map[string]string{
	"Chrome Mobile":              "Chrome",
	"Chrome Mobile iOS":          "Chrome",
	"Chrome Mobile WebView":      "Android WebView",
	"Firefox Mobile":             "Firefox",
	"Firefox iOS":                "Firefox",
	"Mobile Safari":              "Safari",
	"Mobile Safari UI/WKWebView": "Safari",
	"Edge Mobile":                "Edge",
	"Opera Mobile":               "Opera",
}

var friendlyOSes = map[string]string{
	"Mac OS X": "macOS",
	"Mac OS":   "macOS",
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && n-cut < utf8.UTFMax-1 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if !utf8.RuneStart(s[cut]) {
		cut = n // not UTF-8 here anyway
	}
	return s[:cut]
}
