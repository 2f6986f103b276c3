package dbsc

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
)

// The tests in this file drive the server over real HTTP (TLS, through
// net/http/httptest) with the test browser of browser_test.go.

// statuses returns the status codes of the requests that carried a proof.
func (b *browser) statuses() []int {
	var s []int
	for _, e := range b.log {
		s = append(s, e.status)
	}
	return s
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// assertUnchanged fails the test if the store changed since before.
func assertUnchanged(t *testing.T, srv *testServer, before map[string][]byte, writes int) {
	t.Helper()
	after, w := srv.store.state()
	if w != writes || len(after) != len(before) {
		t.Fatalf("the store was written: %d writes, want %d", w, writes)
	}
	for id, v := range before {
		if !bytes.Equal(after[id], v) {
			t.Fatalf("binding of %.8s changed:\n%s\n%s", id, v, after[id])
		}
	}
}

func TestRegisterAndRefresh(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		for _, alg := range []string{ES256, RS256} {
			for _, bare := range []bool{false, true} {
				name := alg + "/sf-string"
				if bare {
					name = alg + "/bare" // what Chrome sends
				}
				t.Run(name, func(t *testing.T) {
					srv := start(t, nil)
					b := newBrowser(t, srv, newTestKey(t, alg))
					b.bare = bare
					b.login("alice")
					if b.sess == nil {
						t.Fatalf("no device bound session after sign-in; proofs answered %v", b.statuses())
					}
					id := idOf(b.cookies[sessionCookie].value)
					if b.sess.id != id {
						t.Fatalf("session_identifier %q, want the session ID %q", b.sess.id, id)
					}
					raw, _ := srv.store.Binding(t.Context(), id)
					if !Bound(raw) {
						t.Fatal("the store has no binding")
					}
					bd, err := decodeBinding(raw)
					if err != nil || bd.alg != alg || bd.sessionID() != id {
						t.Fatalf("binding %s: %v", raw, err)
					}
					if b.sess.challenge == "" {
						t.Fatal("the registration answer carried no challenge for the first refresh")
					}
					if status, body := b.me(); status != http.StatusOK || body != "user alice" {
						t.Fatalf("/me: %d %q", status, body)
					}

					// The bound cookie expires; the browser holds the request,
					// refreshes, and the request goes through.
					srv.clock.Advance(DefaultCookieLifetime + time.Second)
					if status, body := b.me(); status != http.StatusOK || body != "user alice" {
						t.Fatalf("/me after expiry: %d %q", status, body)
					}
					// The challenge cached at registration was too old by then:
					// one 403 with a fresh one, then success.
					if want := []int{200, 403, 200}; !sameInts(b.statuses(), want) {
						t.Fatalf("proofs answered %v, want %v", b.statuses(), want)
					}

					// A refresh within the challenge's lifetime needs no 403.
					srv.clock.Advance(DefaultChallengeLifetime - time.Second)
					b.log = nil
					delete(b.cookies, DefaultCookieName) // as if it expired

					if status, _ := b.me(); status != http.StatusOK {
						t.Fatalf("/me: %d", status)
					}
					if want := []int{200}; !sameInts(b.statuses(), want) {
						t.Fatalf("proofs answered %v, want %v", b.statuses(), want)
					}
				})
			}
		}
	})
}

// TestChallengeRotation checks that every refresh uses up its challenge and
// hands out another, and that a used one is refused.
func TestChallengeRotation(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, nil)
		b := newBrowser(t, srv, newTestKey(t, ES256))
		b.login("alice")
		seen := map[string]bool{}
		for i := range 3 {
			before := b.sess.challenge
			seen[before] = true
			delete(b.cookies, DefaultCookieName)
			if status, _ := b.me(); status != http.StatusOK {
				t.Fatalf("round %d: /me %d", i, status)
			}
			if seen[b.sess.challenge] {
				t.Fatalf("round %d: challenge handed out twice", i)
			}
		}
		// Sign a challenge that was used: refused.
		for c := range seen {
			req := refreshRequest(t, b, b.key.refreshProof(t, c))
			status, _, resp := b.thief().send(req)
			if status != http.StatusForbidden || resp.Header.Get(headerChallenge) == "" {
				t.Fatalf("a used challenge: %d, challenge %q", status, resp.Header.Get(headerChallenge))
			}
		}
	})
}

