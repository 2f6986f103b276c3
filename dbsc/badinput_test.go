package dbsc

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// offered signs a key-less browser in and returns it with the challenge
// and authorization of the registration header it got, so that a test can
// send registrations of its own making.
func offered(t *testing.T, srv *testServer, user string) (b *browser, challenge, authorization string) {
	t.Helper()
	b = newBrowser(t, srv, nil)
	_, _, resp := b.do(http.MethodPost, "/login", url.Values{"user": {user}})
	list, err := parseSFList(resp.Header.Get(headerRegistration))
	if err != nil || len(list) != 1 {
		t.Fatalf("registration header %q: %v", resp.Header.Get(headerRegistration), err)
	}
	return b, list[0].params["challenge"].str, list[0].params["authorization"].str
}

// TestRegistrationBadInput sends registrations that must be refused, each
// with the status the draft gives it, and checks that none changed
// anything.
func TestRegistrationBadInput(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, nil)
		b, challenge, sid := offered(t, srv, "alice")
		_, challenge2, sid2 := offered(t, srv, "bob")
		k := newTestKey(t, ES256)
		other := newTestKey(t, ES256)
		sign := func(in string) []byte { return k.signature(t, in) }
		hdr := map[string]any{"alg": ES256, "typ": proofType, "jwk": k.jwk()}
		with := func(m map[string]any, key string, v any) map[string]any {
			c := map[string]any{}
			for k, x := range m {
				c[k] = x
			}
			if v == nil {
				delete(c, key)
			} else {
				c[key] = v
			}
			return c
		}
		claims := map[string]any{"jti": challenge, "authorization": sid}
		good := k.registrationProof(t, challenge, sid)
		tampered := []byte(challenge)
		tampered[10] ^= 1
		stale := newChallenge(srv.binder.secret, forRegistration, sid, srv.clock.Now().Add(-DefaultChallengeLifetime-time.Second))
		refreshChallenge := newChallenge(srv.binder.secret, forRefresh, sid, srv.clock.Now())
		foreign := newChallenge([]byte(strings.Repeat("x", 32)), forRegistration, sid, srv.clock.Now())

		tests := []struct {
			name   string
			proofs []string // the Secure-Session-Response headers
			method string
			want   int
		}{
			{"no proof", nil, "", http.StatusBadRequest},
			{"two proofs", []string{good, good}, "", http.StatusBadRequest},
			{"GET", []string{good}, http.MethodGet, http.StatusMethodNotAllowed},
			{"not an sf-string", []string{`"` + good}, "", http.StatusBadRequest},
			{"not a JWS", []string{"hello"}, "", http.StatusBadRequest},
			{"bad base64", []string{strings.Replace(good, ".", ".%", 1)}, "", http.StatusBadRequest},
			{"alg none", []string{compact(t, with(hdr, "alg", "none"), claims, noSignature)}, "", http.StatusBadRequest},
			{"alg HS256", []string{compact(t, with(hdr, "alg", "HS256"), claims, hs256([]byte(k.jwk()["x"].(string))))}, "", http.StatusBadRequest},
			{"typ jwt", []string{compact(t, with(hdr, "typ", "jwt"), claims, sign)}, "", http.StatusBadRequest},
			{"no jwk", []string{compact(t, with(hdr, "jwk", nil), claims, sign)}, "", http.StatusBadRequest},
			{"signed by another key", []string{compact(t, hdr, claims, func(in string) []byte { return other.signature(t, in) })}, "", http.StatusBadRequest},
			{"no authorization", []string{compact(t, hdr, map[string]any{"jti": challenge}, sign)}, "", http.StatusBadRequest},
			{"oversized", []string{compact(t, hdr, with(claims, "pad", strings.Repeat("p", maxProof)), sign)}, "", http.StatusBadRequest},
			{"another session's challenge", []string{k.registrationProof(t, challenge2, sid)}, "", http.StatusForbidden},
			{"challenge for another session", []string{k.registrationProof(t, challenge, sid2)}, "", http.StatusForbidden},
			{"tampered challenge", []string{k.registrationProof(t, string(tampered), sid)}, "", http.StatusForbidden},
			{"expired challenge", []string{k.registrationProof(t, stale, sid)}, "", http.StatusForbidden},
			{"refresh challenge", []string{k.registrationProof(t, refreshChallenge, sid)}, "", http.StatusForbidden},
			{"another server's challenge", []string{k.registrationProof(t, foreign, sid)}, "", http.StatusForbidden},
		}
		before, writes := srv.store.state()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				method := tt.method
				if method == "" {
					method = http.MethodPost
				}
				req, _ := http.NewRequest(method, srv.URL+"/dbsc/register", nil)
				for _, p := range tt.proofs {
					req.Header.Add(headerResponse, p)
				}
				status, body, resp := b.send(req)
				if status != tt.want {
					t.Fatalf("status %d (%s), want %d", status, strings.TrimSpace(body), tt.want)
				}
				if len(resp.Cookies()) != 0 {
					t.Fatalf("a refused registration set cookies: %v", resp.Cookies())
				}
				assertUnchanged(t, srv, before, writes)
			})
		}

		// The good proof registers; the same proof again, or another key over
		// the same challenge, does not register twice.
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/dbsc/register", nil)
		req.Header.Set(headerResponse, good)
		if status, body, _ := b.send(req); status != http.StatusOK {
			t.Fatalf("the good proof: %d %s", status, body)
		}
		before, writes = srv.store.state()
		for _, p := range []string{good, other.registrationProof(t, challenge, sid)} {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/dbsc/register", nil)
			req.Header.Set(headerResponse, p)
			if status, _, _ := b.send(req); status != http.StatusForbidden {
				t.Fatalf("registering a bound session again: %d, want 403", status)
			}
		}
		assertUnchanged(t, srv, before, writes)

		// A registration for a session that is gone.
		srv.store.revoke(t, sid2)
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/dbsc/register", nil)
		req.Header.Set(headerResponse, k.registrationProof(t, challenge2, sid2))
		if status, _, _ := b.send(req); status != http.StatusForbidden {
			t.Fatalf("registration of a revoked session: %d, want 403", status)
		}
	})
}

