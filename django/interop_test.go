package django_test

// TestDjangoInterop runs a real Django site (testdata/site: Django with
// django-qsessions 1.1.4 and django-redis) beside a Go Store on the same
// database and the same Redis cache, and drives both as browsers would.
//
// It needs a Python with Django, django-redis and django-ipware
// (Debian: python3-django python3-django-redis python3-django-ipware, and
// python3-psycopg2 for PostgreSQL), found as QSESSIONS_DJANGO_PYTHON, else
// the first python3 on PATH that has them, else Debian's /usr/bin/python3;
// Redis at QSESSIONS_REDIS_ADDR; and for its PostgreSQL half, a server at
// QSESSIONS_POSTGRES_DSN. Without them it skips, unless
// QSESSIONS_REQUIRE_SERVICES=1.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/django"
	"github.com/qsessions/qsessions/internal/logtest"
	"github.com/qsessions/qsessions/internal/redistest"
	"github.com/qsessions/qsessions/internal/testenv"
)

// djangoPython returns a Python that can run the test site.
func djangoPython(t *testing.T) string {
	t.Helper()
	check := func(py string) bool {
		out, err := exec.Command(py, "-c", "import importlib.util, django, django_redis; assert importlib.util.find_spec('ipware'); print(django.get_version())").CombinedOutput()
		if err == nil {
			t.Logf("Django %s under %s", strings.TrimSpace(string(out)), py)
		}
		return err == nil
	}
	if py := os.Getenv("QSESSIONS_DJANGO_PYTHON"); py != "" {
		if !check(py) {
			t.Fatalf("QSESSIONS_DJANGO_PYTHON=%s cannot import django, django_redis and ipware", py)
		}
		return py
	}
	candidates := []string{"/usr/bin/python3"}
	if py, err := exec.LookPath("python3"); err == nil {
		candidates = append([]string{py}, candidates...)
	}
	for _, py := range candidates {
		if check(py) {
			return py
		}
	}
	testenv.Missing(t, "no Python with Django, django-redis and django-ipware "+
		"(apt-get install python3-django python3-django-redis python3-django-ipware python3-psycopg2, or set QSESSIONS_DJANGO_PYTHON)")
	return ""
}

// A site is the Django test site, running.
type site struct {
	t      *testing.T
	python string
	env    []string
	base   string // http://127.0.0.1:PORT
}

// startSite migrates the database and serves the site on a free loopback
// port; it is stopped, by its PID, when the test ends.
func startSite(t *testing.T, python string, env []string) *site {
	t.Helper()
	started := time.Now()
	cmd := exec.Command(python, "serve.py")
	cmd.Dir = filepath.Join("testdata", "site")
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr logtest.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		stdin.Close() // serve.py exits when its standard input closes
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Logf("Django (PID %d) did not exit on EOF; killing it", pid)
			cmd.Process.Kill()
			<-done
		}
		if s := stderr.String(); s != "" {
			t.Logf("Django's stderr:\n%s", s)
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening ") {
				lines <- sc.Text()
			}
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("Django exited before it listened:\n%s", stderr.String())
		}
		t.Logf("Django (PID %d) migrated and listened in %v", pid, time.Since(started).Round(time.Millisecond))
		return &site{t: t, python: python, env: env, base: "http://127.0.0.1:" + strings.TrimPrefix(line, "listening ")}
	case <-time.After(60 * time.Second):
		t.Fatalf("Django did not listen within a minute:\n%s", stderr.String())
	}
	return nil
}

