// Package geo locates IP addresses with databases in MaxMind's format
// (GeoIP2, GeoLite2, DB-IP): it is the [qsessions.Locator] that turns a
// session's IP into
// "Berlin, Germany". Open a database file with [Open], or database bytes with
// [OpenBytes] where there is no filesystem (WebAssembly hosts), and put the
// [*DB] in qsessions.Options.Locator. [Download] fetches and installs the
// databases from MaxMind, with an account, or DB-IP's free City Lite
// without one.
//
// # Databases
//
// A [DB] reads City databases (GeoLite2-City, GeoIP2-City, GeoIP2-Enterprise,
// DB-IP's City Lite) and Country databases (GeoLite2-Country, GeoIP2-Country),
// whichever the file is: a Country database yields a [qsessions.Location]
// without a city, region, coordinates or time zone. Other MaxMind databases
// (ASN, ISP, Anonymous IP, ...) are refused by [Open].
//
// [DB.Locate] returns the zero Location and a nil error for addresses the
// database knows nothing about and for addresses that are not on the public
// internet (private, loopback, link-local, multicast, unspecified), without
// looking them up. Coordinates are reported as present or absent
// (Location.HasCoordinates), never as a made-up 0,0. Names are English by
// default; [Options].Language picks another of MaxMind's languages.
//
// # Attribution
//
// DB-IP's free databases are licensed under CC BY 4.0: an application that
// shows locations from one must credit DB-IP. [DB.Info] gives the words
// and the link for the database in use, read from its metadata.
//
// # Updates
//
// A DB is safe for concurrent use, and lookups take no lock. [DB.Reload]
// opens the file again and swaps the new database in atomically: lookups in
// flight finish on the old one, whose memory is released once they are done.
// A failed reload keeps the database that was in use. [DB.Watch] polls the
// file and reloads it when its size or modification time changes; it runs in
// the caller's goroutine until its context ends or the DB is closed:
//
//	db, err := geo.Open("/var/lib/geoip/GeoLite2-City.mmdb", nil)
//	if err != nil {
//		return err
//	}
//	defer db.Close()
//	go db.Watch(ctx, time.Minute)
//
// Replace the file by renaming a new one over it, as [Download] does. On
// Unix-like systems the file is memory-mapped, so copying over it in place
// changes the bytes under running lookups; a lookup that faults on a file
// truncated in place returns an error rather than crashing the process, but
// its answers until the next reload are not to be trusted. On Windows, and on
// WebAssembly, the file is read into memory, so it can be replaced while open.
//
// # Errors
//
// A corrupt, truncated or empty file is an error from [Open] or
// [DB.Reload], never a panic. A corrupt record found by a lookup is an error
// from [DB.Locate], which also recovers from panics and memory faults in the
// MaxMind reader and reports them as errors.
package geo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/geoip2-golang/v2"

	"github.com/qsessions/qsessions"
)

var _ qsessions.Locator = (*DB)(nil)

// ErrClosed is returned by the methods of a [DB] after [DB.Close].
var ErrClosed = errors.New("geo: database closed")

// Options configure a [DB]. The zero value, like a nil *Options, gives
// English names and no logging.
type Options struct {
	// Language is the language of place names: "en" (the default), "de",
	// "es", "fr", "ja", "pt-BR", "ru" or "zh-CN"; Open refuses others. A
	// name the database has no translation for is given in English.
	Language string

	// Logger receives the reloads done by [DB.Watch], and their failures.
	// Nil discards them.
	Logger *slog.Logger
}

// A DB is an open GeoIP2 or GeoLite2 City or Country database. It
// implements [qsessions.Locator]. Its methods are safe for concurrent use.
type DB struct {
	path   string // "" when opened with OpenBytes
	lang   string
	logger *slog.Logger

	cur atomic.Pointer[database] // nil once closed

	mu        sync.Mutex // serialises Reload, ReloadBytes and Close
	closed    bool
	done      chan struct{} // closed by Close, stops Watch
	closeOnce sync.Once
}

