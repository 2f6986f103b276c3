package geo_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"

	"github.com/qsessions/qsessions/geo"
	"github.com/qsessions/qsessions/internal/mmdbtest"
)

// dbipDownload returns options that download from srv as DB-IP on the date
// *now, which the test may move.
func dbipDownload(t *testing.T, srv http.Handler, dir string, now *time.Time) geo.DownloadOptions {
	opts := geo.DownloadOptions{Source: geo.DBIP, Dir: dir, Now: func() time.Time { return *now }}
	opts.BaseURL, opts.Client = serve(t, srv)
	return opts
}

func dbipCity(t testing.TB) []byte { return mmdbtest.Build(t, "DBIP-City-Lite", 6, mmdbtest.Places) }

func TestDownloadDBIP(t *testing.T) {
	dir := t.TempDir()
	var srv mmdbtest.DBIP
	db := dbipCity(t)
	gz := mmdbtest.Gzip(t, db)
	srv.Set(mmdbtest.DBIPFile("2026-05"), gz)
	now := time.Date(2026, 5, 17, 9, 0, 0, 0, time.UTC)
	opts := dbipDownload(t, &srv, dir, &now)
	progress := &progressLog{t: t, edition: geo.DBIPCityLite}
	opts.Progress = progress.record

	res, err := geo.Download(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dbip-city-lite.mmdb")
	if !res.Updated || res.Path != path || res.Archive != "dbip-city-lite-2026-05.mmdb.gz" || res.SHA256 != sum(gz) {
		t.Errorf("Download = %+v, want Updated, Path %s, the May file with SHA256 %s", res, path, sum(gz))
	}
	progress.check(geo.PhaseChecking, geo.PhaseDownloading, geo.PhaseVerifying, geo.PhaseDone)
	gdb := checkInstalled(t, path, db)
	if info, _ := gdb.Info(); info.Attribution != "IP Geolocation by DB-IP" || info.AttributionURL != "https://db-ip.com" {
		t.Errorf("Info() = %+v, want DB-IP's attribution", info)
	}

	// Again in May: current, and nothing is even asked.
	if res, err := geo.Download(context.Background(), opts); err != nil || res.Updated || res.SHA256 != sum(gz) {
		t.Fatalf("second Download = %+v, %v; want up to date", res, err)
	}
	progress.check(geo.PhaseChecking, geo.PhaseUpToDate)
	if reqs := srv.Requests(); len(reqs) != 1 {
		t.Errorf("requests %v, want only the first download", reqs)
	}

	// Early June, before June's file: May's is still the latest.
	now = time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)
	if res, err := geo.Download(context.Background(), opts); err != nil || res.Updated || res.Archive != "dbip-city-lite-2026-05.mmdb.gz" {
		t.Fatalf("Download before June's file = %+v, %v; want May's, up to date", res, err)
	}
	if reqs := srv.Requests(); !slices.Equal(reqs[1:], []string{"dbip-city-lite-2026-06.mmdb.gz"}) {
		t.Errorf("requests %v, want one for June's file", reqs)
	}

	// June's file appears and replaces May's; a DB that has the file
	// open sees it on Reload.
	june := mmdbtest.Build(t, "DBIP-City-Lite", 6, []mmdbtest.Place{{Network: "192.0.2.0/24", City: "Paris", Country: "France"}})
	srv.Set(mmdbtest.DBIPFile("2026-06"), mmdbtest.Gzip(t, june))
	if res, err := geo.Download(context.Background(), opts); err != nil || !res.Updated || res.Archive != "dbip-city-lite-2026-06.mmdb.gz" {
		t.Fatalf("Download of June's file = %+v, %v", res, err)
	}
	if err := gdb.Reload(); err != nil {
		t.Fatal(err)
	}
	if loc := locate(t, gdb, "192.0.2.1"); loc.City != "Paris" {
		t.Errorf("after June's file and Reload: %+v", loc)
	}
}

