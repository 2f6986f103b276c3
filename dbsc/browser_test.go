package dbsc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
)

// This file is a test rig: a Store that keeps binding states with
// compare-and-swap, a session middleware in the shape of
// Store.Middleware, a small application, and a browser that speaks DBSC as
// the draft describes it (the "Send request", "Create session" and "Process
// challenge" algorithms), with crypto/ecdsa or crypto/rsa holding its key.

// testClock is the time of the server and of the browsers' cookie jars.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeStore keeps, per session ID, the user and the binding state. Its
// UpdateBinding is a compare-and-swap loop, as the Store's will be: f runs
// on a copy of what was read, and its result is written only if nothing
// changed meanwhile.
type fakeStore struct {
	mu       sync.Mutex
	users    map[string]string
	bindings map[string][]byte
	writes   int
	// beforeSwap, when set, runs between f and the swap.
	beforeSwap func()
}

func newFakeStore() *fakeStore {
	return &fakeStore{users: map[string]string{}, bindings: map[string][]byte{}}
}

func (s *fakeStore) Binding(ctx context.Context, id string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; !ok {
		return nil, fmt.Errorf("fake store: binding of %.8s: %w", id, qsessions.ErrNotFound)
	}
	return bytes.Clone(s.bindings[id]), nil
}

func (s *fakeStore) UpdateBinding(ctx context.Context, id string, f func(cur []byte) ([]byte, error)) error {
	for {
		cur, err := s.Binding(ctx, id)
		if err != nil {
			return err
		}
		next, err := f(bytes.Clone(cur))
		if err != nil {
			return err
		}
		if s.beforeSwap != nil {
			s.beforeSwap()
		}
		s.mu.Lock()
		if _, ok := s.users[id]; !ok {
			s.mu.Unlock()
			return fmt.Errorf("fake store: update binding of %.8s: %w", id, qsessions.ErrNotFound)
		}
		if bytes.Equal(s.bindings[id], cur) {
			s.bindings[id] = bytes.Clone(next)
			s.writes++
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
	}
}

// state returns a copy of everything stored, for before-and-after checks.
func (s *fakeStore) state() (map[string][]byte, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string][]byte, len(s.bindings))
	for k, v := range s.bindings {
		m[k] = bytes.Clone(v)
	}
	return m, s.writes
}

// fakeSession is a request's session, as the middleware loads it.
type fakeSession struct {
	mu      sync.Mutex
	id      string
	user    string
	binding []byte
	err     error
	dropped bool
}

func (s *fakeSession) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

func (s *fakeSession) Binding() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.binding
}

func (s *fakeSession) Err() error { return s.err }

func (s *fakeSession) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.id, s.user, s.binding, s.dropped = "", "", nil, true
}

type sessionKey struct{}

func sessionOfTest(r *http.Request) session {
	if s, ok := r.Context().Value(sessionKey{}).(*fakeSession); ok {
		return s
	}
	return nil
}

const sessionCookie = "sessionid"

// idOf hashes a session token to its ID, as the Store does.
func idOf(token string) string {
	raw, _ := b64.DecodeString(token)
	sum := sha256.Sum256(raw)
	return b64.EncodeToString(sum[:])
}

func newToken() string {
	var raw [32]byte
	rand.Read(raw[:])
	return b64.EncodeToString(raw[:])
}

// sessions is the middleware: it loads the session of the request's
// cookie, binding state included.
func sessions(st *fakeStore, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &fakeSession{}
		if c, err := r.Cookie(sessionCookie); err == nil && qsessions.ValidToken(c.Value) {
			id := idOf(c.Value)
			st.mu.Lock()
			if user, ok := st.users[id]; ok {
				s.id, s.user, s.binding = id, user, bytes.Clone(st.bindings[id])
			}
			st.mu.Unlock()
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	})
}

// A backend is the session machinery under a test server: the fake Store
// and middleware of this file, or a real qsessions.Store (store_test.go).
type backend interface {
	bindings
	// binder returns a Binder over the backend's store.
	binder(o *Options) (*Binder, error)
	// middleware loads each request's session.
	middleware(next http.Handler) http.Handler
	// login signs the request's session in as user, under a new token.
	login(w http.ResponseWriter, r *http.Request, user string) error
	// user returns the user the request's session belongs to, or "".
	user(r *http.Request) string
	// routes adds the backend's own pages to the application.
	routes(mux *http.ServeMux)
	// revoke ends the session id, as Store.Revoke does.
	revoke(t testing.TB, id string)
	// state returns a copy of every stored binding, by session ID, and
	// how many writes the store has made, for before-and-after checks.
	state() (map[string][]byte, int)
}

