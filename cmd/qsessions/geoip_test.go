package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/qsessions/qsessions/geo"
	"github.com/qsessions/qsessions/internal/mmdbtest"
)

// testCityDB returns a small GeoLite2-City database in which 192.0.2.0/24
// is Berlin, Germany, and 2001:db8::/32 Tokyo, Japan.
func testCityDB(t testing.TB) []byte { return mmdbtest.City(t) }

const (
	testAccount = "acct-271828"
	testKey     = "lk_TOPSECRET_0123456789"
)

// maxmind is a fake MaxMind download server, at URL.
type maxmind struct {
	*mmdbtest.MaxMind
	URL string
}

// newMaxMind serves edition's archive; badSum publishes a wrong checksum.
func newMaxMind(t testing.TB, edition string, archive []byte, badSum bool) maxmind {
	t.Helper()
	m := &mmdbtest.MaxMind{Account: testAccount, Key: testKey}
	m.Set(edition, archive)
	if badSum {
		m.SetSum(edition, strings.Repeat("0", 64))
	}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return maxmind{m, srv.URL}
}

func TestDownloadGeoIP(t *testing.T) {
	t.Parallel()
	db := testCityDB(t)
	srv := newMaxMind(t, "GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", db), false)
	dir := t.TempDir()
	env := cliEnv("MAXMIND_ACCOUNT_ID="+testAccount, "MAXMIND_LICENSE_KEY="+testKey)

	r := cli(t, env, "download-geoip", "--dir", dir, "--base-url", srv.URL)
	wantExit(t, r, 0)
	path := filepath.Join(dir, "GeoLite2-City.mmdb")
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, db) {
		t.Fatalf("installed database: %v; equal to the served one: %v\n%s", err, bytes.Equal(got, db), r)
	}
	for _, want := range []string{"checking GeoLite2-City", "downloading GeoLite2-City", "verifying GeoLite2-City", "installed " + path, "--geoip " + path} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q\n%s", want, r)
		}
	}
	if strings.ContainsAny(r.stdout, "\r\x1b") {
		t.Errorf("not a terminal, yet the output has a progress bar\n%q", r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, testKey) {
		t.Error("the licence key is printed")
	}
	if n := srv.Downloads(); n != 1 {
		t.Errorf("%d archive downloads, want 1", n)
	}
	// The database works.
	g, err := geo.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()

	// Again: up to date, nothing downloaded. Flags beat the environment.
	r = cli(t, nil, "download-geoip", "--dir", dir, "--base-url", srv.URL, "--account-id", testAccount, "--license-key", testKey)
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, path+" is up to date") {
		t.Errorf("second run:\n%s", r)
	}
	if n := srv.Downloads(); n != 1 {
		t.Errorf("the second run downloaded the archive again (%d downloads)", n)
	}
}