// TestDownloadDBIPLastMonth: on the first of a month, before DB-IP has
// published, last month's file is installed. The month is UTC's, here
// across a year.
func TestDownloadDBIPLastMonth(t *testing.T) {
	dir := t.TempDir()
	var srv mmdbtest.DBIP
	db := dbipCity(t)
	srv.Set(mmdbtest.DBIPFile("2025-12"), mmdbtest.Gzip(t, db))
	now := time.Date(2025, 12, 31, 20, 0, 0, 0, time.FixedZone("EST", -5*60*60)) // 2026-01-01 01:00 UTC
	res, err := geo.Download(context.Background(), dbipDownload(t, &srv, dir, &now))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Updated || res.Archive != "dbip-city-lite-2025-12.mmdb.gz" {
		t.Errorf("Download = %+v, want December's file installed", res)
	}
	if want := []string{"dbip-city-lite-2026-01.mmdb.gz", "dbip-city-lite-2025-12.mmdb.gz"}; !slices.Equal(srv.Requests(), want) {
		t.Errorf("requests %v, want %v", srv.Requests(), want)
	}
	if got, _ := os.ReadFile(res.Path); !bytes.Equal(got, db) {
		t.Error("installed database differs from December's")
	}
}

func TestDownloadDBIPNothingPublished(t *testing.T) {
	dir := t.TempDir()
	var srv mmdbtest.DBIP
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	_, err := geo.Download(context.Background(), dbipDownload(t, &srv, dir, &now))
	if err == nil {
		t.Fatal("Download succeeded with nothing published")
	}
	for _, want := range []string{"dbip-city-lite-2026-03.mmdb.gz", "dbip-city-lite-2026-02.mmdb.gz", "404"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("failed Download left %v", names)
	}
}

// failingFile answers the requests for one file with a status.
type failingFile struct {
	next   http.Handler
	name   string
	status int
}

func (f failingFile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.status != 0 && strings.HasSuffix(r.URL.Path, "/"+f.name) {
		http.Error(w, http.StatusText(f.status), f.status)
		return
	}
	f.next.ServeHTTP(w, r)
}

func TestDownloadDBIPFailuresKeepOldDatabase(t *testing.T) {
	june := mmdbtest.DBIPFile("2026-06")
	db := dbipCity(t)
	gz := mmdbtest.Gzip(t, db)
	cases := []struct {
		name   string
		body   []byte // June's file
		status int    // June's status instead, if set
		msg    string // in the error
	}{
		{"truncated gzip", gz[:len(gz)/2], 0, "unexpected EOF"},
		{"gzip without its trailer", gz[:len(gz)-4], 0, "unexpected EOF"},
		{"truncated database", mmdbtest.Gzip(t, db[:len(db)-40]), 0, "not valid"},
		{"Country database", mmdbtest.Gzip(t, mmdbtest.Build(t, "DBIP-Country-Lite", 6, mmdbtest.Places)), 0, "not a City database"},
		{"ASN database", mmdbtest.Gzip(t, mmdbtest.Build(t, "GeoLite2-ASN", 6, mmdbtest.Places[:1])), 0, "no location data"},
		{"garbage", []byte("<html><body>Service temporarily unavailable</body></html>"), 0, "gzip"},
		{"gzip of garbage", mmdbtest.Gzip(t, []byte("<html>not a database</html>")), 0, "not valid"},
		{"500", nil, http.StatusInternalServerError, "500"},
		{"403", nil, http.StatusForbidden, "403"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "geoip")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			var srv mmdbtest.DBIP
			srv.Set(mmdbtest.DBIPFile("2026-05"), gz)
			now := time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC)
			opts := dbipDownload(t, failingFile{&srv, june, c.status}, dir, &now)
			if _, err := geo.Download(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "dbip-city-lite.mmdb")
			oldSum, err := os.ReadFile(path + ".sha256")
			if err != nil {
				t.Fatal(err)
			}

			now = time.Date(2026, 6, 20, 0, 0, 0, 0, time.UTC)
			srv.Set(june, c.body)
			res, err := geo.Download(context.Background(), opts)
			if err == nil {
				t.Fatalf("Download succeeded: %+v", res)
			}
			t.Logf("error: %v", err)
			if msg := err.Error(); !strings.Contains(msg, c.msg) || !strings.Contains(msg, "dbip-city-lite") {
				t.Errorf("error %q should mention %q and the edition", msg, c.msg)
			}
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, db) {
				t.Errorf("old database changed (err %v)", err)
			}
			if s, _ := os.ReadFile(path + ".sha256"); !bytes.Equal(s, oldSum) {
				t.Errorf("record changed: %q, was %q", s, oldSum)
			}
			if names := dirEntries(t, dir); len(names) != 2 {
				t.Errorf("directory holds %v, want only the database and its record", names)
			}
			if names := dirEntries(t, parent); len(names) != 1 {
				t.Errorf("something was written beside the target directory: %v", names)
			}
		})
	}
}

