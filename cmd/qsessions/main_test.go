package main

// The end-to-end tests build the qsessions binary once per test binary
// (with -race when the tests run with -race) and drive it as a user would:
// flags, stdout, stderr, exit status, signals, HTTP. Only loopback is used.
//
// Tests that need Redis or PostgreSQL read QSESSIONS_REDIS_ADDR and
// QSESSIONS_POSTGRES_DSN and skip without them, unless
// QSESSIONS_REQUIRE_SERVICES=1, which makes them fail instead; the browser
// test treats Chromium the same way.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/binding"
	"github.com/qsessions/qsessions/internal/logtest"
	"github.com/qsessions/qsessions/internal/testenv"
	"github.com/qsessions/qsessions/sqlite"
)

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
	took time.Duration

	logged sync.Once
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// binary returns the path of the qsessions binary, building it on first
// use.
func binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "qsessions-cli-test-")
		if build.err != nil {
			return
		}
		name := "qsessions"
		if runtime.GOOS == "windows" {
			name += ".exe"
		}
		build.path = filepath.Join(build.dir, name)
		goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goCmd); err != nil {
			goCmd = "go"
		}
		args := []string{"build", "-o", build.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		start := time.Now()
		out, err := exec.Command(goCmd, append(args, ".")...).CombinedOutput()
		build.took = time.Since(start)
		if err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	build.logged.Do(func() {
		t.Logf("built %s in %v (race: %v)", build.path, build.took.Round(time.Millisecond), raceEnabled)
	})
	return build.path
}

// result is what a run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cliEnv is the environment the binary runs in: the test's, without
// MaxMind credentials, plus extra.
func cliEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MAXMIND_") {
			env = append(env, kv)
		}
	}
	if raceEnabled && os.Getenv("GORACE") == "" {
		// A race-enabled binary sleeps a second before exiting, to
		// let racing goroutines show; a race still fails the run.
		env = append(env, "GORACE=atexit_sleep_ms=0")
	}
	return append(env, extra...)
}

// cli runs the binary with args and the environment env (nil: cliEnv()).
func cli(t testing.TB, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	if env == nil {
		env = cliEnv()
	}
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("qsessions %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// wantExit checks the exit status of r and, for a failure, that stderr
// says "qsessions: " and contains every one of msgs.
func wantExit(t testing.TB, r result, code int, msgs ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\n%s", r.code, code, r)
	}
	if code != 0 && !strings.HasPrefix(r.stderr, "qsessions: ") {
		t.Errorf("stderr does not start with \"qsessions: \"\n%s", r)
	}
	for _, m := range msgs {
		if !strings.Contains(r.stderr, m) {
			t.Errorf("stderr does not mention %q\n%s", m, r)
		}
	}
}

// requireService returns the value of the environment variable that
// locates a service, or skips the test (fails it under
// QSESSIONS_REQUIRE_SERVICES=1) when it is unset.
func requireService(t testing.TB, envVar, what string) string {
	t.Helper()
	return testenv.Getenv(t, envVar, what)
}

// A demo is a running "qsessions demo".
type demo struct {
	t    testing.TB
	cmd  *exec.Cmd
	url  string
	db   string
	done chan struct{} // closed when the process has exited
	err  error         // its Wait error, once done

	stdout, stderr logtest.Buffer
}

// startDemo starts the demo on a free loopback port with its own SQLite
// file (unless args name one) and waits for it to print its URL.
func startDemo(t testing.TB, env []string, args ...string) *demo {
	t.Helper()
	d := &demo{t: t, done: make(chan struct{})}
	hasDB := false
	for _, a := range args {
		if a == "--sqlite" || strings.HasPrefix(a, "--sqlite=") {
			hasDB = true
		}
	}
	if !hasDB {
		d.db = filepath.Join(t.TempDir(), "demo.db")
		args = append(args, "--sqlite", d.db)
	}
	args = append([]string{"demo", "--addr", "127.0.0.1:0"}, args...)
	d.cmd = exec.Command(binary(t), args...)
	if env == nil {
		env = cliEnv()
	}
	d.cmd.Env = env
	d.cmd.Dir = t.TempDir()
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			d.stdout.Write([]byte(line + "\n"))
			if u, ok := strings.CutPrefix(line, "qsessions demo listening on "); ok {
				urls <- u
			}
		}
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
			return
		default:
		}
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
		}
	})
	select {
	case d.url = <-urls:
	case <-d.done:
		t.Fatalf("the demo exited before printing its URL: %v\n%s", d.err, d.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("the demo printed no URL within a minute\n%s", d.output())
	}
	want := "http://127.0.0.1:"
	for i, a := range args {
		if a == "--addr" && i+1 < len(args) { // the last one counts
			host, _, _ := net.SplitHostPort(args[i+1])
			want = "http://" + host + ":"
		}
	}
	if hasFlag(args, "--dbsc") {
		want = "https://localhost:" // the name of its certificate
	}
	if !strings.HasPrefix(d.url, want) || strings.HasSuffix(d.url, ":0") {
		t.Fatalf("the demo printed the URL %q, want %sPORT", d.url, want)
	}
	return d
}