func TestDownloadGeoIPErrors(t *testing.T) {
	t.Parallel()
	db := testCityDB(t)
	srv := newMaxMind(t, "GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", db), false)
	bad := newMaxMind(t, "GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", db), true)
	corrupt := newMaxMind(t, "GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", []byte("not a database")), false)
	dir := t.TempDir()
	creds := []string{"MAXMIND_ACCOUNT_ID=" + testAccount, "MAXMIND_LICENSE_KEY=" + testKey}

	for _, c := range []struct {
		name string
		env  []string
		args []string
		code int
		msgs []string
	}{
		{"no credentials", nil, []string{"--dir", dir, "--base-url", srv.URL}, 2,
			[]string{"no MaxMind account ID", "MAXMIND_ACCOUNT_ID", "MAXMIND_LICENSE_KEY", "without an account", "--source dbip", "download-geoip --help"}},
		{"MaxMind without credentials", nil, []string{"--source", "maxmind", "--dir", dir, "--base-url", srv.URL}, 2, []string{"--source dbip"}},
		{"unknown source", creds, []string{"--source", "geonames", "--dir", dir}, 2, []string{`--source "geonames"`, "maxmind or dbip"}},
		{"no licence key", []string{"MAXMIND_ACCOUNT_ID=" + testAccount}, []string{"--dir", dir, "--base-url", srv.URL}, 2,
			[]string{"no MaxMind licence key", "MAXMIND_LICENSE_KEY"}},
		{"no dir", creds, []string{"--base-url", srv.URL}, 2, []string{"--dir"}},
		{"missing dir", creds, []string{"--dir", filepath.Join(dir, "nope"), "--base-url", srv.URL}, 1, []string{"target directory", "nope"}},
		{"rejected key", []string{"MAXMIND_ACCOUNT_ID=" + testAccount, "MAXMIND_LICENSE_KEY=wrong-key"}, []string{"--dir", dir, "--base-url", srv.URL}, 1,
			[]string{"MaxMind rejected the account ID or licence key"}},
		{"bad checksum", creds, []string{"--dir", dir, "--base-url", bad.URL}, 1, []string{"does not match its published SHA-256"}},
		{"corrupt database", creds, []string{"--dir", dir, "--base-url", corrupt.URL}, 1, []string{"not valid"}},
		{"unknown edition", creds, []string{"--dir", dir, "--base-url", srv.URL, "--edition", "GeoLite2-Nope"}, 1, []string{"no such edition"}},
		{"invalid edition", creds, []string{"--dir", dir, "--base-url", srv.URL, "--edition", "../x"}, 1, []string{"invalid edition"}},
		{"bad flag", creds, []string{"--dir", dir, "--nope"}, 2, []string{"flag provided but not defined"}},
		{"argument", creds, []string{"--dir", dir, "GeoLite2-City"}, 2, []string{"unexpected argument"}},
		{"bad timeout", creds, []string{"--dir", dir, "--timeout", "0s"}, 2, []string{"--timeout"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := srv.Hits()
			r := cli(t, cliEnv(c.env...), append([]string{"download-geoip"}, c.args...)...)
			wantExit(t, r, c.code, c.msgs...)
			if strings.Contains(r.stdout+r.stderr, testKey) {
				t.Error("the licence key is printed")
			}
			if c.code == 2 && srv.Hits() != before {
				t.Error("a usage error still sent a request")
			}
		})
	}
	// Nothing was installed by the failures.
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("failed downloads left files behind: %v", names)
	}
}

// dbipServer serves DB-IP's City Lite file of this month, as the binary's
// clock sees it (or last month's file, if the month turns meanwhile).
func dbipServer(t *testing.T, file []byte) (*httptest.Server, string) {
	t.Helper()
	name := mmdbtest.DBIPFile(time.Now().UTC().Format("2006-01"))
	var d mmdbtest.DBIP
	d.Set(name, file)
	srv := httptest.NewServer(&d)
	t.Cleanup(srv.Close)
	return srv, name
}

func TestDownloadGeoIPDBIP(t *testing.T) {
	t.Parallel()
	db := mmdbtest.Build(t, "DBIP-City-Lite", 6, mmdbtest.Places)
	srv, name := dbipServer(t, mmdbtest.Gzip(t, db))
	dir := t.TempDir()

	// No MaxMind credentials are needed, nor used.
	r := cli(t, nil, "download-geoip", "--source", "dbip", "--dir", dir, "--base-url", srv.URL)
	wantExit(t, r, 0)
	path := filepath.Join(dir, "dbip-city-lite.mmdb")
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, db) {
		t.Fatalf("installed database: %v; equal to the served one: %v\n%s", err, bytes.Equal(got, db), r)
	}
	for _, want := range []string{"downloading dbip-city-lite", "installed " + path + " from " + name,
		`"IP Geolocation by DB-IP", linked to https://db-ip.com`, "--geoip " + path} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q\n%s", want, r)
		}
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("the database's mode: %v, %v; want 0644", fi.Mode(), err)
		}
	}

	r = cli(t, nil, "download-geoip", "--source", "dbip", "--dir", dir, "--base-url", srv.URL)
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, path+" is up to date: "+name) {
		t.Errorf("second run:\n%s", r)
	}
}

