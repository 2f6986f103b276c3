package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/postgres"
)

// appServer is one "app server": its own pool, Persister and Store.
type appServer struct {
	name  string
	p     *postgres.Persister
	store *qsessions.Store
}

func newAppServer(t *testing.T, name, schema string, cache qsessions.Cache, maxConns int32) appServer {
	t.Helper()
	pool := ownPool(t, name, maxConns)
	p, err := postgres.New(context.Background(), pool, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	st, err := qsessions.New(cache, p, &qsessions.Options{
		Lifetime: time.Hour,
		// Cache faults are logged; the tests count errors themselves.
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return appServer{name: name, p: p, store: st}
}

// newSession stores a new session holding n and returns its token and ID.
func newSession(t testing.TB, st *qsessions.Store, userID string, n int) (token, id string) {
	t.Helper()
	token, id, err := createSession(st, userID, n)
	if err != nil {
		t.Fatal(err)
	}
	return token, id
}

// createSession is newSession for goroutines other than the test's.
func createSession(st *qsessions.Store, userID string, n int) (token, id string, err error) {
	ctx := context.Background()
	s, err := st.Load(ctx, "")
	if err != nil {
		return "", "", err
	}
	if err := s.Set("n", n); err != nil {
		return "", "", err
	}
	if userID != "" {
		if err := s.Login(ctx, userID); err != nil {
			return "", "", err
		}
	}
	if err := st.Save(ctx, s); err != nil {
		return "", "", err
	}
	if s.Token() == "" || s.ID() == "" {
		return "", "", errors.New("saved session has no token or ID")
	}
	return s.Token(), s.ID(), nil
}

// loadLive loads token and fails the test unless it is a stored session.
func loadLive(t *testing.T, st *qsessions.Store, token, what string) *qsessions.Session {
	t.Helper()
	s, err := st.Load(context.Background(), token)
	if err != nil {
		t.Fatalf("%s: Load: %v", what, err)
	}
	if s.IsNew() {
		t.Fatalf("%s: Load returned a new session; want the stored one", what)
	}
	return s
}

func loadGone(t *testing.T, st *qsessions.Store, token, what string) {
	t.Helper()
	s, err := st.Load(context.Background(), token)
	if err != nil {
		t.Fatalf("%s: Load: %v", what, err)
	}
	if !s.IsNew() {
		t.Fatalf("%s: Load returned stored session %s; want a new one", what, s.ID())
	}
}

// Two app servers on separate pools share PostgreSQL (and the cache): what
// one revokes, the other refuses on the next request.
func TestTwoServersRevocation(t *testing.T) {
	schema := freshSchema(t)
	newCache, kind := sharedCache(t)
	t.Logf("cache: %s", kind)
	a := newAppServer(t, "qs-test-server-a", schema, newCache(), 4)
	b := newAppServer(t, "qs-test-server-b", schema, newCache(), 4)
	ctx := context.Background()

	token, id := newSession(t, a.store, "", 1)
	loadLive(t, b.store, token, "B reads a session A created")
	inflight := loadLive(t, b.store, token, "B, a request still running")
	if err := inflight.Set("n", 2); err != nil {
		t.Fatal(err)
	}
	if err := a.store.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	loadGone(t, b.store, token, "B after A revoked the session")
	loadGone(t, a.store, token, "A after A revoked the session")
	if err := b.store.Save(ctx, inflight); !errors.Is(err, qsessions.ErrNotFound) {
		t.Fatalf("B saving a session A revoked meanwhile: %v, want an error wrapping ErrNotFound", err)
	}
	loadGone(t, a.store, token, "A after B's in-flight save")
	loadGone(t, b.store, token, "B after B's in-flight save")
	if n := countRows(t, schema, "", "id = $1", id); n != 0 {
		t.Fatalf("revoked session's row is back (%d rows)", n)
	}

	// Sign out everywhere else, from the other server.
	keepTok, keepID := newSession(t, a.store, "alice", 10)
	otherTok, _ := newSession(t, b.store, "alice", 11)
	thirdTok, _ := newSession(t, a.store, "alice", 12)
	bobTok, _ := newSession(t, a.store, "bob", 13)
	for _, tok := range []string{keepTok, otherTok, thirdTok} {
		loadLive(t, a.store, tok, "A, before RevokeUser")
		loadLive(t, b.store, tok, "B, before RevokeUser")
	}
	n, err := b.store.RevokeUser(ctx, "alice", keepID)
	if err != nil || n != 2 {
		t.Fatalf("RevokeUser(alice, except one) = %d, %v; want 2", n, err)
	}
	for _, st := range []appServer{a, b} {
		loadLive(t, st.store, keepTok, st.name+", the kept session")
		loadGone(t, st.store, otherTok, st.name+", a revoked session")
		loadGone(t, st.store, thirdTok, st.name+", a revoked session")
		loadLive(t, st.store, bobTok, st.name+", another user's session")
	}
}

// Sixteen goroutines per app server load sessions, each writing a key of
// its own, and revoke and replace a few, for ten seconds, with the shared
// cache (Redis when configured, with conditional writes) in front of
// PostgreSQL. Strict: a save that returned nil is never lost, not even
// partly (every goroutine's key holds the last value it saved), and no
// load returns a session whose revocation had returned, through the cache
// or otherwise.
func TestTwoServersUnderLoad(t *testing.T) {
	schema := freshSchema(t)
	newCache, kind := sharedCache(t)
	t.Logf("cache: %s", kind)
	servers := []appServer{
		newAppServer(t, "qs-test-load-a", schema, newCache(), 8),
		newAppServer(t, "qs-test-load-b", schema, newCache(), 8),
	}
	mixedLoad(t, servers, 10*time.Second, func(ids []string) int {
		return countRows(t, schema, "", "id = ANY($1)", ids)
	})
}

// The same load without a cache: every request reads PostgreSQL.
func TestTwoServersUnderLoadNoCache(t *testing.T) {
	schema := freshSchema(t)
	servers := []appServer{
		newAppServer(t, "qs-test-nocache-a", schema, nil, 8),
		newAppServer(t, "qs-test-nocache-b", schema, nil, 8),
	}
	mixedLoad(t, servers, 3*time.Second, func(ids []string) int {
		return countRows(t, schema, "", "id = ANY($1)", ids)
	})
}

// mixedLoad runs the mixed load on servers for runFor, and fails the test
// on any lost write or any load of a session after its revocation
// returned; rowsOf counts the stored rows among ids.
func mixedLoad(t *testing.T, servers []appServer, runFor time.Duration, rowsOf func(ids []string) int) {
	const (
		slots      = 48
		perServer  = 16
		revokeRate = 0.02
	)
	type slot struct{ token, id string }
	var (
		mu       sync.Mutex
		current  [slots]slot
		revoking = map[string]bool{}   // tokens, recorded before Revoke is called
		revoked  = map[string]string{} // token → ID, recorded once Revoke returned
		// acked[id][key] is the last value a goroutine saved under its
		// key in session id with a Save that returned nil.
		acked = map[string]map[string]int{}
	)
	for i := range current {
		tok, id := newSession(t, servers[i%2].store, fmt.Sprintf("user-%d", i%5), i)
		current[i] = slot{tok, id}
	}
	var loads, saves, revokes, refused, replaced atomic.Int64
	ctx := context.Background()
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

					s, err := srv.store.Load(ctx, sl.token)
					if err != nil {
						t.Errorf("%s: Load: %v", srv.name, err)
						return
					}
					loads.Add(1)
					if wasRevoked && !s.IsNew() {
						t.Errorf("%s: session %s loaded after its revocation returned", srv.name, sl.id)
						return
					}
					if s.IsNew() {
						mu.Lock()
						begun := revoking[sl.token]
						mu.Unlock()
						if !begun {
							t.Errorf("%s: live session %s loaded as new", srv.name, sl.id)
							return
						}
						continue
					}
					if rng.Float64() < revokeRate {
						mu.Lock()
						revoking[sl.token] = true
						mu.Unlock()
						if err := srv.store.Revoke(ctx, sl.id); err != nil {
							t.Errorf("%s: Revoke: %v", srv.name, err)
							return
						}
						revokes.Add(1)
						mu.Lock()
						revoked[sl.token] = sl.id
						mu.Unlock()
						tok, id, err := createSession(srv.store, fmt.Sprintf("user-%d", i%5), i)
						if err != nil {
							t.Errorf("%s: new session: %v", srv.name, err)
							return
						}
						mu.Lock()
						if current[i] == sl {
							current[i] = slot{tok, id}
							replaced.Add(1)
						}
						mu.Unlock()
						continue
					}
					n++
					if err := s.Set(key, n); err != nil {
						t.Errorf("%s: Set: %v", srv.name, err)
						return
					}
					err = srv.store.Save(ctx, s)
					switch {
					case errors.Is(err, qsessions.ErrNotFound):
						refused.Add(1) // revoked while this request ran
					case err != nil:
						t.Errorf("%s: Save: %v", srv.name, err)
						return
					case wasRevoked:
						t.Errorf("%s: Save of revoked session %s succeeded", srv.name, sl.id)
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
	t.Logf("%d loads, %d saves, %d revokes (%d sessions replaced), %d saves refused as revoked meanwhile",
		loads.Load(), saves.Load(), revokes.Load(), replaced.Load(), refused.Load())
	if loads.Load() == 0 || saves.Load() == 0 || revokes.Load() == 0 {
		t.Fatal("the load ran no loads, saves or revocations")
	}
	if t.Failed() {
		return
	}

	ids := make([]string, 0, len(revoked))
	for tok, id := range revoked {
		ids = append(ids, id)
		for _, srv := range servers {
			loadGone(t, srv.store, tok, srv.name+", a revoked session after the run")
		}
	}
	if n := rowsOf(ids); n != 0 {
		t.Errorf("%d of %d revoked sessions have a row again", n, len(ids))
	}
	lost := 0
	for _, sl := range current {
		for _, srv := range servers {
			s := loadLive(t, srv.store, sl.token, srv.name+", a live session after the run")
			for key, want := range acked[sl.id] {
				var got int
				if ok, err := s.Get(key, &got); err != nil || !ok || got != want {
					lost++
					t.Errorf("%s: session %s holds %s = %d (present %v, %v); the last save that returned nil wrote %d",
						srv.name, sl.id, key, got, ok, err, want)
				}
			}
		}
	}
	if lost == 0 {
		t.Logf("no lost write: every key of the %d live sessions holds the last value saved", len(current))
	}
}

// Killing the app server's database connections mid-run makes requests fail
// with errors (never a panic, never a silent logout), and the server
// recovers once the kills stop.
func TestKilledConnections(t *testing.T) {
	schema := freshSchema(t)
	appName := "qs-test-kill-" + randomHex(4)
	const maxConns = 4
	// No cache: every request reaches PostgreSQL.
	srv := newAppServer(t, appName, schema, nil, maxConns)
	ctx := context.Background()

	const sessions = 16
	tokens := make([]string, sessions)
	for i := range tokens {
		tokens[i], _ = newSession(t, srv.store, "", i)
	}

	admin, err := pgx.Connect(ctx, needService(t, envDSN, "a PostgreSQL server"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed atomic.Int64
	kill := func() {
		var n int
		err := admin.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", appName).Scan(&n)
		if err != nil {
			t.Errorf("terminate backends: %v", err)
		}
		killed.Add(int64(n))
	}

	// request runs one request (load, change, save) and returns its error.
	// A stored session must never come back as a new one.
	request := func(i int) error {
		s, err := srv.store.Load(ctx, tokens[i])
		if err != nil {
			return err
		}
		if s.IsNew() {
			return fmt.Errorf("session %d: %w", i, errSilentLogout)
		}
		if err := s.Set("touched", time.Now().UnixNano()); err != nil {
			return err
		}
		return srv.store.Save(ctx, s)
	}

	var failures, successes atomic.Int64
	var mu sync.Mutex
	var sample []error
	stopWork := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stopWork:
					return
				default:
				}
				err := request((w*7 + n) % sessions)
				switch {
				case err == nil:
					successes.Add(1)
				case errors.Is(err, errSilentLogout), errors.Is(err, qsessions.ErrNotFound):
					t.Errorf("a killed connection was taken for a missing session: %v", err)
				default:
					failures.Add(1)
					mu.Lock()
					if len(sample) < 3 {
						sample = append(sample, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	// Kill until requests have visibly failed, within reason.
	deadline := time.Now().Add(10 * time.Second)
	for failures.Load() < 5 && time.Now().Before(deadline) {
		kill()
		time.Sleep(50 * time.Millisecond)
	}
	kill()
	close(stopWork)
	wg.Wait()
	t.Logf("%d backends terminated; %d requests failed, %d succeeded during the kills; e.g. %v",
		killed.Load(), failures.Load(), successes.Load(), sample)
	if failures.Load() == 0 {
		t.Fatalf("no request failed although %d backends were terminated", killed.Load())
	}

	// Recovery: connections that died idle fail once each, when next used;
	// then every request succeeds.
	streak, attempts := 0, 0
	for streak < 50 {
		attempts++
		if attempts > 50+2*maxConns {
			t.Fatalf("no recovery: %d requests after the kills, last streak %d", attempts, streak)
		}
		if err := request(attempts % sessions); err != nil {
			if errors.Is(err, errSilentLogout) || errors.Is(err, qsessions.ErrNotFound) {
				t.Fatal(err)
			}
			streak = 0
			continue
		}
		streak++
	}
	// Every session survived, with its values.
	for i, tok := range tokens {
		s := loadLive(t, srv.store, tok, fmt.Sprintf("session %d after the kills", i))
		var n int
		if ok, err := s.Get("n", &n); err != nil || !ok || n != i {
			t.Errorf("session %d after the kills: n = %d, %v, %v", i, n, ok, err)
		}
	}
}

var errSilentLogout = errors.New("a stored session loaded as a new one")
