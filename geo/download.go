package geo

import (
	"archive/tar"
	"bufio"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// DefaultDownloadURL is MaxMind's download endpoint, the default
// [DownloadOptions].BaseURL for [MaxMind].
const DefaultDownloadURL = "https://download.maxmind.com"

// DefaultDBIPURL is DB-IP's download endpoint, the default
// [DownloadOptions].BaseURL for [DBIP].
const DefaultDBIPURL = "https://download.db-ip.com"

// DBIPCityLite is the edition that [DBIP] offers: DB-IP's IP to City Lite.
const DBIPCityLite = "dbip-city-lite"

// maxArchiveSize bounds what Download reads, compressed and uncompressed.
// MaxMind's largest databases are a few hundred megabytes.
const maxArchiveSize = 4 << 30

var (
	// ErrUnauthorized is returned (wrapped, with the edition's name) by
	// [Download] when MaxMind rejects the account ID or licence key.
	ErrUnauthorized = errors.New("MaxMind rejected the account ID or licence key (HTTP 401)")

	// ErrChecksum is returned (wrapped) by [Download] when the archive does
	// not match the SHA-256 that MaxMind publishes for it.
	ErrChecksum = errors.New("archive does not match its published SHA-256")
)

// A Source is a publisher of databases that [Download] fetches.
type Source string

const (
	// MaxMind publishes the GeoLite2 editions (free with an account) and
	// the GeoIP2 ones as tar.gz archives, each with its SHA-256 beside it.
	// Downloading needs an account ID and a licence key. It is the default
	// source.
	MaxMind Source = "maxmind"

	// DBIP is DB-IP, which publishes its IP to City Lite database every
	// month under CC BY 4.0, to anyone, without an account: whoever shows
	// its data must credit DB-IP, as [Info].Attribution says.
	DBIP Source = "dbip"
)

// DownloadOptions say what [Download] fetches, from where, with which
// credentials, and where it puts it. Dir is required, and so are AccountID
// and LicenseKey for [MaxMind].
type DownloadOptions struct {
	// Source is where the database comes from: [MaxMind] (the default) or
	// [DBIP].
	Source Source

	AccountID  string // MaxMind account ID; DBIP needs none
	LicenseKey string // MaxMind licence key; DBIP needs none

	// Edition is the database to fetch. From MaxMind: "GeoLite2-City" (the
	// default), "GeoLite2-Country", "GeoIP2-City", or any edition ID the
	// account may download. From DBIP: [DBIPCityLite], the default and the
	// only one.
	Edition string

	// Dir is the directory the database is installed in, as
	// Dir/<Edition>.mmdb, with Dir/<Edition>.mmdb.sha256 beside it, which
	// records what was downloaded. It must exist.
	Dir string

	// BaseURL replaces [DefaultDownloadURL] or [DefaultDBIPURL], for tests
	// and mirrors.
	BaseURL string

	// Client makes the requests; nil means http.DefaultClient. Redirects
	// are followed as the client's CheckRedirect allows.
	Client *http.Client

	// Now tells the date, which names DB-IP's monthly file; nil means
	// time.Now.
	Now func() time.Time

	// Progress, if set, is called as the download goes on, from the
	// goroutine that called Download.
	Progress func(Progress)
}

// A Phase is a step of [Download].
type Phase int

// The phases of a Download, in order. A Download ends in PhaseUpToDate or
// PhaseDone when it succeeds.
const (
	PhaseChecking    Phase = iota // fetching the published checksum, or finding DB-IP's latest file
	PhaseUpToDate                 // the installed database is current; nothing downloaded
	PhaseDownloading              // receiving the archive; Bytes and Total are set
	PhaseVerifying                // checking the checksum and the database
	PhaseDone                     // the new database is installed
)

func (p Phase) String() string {
	switch p {
	case PhaseChecking:
		return "checking"
	case PhaseUpToDate:
		return "up to date"
	case PhaseDownloading:
		return "downloading"
	case PhaseVerifying:
		return "verifying"
	case PhaseDone:
		return "done"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Progress reports how far a [Download] has got.
type Progress struct {
	Edition string
	Phase   Phase
	Bytes   int64 // archive bytes received so far
	Total   int64 // archive size, or -1 while unknown
}

// DownloadResult says what a [Download] did.
type DownloadResult struct {
	Path    string // the installed database, Dir/<Edition>.mmdb
	Updated bool   // a new database was installed; false when it was current

	// Archive is the file the database came from: "GeoLite2-City.tar.gz",
	// "dbip-city-lite-2026-05.mmdb.gz".
	Archive string

	// SHA256 is the archive's SHA-256, hex: the one MaxMind publishes, or,
	// for DB-IP, which publishes none, that of the file received.
	SHA256 string
}

// Download fetches a database and installs it in opts.Dir, unless the
// database installed there is already the latest one.
//
// From [MaxMind] it fetches the archive's published SHA-256 first, and
// stops there when the checksum recorded by the last download
// (Dir/<Edition>.mmdb.sha256) matches it and the installed file is the one
// that download wrote. It otherwise downloads the tar.gz archive with HTTP
// basic authentication, checks it against the published SHA-256, and
// extracts the single .mmdb file it holds (member names are never used as
// paths; an archive with an absolute or ".." member is refused).
//
// From [DBIP] it takes the file of the current month by opts.Now, in UTC,
// and the previous month's while the current one is not published yet (a
// 404), so early in a month it may install last month's; it stops before
// downloading when the installed database is the one that file gave. It
// decompresses the .mmdb.gz as it arrives. DB-IP publishes no checksum,
// so the database must also open as a City database.
//
// Either way the database goes to a temporary file in Dir (mode 0600),
// is verified to be a valid MaxMind DB, and is renamed into place (mode
// 0644, or the mode of the file it replaces), so that readers see the old
// file or the new one, never a mix. On any error the installed database
// is left as it was.
//
// A [DB] that has the file open picks up the new version on [DB.Reload] or
// through [DB.Watch]. Errors name the edition and never contain the
// credentials. Missing credentials (naming [DBIP], which needs none) or a
// missing Dir are reported before any request; a 401 from MaxMind is
// [ErrUnauthorized], a checksum mismatch [ErrChecksum].
func Download(ctx context.Context, opts DownloadOptions) (DownloadResult, error) {
	base := opts.BaseURL
	switch opts.Source {
	case "", MaxMind:
		opts.Source = MaxMind
		opts.Edition = cmp.Or(opts.Edition, "GeoLite2-City")
		base = cmp.Or(base, DefaultDownloadURL)
	case DBIP:
		opts.Edition = cmp.Or(opts.Edition, DBIPCityLite)
		base = cmp.Or(base, DefaultDBIPURL)
		if opts.Edition != DBIPCityLite {
			return DownloadResult{}, fmt.Errorf("geo: download %s: DB-IP's free database is %s", opts.Edition, DBIPCityLite)
		}
	default:
		return DownloadResult{}, fmt.Errorf("geo: download: unknown source %q", opts.Source)
	}
	ed := opts.Edition
	fail := func(err error) (DownloadResult, error) {
		return DownloadResult{}, fmt.Errorf("geo: download %s: %w", ed, err)
	}
	if !validEdition(ed) {
		return DownloadResult{}, fmt.Errorf("geo: download: invalid edition %q", ed)
	}
	if opts.Source == MaxMind && (opts.AccountID == "" || opts.LicenseKey == "") {
		return fail(errors.New("missing MaxMind account ID or licence key (DB-IP's City Lite needs none: Source geo.DBIP)"))
	}
	if opts.Dir == "" {
		return fail(errors.New("no target directory"))
	}
	if fi, err := os.Stat(opts.Dir); err != nil {
		return fail(fmt.Errorf("target directory: %w", err))
	} else if !fi.IsDir() {
		return fail(fmt.Errorf("target directory %s is not a directory", opts.Dir))
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fail(errors.New("invalid base URL"))
	}
	dl := &downloader{opts: opts, base: strings.TrimRight(base, "/"), client: opts.Client}
	if dl.client == nil {
		dl.client = http.DefaultClient
	}
	res, err := dl.run(ctx)
	if err != nil {
		return fail(err)
	}
	return res, nil
}

// validEdition keeps edition names to what MaxMind uses, so that one can
// safely name a file and a URL path segment.
func validEdition(ed string) bool {
	if ed == "" || len(ed) > 128 || ed[0] == '.' || ed[0] == '-' {
		return false
	}
	for _, c := range ed {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return !strings.Contains(ed, "..")
}

type downloader struct {
	opts   DownloadOptions
	base   string
	client *http.Client
}

func (dl *downloader) progress(p Progress) {
	if dl.opts.Progress != nil {
		p.Edition = dl.opts.Edition
		dl.opts.Progress(p)
	}
}

// An archive is a file that a source publishes a database in.
type archive struct {
	name   string        // "GeoLite2-City.tar.gz", "dbip-city-lite-2026-05.mmdb.gz"
	sum    string        // its SHA-256, hex: published, or recorded; "" when unknown
	body   io.ReadCloser // nil when the installed database came from it
	size   int64         // of body, -1 when unknown
	unpack func(r io.Reader, w io.Writer) error
}

func (dl *downloader) run(ctx context.Context) (DownloadResult, error) {
	ed := dl.opts.Edition
	dst := filepath.Join(dl.opts.Dir, ed+".mmdb")
	sumPath := dst + ".sha256"

	dl.progress(Progress{Phase: PhaseChecking, Total: -1})
	installed := readRecord(dst, sumPath)
	var a archive
	var err error
	if dl.opts.Source == DBIP {
		a, err = dl.latestDBIP(ctx, installed)
	} else {
		a, err = dl.latestMaxMind(ctx, installed)
	}
	if err != nil {
		return DownloadResult{}, err
	}
	res := DownloadResult{Path: dst, Archive: a.name, SHA256: a.sum}
	if a.body == nil {
		dl.progress(Progress{Phase: PhaseUpToDate, Total: -1})
		return res, nil
	}
	defer a.body.Close()

	tmp, err := os.CreateTemp(dl.opts.Dir, "."+ed+".*.mmdb.tmp")
	if err != nil {
		return DownloadResult{}, err
	}
	tmpPath := tmp.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = tmp.Close()
			_ = os.Remove(tmpPath)
		}
	}()

	archiveHash := sha256.New()
	counter := &progressReader{r: io.LimitReader(a.body, maxArchiveSize), dl: dl, total: a.size}
	dbHash := sha256.New()
	if err := a.unpack(io.TeeReader(counter, archiveHash), io.MultiWriter(tmp, dbHash)); err != nil {
		return DownloadResult{}, err
	}
	dl.progress(Progress{Phase: PhaseVerifying, Bytes: counter.n, Total: a.size})
	got := hex.EncodeToString(archiveHash.Sum(nil))
	if a.sum != "" && got != a.sum {
		return DownloadResult{}, fmt.Errorf("%w: got %s, published %s", ErrChecksum, got, a.sum)
	}
	res.SHA256 = got
	if err := tmp.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return DownloadResult{}, err
	}
	if err := tmp.Close(); err != nil {
		return DownloadResult{}, err
	}
	if err := verifyDatabase(tmpPath); err != nil {
		return DownloadResult{}, fmt.Errorf("downloaded database is not valid: %w", err)
	}
	if dl.opts.Source == DBIP {
		if err := verifyCity(tmpPath); err != nil {
			return DownloadResult{}, fmt.Errorf("downloaded database is not valid: %w", err)
		}
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(dst); err == nil {
		mode = fi.Mode().Perm()
	}
	_ = os.Chmod(tmpPath, mode) // best effort: not every platform has modes

	// The old record goes first: a crash between the two renames then
	// leaves a database without a record, which the next run replaces,
	// rather than a record that vouches for the wrong file.
	if err := os.Remove(sumPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return DownloadResult{}, err
	}
	if err := os.Rename(tmpPath, dst); err != nil {
		return DownloadResult{}, err
	}
	renamed = true
	syncDir(dl.opts.Dir)
	rec := got + "  " + a.name + "\n" + hex.EncodeToString(dbHash.Sum(nil)) + "  " + ed + ".mmdb\n"
	if err := writeFileAtomic(sumPath, []byte(rec)); err != nil {
		return DownloadResult{}, fmt.Errorf("database installed, but recording its checksum: %w", err)
	}
	res.Updated = true
	dl.progress(Progress{Phase: PhaseDone, Bytes: counter.n, Total: a.size})
	return res, nil
}

// latestMaxMind returns the edition's archive, with no body when the
// installed database came from it.
func (dl *downloader) latestMaxMind(ctx context.Context, installed record) (archive, error) {
	want, err := dl.fetchChecksum(ctx)
	if err != nil {
		return archive{}, err
	}
	a := archive{name: dl.opts.Edition + ".tar.gz", sum: want, unpack: extract}
	if installed.archiveSum == want {
		return a, nil
	}
	a.body, a.size, err = dl.getMaxMind(ctx, "tar.gz")
	return a, err
}

// latestDBIP returns the newest monthly file that DB-IP has published,
// this month's or last month's, with no body when the installed database
// came from it.
func (dl *downloader) latestDBIP(ctx context.Context, installed record) (archive, error) {
	now := time.Now
	if dl.opts.Now != nil {
		now = dl.opts.Now
	}
	t := now().UTC()
	month := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	var missing []string
	for _, m := range []time.Time{month, month.AddDate(0, -1, 0)} {
		a := archive{name: dl.opts.Edition + "-" + m.Format("2006-01") + ".mmdb.gz", unpack: gunzip}
		if installed.archive == a.name {
			a.sum = installed.archiveSum
			return a, nil
		}
		body, size, err := dl.get(ctx, dl.base+"/free/"+a.name)
		var hs *httpStatus
		if errors.As(err, &hs) && hs.code == http.StatusNotFound {
			missing = append(missing, a.name)
			continue
		}
		if err != nil {
			return archive{}, fmt.Errorf("fetching %s: %w", a.name, err)
		}
		a.body, a.size = body, size
		return a, nil
	}
	return archive{}, fmt.Errorf("DB-IP has published neither %s nor %s (HTTP 404)", missing[0], missing[1])
}

// fetchChecksum returns the published SHA-256 of the archive, in hex.
func (dl *downloader) fetchChecksum(ctx context.Context) (string, error) {
	body, _, err := dl.getMaxMind(ctx, "tar.gz.sha256")
	if err != nil {
		return "", err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 4096))
	if err != nil {
		return "", fmt.Errorf("reading checksum: %w", redact(err))
	}
	sum, _, ok := parseSum(string(b))
	if !ok {
		return "", errors.New("the published checksum is not a SHA-256")
	}
	return sum, nil
}

// parseSum returns the first field of a sha256sum line, lower-cased, if it
// is a SHA-256 in hex, and the second field.
func parseSum(line string) (sum, name string, ok bool) {
	f := strings.Fields(line)
	if len(f) == 0 || len(f[0]) != 2*sha256.Size {
		return "", "", false
	}
	if _, err := hex.DecodeString(f[0]); err != nil {
		return "", "", false
	}
	if len(f) > 1 {
		name = f[1]
	}
	return strings.ToLower(f[0]), name, true
}

// A record is what Dir/<Edition>.mmdb.sha256 says about the archive the
// installed database came from.
type record struct {
	archiveSum string // the archive's SHA-256, hex
	archive    string // its name
}

// readRecord returns the record at sumPath if the database at dst is still
// the one it describes, and the zero record otherwise.
func readRecord(dst, sumPath string) record {
	b, err := os.ReadFile(sumPath)
	if err != nil {
		return record{}
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 2 {
		return record{}
	}
	archiveSum, archiveName, ok1 := parseSum(lines[0])
	db, _, ok2 := parseSum(lines[1])
	if !ok1 || !ok2 {
		return record{}
	}
	f, err := os.Open(dst)
	if err != nil {
		return record{}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil || hex.EncodeToString(h.Sum(nil)) != db {
		return record{}
	}
	return record{archiveSum: archiveSum, archive: archiveName}
}

// An httpStatus is a response other than 200 OK.
type httpStatus struct {
	code   int
	status string // "404 Not Found"
}

func (e *httpStatus) Error() string { return "HTTP " + e.status }

// get requests u and returns the body of a 200 response and its length
// (-1 if unknown), or an *httpStatus. MaxMind's requests carry the
// credentials.
func (dl *downloader) get(ctx context.Context, u string) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, redact(err)
	}
	if dl.opts.Source == MaxMind {
		req.SetBasicAuth(dl.opts.AccountID, dl.opts.LicenseKey)
	}
	resp, err := dl.client.Do(req)
	if err != nil {
		return nil, 0, redact(err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp.Body, resp.ContentLength, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return nil, 0, &httpStatus{resp.StatusCode, resp.Status}
}

// getMaxMind requests the edition with the given suffix from MaxMind.
func (dl *downloader) getMaxMind(ctx context.Context, suffix string) (io.ReadCloser, int64, error) {
	u := dl.base + "/geoip/databases/" + url.PathEscape(dl.opts.Edition) + "/download?suffix=" + url.QueryEscape(suffix)
	body, size, err := dl.get(ctx, u)
	var hs *httpStatus
	if !errors.As(err, &hs) {
		return body, size, err
	}
	switch hs.code {
	case http.StatusUnauthorized:
		return nil, 0, ErrUnauthorized
	case http.StatusForbidden:
		return nil, 0, fmt.Errorf("%w: the account may not download this edition", err)
	case http.StatusNotFound:
		return nil, 0, fmt.Errorf("%w: no such edition", err)
	}
	return nil, 0, fmt.Errorf("fetching %s: unexpected %w", suffix, err)
}

// redact strips the query from the URL in a *url.Error: after a redirect
// it is a pre-signed URL, which is a credential of a sort.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery, u.User, u.Fragment = "", nil, ""
			ue.URL = u.String()
		} else {
			ue.URL = "(unparsable URL)"
		}
	}
	return err
}