// manage runs manage.py with args, as the site would be administered.
func (s *site) manage(args ...string) string {
	s.t.Helper()
	started := time.Now()
	cmd := exec.Command(s.python, append([]string{"manage.py"}, args...)...)
	cmd.Dir = filepath.Join("testdata", "site")
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("manage.py %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	s.t.Logf("manage.py %s took %v", strings.Join(args, " "), time.Since(started).Round(time.Millisecond))
	return string(out)
}

// A browser is one client, with its cookies and its User-Agent. Django's
// and Go's servers both listen on 127.0.0.1, so they see the same cookies.
type browser struct {
	t      *testing.T
	name   string
	ua     string
	client *http.Client
	jar    http.CookieJar
}

func newBrowser(t *testing.T, name string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, name: name, ua: "InteropTest-" + name + "/1.0 (Go)", jar: jar,
		client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// key returns the browser's session cookie, "" when it has none.
func (b *browser) key() string {
	u, _ := url.Parse("http://127.0.0.1/")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "sessionid" {
			return c.Value
		}
	}
	return ""
}

// setKey gives the browser a session cookie.
func (b *browser) setKey(key string) {
	u, _ := url.Parse("http://127.0.0.1/")
	b.jar.SetCookies(u, []*http.Cookie{{Name: "sessionid", Value: key, Path: "/"}})
}

// call makes a request (a POST when form is not nil) and decodes its JSON
// answer into out, failing the test on any error.
func (b *browser) call(base, path string, form url.Values, out any) {
	b.t.Helper()
	if err := b.try(base, path, form, out); err != nil {
		b.t.Fatal(err)
	}
}

// try is call returning the error, for use on other goroutines.
func (b *browser) try(base, path string, form url.Values, out any) error {
	method, body := "GET", io.Reader(nil)
	if form != nil {
		method, body = "POST", strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+"/"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", b.ua)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %s %s/%s: %w", b.name, method, base, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s/%s: %s\n%.300s", b.name, method, base, path, resp.Status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s: %s %s/%s: %v in %s", b.name, method, base, path, err, raw)
		}
	}
	return nil
}

// who returns what the server at base says about the browser's session.
func (b *browser) who(base string) whoami {
	b.t.Helper()
	var w whoami
	b.call(base, "whoami", nil, &w)
	return w
}

// whoami is what either side's /whoami says about a session.
type whoami struct {
	User         *string                    `json:"user"`
	Key          *string                    `json:"key"`
	Values       map[string]json.RawMessage `json:"values"`
	ExpiryAge    int64                      `json:"expiry_age"`
	BrowserClose bool                       `json:"browser_close"`
	RawExpiry    json.RawMessage            `json:"raw_expiry"`
}

func (w whoami) user() string {
	if w.User == nil {
		return ""
	}
	return *w.User
}

// value returns the value under k, as compact JSON, or "" when none.
func (w whoami) value(k string) string {
	v, ok := w.Values[k]
	if !ok {
		return ""
	}
	var x any
	json.Unmarshal(v, &x)
	b, _ := json.Marshal(x)
	return string(b)
}

// goSite is the Go service: the same endpoints as the test site's, on a
// Store over the Django table.
func goSite(t *testing.T, st *qsessions.Store) string {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, r *http.Request, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s := qsessions.FromContext(r.Context())
		out := whoami{Values: map[string]json.RawMessage{}}
		if u := s.UserID(); u != "" {
			out.User = &u
		}
		if k := s.Token(); k != "" {
			out.Key = &k
		}
		for _, k := range s.Keys() {
			var v json.RawMessage
			s.Get(k, &v)
			out.Values[k] = v
		}
		json.NewEncoder(w).Encode(out)
	}
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) { reply(w, r, nil) })
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		reply(w, r, s.Set(r.FormValue("key"), json.RawMessage(r.FormValue("value"))))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		reply(w, r, qsessions.FromContext(r.Context()).LoginWith(r.Context(), r.FormValue("user"), "go-test"))
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		reply(w, r, qsessions.FromContext(r.Context()).Logout(r.Context()))
	})
	mux.HandleFunc("POST /maxage", func(w http.ResponseWriter, r *http.Request) {
		var secs int
		fmt.Sscan(r.FormValue("seconds"), &secs)
		reply(w, r, qsessions.FromContext(r.Context()).SetMaxAge(time.Duration(secs)*time.Second))
	})
	mux.HandleFunc("POST /browserclose", func(w http.ResponseWriter, r *http.Request) {
		reply(w, r, qsessions.FromContext(r.Context()).SetExpireAtBrowserClose(true))
	})
	srv := httptest.NewServer(st.Middleware(mux))
	t.Cleanup(srv.Close)
	return srv.URL
}