// A database is one opened version of the file, swapped in whole.
type database struct {
	r        *geoip2.Reader
	typ      string
	built    time.Time
	credit   attribution
	ipv4Only bool
	stat     fileStat // of the file it was read from; zero for bytes
}

// fileStat is what Watch compares to notice a replaced file.
type fileStat struct {
	size    int64
	modTime time.Time
}

func statOf(fi fs.FileInfo) fileStat { return fileStat{fi.Size(), fi.ModTime()} }

func (s fileStat) equal(o fileStat) bool { return s.size == o.size && s.modTime.Equal(o.modTime) }

// Open opens the City or Country database at path. opts may be nil.
//
// It fails on a missing, empty, corrupt or truncated file and on databases
// that hold no location data (ASN, ISP, Anonymous IP, ...).
func Open(path string, opts *Options) (*DB, error) {
	db, err := newDB(path, opts)
	if err != nil {
		return nil, err
	}
	d, err := openFile(path)
	if err != nil {
		return nil, err
	}
	db.cur.Store(d)
	return db, nil
}

// OpenBytes opens a City or Country database held in memory, for hosts
// without a filesystem. The DB reads b in place: b must not be modified
// while the DB uses it. opts may be nil. [DB.Reload] and [DB.Watch] fail on
// such a DB; [DB.ReloadBytes] replaces its database.
func OpenBytes(b []byte, opts *Options) (*DB, error) {
	db, err := newDB("", opts)
	if err != nil {
		return nil, err
	}
	d, err := openBytes(b)
	if err != nil {
		return nil, err
	}
	db.cur.Store(d)
	return db, nil
}

func newDB(path string, opts *Options) (*DB, error) {
	if opts == nil {
		opts = &Options{}
	}
	switch opts.Language {
	case "", "en", "de", "es", "fr", "ja", "pt-BR", "ru", "zh-CN":
	default:
		return nil, fmt.Errorf("geo: unsupported language %q", opts.Language)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &DB{path: path, lang: opts.Language, logger: logger, done: make(chan struct{})}, nil
}

func openFile(path string) (*database, error) {
	// Stat before opening: if the file is replaced in between, Watch sees
	// a stat that does not match what it loaded and reloads once more,
	// which is harmless; the other order could miss an update.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("geo: open: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("geo: open %s: is a directory", path)
	}
	var r *geoip2.Reader
	if runtime.GOOS == "windows" {
		// A memory-mapped file cannot be renamed over on Windows, which
		// would stop Download from installing a new version.
		var b []byte
		b, err = os.ReadFile(path)
		if err == nil {
			r, err = guardOpen(func() (*geoip2.Reader, error) { return geoip2.OpenBytes(b) })
		}
	} else {
		r, err = guardOpen(func() (*geoip2.Reader, error) { return geoip2.Open(path) })
	}
	if err != nil {
		return nil, fmt.Errorf("geo: open %s: %w", path, err)
	}
	d, err := newDatabase(r)
	if err != nil {
		return nil, fmt.Errorf("geo: open %s: %w", path, err)
	}
	d.stat = statOf(fi)
	return d, nil
}

func openBytes(b []byte) (*database, error) {
	if len(b) == 0 {
		return nil, errors.New("geo: open: database is empty")
	}
	r, err := guardOpen(func() (*geoip2.Reader, error) { return geoip2.OpenBytes(b) })
	if err != nil {
		return nil, fmt.Errorf("geo: open: %w", err)
	}
	d, err := newDatabase(r)
	if err != nil {
		return nil, fmt.Errorf("geo: open: %w", err)
	}
	return d, nil
}

// guardOpen turns a panic in the MaxMind reader into an error, and closes
// a reader returned along with an error (an unknown database type).
func guardOpen(open func() (*geoip2.Reader, error)) (r *geoip2.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("invalid database: %v", p)
		}
	}()
	r, err = open()
	if err != nil {
		if r != nil {
			_ = r.Close()
		}
		return nil, err
	}
	return r, nil
}

