package geo

import (
	"archive/tar"
	"bufio"
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

	"github.com/oschwald/maxminddb-golang/v2"
)

// DefaultDownloadURL is MaxMind's download endpoint, the default
// [DownloadOptions].BaseURL.
const DefaultDownloadURL = "https://download.maxmind.com"

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

// DownloadOptions say what [Download] fetches, with which credentials, and
// where it puts it. AccountID, LicenseKey and Dir are required.
type DownloadOptions struct {
	AccountID  string // MaxMind account ID
	LicenseKey string // MaxMind licence key

	// Edition is the database to fetch: "GeoLite2-City" (the default),
	// "GeoLite2-Country", "GeoIP2-City", or any edition ID the account
	// may download.
	Edition string

	// Dir is the directory the database is installed in, as
	// Dir/<Edition>.mmdb, with Dir/<Edition>.mmdb.sha256 beside it. It must
	// exist.
	Dir string

	// BaseURL replaces [DefaultDownloadURL], for tests and mirrors.
	BaseURL string

	// Client makes the requests; nil means http.DefaultClient. Redirects
	// are followed as the client's CheckRedirect allows.
	Client *http.Client

	// Progress, if set, is called as the download goes on, from the
	// goroutine that called Download.
	Progress func(Progress)
}

// A Phase is a step of [Download].
type Phase int

// The phases of a Download, in order. A Download ends in PhaseUpToDate or
// PhaseDone when it succeeds.
const (
	PhaseChecking    Phase = iota // fetching the published checksum
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
	SHA256  string // the archive's published SHA-256, hex
}