// refreshRequest builds a refresh request of b's session carrying proof.
func refreshRequest(t *testing.T, b *browser, proof string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.sess.refreshURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(headerSessionID, b.sess.id)
	if proof != "" {
		req.Header.Set(headerResponse, proof)
	}
	return req
}

func TestReplayedRefreshIsRefused(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, nil)
		b := newBrowser(t, srv, newTestKey(t, ES256))
		b.login("alice")
		delete(b.cookies, DefaultCookieName)
		b.me()
		last := b.log[len(b.log)-1]
		if last.status != http.StatusOK {
			t.Fatalf("the refresh failed: %v", b.statuses())
		}
		before, writes := srv.store.state()

		// A thief who recorded the refresh, cookies and all, sends it again.
		th := b.thief()
		req, _ := http.NewRequest(http.MethodPost, last.url, nil)
		req.Header = last.header.Clone()
		status, _, resp := th.send(req)
		if status != http.StatusForbidden {
			t.Fatalf("replay: %d, want 403", status)
		}
		for _, c := range resp.Cookies() {
			if c.Name == DefaultCookieName && c.Value != "" {
				t.Fatal("a replay got a bound cookie")
			}
		}
		assertUnchanged(t, srv, before, writes)
		if _, body := th.me(); body == "user alice" {
			// The thief's bound cookie is the one the victim had; it is still
			// valid until it expires, which is what the next test is about.
			t.Log("the thief's copy of the bound cookie is still within its lifetime")
		}
	})
}

// TestStolenBoundCookieAfterExpiry: a thief copies every cookie, bound
// cookie included. Once the bound cookie expires, nothing the thief holds
// is worth anything, and the victim carries on.
func TestStolenBoundCookieAfterExpiry(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, nil)
		victim := newBrowser(t, srv, newTestKey(t, ES256))
		victim.login("alice")
		th := victim.thief()
		if _, body := th.me(); body != "user alice" {
			t.Fatalf("within the bound cookie's lifetime the copy works (that is the window DBSC leaves): %q", body)
		}
		srv.clock.Advance(DefaultCookieLifetime)
		before, writes := srv.store.state()
		if status, body := th.me(); status != http.StatusUnauthorized || body == "user alice" {
			t.Fatalf("expired bound cookie: %d %q, want 401", status, body)
		}
		// The thief knows the session identifier and tries to refresh with a
		// key of its own: refused every time.
		th.key = newTestKey(t, ES256)
		th.sess = &browserSession{id: victim.sess.id, refreshURL: victim.sess.refreshURL, credentials: []string{DefaultCookieName}}
		th.refresh()
		for _, e := range th.log {
			if e.status == http.StatusOK {
				t.Fatalf("the thief's refresh succeeded: %v", th.statuses())
			}
		}
		if status, _ := th.me(); status != http.StatusUnauthorized {
			t.Fatalf("after the thief's refresh attempts: %d", status)
		}
		assertUnchanged(t, srv, before, writes)
		if status, body := victim.me(); status != http.StatusOK || body != "user alice" {
			t.Fatalf("victim: %d %q", status, body)
		}
	})
}

