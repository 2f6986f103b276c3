package qsessions_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/conformance"
)

// app is a small site: sign in, see who you are, list and revoke sessions.
func app(st *qsessions.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		fmt.Fprintf(w, "%s|%s|%s", s.UserID(), s.Info().IP, s.Info().UserAgent)
	})
	mux.HandleFunc("GET /id", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, qsessions.FromContext(r.Context()).ID())
	})
	mux.HandleFunc("GET /static", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "static")
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := qsessions.FromContext(r.Context()).Login(r.Context(), r.FormValue("user")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := qsessions.FromContext(r.Context()).Logout(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		qsessions.FromContext(r.Context()).Set(r.FormValue("k"), r.FormValue("v"))
	})
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		infos, err := st.Sessions(r.Context(), s.UserID())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, i := range infos {
			fmt.Fprintln(w, i.ID)
		}
	})
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		ok, err := st.RevokeUserSession(r.Context(), s.UserID(), r.FormValue("id"))
		if err != nil || !ok {
			http.Error(w, fmt.Sprint("not revoked: ", err), http.StatusNotFound)
		}
	})
	mux.HandleFunc("POST /revoke-others", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		n, err := st.RevokeUser(r.Context(), s.UserID(), s.ID())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, n)
	})
	return st.Middleware(mux)
}

// newServer starts a loopback HTTP server, or skips the test where the
// platform cannot listen (js/wasm, wasip1).
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	skipWithoutNetwork(t)
	return httptest.NewServer(h)
}

func newTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	skipWithoutNetwork(t)
	return httptest.NewTLSServer(h)
}

func skipWithoutNetwork(t *testing.T) {
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skipf("no loopback listener on %s; the same behaviour is covered through httptest.NewRecorder", runtime.GOOS)
	}
}

// client is one browser: its own cookie jar.
type client struct {
	t   *testing.T
	c   *http.Client
	url string
	ua  string
	xff string
}

func newClient(t *testing.T, srv *httptest.Server) *client {
	jar, _ := cookiejar.New(nil)
	c := *srv.Client() // each client its own jar
	c.Jar = jar
	return &client{t: t, c: &c, url: srv.URL, ua: "TestBrowser/1.0"}
}

func (c *client) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.url+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", c.ua)
	if c.xff != "" {
		req.Header.Set("X-Forwarded-For", c.xff)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) get(path string) string {
	c.t.Helper()
	_, b := c.do("GET", path, nil)
	return b
}

func (c *client) post(path string, kv ...string) *http.Response {
	c.t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	resp, _ := c.do("POST", path, form)
	return resp
}

func (c *client) cookie() string {
	u, _ := url.Parse(c.url)
	for _, k := range c.c.Jar.Cookies(u) {
		if k.Name == "sessionid" {
			return k.Value
		}
	}
	return ""
}

func user(whoami string) string { return strings.Split(whoami, "|")[0] }

func TestHTTPLoginRotatesCookie(t *testing.T) {
	f := newFixture(t)
	srv := newServer(t, app(f.store(t)))
	defer srv.Close()
	a := newClient(t, srv)
	a.post("/set", "k", "theme", "v", "dark")
	before := a.cookie()
	if before == "" {
		t.Fatal("no cookie after storing a value")
	}
	a.post("/login", "user", "alice")
	after := a.cookie()
	if after == "" || after == before {
		t.Fatalf("login did not rotate the cookie: %q -> %q", before, after)
	}
	if got := user(a.get("/whoami")); got != "alice" {
		t.Fatalf("whoami = %q", got)
	}
	// Replaying the pre-login cookie gets an anonymous session.
	thief := newClient(t, srv)
	u, _ := url.Parse(srv.URL)
	thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: "sessionid", Value: before}})
	if got := user(thief.get("/whoami")); got != "" {
		t.Fatalf("old cookie still signed in as %q", got)
	}
}

func TestHTTPRevokeFromOtherClient(t *testing.T) {
	f := newFixture(t)
	srv := newServer(t, app(f.store(t)))
	defer srv.Close()
	a, b := newClient(t, srv), newClient(t, srv)
	a.post("/login", "user", "alice")
	b.post("/login", "user", "alice")
	aID := a.get("/id")
	list := b.get("/sessions")
	if !strings.Contains(list, aID) || strings.Count(list, "\n") != 2 {
		t.Fatalf("B's list does not show both sessions:\n%s", list)
	}
	if resp := b.post("/revoke", "id", aID); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %s", resp.Status)
	}
	if got := user(a.get("/whoami")); got != "" {
		t.Fatalf("A still signed in as %q after revocation", got)
	}
	if a.cookie() != "" {
		t.Fatal("A's dead cookie was not deleted")
	}
	if got := user(b.get("/whoami")); got != "alice" {
		t.Fatal("B was signed out by revoking A")
	}
	// Mallory cannot revoke alice's session by ID.
	m := newClient(t, srv)
	m.post("/login", "user", "mallory")
	if resp := m.post("/revoke", "id", b.get("/id")); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("mallory revoking alice's session: %s", resp.Status)
	}
	if user(b.get("/whoami")) != "alice" {
		t.Fatal("mallory revoked alice's session")
	}
}