func (st *fakeStore) binder(o *Options) (*Binder, error) { return newBinder(st, o, sessionOfTest) }

func (st *fakeStore) middleware(next http.Handler) http.Handler { return sessions(st, next) }

func (st *fakeStore) login(w http.ResponseWriter, r *http.Request, user string) error {
	token := newToken()
	id := idOf(token)
	st.mu.Lock()
	st.users[id] = user
	st.mu.Unlock()
	s := sessionOfTest(r).(*fakeSession)
	s.mu.Lock()
	s.id, s.user, s.binding = id, user, nil
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", MaxAge: 14 * 24 * 3600, Secure: true, HttpOnly: true})
	return nil
}

func (st *fakeStore) user(r *http.Request) string {
	s := sessionOfTest(r).(*fakeSession)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

func (st *fakeStore) routes(*http.ServeMux) {}

func (st *fakeStore) revoke(_ testing.TB, id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.users, id)
	delete(st.bindings, id)
}

// A testServer is an application with sign-in, a page that says who is
// signed in, and DBSC, over a backend. It can run several application
// servers over backends that share their storage, behind one address, as
// a load balancer would; one serves at a time.
type testServer struct {
	*httptest.Server
	clock  *testClock
	store  backend // the first application server's
	fake   *fakeStore
	binder *Binder // the first application server's

	mu      sync.Mutex
	apps    []http.Handler
	serving int
}

// A serverFunc starts a test server with the given Binder options.
type serverFunc func(t *testing.T, opts *Options) *testServer

// newTestServer starts a test server over the fake Store.
func newTestServer(t *testing.T, opts *Options) *testServer {
	t.Helper()
	st := newFakeStore()
	srv := startServer(t, newTestClock(), st, opts)
	srv.fake = st
	return srv
}

// onEachBackend runs test over the fake Store and over a real
// qsessions.Store.
func onEachBackend(t *testing.T, test func(t *testing.T, start serverFunc)) {
	t.Run("fake", func(t *testing.T) { test(t, newTestServer) })
	t.Run("store", func(t *testing.T) { test(t, newStoreServer) })
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1_800_000_000, 0)} }

// startServer starts a test server with one application server over be,
// whose clock is clock.
func startServer(t *testing.T, clock *testClock, be backend, opts *Options) *testServer {
	t.Helper()
	if runtime.GOARCH == "wasm" {
		t.Skipf("no sockets on %s/%s: the protocol tests need a real HTTP server", runtime.GOOS, runtime.GOARCH)
	}
	srv := &testServer{clock: clock, store: be}
	srv.binder = srv.addApp(t, be, opts)
	srv.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.mu.Lock()
		app := srv.apps[srv.serving]
		srv.mu.Unlock()
		app.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// addApp adds an application server over be, with a Binder of its own
// made with opts, and returns the Binder. The servers are numbered from 0
// in the order they were added.
func (srv *testServer) addApp(t *testing.T, be backend, opts *Options) *Binder {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Clock = srv.clock.Now
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b, err := be.binder(&o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := be.login(w, r, r.FormValue("user")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := b.Offer(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "welcome")
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		if user := be.user(r); user != "" {
			fmt.Fprint(w, "user "+user)
			return
		}
		fmt.Fprint(w, "anonymous")
	})
	be.routes(mux)
	srv.mu.Lock()
	srv.apps = append(srv.apps, be.middleware(b.Guard(mux)))
	srv.mu.Unlock()
	return b
}

// serveFrom makes application server i serve the requests that follow.
func (srv *testServer) serveFrom(i int) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.serving = i
}

// httptestWithSession runs h behind the server's session middleware for a
// request that carries b's cookies.
func httptestWithSession(srv *testServer, b *browser, h http.Handler) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("Cookie", b.cookieHeader())
	srv.store.middleware(h).ServeHTTP(rec, req)
	return rec
}

// cookieHeader returns the Cookie header b sends now.
func (b *browser) cookieHeader() string {
	now := b.srv.clock.Now()
	var pairs []string
	for name, c := range b.cookies {
		if b.keepExpired || c.expires.IsZero() || now.Before(c.expires) {
			pairs = append(pairs, name+"="+c.value)
		}
	}
	return strings.Join(pairs, "; ")
}

// A browser drives the server. With a key it speaks DBSC; without one it
// is a browser that does not (Firefox, Safari, older Chrome).
type browser struct {
	t       *testing.T
	srv     *testServer
	client  *http.Client
	key     *testKey
	bare    bool // send the request headers bare, as Chrome does, rather than as sf-strings
	cookies map[string]jarCookie
	// keepExpired sends cookies past their expiry too: what a thief
	// replaying stolen cookies does.
	keepExpired bool
	sess        *browserSession
	// log records every request that carried a proof, with its answer.
	log []exchange
}

