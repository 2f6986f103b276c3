package geo_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/geo"
	"github.com/qsessions/qsessions/internal/logtest"
	"github.com/qsessions/qsessions/internal/mmdbtest"
)

func openBytes(t testing.TB, b []byte, opts *geo.Options) *geo.DB {
	t.Helper()
	db, err := geo.OpenBytes(b, opts)
	if err != nil {
		t.Fatalf("OpenBytes: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func locate(t testing.TB, db *geo.DB, addr string) qsessions.Location {
	t.Helper()
	loc, err := db.Locate(netip.MustParseAddr(addr))
	if err != nil {
		t.Fatalf("Locate(%s): %v", addr, err)
	}
	return loc
}

// public are the places a lookup may report.
func public() []mmdbtest.Place {
	var ps []mmdbtest.Place
	for _, p := range mmdbtest.Places {
		if p.Network != "10.0.0.0/8" && p.Network != "127.0.0.0/8" && p.Network != "fc00::/7" {
			ps = append(ps, p)
		}
	}
	return ps
}

func TestLocate(t *testing.T) {
	for _, kind := range []struct {
		name    string
		b       []byte
		country bool
	}{
		{"City", mmdbtest.City(t), false},
		{"Country", mmdbtest.Country(t), true},
	} {
		t.Run(kind.name, func(t *testing.T) {
			db := openBytes(t, kind.b, nil)
			for _, p := range public() {
				addr := addrIn(t, p)
				got := locate(t, db, addr)
				if w := want(p, kind.country, "en"); got != w {
					t.Errorf("Locate(%s) = %#v, want %#v", addr, got, w)
				}
				// qsessions' rendering, from what the database holds.
				wantStr := p.Country
				if !kind.country && p.City != "" {
					wantStr = p.City + ", " + p.Country
				}
				if geo.Label(got) != wantStr {
					t.Errorf("Label(Locate(%s)) = %q, want %q", addr, geo.Label(got), wantStr)
				}
			}
		})
	}
}

func TestLocateIPv4MappedAndZoned(t *testing.T) {
	db := openBytes(t, mmdbtest.City(t), nil)
	berlin := want(mmdbtest.Places[0], false, "en")
	for _, addr := range []string{"::ffff:192.0.2.9", "2001:db8::1%eth0"} {
		got := locate(t, db, addr)
		if got == (qsessions.Location{}) {
			t.Errorf("Locate(%s) is zero", addr)
		}
		if addr[0] == ':' && got != berlin {
			t.Errorf("Locate(%s) = %#v, want %#v", addr, got, berlin)
		}
	}
}

func TestLocateUnknownAndNonPublic(t *testing.T) {
	db := openBytes(t, mmdbtest.City(t), nil)
	// The database has data for 10/8, 127/8 and fc00::/7, so a zero
	// result there shows Locate skipped them.
	for _, addr := range []string{
		"10.1.2.3", "127.0.0.1", "fc00::1", "fd12:3456::1", // private and loopback, in the database
		"192.168.1.1", "172.16.0.1", "::1", "fe80::1", "169.254.1.1", // private, loopback, link-local
		"0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255", // unspecified, multicast, broadcast
		"198.18.0.1", "2001:dbf::1", "8.8.8.8", // public, not in the database
	} {
		loc, err := db.Locate(netip.MustParseAddr(addr))
		if err != nil || loc != (qsessions.Location{}) {
			t.Errorf("Locate(%s) = %#v, %v; want zero Location, nil", addr, loc, err)
		}
	}
	loc, err := db.Locate(netip.Addr{})
	if err != nil || loc != (qsessions.Location{}) {
		t.Errorf("Locate(invalid) = %#v, %v; want zero Location, nil", loc, err)
	}
}

func TestCoordinatesPresentOrAbsent(t *testing.T) {
	db := openBytes(t, mmdbtest.City(t), nil)
	null := locate(t, db, "203.0.113.1") // at 0,0
	if !null.HasCoordinates || null.Latitude != 0 || null.Longitude != 0 {
		t.Errorf("0,0 record: %#v, want HasCoordinates with 0,0", null)
	}
	sp := locate(t, db, "2001:db9::1") // city, no coordinates
	if sp.HasCoordinates {
		t.Errorf("record without coordinates: HasCoordinates = true (%#v)", sp)
	}
	if sp.City == "" {
		t.Errorf("record without coordinates lost its city: %#v", sp)
	}
}

func TestLanguage(t *testing.T) {
	db := openBytes(t, mmdbtest.City(t), &geo.Options{Language: "de"})
	for _, p := range public() {
		if got, w := locate(t, db, addrIn(t, p)), want(p, false, "de"); got != w {
			t.Errorf("de: Locate(%s) = %#v, want %#v", addrIn(t, p), got, w)
		}
	}
	// Falls back to English, and "de" really changed something.
	if got := locate(t, db, "198.51.100.1"); got.City != "München" || got.Region != "Bavaria" {
		t.Errorf("de: got %#v", got)
	}
	if _, err := geo.OpenBytes(mmdbtest.City(t), &geo.Options{Language: "klingon"}); err == nil {
		t.Error("OpenBytes with an unsupported language succeeded")
	}
}

func TestIPv4OnlyDatabase(t *testing.T) {
	db := openBytes(t, mmdbtest.Build(t, "GeoLite2-City", 4, mmdbtest.Places), nil)
	if got, w := locate(t, db, "192.0.2.1"), want(mmdbtest.Places[0], false, "en"); got != w {
		t.Errorf("IPv4 in IPv4 database: %#v, want %#v", got, w)
	}
	loc, err := db.Locate(netip.MustParseAddr("2001:db8::1"))
	if err != nil || loc != (qsessions.Location{}) {
		t.Errorf("IPv6 in IPv4 database: %#v, %v; want zero, nil", loc, err)
	}
}

func TestOpenErrors(t *testing.T) {
	valid := mmdbtest.City(t)
	cases := map[string][]byte{
		"empty":          {},
		"garbage":        []byte(strings.Repeat("not a database ", 100)),
		"truncated-half": valid[:len(valid)/2],
		"truncated-tail": valid[:len(valid)-10],
		"metadata-only":  valid[bytes.LastIndex(valid, []byte("\xab\xcd\xefMaxMind.com")):],
		"asn":            mmdbtest.Build(t, "GeoLite2-ASN", 6, mmdbtest.Places[:1]),
		"unknown-type":   mmdbtest.Build(t, "Acme-Widgets", 6, mmdbtest.Places[:1]),
	}
	dir := t.TempDir()
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if db, err := geo.OpenBytes(b, nil); err == nil {
				db.Close()
				t.Errorf("OpenBytes succeeded")
			} else if !strings.HasPrefix(err.Error(), "geo: ") {
				t.Errorf("error %q does not name the package", err)
			}
			p := filepath.Join(dir, name+".mmdb")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if db, err := geo.Open(p, nil); err == nil {
				db.Close()
				t.Errorf("Open succeeded")
			}
		})
	}
	if _, err := geo.Open(filepath.Join(dir, "missing.mmdb"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want ErrNotExist", err)
	}
	if _, err := geo.Open(dir, nil); err == nil {
		t.Errorf("Open(directory) succeeded")
	}
	if _, err := geo.OpenBytes(mmdbtest.Build(t, "GeoLite2-ASN", 6, mmdbtest.Places[:1]), nil); err == nil || !strings.Contains(err.Error(), "GeoLite2-ASN") {
		t.Errorf("ASN database: error %v should name its type", err)
	}
}