// newDatabase checks that r can answer City lookups (City and Country
// databases can) and records what Locate needs to know about it.
func newDatabase(r *geoip2.Reader) (*database, error) {
	md := r.Metadata()
	// The invalid address fails before touching the tree, after the
	// database type check this is for.
	_, err := r.City(netip.Addr{})
	var ime geoip2.InvalidMethodError
	if errors.As(err, &ime) {
		_ = r.Close()
		return nil, fmt.Errorf("a %s database has no location data; use a City or Country database", md.DatabaseType)
	}
	return &database{
		r:        r,
		typ:      md.DatabaseType,
		built:    md.BuildTime(),
		credit:   creditFor(md.DatabaseType, md.Description),
		ipv4Only: md.IPVersion == 4,
	}, nil
}

// Locate returns where ip is. It returns the zero Location and a nil error
// for addresses the database does not know and for private, loopback,
// link-local, multicast and unspecified addresses. IPv4-mapped IPv6
// addresses are looked up as IPv4. An error means the lookup failed: a
// corrupt record, or a closed DB ([ErrClosed]).
func (db *DB) Locate(ip netip.Addr) (loc qsessions.Location, err error) {
	d := db.cur.Load()
	if d == nil {
		return qsessions.Location{}, ErrClosed
	}
	ip = ip.Unmap().WithZone("")
	if !public(ip) || (d.ipv4Only && ip.Is6()) {
		return qsessions.Location{}, nil
	}
	defer func() {
		if p := recover(); p != nil {
			loc, err = qsessions.Location{}, fmt.Errorf("geo: locate %s: corrupt database: %v", ip, p)
		}
	}()
	// A file truncated in place under its memory map faults instead of
	// panicking; make that a panic, recovered above.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))

	c, err := d.r.City(ip)
	if err != nil {
		return qsessions.Location{}, fmt.Errorf("geo: locate %s: %w", ip, err)
	}
	loc = qsessions.Location{
		City:          db.name(c.City.Names),
		Country:       db.name(c.Country.Names),
		CountryCode:   c.Country.ISOCode,
		Continent:     db.name(c.Continent.Names),
		ContinentCode: c.Continent.Code,
		TimeZone:      c.Location.TimeZone,
	}
	if len(c.Subdivisions) > 0 {
		loc.Region = db.name(c.Subdivisions[0].Names)
	}
	if c.Location.Latitude != nil && c.Location.Longitude != nil {
		loc.Latitude, loc.Longitude = *c.Location.Latitude, *c.Location.Longitude
		loc.HasCoordinates = true
	}
	return loc, nil
}

// public reports whether ip may be on the public internet, and so worth
// looking up.
func public(ip netip.Addr) bool {
	return ip.IsValid() && ip.IsGlobalUnicast() && !ip.IsPrivate()
}

func (db *DB) name(n geoip2.Names) string {
	var s string
	switch db.lang {
	case "de":
		s = n.German
	case "es":
		s = n.Spanish
	case "fr":
		s = n.French
	case "ja":
		s = n.Japanese
	case "pt-BR":
		s = n.BrazilianPortuguese
	case "ru":
		s = n.Russian
	case "zh-CN":
		s = n.SimplifiedChinese
	}
	if s == "" {
		s = n.English
	}
	return s
}

// Info describes the database a [DB] is using.
type Info struct {
	Type      string    // database type from its metadata, "GeoLite2-City"
	BuildTime time.Time // when its publisher built it
	Path      string    // file it was opened from, "" for OpenBytes

	// Attribution is the credit that the database's licence asks for
	// wherever its data is shown, and AttributionURL the address it links
	// to: "IP Geolocation by DB-IP" and https://db-ip.com for DB-IP's free
	// databases (CC BY 4.0), known from the database's metadata. Both are
	// "" for other databases; MaxMind's terms are in your agreement with
	// MaxMind.
	Attribution    string
	AttributionURL string
}