// TestRefreshBadInput sends refreshes that must be refused: 400 (which
// ends the browser's session) for what is malformed, 403 with a fresh
// challenge for a proof that does not do, "continue": false for a session
// that is gone; none may change anything.
func TestRefreshBadInput(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, nil)
		victim := newBrowser(t, srv, newTestKey(t, ES256))
		victim.login("alice")
		sid := victim.sess.id
		k := victim.key
		challenge := victim.sess.challenge
		sign := func(in string) []byte { return k.signature(t, in) }
		hdr := map[string]any{"alg": ES256, "typ": proofType}
		claims := map[string]any{"jti": challenge}
		_, regChallenge, _ := offered(t, srv, "bob")
		bob := newBrowser(t, srv, newTestKey(t, ES256))
		bob.login("bob")
		stale := newChallenge(srv.binder.secret, forRefresh, sid, srv.clock.Now().Add(-DefaultChallengeLifetime-time.Second))
		rs := newTestKey(t, RS256)

		// A used challenge: refresh once with a fresh one.
		used := victim.sess.challenge
		delete(victim.cookies, DefaultCookieName)
		victim.me()
		if victim.statuses()[len(victim.statuses())-1] != http.StatusOK {
			t.Fatalf("the victim's refresh: %v", victim.statuses())
		}
		challenge = victim.sess.challenge
		claims["jti"] = challenge

		tests := []struct {
			name   string
			sid    []string // Sec-Secure-Session-Id headers
			proofs []string
			want   int
		}{
			{"no session id", nil, []string{k.refreshProof(t, challenge)}, http.StatusBadRequest},
			{"two session ids", []string{sid, sid}, []string{k.refreshProof(t, challenge)}, http.StatusBadRequest},
			{"malformed session id", []string{"not an id"}, nil, http.StatusBadRequest},
			{"session id too long", []string{sid + "A"}, nil, http.StatusBadRequest},
			{"no proof", []string{sid}, nil, http.StatusForbidden},
			{"two proofs", []string{sid}, []string{k.refreshProof(t, challenge), k.refreshProof(t, challenge)}, http.StatusBadRequest},
			{"not a JWS", []string{sid}, []string{"x.y"}, http.StatusBadRequest},
			{"alg none", []string{sid}, []string{compact(t, map[string]any{"alg": "none", "typ": proofType}, claims, noSignature)}, http.StatusBadRequest},
			{"alg HS256", []string{sid}, []string{compact(t, map[string]any{"alg": "HS256", "typ": proofType}, claims, hs256([]byte(k.jwk()["x"].(string))))}, http.StatusBadRequest},
			{"RS256 for an ES256 key", []string{sid}, []string{rs.refreshProof(t, challenge)}, http.StatusBadRequest},
			{"typ jwt", []string{sid}, []string{compact(t, map[string]any{"alg": ES256, "typ": "jwt"}, claims, sign)}, http.StatusBadRequest},
			{"carries a jwk", []string{sid}, []string{compact(t, map[string]any{"alg": ES256, "typ": proofType, "jwk": k.jwk()}, claims, sign)}, http.StatusBadRequest},
			{"oversized", []string{sid}, []string{compact(t, hdr, map[string]any{"jti": challenge, "pad": strings.Repeat("p", maxProof)}, sign)}, http.StatusBadRequest},
			{"wrong key", []string{sid}, []string{newTestKey(t, ES256).refreshProof(t, challenge)}, http.StatusForbidden},
			{"bob's key", []string{sid}, []string{bob.key.refreshProof(t, challenge)}, http.StatusForbidden},
			{"used challenge", []string{sid}, []string{k.refreshProof(t, used)}, http.StatusForbidden},
			{"expired challenge", []string{sid}, []string{k.refreshProof(t, stale)}, http.StatusForbidden},
			{"registration challenge", []string{sid}, []string{k.refreshProof(t, regChallenge)}, http.StatusForbidden},
			{"bob's challenge", []string{sid}, []string{k.refreshProof(t, bob.sess.challenge)}, http.StatusForbidden},
			{"made-up challenge", []string{sid}, []string{k.refreshProof(t, "abc")}, http.StatusForbidden},
			{"unknown session", []string{idOf(newToken())}, []string{k.refreshProof(t, challenge)}, http.StatusOK},
		}
		before, writes := srv.store.state()
		th := victim.thief() // every cookie of the victim
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/dbsc/refresh", nil)
				for _, v := range tt.sid {
					req.Header.Add(headerSessionID, v)
				}
				for _, p := range tt.proofs {
					req.Header.Add(headerResponse, p)
				}
				status, body, resp := th.send(req)
				if status != tt.want {
					t.Fatalf("status %d (%s), want %d", status, strings.TrimSpace(body), tt.want)
				}
				for _, c := range resp.Cookies() {
					if c.Value != "" {
						t.Fatalf("a refused refresh set a cookie: %v", c)
					}
				}
				switch status {
				case http.StatusForbidden:
					list, err := parseSFList(resp.Header.Get(headerChallenge))
					if err != nil || len(list) != 1 || list[0].params["id"].str != sid {
						t.Fatalf("403 without a challenge for the session: %q", resp.Header.Get(headerChallenge))
					}
				case http.StatusOK:
					var end struct {
						Continue *bool `json:"continue"`
					}
					if json.Unmarshal([]byte(body), &end) != nil || end.Continue == nil || *end.Continue {
						t.Fatalf("unknown session: %s, want continue false", body)
					}
				}
				assertUnchanged(t, srv, before, writes)
			})
		}
		// And the victim, whose proofs are good, still refreshes.
		delete(victim.cookies, DefaultCookieName)
		if status, body := victim.me(); status != http.StatusOK || body != "user alice" {
			t.Fatalf("victim: %d %q", status, body)
		}
	})
}

