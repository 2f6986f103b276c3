package geo_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/qsessions/qsessions/geo"
	"github.com/qsessions/qsessions/internal/mmdbtest"
)

const (
	testAccount = "acct-314159"
	testKey     = "lk_SECRET_0123456789abcdef"
)

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// maxmindDownload returns options that download from m.
func maxmindDownload(t *testing.T, m *mmdbtest.MaxMind, dir string) geo.DownloadOptions {
	opts := geo.DownloadOptions{AccountID: m.Account, LicenseKey: m.Key, Dir: dir}
	opts.BaseURL, opts.Client = serve(t, m)
	return opts
}

func newMaxMind() *mmdbtest.MaxMind { return &mmdbtest.MaxMind{Account: testAccount, Key: testKey} }

// serve makes h a download server and returns its base URL and a client
// for it. Where the platform has no sockets (js and wasip1), requests go
// straight to h through the client's transport instead of over loopback.
func serve(t *testing.T, h http.Handler) (string, *http.Client) {
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		return "http://download.test", &http.Client{Transport: handlerTransport{h}}
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, srv.Client()
}

type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// dirEntries lists dir, to show that failed downloads leave no litter.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestDownload(t *testing.T) {
	dir := t.TempDir()
	f := newMaxMind()
	db := mmdbtest.City(t)
	a := mmdbtest.MaxMindArchive(t, "GeoLite2-City", db)
	f.Set("GeoLite2-City", a)
	opts := maxmindDownload(t, f, dir)
	progress := &progressLog{t: t, edition: "GeoLite2-City"}
	opts.Progress = progress.record

	res, err := geo.Download(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	wantPath := filepath.Join(dir, "GeoLite2-City.mmdb")
	if !res.Updated || res.Path != wantPath || res.Archive != "GeoLite2-City.tar.gz" || res.SHA256 != sum(a) {
		t.Errorf("Download = %+v, want Updated, Path %s, SHA256 %s", res, wantPath, sum(a))
	}
	progress.check(geo.PhaseChecking, geo.PhaseDownloading, geo.PhaseVerifying, geo.PhaseDone)
	if progress.last.Bytes != int64(len(a)) {
		t.Errorf("last progress reports %d bytes, archive has %d", progress.last.Bytes, len(a))
	}
	gdb := checkInstalled(t, wantPath, db)

	// Same published checksum: nothing is downloaded.
	res, err = geo.Download(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Updated || f.Downloads() != 1 {
		t.Errorf("second Download: %+v after %d archive requests; want no download", res, f.Downloads())
	}
	progress.check(geo.PhaseChecking, geo.PhaseUpToDate)

	// A new release is installed, and a DB that has the file open sees it
	// on Reload.
	next := mmdbtest.Build(t, "GeoLite2-City", 6, []mmdbtest.Place{{Network: "192.0.2.0/24", City: "Paris", Country: "France"}})
	f.Set("GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", next))
	if res, err = geo.Download(context.Background(), opts); err != nil || !res.Updated {
		t.Fatalf("Download of a new release = %+v, %v", res, err)
	}
	if err := gdb.Reload(); err != nil {
		t.Fatal(err)
	}
	if loc := locate(t, gdb, "192.0.2.1"); loc.City != "Paris" {
		t.Errorf("after a new release and Reload: %+v", loc)
	}

	// A database changed by hand no longer matches the recorded checksum,
	// so the published one is installed again.
	writeFile(t, dir, "GeoLite2-City.mmdb", db)
	if res, err = geo.Download(context.Background(), opts); err != nil || !res.Updated {
		t.Fatalf("Download over a hand-changed file = %+v, %v", res, err)
	}
	if got, _ := os.ReadFile(wantPath); !bytes.Equal(got, next) {
		t.Error("hand-changed database was not replaced")
	}
}

// A progressLog records the progress of Downloads of an edition.
type progressLog struct {
	t       *testing.T
	edition string
	phases  []geo.Phase // each phase once, in order, since the last check
	last    geo.Progress
}

func (l *progressLog) record(p geo.Progress) {
	if p.Edition != l.edition {
		l.t.Errorf("progress for edition %q, want %q", p.Edition, l.edition)
	}
	if len(l.phases) == 0 || l.phases[len(l.phases)-1] != p.Phase {
		l.phases = append(l.phases, p.Phase)
	}
	l.last = p
}

// check checks the phases since the last check.
func (l *progressLog) check(want ...geo.Phase) {
	l.t.Helper()
	if !slices.Equal(l.phases, want) {
		l.t.Errorf("phases %v, want %v", l.phases, want)
	}
	l.phases = nil
}

// checkInstalled checks that db is installed at path, with its record
// beside it and nothing else, and that it opens and locates; it returns
// it opened, for the rest of the test.
func checkInstalled(t *testing.T, path string, db []byte) *geo.DB {
	t.Helper()
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, db) {
		t.Fatalf("installed database differs from the one published (err %v)", err)
	}
	name := filepath.Base(path)
	if names := dirEntries(t, filepath.Dir(path)); strings.Join(names, " ") != name+" "+name+".sha256" {
		t.Errorf("directory holds %v", names)
	}
	gdb, err := geo.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gdb.Close() })
	if loc := locate(t, gdb, "192.0.2.1"); loc.City != "Berlin" {
		t.Errorf("installed database locates 192.0.2.1 at %+v", loc)
	}
	return gdb
}