// progressStep is how many bytes pass between two progress reports.
const progressStep = 256 << 10

type progressReader struct {
	r        io.Reader
	dl       *downloader
	n        int64
	total    int64
	reported int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n-p.reported >= progressStep || (err != nil && p.n > p.reported) || p.reported == 0 && p.n > 0 {
		p.reported = p.n
		p.dl.progress(Progress{Phase: PhaseDownloading, Bytes: p.n, Total: p.total})
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = redact(err)
	}
	return n, err
}

// extract copies the one regular .mmdb file of the tar.gz archive read from
// r to w, then reads r to its end (so that a hash of r covers it all). It
// refuses archives with unsafe member names, with no or several .mmdb
// files, and truncated ones.
func extract(r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 64<<10)
	zr, err := gzip.NewReader(br)
	if err != nil {
		return fmt.Errorf("reading archive: %w", err)
	}
	tr := tar.NewReader(zr)
	found := ""
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", err)
		}
		if !safeMember(hdr.Name) {
			return fmt.Errorf("archive member %q has an unsafe path", hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg || !strings.HasSuffix(path.Base(hdr.Name), ".mmdb") {
			continue
		}
		if found != "" {
			return fmt.Errorf("archive has more than one .mmdb file (%s, %s)", found, hdr.Name)
		}
		found = hdr.Name
		if hdr.Size > maxArchiveSize {
			return fmt.Errorf("archive member %s is too large", hdr.Name)
		}
		if _, err := io.Copy(w, tr); err != nil {
			return fmt.Errorf("extracting %s: %w", hdr.Name, err)
		}
	}
	if found == "" {
		return errors.New("archive has no .mmdb file")
	}
	// Read what follows the tar stream: gzip's trailer checks the data.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return fmt.Errorf("reading archive: %w", err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fmt.Errorf("reading archive: %w", err)
	}
	return nil
}