type attribution struct{ text, url string }

// creditFor returns the attribution that a database's publisher asks
// for, as its type and description name the publisher.
func creditFor(dbType string, description map[string]string) attribution {
	if strings.HasPrefix(dbType, "DBIP-") || strings.Contains(description["en"], "DB-IP") || strings.Contains(description["en"], "db-ip.com") {
		return attribution{"IP Geolocation by DB-IP", "https://db-ip.com"}
	}
	return attribution{}
}

// Info describes the database in use. It returns [ErrClosed] after Close.
func (db *DB) Info() (Info, error) {
	d := db.cur.Load()
	if d == nil {
		return Info{}, ErrClosed
	}
	return Info{Type: d.typ, BuildTime: d.built, Path: db.path, Attribution: d.credit.text, AttributionURL: d.credit.url}, nil
}

// Reload opens the DB's file again and, if it opens, swaps it in
// atomically. On error the database in use stays. Lookups in flight finish
// on the old database. Reload fails on a DB made by [OpenBytes].
func (db *DB) Reload() error {
	if db.path == "" {
		return errors.New("geo: reload: database was opened from bytes; use ReloadBytes")
	}
	return db.reload()
}

// ReloadBytes replaces the database with the one held in b, atomically. On
// error the database in use stays. As with [OpenBytes], b must not be
// modified afterwards.
func (db *DB) ReloadBytes(b []byte) error {
	d, err := openBytes(b)
	if err != nil {
		return err
	}
	return db.swap(d)
}

// reload opens the file and swaps it in.
func (db *DB) reload() error {
	d, err := openFile(db.path)
	if err != nil {
		return err
	}
	return db.swap(d)
}

func (db *DB) swap(d *database) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		_ = d.r.Close()
		return ErrClosed
	}
	// The old reader is not closed here: a lookup may still be using it.
	// Once none is, the garbage collector releases it (maxminddb unmaps
	// its file then).
	db.cur.Store(d)
	return nil
}

// Watch polls the DB's file every interval (a minute if interval <= 0) and
// reloads it when its size or modification time changes. A failed reload
// is logged, keeps the database in use, and is retried only once the file
// changes again. Watch runs until ctx is done, returning ctx.Err(), or
// until the DB is closed, returning [ErrClosed]; run it in a goroutine that
// you own. It fails at once on a DB made by [OpenBytes].
func (db *DB) Watch(ctx context.Context, interval time.Duration) error {
	if db.path == "" {
		return errors.New("geo: watch: database was opened from bytes; there is no file to watch")
	}
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var failed fileStat // stat of the last version that failed to load
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-db.done:
			return ErrClosed
		case <-t.C:
		}
		d := db.cur.Load()
		if d == nil {
			return ErrClosed
		}
		fi, err := os.Stat(db.path)
		if err != nil {
			// Between a remove and a rename, say; keep what we have.
			continue
		}
		st := statOf(fi)
		if st.equal(d.stat) || st.equal(failed) {
			continue
		}
		if err := db.reload(); err != nil {
			if errors.Is(err, ErrClosed) {
				return err
			}
			failed = st
			db.logger.LogAttrs(ctx, slog.LevelWarn, "geo: reload failed; keeping the database in use",
				slog.String("path", db.path), slog.Any("error", err))
			continue
		}
		failed = fileStat{}
		info, _ := db.Info()
		db.logger.LogAttrs(ctx, slog.LevelInfo, "geo: database reloaded",
			slog.String("path", db.path), slog.String("type", info.Type), slog.Time("built", info.BuildTime))
	}
}

// Close stops [DB.Watch] and makes later calls fail with [ErrClosed].
// Lookups in flight finish normally; the database's memory is released once
// they are done. Close is idempotent.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.closed = true
	db.cur.Store(nil)
	db.closeOnce.Do(func() { close(db.done) })
	return nil
}