// TestStolenSessionCookieWithoutKey: a thief copies the long-lived session
// cookie only. It is refused at once, and changes nothing.
func TestStolenSessionCookieWithoutKey(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, nil)
		victim := newBrowser(t, srv, newTestKey(t, ES256))
		victim.login("alice")
		before, writes := srv.store.state()
		th := victim.thief(sessionCookie)
		// A moment after the registration, a request without any bound
		// cookie is told to retry (the browser may have sent it while it
		// registered), and is not served either.
		if status, body := th.me(); status != http.StatusServiceUnavailable || body == "user alice" {
			t.Fatalf("session cookie alone, just after the registration: %d %q, want 503", status, body)
		}
		srv.clock.Advance(registrationGrace)
		if status, body := th.me(); status != http.StatusUnauthorized || body == "user alice" {
			t.Fatalf("session cookie alone: %d %q, want 401", status, body)
		}
		// A made-up bound cookie does not help either.
		th.cookies[DefaultCookieName] = jarCookie{value: newToken()}
		if status, _ := th.me(); status != http.StatusUnauthorized {
			t.Fatalf("forged bound cookie: %d", status)
		}
		// Nor does the bound cookie of another bound session.
		other := newBrowser(t, srv, newTestKey(t, ES256))
		other.login("mallory")
		before, writes = srv.store.state()
		th.cookies[DefaultCookieName] = other.cookies[DefaultCookieName]
		if status, _ := th.me(); status != http.StatusUnauthorized {
			t.Fatalf("another session's bound cookie: %d", status)
		}
		assertUnchanged(t, srv, before, writes)
	})
}

// TestUnboundBrowser: a browser without DBSC ignores the header and keeps
// working with its plain session cookie.
func TestUnboundBrowser(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, nil)
		b := newBrowser(t, srv, nil)
		b.login("bob")
		srv.clock.Advance(24 * time.Hour)
		if status, body := b.me(); status != http.StatusOK || body != "user bob" {
			t.Fatalf("/me: %d %q", status, body)
		}
		raw, _ := srv.store.Binding(t.Context(), idOf(b.cookies[sessionCookie].value))
		if Bound(raw) {
			t.Fatal("an unbound browser's session is bound")
		}
	})
}

// TestBoundSessionNeverFallsBack: a session that registered stays bound,
// even if the browser loses its DBSC session (site data cleared, say).
func TestBoundSessionNeverFallsBack(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, nil)
		b := newBrowser(t, srv, newTestKey(t, ES256))
		b.login("alice")
		b.sess, b.key = nil, nil
		srv.clock.Advance(DefaultCookieLifetime)
		if status, _ := b.me(); status != http.StatusUnauthorized {
			t.Fatalf("bound session without its bound cookie: %d, want 401", status)
		}
		// Offering registration again does nothing for a bound session.
		var err error
		rec := httptestWithSession(srv, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			err = srv.binder.Offer(w, r)
		}))
		if err != nil || rec.Header().Get(headerRegistration) != "" {
			t.Fatalf("Offer on a bound session: %v, header %q", err, rec.Header().Get(headerRegistration))
		}
	})
}

func TestRevokedSessionEnds(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, nil)
		b := newBrowser(t, srv, newTestKey(t, ES256))
		b.login("alice")
		srv.store.revoke(t, b.sess.id)
		srv.clock.Advance(DefaultCookieLifetime)
		status, body := b.me()
		if b.sess != nil {
			t.Fatal("the browser's session survived a revocation")
		}
		if status != http.StatusOK || body != "anonymous" {
			t.Fatalf("/me: %d %q", status, body)
		}
	})
}

func TestDowngrade(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, &Options{Unverified: Downgrade})
		victim := newBrowser(t, srv, newTestKey(t, ES256))
		victim.login("alice")
		before, writes := srv.store.state()
		th := victim.thief(sessionCookie)
		srv.clock.Advance(registrationGrace)
		if status, body := th.me(); status != http.StatusOK || body != "anonymous" {
			t.Fatalf("downgraded: %d %q, want the page as for a signed-out visitor", status, body)
		}
		assertUnchanged(t, srv, before, writes)
		if _, body := victim.me(); body != "user alice" {
			t.Fatalf("victim: %q", body)
		}
	})
}