// safeMember reports whether a tar member name stays inside the directory
// it would be extracted to. Download never extracts by name, but an archive
// that tries to escape is not one MaxMind made.
func safeMember(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.Contains(name, "\x00") {
		return false
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." {
			return false
		}
	}
	return filepath.IsLocal(filepath.FromSlash(strings.TrimSuffix(name, "/")))
}

// gunzip decompresses the gzip stream read from r to w, to its end, where
// gzip's trailer checks the data.
func gunzip(r io.Reader, w io.Writer) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("reading archive: %w", err)
	}
	n, err := io.Copy(w, io.LimitReader(zr, maxArchiveSize+1))
	if err != nil {
		return fmt.Errorf("reading archive: %w", err)
	}
	if n > maxArchiveSize {
		return errors.New("database is too large")
	}
	return nil
}

// verifyCity checks that the database at p opens as a DB opens it, and
// holds city-level data.
func verifyCity(p string) error {
	r, err := guardOpen(func() (*geoip2.Reader, error) { return geoip2.Open(p) })
	if err != nil {
		return err
	}
	d, err := newDatabase(r)
	if err != nil {
		return err
	}
	defer d.r.Close()
	if !strings.Contains(d.typ, "City") {
		return fmt.Errorf("a %s database, not a City database", d.typ)
	}
	return nil
}

// verifyDatabase checks that the file at p is a well-formed MaxMind DB.
func verifyDatabase(p string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	r, err := maxminddb.Open(p)
	if err != nil {
		return err
	}
	defer r.Close()
	if r.Metadata.DatabaseType == "" {
		return errors.New("no database type in metadata")
	}
	return r.Verify()
}

// writeFileAtomic writes b to a temporary file beside p and renames it to p.
func writeFileAtomic(p string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		_ = os.Chmod(tmp, 0o644)
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// syncDir makes a rename in dir durable where the platform allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