func TestDownloadCountryEdition(t *testing.T) {
	dir := t.TempDir()
	f := newMaxMind()
	f.Set("GeoLite2-Country", mmdbtest.MaxMindArchive(t, "GeoLite2-Country", mmdbtest.Country(t)))
	opts := maxmindDownload(t, f, dir)
	opts.Edition = "GeoLite2-Country"
	res, err := geo.Download(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != filepath.Join(dir, "GeoLite2-Country.mmdb") {
		t.Errorf("Path = %s", res.Path)
	}
	gdb, err := geo.Open(res.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gdb.Close()
	if info, _ := gdb.Info(); info.Type != "GeoLite2-Country" {
		t.Errorf("installed a %s database", info.Type)
	}
}

// installOld puts a database in dir as a previous Download would have, and
// returns its bytes.
func installOld(t *testing.T, f *mmdbtest.MaxMind, opts geo.DownloadOptions) []byte {
	t.Helper()
	old := mmdbtest.Build(t, "GeoLite2-City", 6, mmdbtest.Places[:1])
	f.Set("GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", old))
	if _, err := geo.Download(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	return old
}

// checkUntouched checks that a failed Download left the old database and
// its checksum as they were, and no temporary files.
func checkUntouched(t *testing.T, dir string, old []byte, oldSum []byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, "GeoLite2-City.mmdb"))
	if err != nil || !bytes.Equal(got, old) {
		t.Errorf("old database changed (err %v)", err)
	}
	if s, _ := os.ReadFile(filepath.Join(dir, "GeoLite2-City.mmdb.sha256")); !bytes.Equal(s, oldSum) {
		t.Errorf("checksum record changed: %q, was %q", s, oldSum)
	}
	if names := dirEntries(t, dir); len(names) != 2 {
		t.Errorf("directory holds %v, want only the database and its checksum", names)
	}
}

func TestDownloadFailuresKeepOldDatabase(t *testing.T) {
	newDB := mmdbtest.Build(t, "GeoLite2-City", 6, mmdbtest.Places)
	cases := []struct {
		name    string
		prepare func(f *mmdbtest.MaxMind)
		is      error  // errors.Is target, if any
		msg     string // in the error
	}{
		{"wrong checksum", func(f *mmdbtest.MaxMind) {
			f.Set("GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", newDB))
			f.SetSum("GeoLite2-City", sum([]byte("something else")))
		}, geo.ErrChecksum, "SHA-256"},
		{"truncated archive, checksum of the whole", func(f *mmdbtest.MaxMind) {
			f.Set("GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", newDB))
			f.Truncate()
		}, nil, "GeoLite2-City"},
		{"truncated archive, checksum of the truncated bytes", func(f *mmdbtest.MaxMind) {
			a := mmdbtest.MaxMindArchive(t, "GeoLite2-City", newDB)
			f.Set("GeoLite2-City", a[:len(a)*2/3])
		}, nil, "unexpected EOF"},
		{"member escaping with ..", func(f *mmdbtest.MaxMind) {
			f.Set("GeoLite2-City", mmdbtest.Archive(t, mmdbtest.Member{Name: "../GeoLite2-City.mmdb", Body: newDB}))
		}, nil, "unsafe path"},
		{"member escaping later in the archive", func(f *mmdbtest.MaxMind) {
			f.Set("GeoLite2-City", mmdbtest.Archive(t,
				mmdbtest.Member{Name: "GeoLite2-City_20260101/GeoLite2-City.mmdb", Body: newDB},
				mmdbtest.Member{Name: "GeoLite2-City_20260101/../../evil.txt", Body: []byte("pwned")}))
		}, nil, "unsafe path"},
		{"absolute member", func(f *mmdbtest.MaxMind) {
			f.Set("GeoLite2-City", mmdbtest.Archive(t, mmdbtest.Member{Name: "/tmp/GeoLite2-City.mmdb", Body: newDB}))
		}, nil, "unsafe path"},
		{"no database in archive", func(f *mmdbtest.MaxMind) {
			f.Set("GeoLite2-City", mmdbtest.Archive(t, mmdbtest.Member{Name: "x/README.txt", Body: []byte("hi")}))
		}, nil, "no .mmdb"},
		{"symlink named .mmdb", func(f *mmdbtest.MaxMind) {
			f.Set("GeoLite2-City", mmdbtest.Archive(t, mmdbtest.Member{Name: "x/GeoLite2-City.mmdb", Type: tar.TypeSymlink, Body: []byte("/etc/passwd")}))
		}, nil, "no .mmdb"},
		{"two databases", func(f *mmdbtest.MaxMind) {
			f.Set("GeoLite2-City", mmdbtest.Archive(t, mmdbtest.Member{Name: "a/GeoLite2-City.mmdb", Body: newDB}, mmdbtest.Member{Name: "b/GeoLite2-City.mmdb", Body: newDB}))
		}, nil, "more than one"},
		{"database is not a database", func(f *mmdbtest.MaxMind) {
			f.Set("GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", []byte("<html>not found</html>")))
		}, nil, "not valid"},
		{"database truncated inside the archive", func(f *mmdbtest.MaxMind) {
			f.Set("GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", newDB[:len(newDB)-40]))
		}, nil, "not valid"},
		{"not gzip", func(f *mmdbtest.MaxMind) {
			f.Set("GeoLite2-City", []byte("PK\x03\x04 a zip file"))
		}, nil, "gzip"},
		{"published checksum is not a checksum", func(f *mmdbtest.MaxMind) {
			f.SetSum("GeoLite2-City", "<html>")
		}, nil, "not a SHA-256"},
		{"401", func(f *mmdbtest.MaxMind) { f.Fail(http.StatusUnauthorized) }, geo.ErrUnauthorized, "GeoLite2-City"},
		{"500", func(f *mmdbtest.MaxMind) { f.Fail(http.StatusInternalServerError) }, nil, "500"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "geoip")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			f := newMaxMind()
			opts := maxmindDownload(t, f, dir)
			old := installOld(t, f, opts)
			oldSum, err := os.ReadFile(filepath.Join(dir, "GeoLite2-City.mmdb.sha256"))
			if err != nil {
				t.Fatal(err)
			}
			c.prepare(f)

			res, err := geo.Download(context.Background(), opts)
			if err == nil {
				t.Fatalf("Download succeeded: %+v", res)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v is not %v", err, c.is)
			}
			t.Logf("error: %v", err)
			msg := err.Error()
			if !strings.Contains(msg, c.msg) || !strings.Contains(msg, "GeoLite2-City") {
				t.Errorf("error %q should mention %q and the edition", msg, c.msg)
			}
			if strings.Contains(msg, testAccount) || strings.Contains(msg, testKey) || strings.Contains(msg, "X-Amz-Signature") {
				t.Errorf("error %q leaks credentials", msg)
			}
			checkUntouched(t, dir, old, oldSum)
			if names := dirEntries(t, parent); len(names) != 1 {
				t.Errorf("something was written beside the target directory: %v", names)
			}
		})
	}
}