type jarCookie struct {
	value   string
	expires time.Time // zero: until the browser closes
}

// browserSession is the browser's device bound session.
type browserSession struct {
	id          string
	refreshURL  string
	credentials []string
	challenge   string // the cached challenge; "" when none
}

type exchange struct {
	url    string
	header http.Header
	status int
}

func newBrowser(t *testing.T, srv *testServer, key *testKey) *browser {
	return &browser{t: t, srv: srv, client: srv.Client(), key: key, cookies: map[string]jarCookie{}}
}

// thief returns a browser that holds copies of the named cookies of b (all
// of them when none are named) and no key.
func (b *browser) thief(names ...string) *browser {
	th := newBrowser(b.t, b.srv, nil)
	th.keepExpired = true
	for name, c := range b.cookies {
		if len(names) == 0 || contains(names, name) {
			th.cookies[name] = c
		}
	}
	return th
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (b *browser) login(user string) string {
	b.t.Helper()
	status, body, _ := b.do(http.MethodPost, "/login", url.Values{"user": {user}})
	if status != http.StatusOK {
		b.t.Fatalf("login: %d %s", status, body)
	}
	return body
}

// me loads the page that says who is signed in.
func (b *browser) me() (int, string) {
	b.t.Helper()
	status, body, _ := b.do(http.MethodGet, "/me", nil)
	return status, body
}

// do makes a request as a page would: first, as the draft's fetch
// integration says, a refresh if the session's bound cookie is missing.
func (b *browser) do(method, path string, form url.Values) (int, string, *http.Response) {
	b.t.Helper()
	if b.sess != nil && b.missingCredential() {
		b.refresh()
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return b.send(req)
}

func (b *browser) missingCredential() bool {
	now := b.srv.clock.Now()
	for _, name := range b.sess.credentials {
		c, ok := b.cookies[name]
		if !ok || (!c.expires.IsZero() && !now.Before(c.expires)) {
			return true
		}
	}
	return false
}

// send sends req with the jar's cookies, stores the cookies of the answer,
// caches its challenges, and starts a registration if it asks for one.
func (b *browser) send(req *http.Request) (int, string, *http.Response) {
	b.t.Helper()
	now := b.srv.clock.Now()
	if h := b.cookieHeader(); h != "" {
		req.Header.Set("Cookie", h)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		b.t.Fatal(err)
	}
	if req.Header.Get(headerResponse) != "" {
		b.log = append(b.log, exchange{req.URL.String(), req.Header.Clone(), resp.StatusCode})
	}
	for _, line := range resp.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			b.t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		switch {
		case c.MaxAge < 0:
			delete(b.cookies, c.Name)
		case c.MaxAge > 0:
			b.cookies[c.Name] = jarCookie{c.Value, now.Add(time.Duration(c.MaxAge) * time.Second)}
		default:
			b.cookies[c.Name] = jarCookie{value: c.Value}
		}
	}
	b.processChallenges(resp)
	if b.key != nil {
		b.processRegistration(resp)
	}
	return resp.StatusCode, string(raw), resp
}

// processChallenges is the draft's "Process challenge": an sf-string
// with an "id" parameter naming a session of this browser becomes that
// session's cached challenge.
func (b *browser) processChallenges(resp *http.Response) {
	b.t.Helper()
	if b.sess == nil {
		return
	}
	for _, v := range resp.Header.Values(headerChallenge) {
		list, err := parseSFList(v)
		if err != nil {
			b.t.Fatalf("%s: %q: %v", headerChallenge, v, err)
		}
		for _, m := range list {
			id, ok := m.params["id"]
			if m.inner != nil || m.item.kind != 's' || !ok || id.kind != 's' {
				continue
			}
			if id.str == b.sess.id {
				b.sess.challenge = m.item.str
			}
		}
	}
}

// processRegistration is the draft's "Process session registration" with
// "Send request" and "Create session".
func (b *browser) processRegistration(resp *http.Response) {
	b.t.Helper()
	for _, v := range resp.Header.Values(headerRegistration) {
		list, err := parseSFList(v)
		if err != nil {
			b.t.Fatalf("%s: %q: %v", headerRegistration, v, err)
		}
		for _, m := range list {
			path, ok := m.params["path"]
			if m.inner == nil || !ok || path.kind != 's' {
				continue
			}
			supported := false
			for _, alg := range m.inner {
				supported = supported || (alg.kind == 't' && alg.str == b.key.alg)
			}
			if !supported {
				continue
			}
			endpoint, err := resp.Request.URL.Parse(path.str)
			if err != nil {
				b.t.Fatal(err)
			}
			b.register(endpoint.String(), m.params["challenge"].str, m.params["authorization"].str)
			return
		}
	}
}

func (b *browser) headerValue(s string) string {
	if b.bare {
		return s
	}
	q, ok := sfString(s)
	if !ok {
		b.t.Fatalf("%q cannot be an sf-string", s)
	}
	return q
}

func (b *browser) register(endpoint, challenge, authorization string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, nil)
	req.Header.Set(headerResponse, b.headerValue(b.key.registrationProof(b.t, challenge, authorization)))
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	status, body, resp := b.send(req)
	if status != http.StatusOK {
		return
	}
	sess := b.readConfig(endpoint, body, "")
	if sess == nil {
		return
	}
	b.sess = sess
	b.processChallenges(resp)
}