// TestCorruptRecordsNeverPanic damages databases that still open and looks
// up every place in them: errors are fine, panics are not.
func TestCorruptRecordsNeverPanic(t *testing.T) {
	valid := mmdbtest.City(t)
	meta := bytes.LastIndex(valid, []byte("\xab\xcd\xefMaxMind.com"))
	rng := rand.New(rand.NewPCG(1, 2))
	opened, failed := 0, 0
	for i := range 300 {
		b := bytes.Clone(valid)
		for range 1 + i%8 {
			b[rng.IntN(meta)] = byte(rng.Uint32())
		}
		db, err := geo.OpenBytes(b, nil)
		if err != nil {
			continue
		}
		opened++
		for _, p := range mmdbtest.Places {
			if _, err := db.Locate(netip.MustParseAddr(addrIn(t, p))); err != nil {
				failed++
			}
		}
		db.Close()
	}
	if opened == 0 {
		t.Fatal("no damaged database opened; the test checks nothing")
	}
	t.Logf("%d damaged databases opened; %d lookups failed cleanly", opened, failed)
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	first := []mmdbtest.Place{mmdbtest.Places[0]}
	second := []mmdbtest.Place{{Network: "192.0.2.0/24", City: "Paris", Country: "France", ISO: "FR"}}
	p := writeFile(t, dir, "GeoLite2-City.mmdb", mmdbtest.Build(t, "GeoLite2-City", 6, first))
	db, err := geo.Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if info, _ := db.Info(); info.Type != "GeoLite2-City" || info.Path != p || info.BuildTime.IsZero() {
		t.Errorf("Info() = %#v", info)
	}
	if got := locate(t, db, "192.0.2.1"); got.City != "Berlin" {
		t.Fatalf("before: %#v", got)
	}

	writeFile(t, dir, "GeoLite2-City.mmdb", mmdbtest.Build(t, "GeoLite2-City", 6, second))
	if got := locate(t, db, "192.0.2.1"); got.City != "Berlin" {
		t.Errorf("replaced file seen before Reload: %#v", got)
	}
	if err := db.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := locate(t, db, "192.0.2.1"); got.City != "Paris" {
		t.Errorf("after Reload: %#v, want Paris", got)
	}

	// A broken replacement is refused and the database in use stays.
	writeFile(t, dir, "GeoLite2-City.mmdb", []byte("truncated"))
	if err := db.Reload(); err == nil {
		t.Error("Reload of a corrupt file succeeded")
	}
	if got := locate(t, db, "192.0.2.1"); got.City != "Paris" {
		t.Errorf("after failed Reload: %#v, want Paris", got)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Reload of a removed file = %v, want ErrNotExist", err)
	}
	if got := locate(t, db, "192.0.2.1"); got.City != "Paris" {
		t.Errorf("after failed Reload: %#v, want Paris", got)
	}
}