func TestEndpointsAndGuard(t *testing.T) {
	onEachBackend(t, func(t *testing.T, start serverFunc) {
		srv := start(t, nil)
		b := newBrowser(t, srv, nil)
		for _, path := range []string{"/dbsc/register", "/dbsc/refresh"} {
			status, _, resp := b.do(http.MethodGet, path, nil)
			if status != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
				t.Fatalf("GET %s: %d", path, status)
			}
		}
		if status, _, _ := b.do(http.MethodPost, "/dbsc/other", nil); status != http.StatusUnauthorized && status != http.StatusNotFound {
			// /dbsc/other is the application's: the mux answers 404.
			t.Fatalf("POST /dbsc/other: %d", status)
		}
		rec := httptestRecorder(t, srv.binder.Guard(http.NotFoundHandler()), "/")
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("Guard without the session middleware: %d, want 500", rec.Code)
		}
		rec = httptestRecorder(t, srv.binder, "/elsewhere")
		if rec.Code != http.StatusNotFound {
			t.Fatalf("Binder.ServeHTTP elsewhere: %d", rec.Code)
		}
	})
}

func TestNewOptions(t *testing.T) {
	st := newFakeStore()
	good := []*Options{nil, {}, {Path: "/auth/dbsc/", Algorithms: []string{RS256}, Secret: make([]byte, 32), Unverified: Downgrade}}
	for _, o := range good {
		if _, err := newBinder(st, o, sessionOfTest); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	bad := []*Options{
		{Path: "dbsc/"}, {Path: "/dbsc"}, {Path: "/d\"b/"},
		{Algorithms: []string{"none"}}, {Algorithms: []string{"HS256"}}, {Algorithms: []string{ES256, ES256}},
		{Secret: make([]byte, 16)},
		{CookieLifetime: time.Millisecond}, {ChallengeLifetime: -time.Second},
		{Unverified: 7},
		{Exclude: []string{"static"}},
	}
	for _, o := range bad {
		if _, err := newBinder(st, o, sessionOfTest); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := newBinder(nil, nil, sessionOfTest); err == nil {
		t.Error("nil store: no error")
	}
}

func httptestRecorder(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
	return rec
}