// Download fetches a MaxMind database edition and installs it in
// opts.Dir, unless the database installed there is already the published
// one.
//
// It fetches the archive's published SHA-256 first, and stops there when
// the checksum recorded by the last download (Dir/<Edition>.mmdb.sha256)
// matches it and the installed file is the one that download wrote. It
// otherwise downloads the tar.gz archive with HTTP basic authentication,
// checks it against the published SHA-256, extracts the single .mmdb file
// it holds to a temporary file in Dir (member names are never used as
// paths; an archive with an absolute or ".." member is refused), verifies
// that it is a valid MaxMind database, and renames it into place, so that
// readers see the old file or the new one, never a mix. On any error the
// installed database is left as it was.
//
// A [DB] that has the file open picks up the new version on [DB.Reload] or
// through [DB.Watch]. Errors name the edition and never contain the
// credentials. Missing credentials or a missing Dir are reported before any
// request; a 401 from MaxMind is [ErrUnauthorized], a checksum mismatch
// [ErrChecksum].
func Download(ctx context.Context, opts DownloadOptions) (DownloadResult, error) {
	if opts.Edition == "" {
		opts.Edition = "GeoLite2-City"
	}
	ed := opts.Edition
	fail := func(err error) (DownloadResult, error) {
		return DownloadResult{}, fmt.Errorf("geo: download %s: %w", ed, err)
	}
	if !validEdition(ed) {
		return DownloadResult{}, fmt.Errorf("geo: download: invalid edition %q", ed)
	}
	if opts.AccountID == "" || opts.LicenseKey == "" {
		return fail(errors.New("missing MaxMind account ID or licence key"))
	}
	if opts.Dir == "" {
		return fail(errors.New("no target directory"))
	}
	if fi, err := os.Stat(opts.Dir); err != nil {
		return fail(fmt.Errorf("target directory: %w", err))
	} else if !fi.IsDir() {
		return fail(fmt.Errorf("target directory %s is not a directory", opts.Dir))
	}
	base := opts.BaseURL
	if base == "" {
		base = DefaultDownloadURL
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

func (dl *downloader) run(ctx context.Context) (DownloadResult, error) {
	ed := dl.opts.Edition
	dst := filepath.Join(dl.opts.Dir, ed+".mmdb")
	sumPath := dst + ".sha256"

	dl.progress(Progress{Phase: PhaseChecking, Total: -1})
	want, err := dl.fetchChecksum(ctx)
	if err != nil {
		return DownloadResult{}, err
	}
	res := DownloadResult{Path: dst, SHA256: want}
	if dl.current(dst, sumPath, want) {
		dl.progress(Progress{Phase: PhaseUpToDate, Total: -1})
		return res, nil
	}

	body, total, err := dl.get(ctx, "tar.gz")
	if err != nil {
		return DownloadResult{}, err
	}
	defer body.Close()

	tmp, err := os.CreateTemp(dl.opts.Dir, "."+ed+".*.mmdb.tmp")
	if err != nil {
		return DownloadResult{}, err
	}
	tmpPath := tmp.Name()
	installed := false
	defer func() {
		if !installed {
			_ = tmp.Close()
			_ = os.Remove(tmpPath)
		}
	}()

	archiveHash := sha256.New()
	counter := &progressReader{r: io.LimitReader(body, maxArchiveSize), dl: dl, total: total}
	dbHash := sha256.New()
	err = extract(io.TeeReader(counter, archiveHash), io.MultiWriter(tmp, dbHash))
	if err != nil {
		return DownloadResult{}, err
	}
	dl.progress(Progress{Phase: PhaseVerifying, Bytes: counter.n, Total: total})
	if got := hex.EncodeToString(archiveHash.Sum(nil)); got != want {
		return DownloadResult{}, fmt.Errorf("%w: got %s, published %s", ErrChecksum, got, want)
	}
	if err := tmp.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return DownloadResult{}, err
	}
	if err := tmp.Close(); err != nil {
		return DownloadResult{}, err
	}
	if err := verifyDatabase(tmpPath); err != nil {
		return DownloadResult{}, fmt.Errorf("downloaded database is not valid: %w", err)
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(dst); err == nil {
		mode = fi.Mode().Perm()
	}
	_ = os.Chmod(tmpPath, mode) // best effort: not every platform has modes

	// The old checksum goes first: a crash between the two renames then
	// leaves a database without a checksum, which the next run replaces,
	// rather than a checksum that vouches for the wrong file.
	if err := os.Remove(sumPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return DownloadResult{}, err
	}
	if err := os.Rename(tmpPath, dst); err != nil {
		return DownloadResult{}, err
	}
	installed = true
	syncDir(dl.opts.Dir)
	sum := want + "  " + ed + ".tar.gz\n" + hex.EncodeToString(dbHash.Sum(nil)) + "  " + ed + ".mmdb\n"
	if err := writeFileAtomic(sumPath, []byte(sum)); err != nil {
		return DownloadResult{}, fmt.Errorf("database installed, but recording its checksum: %w", err)
	}
	res.Updated = true
	dl.progress(Progress{Phase: PhaseDone, Bytes: counter.n, Total: total})
	return res, nil
}

// fetchChecksum returns the published SHA-256 of the archive, in hex.
func (dl *downloader) fetchChecksum(ctx context.Context) (string, error) {
	body, _, err := dl.get(ctx, "tar.gz.sha256")
	if err != nil {
		return "", err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 4096))
	if err != nil {
		return "", fmt.Errorf("reading checksum: %w", redact(err))
	}
	sum, ok := parseSum(string(b))
	if !ok {
		return "", errors.New("the published checksum is not a SHA-256")
	}
	return sum, nil
}

// parseSum returns the first field of a sha256sum line, lower-cased, if it
// is a SHA-256 in hex.
func parseSum(line string) (string, bool) {
	f := strings.Fields(line)
	if len(f) == 0 || len(f[0]) != 2*sha256.Size {
		return "", false
	}
	if _, err := hex.DecodeString(f[0]); err != nil {
		return "", false
	}
	return strings.ToLower(f[0]), true
}

// current reports whether the database at dst is the one extracted from
// the archive whose checksum is want, per the record at sumPath.
func (dl *downloader) current(dst, sumPath, want string) bool {
	b, err := os.ReadFile(sumPath)
	if err != nil {
		return false
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 2 {
		return false
	}
	archive, ok1 := parseSum(lines[0])
	db, ok2 := parseSum(lines[1])
	if !ok1 || !ok2 || archive != want {
		return false
	}
	f, err := os.Open(dst)
	if err != nil {
		return false
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == db
}

// get requests the edition with the given suffix and returns the body of a
// 200 response and its length (-1 if unknown).
func (dl *downloader) get(ctx context.Context, suffix string) (io.ReadCloser, int64, error) {
	u := dl.base + "/geoip/databases/" + url.PathEscape(dl.opts.Edition) + "/download?suffix=" + url.QueryEscape(suffix)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, redact(err)
	}
	req.SetBasicAuth(dl.opts.AccountID, dl.opts.LicenseKey)
	resp, err := dl.client.Do(req)
	if err != nil {
		return nil, 0, redact(err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp.Body, resp.ContentLength, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return nil, 0, ErrUnauthorized
	case http.StatusForbidden:
		return nil, 0, fmt.Errorf("HTTP %s: the account may not download this edition", resp.Status)
	case http.StatusNotFound:
		return nil, 0, fmt.Errorf("HTTP %s: no such edition", resp.Status)
	}
	return nil, 0, fmt.Errorf("fetching %s: unexpected HTTP %s", suffix, resp.Status)
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