func TestReloadBytes(t *testing.T) {
	db := openBytes(t, mmdbtest.City(t), nil)
	if err := db.Reload(); err == nil {
		t.Error("Reload of an OpenBytes DB succeeded")
	}
	if err := db.Watch(context.Background(), time.Millisecond); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Watch of an OpenBytes DB = %v, want an error at once", err)
	}
	if err := db.ReloadBytes([]byte("junk")); err == nil {
		t.Error("ReloadBytes(junk) succeeded")
	}
	if got := locate(t, db, "192.0.2.1"); got.City != "Berlin" {
		t.Errorf("after failed ReloadBytes: %#v", got)
	}
	if err := db.ReloadBytes(mmdbtest.Country(t)); err != nil {
		t.Fatal(err)
	}
	if got := locate(t, db, "192.0.2.1"); got.City != "" || got.Country != "Germany" {
		t.Errorf("after ReloadBytes(country): %#v", got)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "GeoLite2-City.mmdb", mmdbtest.Build(t, "GeoLite2-City", 6, mmdbtest.Places[:1]))
	var logs logtest.Buffer
	db, err := geo.Open(p, &geo.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Watch(ctx, 2*time.Millisecond) }()

	city := func() string {
		loc, err := db.Locate(netip.MustParseAddr("192.0.2.1"))
		if err != nil {
			t.Errorf("Locate during Watch: %v", err)
		}
		return loc.City
	}
	replace := func(b []byte, mtime time.Time) {
		writeFile(t, dir, "GeoLite2-City.mmdb", b)
		// Coarse filesystem clocks: make the change visible.
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)

	replace(mmdbtest.Build(t, "GeoLite2-City", 6, []mmdbtest.Place{{Network: "192.0.2.0/24", City: "Paris", Country: "France"}}), base)
	eventually(t, "Watch to load Paris", func() bool { return city() == "Paris" })

	replace([]byte("half a database"), base.Add(time.Second))
	eventually(t, "Watch to log the failed reload", func() bool { return strings.Contains(logs.String(), "reload failed") })
	if c := city(); c != "Paris" {
		t.Errorf("after a corrupt replacement: city %q, want Paris", c)
	}

	replace(mmdbtest.Build(t, "GeoLite2-City", 6, []mmdbtest.Place{{Network: "192.0.2.0/24", City: "Rome", Country: "Italy"}}), base.Add(2*time.Second))
	eventually(t, "Watch to load Rome", func() bool { return city() == "Rome" })

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Watch returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not stop when its context ended")
	}

	// Close stops a running Watch too.
	go func() { done <- db.Watch(context.Background(), time.Hour) }()
	db.Close()
	select {
	case err := <-done:
		if !errors.Is(err, geo.ErrClosed) {
			t.Errorf("Watch after Close returned %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not stop on Close")
	}
}