// TestConcurrentRefreshes sends one proof many times at once: exactly one
// request gets a bound cookie.
func TestConcurrentRefreshes(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, nil)
		b := newBrowser(t, srv, newTestKey(t, ES256))
		b.login("alice")
		proof := b.key.refreshProof(t, b.sess.challenge)
		_, writes := srv.store.state()
		const n = 8
		var wg sync.WaitGroup
		codes := make(chan int, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := refreshRequest(t, b, proof)
				resp, err := b.client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				codes <- resp.StatusCode
			}()
		}
		wg.Wait()
		close(codes)
		ok := 0
		for c := range codes {
			switch c {
			case http.StatusOK:
				ok++
			case http.StatusForbidden:
			default:
				t.Errorf("status %d", c)
			}
		}
		if _, w := srv.store.state(); ok != 1 || w != writes+1 {
			t.Fatalf("%d successes and %d writes, want 1 and 1", ok, w-writes)
		}
	})
}

// TestRaceLosesToConcurrentRefresh makes a refresh's swap lose to another
// refresh of the same proof between read and write: the retry sees the
// challenge used and refuses.
func TestRaceLosesToConcurrentRefresh(t *testing.T) {
	srv := newTestServer(t, nil)
	b := newBrowser(t, srv, newTestKey(t, ES256))
	b.login("alice")
	proof := b.key.refreshProof(t, b.sess.challenge)
	var once sync.Once
	srv.fake.beforeSwap = func() {
		once.Do(func() {
			srv.fake.beforeSwap = nil
			resp, err := b.client.Do(refreshRequest(t, b, proof))
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("the interleaved refresh: %v %v", resp, err)
			}
		})
	}
	resp, err := b.client.Do(refreshRequest(t, b, proof))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the refresh that lost the race: %d, want 403", resp.StatusCode)
	}
}

// TestRotatedSession: after the session's ID changed (Rotate), the browser
// still refreshes under the identifier it registered with; its session
// cookie leads to the session.
func TestRotatedSession(t *testing.T) {
	srv := newTestServer(t, nil)
	b := newBrowser(t, srv, newTestKey(t, ES256))
	b.login("alice")
	oldID := b.sess.id
	token := newToken()
	newID := idOf(token)
	srv.fake.mu.Lock()
	srv.fake.users[newID], srv.fake.bindings[newID] = srv.fake.users[oldID], srv.fake.bindings[oldID]
	delete(srv.fake.users, oldID)
	delete(srv.fake.bindings, oldID)
	srv.fake.mu.Unlock()
	b.cookies[sessionCookie] = jarCookie{value: token}
	srv.clock.Advance(DefaultCookieLifetime)
	if status, body := b.me(); status != http.StatusOK || body != "user alice" {
		t.Fatalf("/me after rotation: %d %q (proofs %v)", status, body, b.statuses())
	}
	raw, _ := srv.store.Binding(t.Context(), newID)
	if bd, err := decodeBinding(raw); err != nil || bd.sessionID() != oldID || len(bd.cookies()) != 1 || bd.ch == 0 {
		t.Fatalf("binding after the refresh: %s, %v", raw, err)
	}
}