func (d *demo) output() string {
	return "stdout:\n" + d.stdout.String() + "stderr:\n" + d.stderr.String()
}

func (d *demo) stdoutText() string {
	return d.stdout.String()
}

// stop sends SIGTERM and checks that the demo exits 0 after saying so.
func (d *demo) stop() {
	t := d.t
	t.Helper()
	if runtime.GOOS == "windows" {
		d.cmd.Process.Kill() // no SIGTERM to send
		<-d.done
		return
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		t.Fatalf("the demo did not exit within 20s of SIGTERM\n%s", d.output())
	}
	if d.err != nil {
		t.Fatalf("the demo exited with %v after SIGTERM, want status 0\n%s", d.err, d.output())
	}
	if out := d.stdoutText(); !strings.Contains(out, "qsessions demo: stopped") {
		t.Errorf("the demo did not say it stopped\n%s", d.output())
	}
}

// A browser is an HTTP client with its own cookie jar and User-Agent: one
// device.
type browser struct {
	t   testing.TB
	c   *http.Client
	ua  string
	hdr http.Header // added to every request
}

func newBrowser(t testing.TB, ua string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}, ua: ua, hdr: http.Header{}}
}

// do sends a request and returns the final response's status and body,
// following redirects.
func (b *browser) do(method, u string, form url.Values, hdr ...string) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("User-Agent", b.ua)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range b.hdr {
		req.Header[k] = vs
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	bs, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, string(bs)
}

func (b *browser) get(u string) (int, string) { return b.do("GET", u, nil) }

func (b *browser) post(u string, form url.Values, hdr ...string) (int, string) {
	return b.do("POST", u, form, hdr...)
}

// sessions returns GET /sessions.json, decoded, and the status.
func (b *browser) sessions(base string) (int, demoJSON) {
	b.t.Helper()
	code, body := b.get(base + "/sessions.json")
	var v demoJSON
	if code == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			b.t.Fatalf("GET /sessions.json: %v\n%s", err, body)
		}
	}
	return code, v
}

// User-Agents of the test devices.
const (
	macChrome    = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	iPhoneSafari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	androidPhone = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
	winFirefox   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
)

// newID returns a fresh session ID of valid shape.
func newID(t testing.TB) string {
	var b [32]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	if !qsessions.ValidToken(id) {
		t.Fatalf("newID made %q, which is not a valid ID", id)
	}
	return id
}

// seedSQLite creates the SQLite database path (if needed) holding recs,
// through the sqlite Persister, and closes it.
func seedSQLite(t testing.TB, path string, recs ...qsessions.Record) {
	t.Helper()
	p, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, r := range recs {
		if err := p.Create(context.Background(), r); err != nil {
			t.Fatalf("seeding %s: %v", r.ID, err)
		}
	}
}

// sqliteRows returns the rows of user in the SQLite database at path.
func sqliteRows(t testing.TB, path, user string) []qsessions.Record {
	t.Helper()
	p, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	recs, err := p.ListByUser(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// record returns a session record of user, active at updated, expiring
// at expires.
func record(t testing.TB, user, ip, ua string, updated, expires time.Time) qsessions.Record {
	return qsessions.Record{
		ID:        newID(t),
		Data:      []byte(`{"n":1}`),
		UserID:    user,
		UpdatedAt: updated.UTC().Truncate(time.Millisecond),
		ExpiresAt: expires.UTC().Truncate(time.Millisecond),
		Meta: qsessions.EncodeMeta(qsessions.SessionInfo{
			IP:        ip,
			UserAgent: ua,
			CreatedAt: updated.Add(-time.Hour).UTC().Truncate(time.Millisecond),
		}),
	}
}

// withAuth returns r signed in by method at at and, with a non-nil bind,
// bound to a device as package dbsc binds it.
func withAuth(t testing.TB, r qsessions.Record, method string, at time.Time, bind []byte) qsessions.Record {
	t.Helper()
	info, err := qsessions.DecodeMeta(r.Meta)
	if err != nil {
		t.Fatal(err)
	}
	info.AuthMethod, info.AuthenticatedAt = method, at.UTC().Truncate(time.Millisecond)
	r.Meta = qsessions.EncodeMeta(info)
	if bind != nil {
		if r.Meta, err = binding.SetInMeta(r.Meta, bind); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// metaOf decodes r's metadata.
func metaOf(t testing.TB, r qsessions.Record) qsessions.SessionInfo {
	t.Helper()
	info, err := qsessions.DecodeMeta(r.Meta)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func ids(recs []qsessions.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}