// readConfig parses session instructions, as "Create session" does; it
// returns nil when they end the session or do not parse.
func (b *browser) readConfig(endpoint, body, wantID string) *browserSession {
	b.t.Helper()
	var cfg struct {
		SessionIdentifier string `json:"session_identifier"`
		RefreshURL        string `json:"refresh_url"`
		Continue          *bool  `json:"continue"`
		Scope             *struct {
			IncludeSite *bool `json:"include_site"`
		} `json:"scope"`
		Credentials []struct {
			Type, Name, Attributes string
		} `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		b.t.Fatalf("session instructions %q: %v", body, err)
	}
	if cfg.Continue != nil && !*cfg.Continue {
		return nil
	}
	if cfg.SessionIdentifier == "" || cfg.Scope == nil || cfg.Scope.IncludeSite == nil || len(cfg.Credentials) == 0 {
		b.t.Fatalf("session instructions lack required keys: %s", body)
	}
	if wantID != "" && cfg.SessionIdentifier != wantID {
		b.t.Fatalf("refresh answered for session %q, want %q", cfg.SessionIdentifier, wantID)
	}
	base, _ := url.Parse(endpoint)
	refresh, err := base.Parse(cfg.RefreshURL)
	if err != nil || refresh.Scheme != "https" {
		b.t.Fatalf("refresh_url %q: %v", cfg.RefreshURL, err)
	}
	sess := &browserSession{id: cfg.SessionIdentifier, refreshURL: refresh.String()}
	for _, c := range cfg.Credentials {
		if c.Type != "cookie" || c.Name == "" || strings.Contains(c.Attributes, "Partitioned") {
			b.t.Fatalf("bad credential %+v", c)
		}
		sess.credentials = append(sess.credentials, c.Name)
	}
	return sess
}

// refresh is "Send request" for a refresh: at most five attempts, each
// 403 restarting it with the challenge that came with the 403.
func (b *browser) refresh() {
	b.t.Helper()
	for range 5 {
		if b.sess == nil {
			return
		}
		req, _ := http.NewRequest(http.MethodPost, b.sess.refreshURL, nil)
		req.Header.Set(headerSessionID, b.headerValue(b.sess.id))
		used := b.sess.challenge
		if used != "" {
			req.Header.Set(headerResponse, b.headerValue(b.key.refreshProof(b.t, used)))
		}
		status, body, _ := b.send(req)
		switch {
		case status == http.StatusForbidden:
			if b.sess.challenge == used {
				return // no new challenge to sign
			}
		case status == http.StatusOK:
			if body == "" {
				return
			}
			if next := b.readConfig(b.sess.refreshURL, body, b.sess.id); next != nil {
				next.challenge = b.sess.challenge
				b.sess = next
			} else {
				b.sess = nil
			}
			return
		case status >= 400 && status < 500:
			b.sess = nil // terminate the session
			return
		default:
			return
		}
	}
}

// A structured-field list member, as much of RFC 9651 as DBSC uses.
type sfMember struct {
	item   sfItem
	inner  []sfItem // non-nil for an inner list
	params map[string]sfItem
}

type sfItem struct {
	kind byte // 's' string, 't' token, 'i' integer, 'b' boolean
	str  string
	num  int64
	bool bool
}

// parseSFList parses an RFC 9651 list of items and inner lists of strings,
// tokens, integers and booleans, with parameters.
func parseSFList(s string) ([]sfMember, error) {
	p := &sfParser{s: s}
	var list []sfMember
	p.ows()
	for !p.end() {
		var m sfMember
		if p.peek() == '(' {
			p.i++
			m.inner = []sfItem{}
			for {
				p.sp()
				if p.end() {
					return nil, errors.New("unterminated inner list")
				}
				if p.peek() == ')' {
					p.i++
					break
				}
				it, err := p.item()
				if err != nil {
					return nil, err
				}
				if _, err := p.params(); err != nil { // inner item parameters: unused
					return nil, err
				}
				m.inner = append(m.inner, it)
				if !p.end() && p.peek() != ' ' && p.peek() != ')' {
					return nil, errors.New("bad inner list")
				}
			}
		} else {
			it, err := p.item()
			if err != nil {
				return nil, err
			}
			m.item = it
		}
		params, err := p.params()
		if err != nil {
			return nil, err
		}
		m.params = params
		list = append(list, m)
		p.ows()
		if p.end() {
			break
		}
		if p.peek() != ',' {
			return nil, fmt.Errorf("expected a comma at %d", p.i)
		}
		p.i++
		p.ows()
		if p.end() {
			return nil, errors.New("trailing comma")
		}
	}
	return list, nil
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) end() bool  { return p.i >= len(p.s) }
func (p *sfParser) peek() byte { return p.s[p.i] }
func (p *sfParser) sp() {
	for !p.end() && p.peek() == ' ' {
		p.i++
	}
}
func (p *sfParser) ows() {
	for !p.end() && (p.peek() == ' ' || p.peek() == '\t') {
		p.i++
	}
}

func (p *sfParser) item() (sfItem, error) {
	if p.end() {
		return sfItem{}, errors.New("missing item")
	}
	c := p.peek()
	switch {
	case c == '"':
		p.i++
		var b strings.Builder
		for !p.end() {
			c := p.peek()
			p.i++
			switch {
			case c == '\\':
				if p.end() || (p.peek() != '"' && p.peek() != '\\') {
					return sfItem{}, errors.New("bad escape")
				}
				b.WriteByte(p.peek())
				p.i++
			case c == '"':
				return sfItem{kind: 's', str: b.String()}, nil
			case c < 0x20 || c > 0x7e:
				return sfItem{}, errors.New("bad string character")
			default:
				b.WriteByte(c)
			}
		}
		return sfItem{}, errors.New("unterminated string")
	case c == '?':
		if p.i+1 >= len(p.s) || (p.s[p.i+1] != '0' && p.s[p.i+1] != '1') {
			return sfItem{}, errors.New("bad boolean")
		}
		p.i += 2
		return sfItem{kind: 'b', bool: p.s[p.i-1] == '1'}, nil
	case c == '-' || ('0' <= c && c <= '9'):
		start := p.i
		p.i++
		for !p.end() && '0' <= p.peek() && p.peek() <= '9' {
			p.i++
		}
		n, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
		return sfItem{kind: 'i', num: n}, err
	case c == '*' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z'):
		start := p.i
		for !p.end() && bareChar(p.peek()) {
			p.i++
		}
		return sfItem{kind: 't', str: p.s[start:p.i]}, nil
	}
	return sfItem{}, fmt.Errorf("unexpected %q", c)
}

func (p *sfParser) params() (map[string]sfItem, error) {
	params := map[string]sfItem{}
	for !p.end() && p.peek() == ';' {
		p.i++
		p.sp()
		start := p.i
		for !p.end() && (('a' <= p.peek() && p.peek() <= 'z') || ('0' <= p.peek() && p.peek() <= '9') || strings.IndexByte("_-.*", p.peek()) >= 0) {
			p.i++
		}
		key := p.s[start:p.i]
		if key == "" {
			return nil, errors.New("empty parameter key")
		}
		v := sfItem{kind: 'b', bool: true}
		if !p.end() && p.peek() == '=' {
			p.i++
			var err error
			if v, err = p.item(); err != nil {
				return nil, err
			}
		}
		params[key] = v
	}
	return params, nil
}

func TestParseSFList(t *testing.T) {
	list, err := parseSFList(`(ES256 RS256);path="/r";challenge="c\"1";authorization="a", (ES256);path="p2";x, "c2";id="s"`)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || len(list[0].inner) != 2 || list[0].inner[1].str != RS256 || list[0].params["challenge"].str != `c"1` ||
		!list[1].params["x"].bool || list[2].item.str != "c2" || list[2].params["id"].str != "s" {
		t.Fatalf("parsed %+v", list)
	}
	for _, bad := range []string{`(ES256`, `"x`, `a,`, `a b`, `;x`} {
		if _, err := parseSFList(bad); err == nil {
			t.Errorf("parseSFList(%q) succeeded", bad)
		}
	}
}
