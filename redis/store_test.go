package redis_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/redis"
)

// An appServer is one app server: its own Redis client, Persister, Store
// and HTTP server.
type appServer struct {
	name   string
	client goredis.UniversalClient
	p      *redis.Persister
	store  *qsessions.Store
	url    string
	http   *http.Client
}

// newAppServer starts an app server over client whose Persister keeps its
// keys under prefix; with a cachePrefix, the same Redis is the cache too
// (gocache.NewRedis, conditional writes).
func newAppServer(t testing.TB, name string, client goredis.UniversalClient, prefix, cachePrefix string, opts *redis.Options) *appServer {
	t.Helper()
	var o redis.Options
	if opts != nil {
		o = *opts
	}
	o.Prefix = prefix
	p, err := redis.New(client, &o)
	if err != nil {
		t.Fatal(err)
	}
	var cache qsessions.Cache
	if cachePrefix != "" {
		if cache, err = gocache.NewRedis(client, &gocache.Options{Prefix: cachePrefix}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := qsessions.New(cache, p, &qsessions.Options{
		Lifetime: time.Hour,
		// Faults are logged; the tests count errors themselves.
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	// POST /new?user=U&n=N stores a new session holding n, signed in as U.
	mux.HandleFunc("POST /new", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		n, _ := strconv.Atoi(r.FormValue("n"))
		if err := s.Set("n", n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if u := r.FormValue("user"); u != "" {
			if err := s.Login(r.Context(), u); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		io.WriteString(w, "ok")
	})
	// POST /set?key=K&n=N sets key K of the request's session to N; a
	// request without a stored session gets 410 and stores nothing.
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		if s.IsNew() {
			http.Error(w, "no session", http.StatusGone)
			return
		}
		n, _ := strconv.Atoi(r.FormValue("n"))
		if err := s.Set(r.FormValue("key"), n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok") // the save happens before this byte leaves
	})
	// GET /get?key=K answers K's value, or 410 without a stored session.
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		if s.IsNew() {
			http.Error(w, "no session", http.StatusGone)
			return
		}
		var n int
		if ok, err := s.Get(r.FormValue("key"), &n); err != nil || !ok {
			http.Error(w, fmt.Sprint("missing ", ok, err), http.StatusNotFound)
			return
		}
		fmt.Fprint(w, n)
	})
	// POST /revoke?id=ID signs session ID out: an admin action, which
	// does not use the request's own session.
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		if err := st.Revoke(r.Context(), r.FormValue("id")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	srv := httptest.NewServer(st.Middleware(mux))
	t.Cleanup(srv.Close)
	// A request stuck for a minute fails the test rather than hang it.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
	t.Cleanup(hc.CloseIdleConnections)
	return &appServer{name: name, client: client, p: p, store: st, url: srv.URL, http: hc}
}

// do sends one request with token as the session cookie, and returns the
// status, the body and the session cookie the response sets.
func (a *appServer) do(method, path string, form url.Values, token string) (int, string, string, error) {
	req, err := http.NewRequest(method, a.url+path+"?"+form.Encode(), nil)
	if err != nil {
		return 0, "", "", err
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: "sessionid", Value: token})
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	var set string
	for _, c := range resp.Cookies() {
		if c.Name == "sessionid" && c.MaxAge >= 0 {
			set = c.Value
		}
	}
	return resp.StatusCode, strings.TrimSpace(string(body)), set, err
}

// newSession stores a new session of user holding n through a, and
// returns its token and ID.
func (a *appServer) newSession(user string, n int) (token, id string, err error) {
	code, body, tok, err := a.do("POST", "/new", url.Values{"user": {user}, "n": {strconv.Itoa(n)}}, "")
	switch {
	case err != nil:
		return "", "", err
	case code != http.StatusOK || tok == "":
		return "", "", fmt.Errorf("%s: new session: %d %q, cookie %q", a.name, code, body, tok)
	}
	return tok, sessionID(tok), nil
}

// sessionID is the ID the Store stores a token's session under: the
// SHA-256 of the token's bytes, in base64url.
func sessionID(token string) string {
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Two app servers, each with a Redis client of its own, share the
// Persister (and, in the Cache subtests, the same Redis as their cache),
// under a load of real HTTP requests: sixteen goroutines per server write
// keys of their own into 48 sessions and, now and then, revoke one (from
// either server) and replace it. Strict: no write that was acknowledged
// (a 200) is lost, not even partly (each goroutine's key holds the last
// value it saved), and no request is served from a session once its
// revocation has returned.
func TestTwoServersUnderLoad(t *testing.T) {
	for _, tg := range targets {
		for _, cached := range []bool{false, true} {
			name := tg.name + "/NoCache"
			if cached {
				name = tg.name + "/Cache"
			}
			t.Run(name, func(t *testing.T) {
				ca, cb := tg.client(t), tg.client(t)
				prefix, cachePrefix := newPrefix(t, ca), ""
				if cached {
					cachePrefix = newPrefix(t, ca)
				}
				servers := []*appServer{
					newAppServer(t, "A", ca, prefix, cachePrefix, nil),
					newAppServer(t, "B", cb, prefix, cachePrefix, nil),
				}
				mixedLoad(t, servers, 2*time.Second)
			})
		}
	}
}

// mixedLoad runs the load for runFor and checks it (see
// TestTwoServersUnderLoad).
func mixedLoad(t *testing.T, servers []*appServer, runFor time.Duration) {
	const (
		slots      = 48
		perServer  = 16
		revokeRate = 0.02
	)
	type slot struct{ token, id string }
	var (
		mu       sync.Mutex
		current  [slots]slot
		revoking = map[string]bool{}   // tokens, recorded before the revocation is sent
		revoked  = map[string]string{} // token → ID, recorded once it returned
		// acked[id][key] is the last value a goroutine saved under its
		// key in session id with a request that answered 200.
		acked = map[string]map[string]int{}
	)
	user := func(i int) string { return fmt.Sprintf("user-%d", i%5) }
	for i := range current {
		tok, id, err := servers[i%2].newSession(user(i), i)
		if err != nil {
			t.Fatal(err)
		}
		current[i] = slot{tok, id}
	}
	var writes, saves, revokes, refused, gone atomic.Int64
	stop := time.Now().Add(runFor)
	var wg sync.WaitGroup
	for si, srv := range servers {
		for g := range perServer {
			rng := rand.New(rand.NewPCG(uint64(si), uint64(g)))
			key := fmt.Sprintf("w%d-%d", si, g)
			n := 0
			wg.Go(func() {
				for time.Now().Before(stop) && !t.Failed() {
					i := rng.IntN(slots)
					mu.Lock()
					sl := current[i]
					_, wasRevoked := revoked[sl.token]
					mu.Unlock()

					if rng.Float64() < revokeRate {
						mu.Lock()
						revoking[sl.token] = true
						mu.Unlock()
						code, body, _, err := srv.do("POST", "/revoke", url.Values{"id": {sl.id}}, "")
						if err != nil || code != http.StatusOK {
							t.Errorf("%s: revoke: %d %q %v", srv.name, code, body, err)
							return
						}
						revokes.Add(1)
						mu.Lock()
						revoked[sl.token] = sl.id
						mu.Unlock()
						tok, id, err := srv.newSession(user(i), i)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						if current[i] == sl {
							current[i] = slot{tok, id}
						}
						mu.Unlock()
						continue
					}

					n++
					code, body, _, err := srv.do("POST", "/set", url.Values{"key": {key}, "n": {strconv.Itoa(n)}}, sl.token)
					writes.Add(1)
					switch {
					case err != nil:
						t.Errorf("%s: set: %v", srv.name, err)
						return
					case code == http.StatusGone:
						// Loaded as new: only a session whose revocation
						// had begun may be.
						mu.Lock()
						begun := revoking[sl.token]
						mu.Unlock()
						if !begun {
							t.Errorf("%s: live session %s loaded as new", srv.name, sl.id)
							return
						}
						gone.Add(1)
					case code == http.StatusUnauthorized:
						refused.Add(1) // revoked while the request ran
					case code != http.StatusOK:
						t.Errorf("%s: set: %d %q", srv.name, code, body)
						return
					case wasRevoked:
						t.Errorf("%s: a write to session %s succeeded after its revocation returned", srv.name, sl.id)
						return
					default:
						saves.Add(1)
						mu.Lock()
						if acked[sl.id] == nil {
							acked[sl.id] = map[string]int{}
						}
						acked[sl.id][key] = n
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()
	t.Logf("%d write requests, %d saved, %d revocations, %d refused as revoked meanwhile, %d found revoked",
		writes.Load(), saves.Load(), revokes.Load(), refused.Load(), gone.Load())
	if saves.Load() == 0 || revokes.Load() == 0 {
		t.Fatal("the load saved or revoked nothing")
	}
	if t.Failed() {
		return
	}

	ctx := context.Background()
	for tok, id := range revoked {
		for _, srv := range servers {
			if code, _, _, err := srv.do("GET", "/get", url.Values{"key": {"n"}}, tok); err != nil || code != http.StatusGone {
				t.Errorf("%s: revoked session %s after the run: %d, %v; want 410", srv.name, id, code, err)
			}
		}
		if _, err := servers[0].p.Load(ctx, id); !errors.Is(err, qsessions.ErrNotFound) {
			t.Errorf("revoked session %s has a record again (%v)", id, err)
		}
	}
	lost := 0
	for _, sl := range current {
		for key, want := range acked[sl.id] {
			for _, srv := range servers {
				code, body, _, err := srv.do("GET", "/get", url.Values{"key": {key}}, sl.token)
				if err != nil || code != http.StatusOK || body != strconv.Itoa(want) {
					lost++
					t.Errorf("%s: session %s: %s is %d %q (%v); the last save that answered 200 wrote %d",
						srv.name, sl.id, key, code, body, err, want)
				}
			}
		}
	}
	if lost == 0 {
		t.Logf("no lost write: every key of the %d live sessions holds the last value saved", len(current))
	}
}