// An interop is one run: a database, a flavour, Django and Go.
type interop struct {
	t       *testing.T
	flavour django.Table
	dj      *site
	goURL   string
	st      *qsessions.Store
	p       *django.Persister
	rdb     *redis.Client
	prefix  string // the cache's KEY_PREFIX
	tamper  func(key string)
	logger  *slog.Logger
}

func (x *interop) cacheKey(key string) string {
	cp := django.QSessionsCachePrefix
	if x.flavour == django.DjangoSessions {
		cp = django.DjangoCachePrefix
	}
	return x.prefix + ":1:" + cp + key
}

func (x *interop) cached(key string) bool {
	n, err := x.rdb.Exists(context.Background(), x.cacheKey(key)).Result()
	if err != nil {
		x.t.Fatal(err)
	}
	return n == 1
}

func TestDjangoInterop(t *testing.T) {
	python := djangoPython(t)
	redisAddr := testenv.Getenv(t, envRedis, "Redis, the Django site's cache")
	for _, flavour := range flavours {
		t.Run("sqlite/"+flavour.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db.sqlite3")
			runInterop(t, python, redisAddr, flavour, "sqlite://"+filepath.ToSlash(path), func(x *interop) (*django.Persister, func(string, ...any)) {
				db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				p, err := django.NewSQLite(context.Background(), db, x.options())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				return p, func(q string, args ...any) {
					if _, err := db.Exec(strings.ReplaceAll(q, "$1", "?"), args...); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
			})
		})
		t.Run("postgres/"+flavour.String(), func(t *testing.T) {
			admin := pgPool(t)
			dbname := randomName("qsd_interop_")
			if _, err := admin.Exec(context.Background(), "CREATE DATABASE "+dbname); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if _, err := admin.Exec(context.Background(), "DROP DATABASE "+dbname+" WITH (FORCE)"); err != nil {
					t.Errorf("drop database %s: %v", dbname, err)
				}
			})
			dsn, err := url.Parse(os.Getenv(envDSN))
			if err != nil {
				t.Fatal(err)
			}
			dsn.Path = "/" + dbname
			djangoURL := *dsn
			djangoURL.RawQuery = ""
			runInterop(t, python, redisAddr, flavour, djangoURL.String(), func(x *interop) (*django.Persister, func(string, ...any)) {
				pool, err := pgxpool.New(context.Background(), dsn.String())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(pool.Close)
				p, err := django.NewPostgres(context.Background(), pool, x.options())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				return p, func(q string, args ...any) {
					if _, err := pool.Exec(context.Background(), q, args...); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
			})
		})
	}
}

func (x *interop) options() *django.Options {
	return &django.Options{
		Logger:         x.logger,
		SecretKey:      testSecret,
		Table:          x.flavour,
		Cache:          django.NewRedisCache(x.rdb),
		CacheKeyPrefix: x.prefix,
	}
}

func runInterop(t *testing.T, python, redisAddr string, flavour django.Table, database string,
	open func(*interop) (*django.Persister, func(q string, args ...any))) {
	started := time.Now()
	x := &interop{t: t, flavour: flavour, prefix: randomName("qsd-interop-")}
	var logs logtest.Buffer
	x.logger = slog.New(slog.NewTextHandler(&logs, nil))
	t.Cleanup(func() {
		if s := logs.String(); s != "" {
			t.Logf("Go's logs:\n%s", s)
		}
	})
	x.rdb = redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() {
		redistest.DeleteKeys(t, x.rdb, x.prefix)
		x.rdb.Close()
	})
	engine := "qsessions"
	if flavour == django.DjangoSessions {
		engine = "django"
	}
	env := append(os.Environ(),
		"PYTHONDONTWRITEBYTECODE=1",
		"DJANGO_SETTINGS_MODULE=interop.settings",
		"QSD_SECRET_KEY="+testSecret,
		"QSD_DATABASE="+database,
		"QSD_REDIS_URL=redis://"+redisAddr+"/0",
		"QSD_KEY_PREFIX="+x.prefix,
		"QSD_ENGINE="+engine,
	)
	x.dj = startSite(t, python, env)
	p, exec := open(x)
	x.p = p
	table := flavour.String()
	x.tamper = func(key string) {
		// Change one character of the signature.
		exec(`UPDATE `+table+` SET session_data = substr(session_data, 1, length(session_data) - 3) ||
			CASE WHEN substr(session_data, length(session_data) - 2, 1) = 'A' THEN 'B' ELSE 'A' END ||
			substr(session_data, length(session_data) - 1) WHERE session_key = $1`, key)
	}
	st, err := qsessions.New(nil, p, &qsessions.Options{Logger: x.logger})
	if err != nil {
		t.Fatal(err)
	}
	x.st = st
	x.goURL = goSite(t, st)
	x.run()
	t.Logf("the %s run took %v in all", t.Name(), time.Since(started).Round(time.Millisecond))
}