func TestHTTPSignOutEverywhereElse(t *testing.T) {
	f := newFixture(t)
	srv := newServer(t, app(f.store(t)))
	defer srv.Close()
	clients := []*client{newClient(t, srv), newClient(t, srv), newClient(t, srv)}
	for _, c := range clients {
		c.post("/login", "user", "alice")
	}
	if _, n := clients[0].do("POST", "/revoke-others", url.Values{}); n != "2" {
		t.Fatalf("revoke-others ended %s sessions, want 2", n)
	}
	if user(clients[0].get("/whoami")) != "alice" {
		t.Fatal("the current session was signed out")
	}
	for _, c := range clients[1:] {
		if user(c.get("/whoami")) != "" {
			t.Fatal("another session survived sign out everywhere else")
		}
	}
}

func TestHTTPRevokedMidFlight(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	other := f.store(t) // another app server sharing the backends
	mux := http.NewServeMux()
	var id string
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		if r.URL.Query().Has("login") {
			s.Login(r.Context(), "alice")
			return
		}
		id = s.ID()
		s.Set("cart", "book")
		if _, err := other.RevokeUser(r.Context(), "alice"); err != nil {
			t.Error(err)
		}
		io.WriteString(w, "handler body")
	})
	srv := newServer(t, st.Middleware(mux))
	defer srv.Close()
	a := newClient(t, srv)
	a.get("/?login")
	resp, body := a.do("GET", "/", nil)
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "handler body") {
		t.Fatalf("mid-flight revocation: %s %q, want 401 from the ErrorHandler", resp.Status, body)
	}
	if a.cookie() != "" {
		t.Fatal("the revoked session's cookie was kept")
	}
	assertGone(t, f, id)
}

func TestHTTPWritesOnlyWhenChanged(t *testing.T) {
	f := newFixture(t)
	f.opts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	srv := newServer(t, app(f.store(t)))
	defer srv.Close()
	a := newClient(t, srv)
	a.xff = "198.51.100.10"
	a.post("/login", "user", "alice")
	start := f.persister.writes()
	for range 20 {
		a.get("/whoami")
	}
	a.get("/static")
	if n := f.persister.writes() - start; n != 0 {
		t.Fatalf("20 identical requests wrote %d times, want 0", n)
	}
	a.xff = "203.0.113.99" // the client moved
	if got := a.get("/whoami"); !strings.Contains(got, "|203.0.113.99|") {
		t.Fatalf("new IP not seen: %q", got)
	}
	if n := f.persister.updates.Load(); n != 1 {
		t.Fatalf("IP change: %d updates, want 1", n)
	}
	a.get("/whoami")
	a.ua = "OtherBrowser/2.0"
	if got := a.get("/whoami"); !strings.HasSuffix(got, "|OtherBrowser/2.0") {
		t.Fatalf("new User-Agent not seen: %q", got)
	}
	if n := f.persister.updates.Load(); n != 2 {
		t.Fatalf("after UA change: %d updates, want 2", n)
	}
	f.clock.Advance(time.Minute)
	a.get("/whoami")
	if n := f.persister.updates.Load(); n != 3 {
		t.Fatalf("after TouchInterval: %d updates, want 3", n)
	}
}

func TestHTTPClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		header  http.Header
		want    string
	}{
		{"remote addr", nil, "192.0.2.1:1234", nil, "192.0.2.1"},
		{"spoofed XFF from untrusted peer", nil, "192.0.2.1:1234", http.Header{"X-Forwarded-For": {"203.0.113.5"}}, "192.0.2.1"},
		{"spoofed XFF, proxies configured, untrusted peer", trusted, "192.0.2.1:1234", http.Header{"X-Forwarded-For": {"203.0.113.5"}}, "192.0.2.1"},
		{"trusted proxy", trusted, "10.0.0.1:80", http.Header{"X-Forwarded-For": {"203.0.113.5"}}, "203.0.113.5"},
		{"client-prepended spoof", trusted, "10.0.0.1:80", http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.5"}}, "203.0.113.5"},
		{"two trusted hops", trusted, "10.0.0.1:80", http.Header{"X-Forwarded-For": {"203.0.113.5, 10.0.0.2"}}, "203.0.113.5"},
		{"split headers", trusted, "10.0.0.1:80", http.Header{"X-Forwarded-For": {"6.6.6.6", "203.0.113.5, 10.9.9.9"}}, "203.0.113.5"},
		{"Forwarded is not read by default", trusted, "10.0.0.1:80", http.Header{"Forwarded": {`for="[2001:db8::7]:443";proto=https, for=10.0.0.3`}}, "10.0.0.1"},
		{"unparsable hop: the proxy", trusted, "10.0.0.1:80", http.Header{"X-Forwarded-For": {"not-an-ip"}}, "10.0.0.1"},
		{"unparsable remote", nil, "garbage", nil, ""},
		{"ipv4-mapped", nil, "[::ffff:192.0.2.9]:1", nil, "192.0.2.9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.opts.TrustedProxies = c.trusted
			st := f.store(t)
			var got string
			h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = qsessions.FromContext(r.Context()).Info().IP
			}))
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = c.remote
			for k, v := range c.header {
				req.Header[k] = v
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if got != c.want {
				t.Fatalf("IP = %q, want %q", got, c.want)
			}
		})
	}
}

func TestHTTPPrivacySwitches(t *testing.T) {
	f := newFixture(t)
	f.opts.RecordIP, f.opts.RecordUserAgent = qsessions.SwitchOff, qsessions.SwitchOff
	st := f.store(t)
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qsessions.FromContext(r.Context()).Login(r.Context(), "alice")
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("User-Agent", "Secret/1.0")
	h.ServeHTTP(httptest.NewRecorder(), req)
	infos, _ := st.Sessions(ctx, "alice")
	if len(infos) != 1 || infos[0].IP != "" || infos[0].UserAgent != "" {
		t.Fatalf("recorded with switches off: %+v", infos)
	}
}

func TestHTTPUserAgentTruncated(t *testing.T) {
	f := newFixture(t)
	f.opts.MaxUserAgent = 10
	st := f.store(t)
	var got string
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = qsessions.FromContext(r.Context()).Info().UserAgent
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("User-Agent", "abcdefghé\xffxyz")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got != "abcdefghé" {
		t.Fatalf("User-Agent = %q", got)
	}
}

func TestHTTPMalformedCookies(t *testing.T) {
	valid := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	cases := map[string]string{
		"empty":           "sessionid=",
		"too long":        "sessionid=" + strings.Repeat("A", 44),
		"wrong alphabet":  "sessionid=" + strings.Repeat("*", 43),
		"padding":         "sessionid=" + strings.Repeat("A", 42) + "=",
		"many":            strings.Repeat("sessionid=x; ", 500) + "sessionid=y",
		"1 MB header":     "sessionid=" + strings.Repeat("Z", 1<<20),
		"quoted":          `sessionid="` + valid[:41] + `"`,
		"other cookie ok": "csrftoken=" + valid,
	}
	for name, header := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			st := f.store(t)
			var user string
			var isNew bool
			h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := qsessions.FromContext(r.Context())
				user, isNew = s.UserID(), s.IsNew()
			}))
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Cookie", header)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if user != "" || !isNew || rec.Code != http.StatusOK {
				t.Fatalf("user=%q new=%v code=%d", user, isNew, rec.Code)
			}
			if n := f.cache.calls() + f.persister.calls(); n != 0 {
				t.Fatalf("%d backend calls for a malformed cookie", n)
			}
		})
	}
}

func TestHTTPHeadersAndCookieAttributes(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	srv := newTLSServer(t, app(st))
	defer srv.Close()
	a := newClient(t, srv)
	resp := a.post("/login", "user", "alice")
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "sessionid" {
			c = k
		}
	}
	if c == nil {
		t.Fatal("no Set-Cookie on login")
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Fatalf("cookie attributes: %s", resp.Header.Get("Set-Cookie"))
	}
	if want := int((14 * 24 * time.Hour) / time.Second); c.MaxAge < want-5 || c.MaxAge > want {
		t.Fatalf("Max-Age = %d, want about %d", c.MaxAge, want)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, `no-cache="Set-Cookie"`) {
		t.Fatalf("Cache-Control = %q", cc)
	}
	if resp.Header.Get("Vary") != "Cookie" {
		t.Fatalf("Vary = %q", resp.Header.Get("Vary"))
	}
	// A read-only request: Vary, but no Set-Cookie.
	resp, _ = a.do("GET", "/whoami", nil)
	if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("Vary") != "Cookie" {
		t.Fatalf("read-only request headers: %v", resp.Header)
	}
	// A request that never touches the session: neither.
	resp, _ = a.do("GET", "/static", nil)
	if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("Vary") != "" {
		t.Fatalf("untouched session headers: %v", resp.Header)
	}
	// Logout deletes the cookie.
	resp = a.post("/logout")
	if sc := resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "Max-Age=0") {
		t.Fatalf("logout Set-Cookie = %q", sc)
	}
	if a.cookie() != "" {
		t.Fatal("cookie still in the jar after logout")
	}
}