func TestClose(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "GeoLite2-City.mmdb", mmdbtest.City(t))
	db, err := geo.Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := db.Locate(netip.MustParseAddr("192.0.2.1")); !errors.Is(err, geo.ErrClosed) {
		t.Errorf("Locate after Close: %v, want ErrClosed", err)
	}
	if err := db.Reload(); !errors.Is(err, geo.ErrClosed) {
		t.Errorf("Reload after Close: %v, want ErrClosed", err)
	}
	if _, err := db.Info(); !errors.Is(err, geo.ErrClosed) {
		t.Errorf("Info after Close: %v, want ErrClosed", err)
	}
}

// TestConcurrentLocateAndReload is for the race detector: lookups go on
// while the database is swapped, and every answer comes from one version
// or the other, whole.
func TestConcurrentLocateAndReload(t *testing.T) {
	dir := t.TempDir()
	a := mmdbtest.Build(t, "GeoLite2-City", 6, mmdbtest.Places)
	b := mmdbtest.Build(t, "GeoLite2-City", 6, []mmdbtest.Place{{Network: "192.0.2.0/24", City: "Paris", Country: "France", ISO: "FR"}})
	p := writeFile(t, dir, "GeoLite2-City.mmdb", a)
	db, err := geo.Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	berlin := want(mmdbtest.Places[0], false, "en")
	paris := qsessions.Location{City: "Paris", Country: "France", CountryCode: "FR"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// WebAssembly runs one goroutine at a time, without
				// preemption; on js, file operations also wait for every
				// goroutine to block.
				runtime.Gosched()
				if runtime.GOOS == "js" {
					time.Sleep(time.Millisecond)
				}
				loc, err := db.Locate(netip.MustParseAddr("192.0.2.1"))
				if err != nil {
					t.Errorf("Locate: %v", err)
					return
				}
				if loc != berlin && loc != paris {
					t.Errorf("Locate returned a mix: %#v", loc)
					return
				}
			}
		})
	}
	for i := range 20 {
		next := a
		if i%2 == 0 {
			next = b
		}
		writeFile(t, dir, "GeoLite2-City.mmdb", next)
		if err := db.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func BenchmarkLocate(b *testing.B) {
	db := openBytes(b, mmdbtest.City(b), nil)
	addrs := []netip.Addr{
		netip.MustParseAddr("192.0.2.1"),
		netip.MustParseAddr("198.51.100.200"),
		netip.MustParseAddr("2001:db8::1"),
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := db.Locate(addrs[i%len(addrs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkLocateParallel(b *testing.B) {
	db := openBytes(b, mmdbtest.City(b), nil)
	ip := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.Locate(ip); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkLocatePrivate(b *testing.B) {
	db := openBytes(b, mmdbtest.City(b), nil)
	ip := netip.MustParseAddr("10.1.2.3")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = db.Locate(ip)
	}
}