func (x *interop) run() {
	t, ctx, dj, goURL := x.t, context.Background(), x.dj.base, x.goURL
	qs := x.flavour == django.QSessions
	var ids struct{ alice, bob string }
	var signed struct{ ID string }
	anon := newBrowser(t, "signup")
	anon.call(dj, "signup", url.Values{"username": {"alice"}, "password": {"alice-pw"}}, &signed)
	ids.alice = signed.ID
	anon.call(dj, "signup", url.Values{"username": {"bob"}, "password": {"bob-pw"}}, &signed)
	ids.bob = signed.ID
	login := func(b *browser, who, pw string) {
		t.Helper()
		b.call(dj, "login", url.Values{"username": {who}, "password": {pw}}, nil)
		if b.key() == "" {
			t.Fatalf("%s: Django's login set no session cookie", b.name)
		}
	}
	var w whoami

	// Sign in on Django; Go loads the session: user and values.
	a := newBrowser(t, "A")
	login(a, "alice", "alice-pw")
	a.call(dj, "set", url.Values{"key": {"cart"}, "value": {`[1, "caf\u00e9", {"n": 2.5}]`}}, nil)
	w = a.who(dj)
	if !x.cached(a.key()) {
		t.Fatalf("Django's cache holds no entry under %q: the cache key format is wrong", x.cacheKey(a.key()))
	}
	s, err := x.st.Load(ctx, a.key())
	if err != nil || s.IsNew() {
		t.Fatalf("Go: Load of the session Django signed in: new %v, %v", s.IsNew(), err)
	}
	var cart []any
	if ok, err := s.Get("cart", &cart); !ok || err != nil || fmt.Sprint(cart) != "[1 café map[n:2.5]]" {
		t.Errorf("Go: cart = %v (%v, %v); Django stored [1, \"café\", {\"n\": 2.5}]", cart, ok, err)
	}
	if s.UserID() != ids.alice {
		t.Errorf("Go: the session's user is %q; Django signed in %q", s.UserID(), ids.alice)
	}
	w = a.who(goURL)
	if w.user() != ids.alice || w.value("cart") != `[1,"café",{"n":2.5}]` {
		t.Errorf("Go's /whoami: user %q, cart %s", w.user(), w.value("cart"))
	}
	for _, k := range []string{"_auth_user_id", "_auth_user_hash", "_qsessions_ip", "_qsessions_go", "_session_expiry"} {
		if _, ok := w.Values[k]; ok {
			t.Errorf("Go's session shows Django's own key %s as a value", k)
		}
	}

	// List the user's sessions from Go, with what django-qsessions
	// recorded.
	b := newBrowser(t, "B")
	login(b, "alice", "alice-pw")
	if qs {
		x.wantListed(ids.alice, map[string]*browser{a.key(): a, b.key(): b}, "signed in twice on Django")
	}

	// Write in Go, read in Django (whose cached copy Go deleted).
	a.call(goURL, "set", url.Values{"key": {"from_go"}, "value": {`{"hello":"w\u00f6rld","at":[1,2]}`}}, nil)
	if x.cached(a.key()) {
		t.Error("Django's cache entry survived Go's write")
	}
	w = a.who(dj)
	if w.user() != ids.alice || w.value("from_go") != `{"at":[1,2],"hello":"wörld"}` || w.value("cart") != `[1,"café",{"n":2.5}]` {
		t.Errorf("Django after Go's write: user %q, from_go %s, cart %s", w.user(), w.value("from_go"), w.value("cart"))
	}
	// Django writes over Go's write; Go sees both.
	a.call(dj, "set", url.Values{"key": {"from_django"}, "value": {`"after go"`}}, nil)
	w = a.who(goURL)
	if w.value("from_django") != `"after go"` || w.value("from_go") == "" {
		t.Errorf("Go after Django's write: from_django %s, from_go %s", w.value("from_django"), w.value("from_go"))
	}
	w = b.who(goURL) // Go records B's client too
	x.wantListed(ids.alice, map[string]*browser{a.key(): a, b.key(): b}, "after Go's and Django's writes")

	// Revoke in Go; Django refuses the next request.
	w = b.who(dj)
	if err := x.st.Revoke(ctx, b.key()); err != nil {
		t.Fatal(err)
	}
	if x.cached(b.key()) {
		t.Error("Django's cache entry survived Go's revocation")
	}
	w = b.who(dj)
	if w.user() != "" {
		t.Errorf("Django still serves user %q on a session Go revoked", w.user())
	}

	// Log out in Django; Go refuses.
	key := a.key()
	a.call(dj, "logout", url.Values{}, nil)
	if s, err := x.st.Load(ctx, key); err != nil || !s.IsNew() {
		t.Errorf("Go: Load of a session Django logged out: new %v, %v", s.IsNew(), err)
	}
	a.setKey(key)
	w = a.who(goURL)
	if w.user() != "" {
		t.Errorf("Go serves user %q on a session Django logged out", w.user())
	}

	// Sign a Django user in from Go; Django accepts it.
	c := newBrowser(t, "C")
	c.call(goURL, "set", url.Values{"key": {"before_login"}, "value": {`"kept"`}}, nil)
	c.call(goURL, "login", url.Values{"user": {ids.bob}}, nil)
	w = c.who(dj)
	if w.user() != ids.bob || w.value("before_login") != `"kept"` {
		t.Fatalf("Django on Go's sign-in of bob: user %q, before_login %s", w.user(), w.value("before_login"))
	}
	c.call(dj, "set", url.Values{"key": {"dj"}, "value": {`1`}}, nil)
	w = c.who(goURL)
	if w.user() != ids.bob || w.value("dj") != "1" {
		t.Errorf("Go after Django wrote to Go's sign-in: user %q, dj %s", w.user(), w.value("dj"))
	}
	// A Go sign-in of a user Django does not have is refused.
	if err := x.p.Create(ctx, qsessions.Record{ID: x.p.NewKey(), UserID: "987654", UpdatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, django.ErrUnknownUser) {
		t.Errorf("Create of a session of an unknown user: %v; want ErrUnknownUser", err)
	}

	// Expiry, both ways.
	c.call(dj, "expiry", url.Values{"seconds": {"3600"}}, nil)
	if got := x.expiresIn(c.key()); got < 3590*time.Second || got > 3610*time.Second {
		t.Errorf("Go: a session Django set to expire in 3600s expires in %v", got)
	}
	c.call(goURL, "maxage", url.Values{"seconds": {"7200"}}, nil)
	w = c.who(dj)
	if w.BrowserClose || w.ExpiryAge < 7190 || w.ExpiryAge > 7210 {
		t.Errorf("Django after Go's SetMaxAge(2h): expiry age %d, browser close %v, _session_expiry %s", w.ExpiryAge, w.BrowserClose, w.RawExpiry)
	}
	c.call(goURL, "browserclose", url.Values{}, nil)
	w = c.who(dj)
	if !w.BrowserClose || string(w.RawExpiry) != "0" {
		t.Errorf("Django after Go's SetExpireAtBrowserClose: browser close %v, _session_expiry %s", w.BrowserClose, w.RawExpiry)
	}
	c.call(dj, "expiry", url.Values{"seconds": {"600"}}, nil)
	if got := x.expiresIn(c.key()); got < 590*time.Second || got > 610*time.Second {
		t.Errorf("Go: a session Django set back to expire in 600s expires in %v", got)
	}
	c.call(dj, "expiry", url.Values{"seconds": {"0"}}, nil)
	if r, err := x.p.Load(ctx, c.key()); err != nil || !strings.Contains(string(r.Data), `"_session_expiry":0`) {
		t.Errorf("Go: a session Django set to expire at browser close: %s, %v", r.Data, err)
	}

	// A password change on Django ends the user's sessions on both sides.
	anon.call(dj, "password", url.Values{"username": {"bob"}, "password": {"bob-new-pw"}}, nil)
	if s, err := x.st.Load(ctx, c.key()); err != nil || !s.IsNew() {
		t.Errorf("Go: Load of a session whose user changed password: new %v, %v", s.IsNew(), err)
	}
	w = c.who(dj)
	if w.user() != "" {
		t.Errorf("Django serves %q after the password change", w.user())
	}

	// A tampered session_data is an anonymous session on both sides.
	d := newBrowser(t, "D")
	login(d, "alice", "alice-pw")
	x.tamper(d.key())
	x.rdb.Del(ctx, x.cacheKey(d.key())) // as if Django's cache entry had timed out
	w = d.who(dj)
	if w.user() != "" {
		t.Errorf("Django serves %q on a tampered session_data", w.user())
	}
	login(d, "alice", "alice-pw")
	x.tamper(d.key())
	if s, err := x.st.Load(ctx, d.key()); err != nil || !s.IsNew() {
		t.Errorf("Go: Load of a tampered session_data: new %v, %v", s.IsNew(), err)
	}

	// Sign out everywhere from Go.
	e, f := newBrowser(t, "E"), newBrowser(t, "F")
	login(e, "alice", "alice-pw")
	f.call(goURL, "login", url.Values{"user": {ids.alice}}, nil)
	if n, err := x.st.RevokeUser(ctx, ids.alice); err != nil || n < 2 {
		t.Errorf("RevokeUser(alice) = %d, %v; want at least 2", n, err)
	}
	for _, br := range []*browser{e, f} {
		w = br.who(dj)
		if w.user() != "" {
			t.Errorf("%s: Django serves %q after Go signed alice out everywhere", br.name, w.user())
		}
	}

	// Clear expired sessions from either side: Go's DeleteExpired removes
	// one that Django expired (set_expiry(-1) writes it expired), Django's
	// clearsessions one that Go expired.
	live := newBrowser(t, "live")
	login(live, "alice", "alice-pw")
	goOld := newBrowser(t, "expiring-on-go")
	goOld.call(goURL, "login", url.Values{"user": {ids.alice}}, nil)
	goOld.call(goURL, "maxage", url.Values{"seconds": {"1"}}, nil)
	goExpires := time.Now().Add(time.Second)
	old := newBrowser(t, "expired-on-django")
	login(old, "alice", "alice-pw")
	old.call(dj, "expiry", url.Values{"seconds": {"-1"}}, nil)
	if n, err := x.st.DeleteExpired(ctx); err != nil || n != 1 || !x.gone(old.key()) || x.gone(live.key()) {
		t.Errorf("Go's DeleteExpired = %d, %v: Django's expired session gone %v, the live one gone %v",
			n, err, x.gone(old.key()), x.gone(live.key()))
	}
	time.Sleep(time.Until(goExpires) + 100*time.Millisecond)
	x.dj.manage("clearsessions")
	if !x.gone(goOld.key()) || x.gone(live.key()) {
		t.Errorf("Django's clearsessions: Go's expired session gone %v, the live one gone %v", x.gone(goOld.key()), x.gone(live.key()))
	}

	x.racing(live, ids.alice)
}

// expiresIn returns how long the session key has left, as Go sees it.
func (x *interop) expiresIn(key string) time.Duration {
	x.t.Helper()
	s, err := x.st.Load(context.Background(), key)
	if err != nil || s.IsNew() {
		x.t.Fatalf("Go: Load: new %v, %v", s.IsNew(), err)
	}
	return time.Until(s.Info().ExpiresAt)
}

// gone reports whether the row of key is no longer in the table.
func (x *interop) gone(key string) bool {
	_, err := x.p.Load(context.Background(), key)
	return err != nil
}

// wantListed checks that Go lists exactly the sessions of want for user,
// with each browser's IP and User-Agent.
func (x *interop) wantListed(user string, want map[string]*browser, when string) {
	x.t.Helper()
	infos, err := x.st.Sessions(context.Background(), user)
	if err != nil {
		x.t.Fatal(err)
	}
	if len(infos) != len(want) {
		x.t.Errorf("Go lists %d sessions of the user %s; want %d", len(infos), when, len(want))
	}
	for _, i := range infos {
		b, ok := want[i.ID]
		switch {
		case !ok:
			x.t.Errorf("Go lists a session that is not the user's %s", when)
		case i.IP != "127.0.0.1" || i.UserAgent != b.ua:
			x.t.Errorf("Go lists %s's session %s with IP %q and User-Agent %q; want 127.0.0.1 and %q",
				b.name, when, i.IP, i.UserAgent, b.ua)
		case i.CreatedAt.IsZero() || i.AuthenticatedAt.IsZero():
			x.t.Errorf("Go lists %s's session %s without a creation or sign-in time: %+v", b.name, when, i)
		}
	}
}

// racing has Go and Django write one session at the same time: Django
// sets a key of its own per request, Go another. Go's writes never
// overwrite one of Django's (a compare on what Go read); Django's may
// overwrite Go's, as a Django write overwrites another Django process's:
// the last writer wins, with what it read. So every key that Django
// reported set is there at the end, and Go's keys are there unless a later
// Django write that had read the session before them replaced them.
//
// On SQLite, a Django save that meets a Go write in progress can fail
// with "database is locked" (Django reads in a deferred transaction and
// then writes; SQLite refuses the upgrade rather than wait, as between two
// Django processes): Django answers 400 and that key was never set.
func (x *interop) racing(b *browser, user string) {
	t := x.t
	const n = 20
	var wg sync.WaitGroup
	var djangoSet [n]bool
	var goErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range n {
			err := b.try(x.dj.base, "set", url.Values{"key": {fmt.Sprintf("django_%02d", i)}, "value": {"1"}}, nil)
			djangoSet[i] = err == nil
			if err != nil && !strings.Contains(err.Error(), "400 Bad Request") {
				t.Errorf("Django: %v", err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range n {
			if err := b.try(x.goURL, "set", url.Values{"key": {fmt.Sprintf("go_%02d", i)}, "value": {"1"}}, nil); err != nil && goErr == nil {
				goErr = err
			}
		}
	}()
	wg.Wait()
	if goErr != nil {
		t.Errorf("Go: a write that raced Django's failed: %v", goErr)
	}
	w := b.who(x.dj.base)
	lostGo, refused := 0, 0
	for i := range n {
		if !djangoSet[i] {
			refused++
		} else if w.value(fmt.Sprintf("django_%02d", i)) != "1" {
			t.Errorf("Django's write django_%02d was lost to a racing Go write", i)
		}
		if w.value(fmt.Sprintf("go_%02d", i)) != "1" {
			lostGo++
		}
	}
	if refused > 0 && strings.HasPrefix(t.Name(), "TestDjangoInterop/postgres") {
		t.Errorf("Django refused %d writes on PostgreSQL", refused)
	}
	if w.user() != user {
		t.Errorf("after the race the session's user is %q", w.user())
	}
	t.Logf("racing writes: Django kept all %d of the keys it set (SQLite refused %d of its writes); "+
		"%d of Go's %d keys were overwritten by Django writes that had read the session before them", n-refused, refused, lostGo, n)
}
