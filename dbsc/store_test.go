package dbsc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	hooks "github.com/qsessions/qsessions/internal/binding"
	"github.com/qsessions/qsessions/memory"
)

// The tests in this file run the protocol over a real qsessions.Store on
// the memory backends, with Store.Middleware in front of Guard, as an
// application wires it. The protocol tests that run on each backend are in
// protocol_test.go and badinput_test.go.

// storeBackend is a qsessions.Store over memory backends, wrapped so the
// tests can count the writes and step in before one.
type storeBackend struct {
	*qsessions.Store
	cache     *memory.Cache
	persister *recordingPersister

	mu sync.Mutex
	// afterSet, when set, runs in the /set handler after Session.Set.
	afterSet func()
}

// newStoreBackend returns a Store whose clock is clock, over fresh memory
// backends or, with share, over those of share: another application
// server in front of the same storage.
func newStoreBackend(t testing.TB, clock *testClock, share *storeBackend) *storeBackend {
	t.Helper()
	be := &storeBackend{cache: memory.NewCache(), persister: &recordingPersister{Persister: memory.NewPersister(), ids: map[string]bool{}}}
	if share != nil {
		be.cache, be.persister = share.cache, share.persister
	}
	st, err := qsessions.New(be.cache, be.persister, &qsessions.Options{
		Clock:  clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	be.Store = st
	return be
}

// newStoreServer starts a test server over a real qsessions.Store.
func newStoreServer(t *testing.T, opts *Options) *testServer {
	t.Helper()
	clock := newTestClock()
	return startServer(t, clock, newStoreBackend(t, clock, nil), opts)
}

func (be *storeBackend) binder(o *Options) (*Binder, error) { return New(be.Store, o) }

func (be *storeBackend) Binding(ctx context.Context, id string) ([]byte, error) {
	return storeBindings{be.Store}.Binding(ctx, id)
}

func (be *storeBackend) UpdateBinding(ctx context.Context, id string, f func([]byte) ([]byte, error)) error {
	return storeBindings{be.Store}.UpdateBinding(ctx, id, f)
}

func (be *storeBackend) middleware(next http.Handler) http.Handler { return be.Middleware(next) }

func (be *storeBackend) login(w http.ResponseWriter, r *http.Request, user string) error {
	return qsessions.FromContext(r.Context()).Login(r.Context(), user)
}

func (be *storeBackend) user(r *http.Request) string {
	return qsessions.FromContext(r.Context()).UserID()
}

// routes adds pages that use the session as applications do: POST /set
// stores the form's v under k, GET /get answers the value of k, POST
// /reauth and /rotate give the session a new token.
func (be *storeBackend) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		if err := s.Set(r.FormValue("k"), r.FormValue("v")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		be.mu.Lock()
		f := be.afterSet
		be.mu.Unlock()
		if f != nil {
			f()
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		var v string
		qsessions.FromContext(r.Context()).Get(r.FormValue("k"), &v)
		fmt.Fprint(w, v)
	})
	mux.HandleFunc("POST /reauth", func(w http.ResponseWriter, r *http.Request) {
		if err := qsessions.FromContext(r.Context()).Reauthenticate(r.Context(), "password"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /rotate", func(w http.ResponseWriter, r *http.Request) {
		if err := qsessions.FromContext(r.Context()).Rotate(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

func (be *storeBackend) revoke(t testing.TB, id string) {
	t.Helper()
	if err := be.Revoke(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

func (be *storeBackend) state() (map[string][]byte, int) { return be.persister.state() }

func (be *storeBackend) setAfterSet(f func()) {
	be.mu.Lock()
	defer be.mu.Unlock()
	be.afterSet = f
}

// recordingPersister counts the writes that succeed and remembers every
// session it created; beforeUpdate, when set, runs before each Update.
type recordingPersister struct {
	qsessions.Persister

	mu           sync.Mutex
	ids          map[string]bool
	writes       int
	conflicts    int // Updates refused for a version another write replaced
	beforeUpdate func(r qsessions.Record)
}

func (p *recordingPersister) wrote(err error, created string) error {
	if err == nil {
		p.mu.Lock()
		p.writes++
		if created != "" {
			p.ids[created] = true
		}
		p.mu.Unlock()
	}
	return err
}

func (p *recordingPersister) Create(ctx context.Context, r qsessions.Record) error {
	return p.wrote(p.Persister.Create(ctx, r), r.ID)
}

func (p *recordingPersister) Update(ctx context.Context, r qsessions.Record) error {
	p.mu.Lock()
	f := p.beforeUpdate
	p.mu.Unlock()
	if f != nil {
		f(r)
	}
	err := p.Persister.Update(ctx, r)
	if errors.Is(err, qsessions.ErrConflict) {
		p.mu.Lock()
		p.conflicts++
		p.mu.Unlock()
	}
	return p.wrote(err, "")
}

func (p *recordingPersister) Delete(ctx context.Context, ids ...string) error {
	return p.wrote(p.Persister.Delete(ctx, ids...), "")
}

func (p *recordingPersister) DeleteByUser(ctx context.Context, userID string, except ...string) ([]string, error) {
	ids, err := p.Persister.DeleteByUser(ctx, userID, except...)
	return ids, p.wrote(err, "")
}

func (p *recordingPersister) setBeforeUpdate(f func(r qsessions.Record)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.beforeUpdate = f
}

// state returns the binding of every stored session, by ID, and the count
// of writes.
func (p *recordingPersister) state() (map[string][]byte, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := map[string][]byte{}
	for id := range p.ids {
		if r, err := p.Persister.Load(context.Background(), id); err == nil {
			m[id], _ = hooks.InMeta(r.Meta)
		}
	}
	return m, p.writes
}

func TestNewOverStore(t *testing.T) {
	st, err := qsessions.New(memory.NewCache(), memory.NewPersister(), &qsessions.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []*Options{nil, {Unverified: Downgrade}} {
		if _, err := New(st, o); err != nil {
			t.Errorf("New(%+v): %v", o, err)
		}
	}
	if _, err := New(nil, nil); err == nil {
		t.Error("New with a nil Store: no error")
	}
}

// storeOf returns the real Store of a server started by newStoreServer.
func storeOf(srv *testServer) *storeBackend { return srv.store.(*storeBackend) }

// post posts form to path as b, after a refresh if the bound cookie is
// missing, and fails the test unless the answer is 200.
func (b *browser) post(path string, form url.Values) string {
	b.t.Helper()
	status, body, _ := b.do(http.MethodPost, path, form)
	if status != http.StatusOK {
		b.t.Fatalf("POST %s: %d %s", path, status, body)
	}
	return body
}

// get loads the value of k as b.
func (b *browser) get(k string) string {
	b.t.Helper()
	status, body, _ := b.do(http.MethodGet, "/get?k="+url.QueryEscape(k), nil)
	if status != http.StatusOK {
		b.t.Fatalf("GET /get?k=%s: %d %s", k, status, body)
	}
	return body
}

// sessionID returns the ID of b's session cookie.
func (b *browser) sessionID() string { return idOf(b.cookies[sessionCookie].value) }

// TestStoreRotationKeepsBinding: Reauthenticate and Rotate give the
// session a new ID and carry its binding over; the browser goes on
// refreshing under the identifier it registered with, and the old session
// cookie is worth nothing.
func TestStoreRotationKeepsBinding(t *testing.T) {
	srv := newStoreServer(t, nil)
	st := storeOf(srv)
	b := newBrowser(t, srv, newTestKey(t, ES256))
	b.login("alice")
	if b.sess == nil {
		t.Fatalf("no device bound session; proofs answered %v", b.statuses())
	}
	registered := b.sess.id
	for _, path := range []string{"/reauth", "/rotate"} {
		before := b.sessionID()
		stolen := b.thief(sessionCookie)
		b.post(path, nil)
		id := b.sessionID()
		if id == before {
			t.Fatalf("%s kept the session ID", path)
		}
		if _, err := st.Binding(t.Context(), before); !errors.Is(err, qsessions.ErrNotFound) {
			t.Fatalf("%s: the old session is still there: %v", path, err)
		}
		raw, err := st.Binding(t.Context(), id)
		if err != nil || !Bound(raw) {
			t.Fatalf("%s: binding of the new session: %q, %v", path, raw, err)
		}
		if bd, err := decodeBinding(raw); err != nil || bd.sessionID() != registered {
			t.Fatalf("%s: binding %q, %v; want one that names session %q", path, raw, err, registered)
		}
		if _, body := b.me(); body != "user alice" {
			t.Fatalf("%s: /me %q", path, body)
		}
		// The bound cookie expires: the refresh, under the registered
		// identifier, finds the session through the session cookie.
		srv.clock.Advance(DefaultCookieLifetime)
		b.log = nil
		if _, body := b.me(); body != "user alice" || b.sess == nil || b.sess.id != registered {
			t.Fatalf("%s: after the refresh: %q, proofs answered %v", path, body, b.statuses())
		}
		if status, body := stolen.me(); status != http.StatusOK || body != "anonymous" {
			t.Fatalf("%s: the session cookie from before: %d %q", path, status, body)
		}
	}
	infos, err := st.Sessions(t.Context(), "alice")
	if err != nil || len(infos) != 1 || !infos[0].DeviceBound() || infos[0].ID != b.sessionID() {
		t.Fatalf("Sessions: %+v, %v; want one device-bound session", infos, err)
	}
}

// TestStoreLoginOfAnotherUser: signing another user in on a bound browser
// starts an unbound session, offered for binding again; the browser's old
// device bound session is ended at its next refresh.
func TestStoreLoginOfAnotherUser(t *testing.T) {
	srv := newStoreServer(t, nil)
	st := storeOf(srv)
	b := newBrowser(t, srv, newTestKey(t, ES256))
	b.login("alice")
	old := *b.sess
	b.login("bob")
	if b.sess == nil || b.sess.id == old.id || b.sess.id != b.sessionID() {
		t.Fatalf("bob's session was not bound on its own: %+v", b.sess)
	}
	if _, body := b.me(); body != "user bob" {
		t.Fatalf("/me %q", body)
	}
	if infos, _ := st.Sessions(t.Context(), "alice"); len(infos) != 0 {
		t.Fatalf("alice still has %d sessions", len(infos))
	}
	// The browser refreshes its old session: it is over.
	req := refreshRequest(t, &browser{sess: &old}, "")
	status, body, _ := b.send(req)
	if status != http.StatusOK || !strings.Contains(body, `"continue":false`) {
		t.Fatalf("refresh of the old session: %d %s", status, body)
	}
}

// TestStoreValuesAndBindingConcurrently: a request that changes the
// session's values while a refresh rewrites its binding loses neither.
func TestStoreValuesAndBindingConcurrently(t *testing.T) {
	t.Run("refresh lands during the request", func(t *testing.T) {
		srv := newStoreServer(t, nil)
		st := storeOf(srv)
		b := newBrowser(t, srv, newTestKey(t, ES256))
		b.login("alice")
		// The request has loaded the session and set k when the refresh
		// lands; it saves afterwards, over a newer version.
		entered, release := make(chan struct{}), make(chan struct{})
		st.setAfterSet(func() {
			st.setAfterSet(nil)
			close(entered)
			<-release
		})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/set", strings.NewReader("k=one&v=1"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", b.cookieHeader())
		done := make(chan int)
		go func() {
			resp, err := b.client.Do(req)
			if err != nil {
				t.Error(err)
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		<-entered
		b.log = nil
		b.refresh()
		if !sameInts(b.statuses(), []int{200}) {
			t.Fatalf("refresh: %v", b.statuses())
		}
		close(release)
		if status := <-done; status != http.StatusOK {
			t.Fatalf("/set: %d", status)
		}
		assertFresh(t, b, map[string]string{"one": "1"})
	})
	t.Run("a value write lands during the refresh", func(t *testing.T) {
		srv := newStoreServer(t, nil)
		st := storeOf(srv)
		srv.addApp(t, newStoreBackend(t, srv.clock, st), nil)
		b := newBrowser(t, srv, newTestKey(t, ES256))
		b.login("alice")
		// Between the refresh's read and its write, another request of the
		// session stores a value through another application server (in
		// one server, writes of a session take turns): the refresh's
		// compare-and-swap fails, and it is retried over the new version.
		set, _ := http.NewRequest(http.MethodPost, srv.URL+"/set?k=two&v=2", nil)
		set.Header.Set("Cookie", b.cookieHeader())
		var updates atomic.Int32
		setStatus := make(chan int, 1)
		st.persister.setBeforeUpdate(func(qsessions.Record) {
			if updates.Add(1) == 1 {
				srv.serveFrom(1)
				defer srv.serveFrom(0)
				resp, err := b.client.Do(set)
				if err != nil {
					setStatus <- 0
					return
				}
				resp.Body.Close()
				setStatus <- resp.StatusCode
			}
		})
		b.log = nil
		b.refresh()
		st.persister.setBeforeUpdate(nil)
		if status := <-setStatus; status != http.StatusOK {
			t.Fatalf("/set: %d", status)
		}
		if !sameInts(b.statuses(), []int{200}) || updates.Load() != 3 {
			t.Fatalf("refresh: %v after %d updates; want 200 after 3 (the refresh's, the value's, the refresh's again)", b.statuses(), updates.Load())
		}
		assertFresh(t, b, map[string]string{"two": "2"})
	})
	t.Run("many", func(t *testing.T) {
		srv := newStoreServer(t, nil)
		b := newBrowser(t, srv, newTestKey(t, ES256))
		b.login("alice")
		// The handler works a while between loading the session and
		// saving it, as handlers do: long enough for other writes to land.
		storeOf(srv).setAfterSet(func() { time.Sleep(time.Millisecond) })
		// The writers send the cookies of b's last refresh; only this
		// goroutine drives b.
		var cookies atomic.Value
		cookies.Store(b.cookieHeader())
		header := func() string { return cookies.Load().(string) }
		const writers, keys = 4, 8
		var wg sync.WaitGroup
		want := map[string]string{}
		for w := range writers {
			for k := range keys {
				want[fmt.Sprintf("w%dk%d", w, k)] = fmt.Sprint(w * k)
			}
			wg.Go(func() {
				for k := range keys {
					form := url.Values{"k": {fmt.Sprintf("w%dk%d", w, k)}, "v": {fmt.Sprint(w * k)}}
					// A request that set out with a bound cookie two
					// refreshes old is refused (a browser holds its
					// requests during a refresh); it goes again.
					for try := 0; ; try++ {
						req, _ := http.NewRequest(http.MethodPost, srv.URL+"/set", strings.NewReader(form.Encode()))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						req.Header.Set("Cookie", header())
						resp, err := b.client.Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							break
						}
						if resp.StatusCode != http.StatusUnauthorized || try == 100 {
							t.Errorf("/set %s: %d", form.Encode(), resp.StatusCode)
							return
						}
					}
				}
			})
		}
		// Refresh, a millisecond apart, until the writers are done.
		done := make(chan struct{})
		go func() {
			wg.Wait()
			close(done)
		}()
		b.log = nil
		for running := true; running; {
			b.refresh()
			cookies.Store(b.cookieHeader())
			select {
			case <-done:
				running = false
			case <-time.After(time.Millisecond):
			}
		}
		p := storeOf(srv).persister
		p.mu.Lock()
		t.Logf("%d refreshes, %d writes, %d conflicts retried", len(b.log), p.writes, p.conflicts)
		p.mu.Unlock()
		for i, s := range b.statuses() {
			if s != http.StatusOK && s != http.StatusForbidden {
				t.Fatalf("refresh %d: %d (all: %v)", i, s, b.statuses())
			}
		}
		assertFresh(t, b, want)
	})
}

// assertFresh checks that b's session holds the values in want, and that
// its binding is the one b's last refresh got: the bound cookie b holds is
// valid, and the challenge b was given last is the one to sign next.
func assertFresh(t *testing.T, b *browser, want map[string]string) {
	t.Helper()
	b.log = nil
	for k, v := range want {
		if got := b.get(k); got != v {
			t.Errorf("value of %s: %q, want %q", k, got, v)
		}
	}
	if _, body := b.me(); body != "user alice" || len(b.log) != 0 {
		t.Fatalf("/me %q with proofs answered %v: the bound cookie of the last refresh is not valid", body, b.statuses())
	}
	delete(b.cookies, DefaultCookieName)
	if _, body := b.me(); body != "user alice" || !sameInts(b.statuses(), []int{200}) {
		t.Fatalf("the next refresh: %q, proofs answered %v", body, b.statuses())
	}
}

// TestStoreTwoServers runs two application servers, each with its Store
// and Binder, over the same backends, as behind a load balancer: a
// session registered through one refreshes through the other, and a
// revocation through one is refused by the other.
func TestStoreTwoServers(t *testing.T) {
	opts := &Options{Secret: []byte(strings.Repeat("s", 32))}
	srv := newStoreServer(t, opts)
	srv.addApp(t, newStoreBackend(t, srv.clock, storeOf(srv)), opts)
	b := newBrowser(t, srv, newTestKey(t, ES256))
	b.login("alice")
	if b.sess == nil {
		t.Fatal("no device bound session")
	}
	srv.serveFrom(1)
	if _, body := b.me(); body != "user alice" {
		t.Fatalf("server 1: %q", body)
	}
	// The first refresh answers the challenge server 0 gave at
	// registration; the second, one that server 1 gave.
	for i := range 2 {
		srv.clock.Advance(time.Minute)
		delete(b.cookies, DefaultCookieName)
		b.log = nil
		if _, body := b.me(); body != "user alice" || !sameInts(b.statuses(), []int{200}) {
			t.Fatalf("refresh %d through server 1: %q, proofs answered %v", i, body, b.statuses())
		}
	}
	// A challenge from server 1, answered to server 0.
	srv.serveFrom(0)
	srv.clock.Advance(time.Minute)
	delete(b.cookies, DefaultCookieName)
	b.log = nil
	if _, body := b.me(); body != "user alice" || !sameInts(b.statuses(), []int{200}) {
		t.Fatalf("refresh through server 0: %q, proofs answered %v", body, b.statuses())
	}

	th := b.thief()
	storeOf(srv).revoke(t, b.sessionID())
	srv.serveFrom(1)
	if status, body := th.me(); status != http.StatusOK || body != "anonymous" {
		t.Fatalf("server 1, every cookie of the revoked session: %d %q", status, body)
	}
	srv.clock.Advance(DefaultCookieLifetime)
	if status, body := b.me(); status != http.StatusOK || body != "anonymous" || b.sess != nil {
		t.Fatalf("server 1 after the revocation: %d %q; device bound session %+v", status, body, b.sess)
	}
}

// TestStoreRefusedRequestWritesNothing: a request that Guard refuses, or
// downgrades, neither touches the stored session nor records the thief's
// IP and User-Agent, however long since the session was last written.
func TestStoreRefusedRequestWritesNothing(t *testing.T) {
	for _, policy := range []Policy{Refuse, Downgrade} {
		srv := newStoreServer(t, &Options{Unverified: policy})
		victim := newBrowser(t, srv, newTestKey(t, ES256))
		victim.login("alice")
		srv.clock.Advance(time.Hour) // past the Store's TouchInterval
		before, writes := srv.store.state()
		th := victim.thief(sessionCookie)
		status, body := th.me()
		switch {
		case policy == Refuse && status != http.StatusUnauthorized,
			policy == Downgrade && (status != http.StatusOK || body != "anonymous"):
			t.Fatalf("policy %d: %d %q", policy, status, body)
		}
		if _, kept := th.cookies[sessionCookie]; kept == (policy == Downgrade) {
			t.Fatalf("policy %d: session cookie kept = %v; Downgrade deletes it, as for a revoked session, Refuse leaves it", policy, kept)
		}
		assertUnchanged(t, srv, before, writes)
	}
}