func TestDownloadOptionsPerSource(t *testing.T) {
	dir := t.TempDir()
	var srv mmdbtest.DBIP
	now := time.Date(2026, 5, 17, 0, 0, 0, 0, time.UTC)
	base := dbipDownload(t, &srv, dir, &now)
	cases := []struct {
		name   string
		change func(o *geo.DownloadOptions)
		msg    string
	}{
		{"MaxMind edition from DB-IP", func(o *geo.DownloadOptions) { o.Edition = "GeoLite2-City" }, "dbip-city-lite"},
		{"unknown source", func(o *geo.DownloadOptions) { o.Source = "ip2location" }, `unknown source "ip2location"`},
		{"MaxMind without credentials", func(o *geo.DownloadOptions) { o.Source = geo.MaxMind }, "geo.DBIP"},
		{"default source without credentials", func(o *geo.DownloadOptions) { o.Source = "" }, "needs none"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			opts := base
			c.change(&opts)
			if _, err := geo.Download(context.Background(), opts); err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("Download = %v, want an error about %q", err, c.msg)
			}
		})
	}
	if reqs := srv.Requests(); len(reqs) != 0 {
		t.Errorf("invalid options still sent requests: %v", reqs)
	}
}

// TestDownloadFileModes: the database is public data, 0644, but what is
// being downloaded is its owner's alone until it is verified.
func TestDownloadFileModes(t *testing.T) {
	switch runtime.GOOS {
	case "windows", "js", "wasip1":
		t.Skipf("no Unix file modes on %s", runtime.GOOS)
	}
	for _, source := range []geo.Source{geo.MaxMind, geo.DBIP} {
		t.Run(string(source), func(t *testing.T) {
			dir := t.TempDir()
			var opts geo.DownloadOptions
			if source == geo.DBIP {
				var srv mmdbtest.DBIP
				srv.Set(mmdbtest.DBIPFile("2026-05"), mmdbtest.Gzip(t, dbipCity(t)))
				now := time.Date(2026, 5, 17, 0, 0, 0, 0, time.UTC)
				opts = dbipDownload(t, &srv, dir, &now)
			} else {
				f := newMaxMind()
				f.Set("GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", mmdbtest.City(t)))
				opts = maxmindDownload(t, f, dir)
			}
			temps := 0
			opts.Progress = func(p geo.Progress) {
				if p.Phase != geo.PhaseVerifying {
					return
				}
				for _, name := range dirEntries(t, dir) {
					if !strings.HasSuffix(name, ".tmp") {
						continue
					}
					temps++
					if m := mode(t, filepath.Join(dir, name)); m != 0o600 {
						t.Errorf("temporary file %s has mode %v, want 0600", name, m)
					}
				}
			}
			res, err := geo.Download(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if temps != 1 {
				t.Errorf("saw %d temporary files while verifying, want 1", temps)
			}
			for _, p := range []string{res.Path, res.Path + ".sha256"} {
				if m := mode(t, p); m != 0o644 {
					t.Errorf("%s has mode %v, want 0644", filepath.Base(p), m)
				}
			}
		})
	}
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestAttribution: DB-IP's databases are known by their type, or by their
// description where the type is a MaxMind one.
func TestAttribution(t *testing.T) {
	described := func(dbType, description string) []byte {
		tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, Description: map[string]string{"en": description}})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := tree.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for _, c := range []struct {
		name string
		db   []byte
		want string
	}{
		{"DB-IP City Lite", dbipCity(t), "IP Geolocation by DB-IP"},
		{"DB-IP Country Lite", mmdbtest.Build(t, "DBIP-Country-Lite", 6, mmdbtest.Places), "IP Geolocation by DB-IP"},
		{"DB-IP in GeoIP2 dress", described("GeoIP2-City", "IP to City Lite by DB-IP (https://db-ip.com)"), "IP Geolocation by DB-IP"},
		{"GeoLite2", mmdbtest.City(t), ""},
	} {
		info, err := openBytes(t, c.db, nil).Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Attribution != c.want || (c.want != "") != (info.AttributionURL == "https://db-ip.com") {
			t.Errorf("%s: Info() = %+v, want attribution %q", c.name, info, c.want)
		}
	}
}