// TestSessionInstructions checks the answer to a registration against the
// draft: the keys Chrome requires, and a credential whose attributes are
// those of the Set-Cookie.
func TestSessionInstructions(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, &Options{
			Exclude:                  []string{"/static/"},
			AllowedRefreshInitiators: []string{"*.example.com"},
			Cookie:                   qsessions.CookieOptions{Name: "__Host-bound", SameSite: http.SameSiteStrictMode},
		})
		b := newBrowser(t, srv, nil)
		_, _, resp := b.do(http.MethodPost, "/login", url.Values{"user": {"alice"}})
		hdr := resp.Header.Get(headerRegistration)
		list, err := parseSFList(hdr)
		if err != nil || len(list) != 1 {
			t.Fatalf("%s: %q: %v", headerRegistration, hdr, err)
		}
		m := list[0]
		if len(m.inner) != 2 || m.inner[0].str != ES256 || m.inner[1].str != RS256 || m.params["path"].str != "/dbsc/register" ||
			m.params["challenge"].kind != 's' || m.params["authorization"].str != idOf(b.cookies[sessionCookie].value) {
			t.Fatalf("registration header %q", hdr)
		}
		k := newTestKey(t, ES256)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/dbsc/register", nil)
		req.Header.Set(headerResponse, k.registrationProof(t, m.params["challenge"].str, m.params["authorization"].str))
		status, body, resp := b.send(req)
		if status != http.StatusOK {
			t.Fatalf("registration: %d %s", status, body)
		}
		var cfg map[string]any
		if err := json.Unmarshal([]byte(body), &cfg); err != nil {
			t.Fatal(err)
		}
		want := `{"allowed_refresh_initiators":["*.example.com"],"credentials":[{"attributes":"Path=/; Secure; HttpOnly; SameSite=Strict","name":"__Host-bound","type":"cookie"}],"refresh_url":"/dbsc/refresh","scope":{"include_site":false,"scope_specification":[{"domain":"127.0.0.1","path":"/static/","type":"exclude"}]},"session_identifier":"` + m.params["authorization"].str + `"}`
		if got, _ := json.Marshal(cfg); string(got) != want {
			t.Fatalf("instructions\n%s\nwant\n%s", got, want)
		}
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" ||
			resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cross-Origin-Resource-Policy") != "same-site" {
			t.Fatalf("headers %v", resp.Header)
		}
		var set *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "__Host-bound" {
				set = c
			}
		}
		if set == nil || set.Path != "/" || !set.Secure || !set.HttpOnly || set.SameSite != http.SameSiteStrictMode ||
			set.Domain != "" || set.MaxAge != int(DefaultCookieLifetime/time.Second) {
			t.Fatalf("bound cookie %+v", set)
		}
		ch, err := parseSFList(resp.Header.Get(headerChallenge))
		if err != nil || len(ch) != 1 || ch[0].item.kind != 's' || ch[0].params["id"].str != m.params["authorization"].str {
			t.Fatalf("%s: %q", headerChallenge, resp.Header.Get(headerChallenge))
		}
	})
}

// TestJustRegistered: the page that a sign-in redirects to may reach the
// server after the registration was stored but before the browser had the
// bound cookie it set (Chromium sends it while it registers). For a moment
// after the registration, such a request, one that carries no bound cookie
// at all, gets 503 with Retry-After (and, as a page, one that reloads
// itself): it is not served, and nothing is written; sent again with the
// bound cookie, it is. A request with a wrong bound cookie is refused
// outright, and after the moment, one without any is too.
func TestJustRegistered(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, nil)
		b := newBrowser(t, srv, newTestKey(t, ES256))
		b.login("alice")
		before, writes := srv.store.state()
		bound := b.cookies[DefaultCookieName]
		delete(b.cookies, DefaultCookieName)
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/me", nil)
		req.Header.Set("Cookie", b.cookieHeader())
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
			!strings.Contains(string(page), `http-equiv="refresh"`) || strings.Contains(string(page), "alice") {
			t.Fatalf("a page without its bound cookie just after the registration: %d, Retry-After %q\n%s",
				resp.StatusCode, resp.Header.Get("Retry-After"), page)
		}
		assertUnchanged(t, srv, before, writes)
		b.cookies[DefaultCookieName] = bound
		if status, body := b.me(); status != http.StatusOK || body != "user alice" {
			t.Fatalf("again, with the bound cookie: %d %q", status, body)
		}
		th := b.thief(sessionCookie)
		th.cookies[DefaultCookieName] = jarCookie{value: newToken()}
		if status, _ := th.me(); status != http.StatusUnauthorized {
			t.Fatalf("a forged bound cookie just after the registration: %d, want 401", status)
		}
		srv.clock.Advance(registrationGrace)
		delete(th.cookies, DefaultCookieName)
		if status, _ := th.me(); status != http.StatusUnauthorized {
			t.Fatalf("no bound cookie, past the moment after the registration: %d, want 401", status)
		}
	})
}