func TestHTTPPlainHTTPCookieNotSecure(t *testing.T) {
	f := newFixture(t)
	f.opts.ExpireAtBrowserClose = true
	f.opts.Cookie = qsessions.CookieOptions{Name: "sid", Domain: "example.test", Path: "/app"}
	st := f.store(t)
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qsessions.FromContext(r.Context()).Login(r.Context(), "alice")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/app", nil))
	sc := rec.Header().Get("Set-Cookie")
	if !strings.HasPrefix(sc, "sid=") || strings.Contains(sc, "Secure") || strings.Contains(sc, "Max-Age") ||
		!strings.Contains(sc, "Domain=example.test") || !strings.Contains(sc, "Path=/app") {
		t.Fatalf("Set-Cookie = %q", sc)
	}
	// Secure: On forces it on plain HTTP too.
	f.opts.Cookie.Secure = qsessions.SwitchOn
	h = f.store(t).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qsessions.FromContext(r.Context()).Login(r.Context(), "bob")
	}))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/app", nil))
	if sc := rec.Header().Get("Set-Cookie"); !strings.Contains(sc, "; Secure") {
		t.Fatalf("Secure: On, Set-Cookie = %q", sc)
	}
	// Behind a trusted TLS-terminating proxy, Default means Secure.
	f.opts.Cookie.Secure = qsessions.SwitchDefault
	f.opts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	h = f.store(t).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qsessions.FromContext(r.Context()).Login(r.Context(), "carol")
	}))
	req := httptest.NewRequest("GET", "/app", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if sc := rec.Header().Get("Set-Cookie"); !strings.Contains(sc, "; Secure") {
		t.Fatalf("behind a trusted TLS proxy, Set-Cookie = %q", sc)
	}
}

func TestHTTPSaveBeforeFirstByte(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		s.Login(r.Context(), "alice")
		s.Set("a", 1)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through ResponseController: %v", err)
		}
		s.Set("late", 2) // after the response started: not saved
		io.WriteString(w, "ok")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !rec.Flushed || rec.Header().Get("Set-Cookie") == "" {
		t.Fatalf("flushed=%v Set-Cookie=%q", rec.Flushed, rec.Header().Get("Set-Cookie"))
	}
	infos, _ := st.Sessions(ctx, "alice")
	r, _ := f.mem.Load(ctx, infos[0].ID)
	if !strings.Contains(string(r.Data), `"a":1`) || strings.Contains(string(r.Data), "late") {
		t.Fatalf("stored data %s: want a, not late", r.Data)
	}
	if !strings.Contains(f.logs.String(), "changed after the response started") {
		t.Fatal("the dropped late change was not logged")
	}
}

func TestHTTPLoadFailureGoesToErrorHandler(t *testing.T) {
	f := newFixture(t)
	var handled error
	f.opts.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		handled = err
		http.Error(w, "custom", http.StatusServiceUnavailable)
	}
	st := f.store(t)
	_, token := newSession(t, st, "alice")
	f.faulty.Fail(conformance.OpAll)
	f.persister.fail.Store(true)
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if qsessions.FromContext(r.Context()).UserID() == "" {
			io.WriteString(w, "anonymous page")
		}
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: "sessionid", Value: token})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !errors.Is(handled, errBackend) || strings.Contains(rec.Body.String(), "anonymous") {
		t.Fatalf("code=%d body=%q handled=%v: want the ErrorHandler's 503, not a silent logout", rec.Code, rec.Body, handled)
	}
}

func TestHTTPPanicSavesNothing(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qsessions.FromContext(r.Context()).Set("k", "v")
		panic("boom")
	}))
	func() {
		defer func() { recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	if f.persister.writes() != 0 {
		t.Fatal("a panicking handler's session was saved")
	}
}

func TestFromContextWithoutMiddleware(t *testing.T) {
	if qsessions.FromContext(ctx) != nil {
		t.Fatal("FromContext outside the middleware is not nil")
	}
}