func TestDownloadGeoIPDBIPErrors(t *testing.T) {
	t.Parallel()
	gz := mmdbtest.Gzip(t, mmdbtest.Build(t, "DBIP-City-Lite", 6, mmdbtest.Places))
	truncated, _ := dbipServer(t, gz[:len(gz)/2])
	country, _ := dbipServer(t, mmdbtest.Gzip(t, mmdbtest.Build(t, "DBIP-Country-Lite", 6, mmdbtest.Places)))
	garbage, _ := dbipServer(t, []byte("<html>Rate limit exceeded</html>"))
	none := httptest.NewServer(&mmdbtest.DBIP{})
	t.Cleanup(none.Close)
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		msgs []string
	}{
		{"truncated gzip", []string{"--base-url", truncated.URL}, []string{"dbip-city-lite", "unexpected EOF"}},
		{"Country database", []string{"--base-url", country.URL}, []string{"DBIP-Country-Lite database, not a City database"}},
		{"garbage", []string{"--base-url", garbage.URL}, []string{"gzip"}},
		{"nothing published", []string{"--base-url", none.URL}, []string{"DB-IP has published neither", "404"}},
		{"MaxMind edition", []string{"--base-url", none.URL, "--edition", "GeoLite2-City"}, []string{"dbip-city-lite"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := cli(t, nil, append([]string{"download-geoip", "--source", "dbip", "--dir", dir}, c.args...)...)
			wantExit(t, r, 1, c.msgs...)
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed downloads left %d files behind", len(entries))
	}
}

// TestDemoGeoIPAttribution: with a DB-IP database the demo credits DB-IP,
// on every page and when it starts.
func TestDemoGeoIPAttribution(t *testing.T) {
	t.Parallel()
	mmdb := filepath.Join(t.TempDir(), "dbip-city-lite.mmdb")
	if err := os.WriteFile(mmdb, mmdbtest.Build(t, "DBIP-City-Lite", 6, mmdbtest.Places), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDemo(t, nil, "--geoip", mmdb)
	if out := d.stdoutText(); !strings.Contains(out, "IP Geolocation by DB-IP, https://db-ip.com") {
		t.Errorf("the demo does not credit DB-IP when it starts\n%s", out)
	}
	b := newBrowser(t, macChrome)
	for _, signedIn := range []bool{false, true} {
		if signedIn {
			signIn(t, b, d.url, "alice")
		}
		_, body := b.get(d.url + "/")
		if !strings.Contains(body, `<p id="geoip-credit"><a href="https://db-ip.com">IP Geolocation by DB-IP</a></p>`) {
			t.Errorf("signed in %v: the page does not credit DB-IP\n%s", signedIn, body)
		}
	}
	if _, v := b.sessions(d.url); v.GeoCredit != "IP Geolocation by DB-IP" || v.GeoCreditURL != "https://db-ip.com" {
		t.Errorf("/sessions.json credits %q, %q; want DB-IP", v.GeoCredit, v.GeoCreditURL)
	}
	d.stop()
}

// TestProgressBar drives the progress printer as on a terminal: a bar
// redrawn in place, then lines.
func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressPrinter(&buf, true)
	p.update(geo.Progress{Edition: "GeoLite2-City", Phase: geo.PhaseChecking, Total: -1})
	p.update(geo.Progress{Edition: "GeoLite2-City", Phase: geo.PhaseDownloading, Bytes: 0, Total: 2_000_000})
	p.update(geo.Progress{Edition: "GeoLite2-City", Phase: geo.PhaseDownloading, Bytes: 2_000_000, Total: 2_000_000})
	p.update(geo.Progress{Edition: "GeoLite2-City", Phase: geo.PhaseVerifying, Bytes: 2_000_000, Total: 2_000_000})
	p.update(geo.Progress{Edition: "GeoLite2-City", Phase: geo.PhaseDone, Bytes: 2_000_000, Total: 2_000_000})
	p.finish()
	out := buf.String()
	for _, want := range []string{
		"checking GeoLite2-City for updates\n",
		"\rdownloading GeoLite2-City [>                             ]   0%  0 B / 2.0 MB\x1b[K",
		"\rdownloading GeoLite2-City [==============================] 100%  2.0 MB / 2.0 MB\x1b[K\n",
		"verifying GeoLite2-City (2.0 MB received)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}

	buf.Reset()
	p = newProgressPrinter(&buf, false)
	for i := range 5 {
		p.update(geo.Progress{Edition: "E", Phase: geo.PhaseDownloading, Bytes: int64(i), Total: -1})
	}
	p.finish()
	if got := buf.String(); got != "downloading E\n" {
		t.Errorf("plain output %q, want one line", got)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 14_100_000: "14.1 MB", 3_200_000_000: "3.2 GB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}