func TestDownloadBadCredentials(t *testing.T) {
	dir := t.TempDir()
	f := newMaxMind()
	f.Set("GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", mmdbtest.City(t)))
	opts := maxmindDownload(t, f, dir)
	opts.LicenseKey = "lk_WRONG_KEY_42"
	_, err := geo.Download(context.Background(), opts)
	if !errors.Is(err, geo.ErrUnauthorized) {
		t.Fatalf("Download with a wrong key = %v, want ErrUnauthorized", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "GeoLite2-City") || strings.Contains(msg, testAccount) || strings.Contains(msg, "lk_WRONG_KEY_42") {
		t.Errorf("error %q should name the edition and no credentials", msg)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("failed Download left %v", names)
	}
}

func TestDownloadValidatesBeforeAnyRequest(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := newMaxMind()
	f.Set("GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", mmdbtest.City(t)))
	base := maxmindDownload(t, f, dir)
	cases := []struct {
		name   string
		change func(o *geo.DownloadOptions)
		msg    string
	}{
		{"no account", func(o *geo.DownloadOptions) { o.AccountID = "" }, "account ID"},
		{"no key", func(o *geo.DownloadOptions) { o.LicenseKey = "" }, "licence key"},
		{"no dir", func(o *geo.DownloadOptions) { o.Dir = "" }, "directory"},
		{"missing dir", func(o *geo.DownloadOptions) { o.Dir = filepath.Join(dir, "nope") }, "directory"},
		{"dir is a file", func(o *geo.DownloadOptions) { o.Dir = file }, "not a directory"},
		{"edition with a path", func(o *geo.DownloadOptions) { o.Edition = "../GeoLite2-City" }, "invalid edition"},
		{"edition with a slash", func(o *geo.DownloadOptions) { o.Edition = "a/b" }, "invalid edition"},
		{"bad base URL", func(o *geo.DownloadOptions) { o.BaseURL = "ftp://example.com" }, "base URL"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			opts := base
			c.change(&opts)
			_, err := geo.Download(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("Download = %v, want an error about %q", err, c.msg)
			}
			if err != nil && (strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), testAccount)) {
				t.Errorf("error %q leaks credentials", err)
			}
		})
	}
	if hits := f.Hits(); hits != 0 {
		t.Errorf("invalid options still sent %d requests", hits)
	}
}

func TestDownloadCancelled(t *testing.T) {
	dir := t.TempDir()
	f := newMaxMind()
	f.Set("GeoLite2-City", mmdbtest.MaxMindArchive(t, "GeoLite2-City", mmdbtest.City(t)))
	opts := maxmindDownload(t, f, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := geo.Download(ctx, opts); !errors.Is(err, context.Canceled) {
		t.Errorf("Download with a cancelled context = %v, want context.Canceled", err)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("cancelled Download left %v", names)
	}
}
