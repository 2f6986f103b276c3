package conformance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
)

// TestStore checks the invariants that a [qsessions.Store] keeps over the
// Cache and Persister returned by newBackends, with two Stores sharing them
// as two processes would. newBackends is called once per subtest and may
// return a nil Cache (no cache); the subtests that need a cache are then
// skipped. See the package documentation for the subtests.
func TestStore(t *testing.T, newBackends func(t *testing.T) (qsessions.Cache, qsessions.Persister)) {
	t.Helper()
	testStore(realT{t}, defaultConfig, func(t tester) (qsessions.Cache, qsessions.Persister) { return newBackends(testingT(t)) })
}

// The invariants that TestStore checks, in the words of the design. Every
// subtest checks one of them, and its failures open with it.
const (
	sSharing    = "A session saved through one Store is read, as saved, through every other Store sharing the backends."
	sRevoke     = "A revoked session is refused on the very next request, in every process that shares the backends, once Revoke, RevokeUser, Logout or Login has returned."
	sInFlight   = "A request in flight cannot resurrect a revoked session: its save fails with ErrNotFound and leaves neither a row nor a live cache entry."
	sLostUpdate = "No lost update: requests of one session that change different keys all keep their changes, the same key is last-writer-wins, and recording activity never rewrites values."
	sStale      = "No stale copy: once a write or a revocation has returned, no Store reads what it replaced, even through a cache fill that read the Persister before it."
	sContention = "Contention alone never fails a save while its context has time left; a save whose context ends first fails with an error wrapping ErrConflict and the context's error, and writes nothing."
	sExpiry     = "An expired session is refused, and DeleteExpired removes it."
	sAccount    = "When and how a session was authenticated, and the cap on sessions per user, hold across Stores."
	sOutage     = "A cache outage is never fatal, and a revocation made during one is not undone when the cache comes back."
)

// storeTest is one named subtest of TestStore and the invariant it checks.
type storeTest struct {
	name       string
	rule       string
	needsCache bool
	run        func(t tester, s *storeT)
}

var storeTests = []storeTest{
	{"SaveLoad", sSharing, false, testStoreSaveLoad},
	{"Login", sSharing, false, testStoreLogin},

	{"Revoke", sRevoke, false, testStoreRevoke},
	{"RevokeUser", sRevoke, false, testStoreRevokeUser},
	{"Logout", sRevoke, false, testStoreLogout},

	{"RevokeInFlight", sInFlight, false, testStoreRevokeInFlight},
	{"RevokeUserInFlight", sInFlight, false, testStoreRevokeUserInFlight},
	{"RevokeInFlightRace", sInFlight, false, testStoreRevokeInFlightRace},

	{"LostUpdate", sLostUpdate, false, testStoreLostUpdate},
	{"LostUpdateConcurrent", sLostUpdate, false, testStoreLostUpdateConcurrent},
	{"TouchKeepsValues", sLostUpdate, false, testStoreTouchKeepsValues},

	{"StaleFill", sStale, false, testStoreStaleFill},
	{"RevokeDuringFill", sStale, false, testStoreRevokeDuringFill},

	{"Contention", sContention, false, testStoreContention},

	{"Expiry", sExpiry, false, testStoreExpiry},

	{"Authentication", sAccount, false, testStoreAuthentication},
	{"MaxSessionsPerUser", sAccount, false, testStoreMaxSessionsPerUser},

	{"CacheOutage", sOutage, true, testStoreCacheOutage},
	{"CacheOutageRevoke", sOutage, true, testStoreCacheOutageRevoke},
	{"CacheOutageRevokeUser", sOutage, true, testStoreCacheOutageRevokeUser},
	{"CacheFlaky", sOutage, true, testStoreCacheFlaky},
}

func testStore(t tester, cfg config, newBackends func(t tester) (qsessions.Cache, qsessions.Persister)) {
	t.Helper()
	for _, tc := range storeTests {
		t.Run(tc.name, func(raw tester) {
			t := contractT{tester: raw, kind: "Store invariant", rule: tc.rule}
			cache, persister := newBackends(raw)
			if persister == nil {
				raw.Fatalf("newBackends returned a nil Persister")
			}
			if cache == nil && tc.needsCache {
				raw.Skipf("no Cache: %s needs one", tc.name)
			}
			s := &storeT{t: t, cfg: cfg, persister: persister}
			s.now.Store(time.Now().UnixMilli())
			if cache != nil {
				s.faulty = NewFaultyCache(cache)
				s.cache = s.faulty
			}
			s.a = s.newStore("A")
			s.b = s.newStore("B")
			tc.run(t, s)
		})
	}
}

// storeT holds two Stores over the same backends.
type storeT struct {
	t         tester
	cfg       config
	cache     qsessions.Cache // nil: no cache
	faulty    *FaultyCache    // wraps the cache; nil when there is none
	persister qsessions.Persister
	a, b      *qsessions.Store
	now       atomic.Int64 // the Stores' clock, in Unix milliseconds
}

// The Stores' options: the suite names them rather than rely on the
// defaults.
const (
	storeLifetime      = 24 * time.Hour
	storeTouchInterval = time.Minute
	storeKeyPrefix     = "qsessions:"
)

func (s *storeT) newStore(name string) *qsessions.Store {
	s.t.Helper()
	return s.newStoreWith(name, s.persister, nil)
}

// newStoreWith returns a Store over the shared cache and p, with the
// suite's clock and lifetime, its options changed by opts when not nil.
func (s *storeT) newStoreWith(name string, p qsessions.Persister, opts func(*qsessions.Options)) *qsessions.Store {
	s.t.Helper()
	o := qsessions.Options{
		Lifetime:      storeLifetime,
		TouchInterval: storeTouchInterval,
		KeyPrefix:     storeKeyPrefix,
		Clock:         func() time.Time { return time.UnixMilli(s.now.Load()) },
		Logger:        slog.New(slog.DiscardHandler),
	}
	if opts != nil {
		opts(&o)
	}
	st, err := qsessions.New(s.cache, p, &o)
	if err != nil {
		s.t.Fatalf("qsessions.New for Store %s: %v", name, err)
	}
	return st
}

// advance moves the Stores' clock on by d.
func (s *storeT) advance(d time.Duration) { s.now.Add(d.Milliseconds()) }

// name returns "A" or "B" for one of the Stores.
func (s *storeT) name(st *qsessions.Store) string {
	switch st {
	case s.a:
		return "Store A"
	case s.b:
		return "Store B"
	}
	return "Store C"
}

// load loads token through st, failing the test on error.
func (s *storeT) load(st *qsessions.Store, token string) *qsessions.Session {
	s.t.Helper()
	sess, err := call1(s.t, s.cfg, context.Background(), "Store.Load", func(ctx context.Context) (*qsessions.Session, error) {
		return st.Load(ctx, token)
	})
	if err != nil {
		s.t.Fatalf("%s.Load: %v", s.name(st), err)
	}
	return sess
}

func (s *storeT) save(st *qsessions.Store, sess *qsessions.Session) error {
	s.t.Helper()
	return call(s.t, s.cfg, context.Background(), "Store.Save", func(ctx context.Context) error { return st.Save(ctx, sess) })
}

func (s *storeT) mustSave(st *qsessions.Store, sess *qsessions.Session) {
	s.t.Helper()
	if err := s.save(st, sess); err != nil {
		s.t.Fatalf("%s.Save: %v", s.name(st), err)
	}
}

func (s *storeT) login(st *qsessions.Store, sess *qsessions.Session, userID string) {
	s.t.Helper()
	if err := call(s.t, s.cfg, context.Background(), "Session.Login", func(ctx context.Context) error { return sess.Login(ctx, userID) }); err != nil {
		s.t.Fatalf("Login through %s: %v", s.name(st), err)
	}
}

func (s *storeT) revoke(st *qsessions.Store, id string) {
	s.t.Helper()
	if err := call(s.t, s.cfg, context.Background(), "Store.Revoke", func(ctx context.Context) error { return st.Revoke(ctx, id) }); err != nil {
		s.t.Fatalf("%s.Revoke: %v", s.name(st), err)
	}
}

// session is a stored session as a client knows it.
type session struct {
	token, id string
	value     string // the value stored under "v"
}

// create saves a new session through st holding value under "v", logged in
// as userID unless that is "".
func (s *storeT) create(st *qsessions.Store, userID, value string) session {
	s.t.Helper()
	sess := s.load(st, "")
	if !sess.IsNew() {
		s.t.Fatalf("%s.Load(\"\") returned a stored session", s.name(st))
	}
	if err := sess.Set("v", value); err != nil {
		s.t.Fatalf("Set: %v", err)
	}
	if userID != "" {
		s.login(st, sess, userID)
	}
	s.mustSave(st, sess)
	c := session{token: sess.Token(), id: sess.ID(), value: value}
	if c.token == "" || c.id == "" {
		s.t.Fatalf("a session saved through %s has token %q and ID %q", s.name(st), c.token, c.id)
	}
	return c
}

// wantLive checks that st loads c with its value.
func (s *storeT) wantLive(st *qsessions.Store, c session, what string) {
	s.t.Helper()
	sess := s.load(st, c.token)
	if sess.IsNew() || sess.ID() != c.id {
		s.t.Errorf("%s.Load of %s returned a new session; want the stored one", s.name(st), what)
		return
	}
	var v string
	if ok, err := sess.Get("v", &v); !ok || err != nil || v != c.value {
		s.t.Errorf("%s.Load of %s: Get(\"v\") = %q, %v, %v; want %q, true, nil", s.name(st), what, v, ok, err, c.value)
	}
}

// wantGone checks that c is refused by both Stores and held by neither
// backend.
func (s *storeT) wantGone(c session, what string) {
	s.t.Helper()
	for _, st := range []*qsessions.Store{s.a, s.b} {
		sess := s.load(st, c.token)
		if !sess.IsNew() || sess.ID() == c.id {
			var v string
			sess.Get("v", &v)
			s.t.Errorf("%s.Load of %s returned it (value %q); want a new, empty session", s.name(st), what, v)
		}
	}
	_, err := call1(s.t, s.cfg, context.Background(), "Persister.Load", func(ctx context.Context) (qsessions.Record, error) {
		return s.persister.Load(ctx, c.id)
	})
	if !errors.Is(err, qsessions.ErrNotFound) {
		s.t.Errorf("the Persister still holds %s (Load error: %v)", what, err)
	}
	if s.cache == nil {
		return
	}
	key := storeKeyPrefix + c.id
	b, err := call1(s.t, s.cfg, context.Background(), "Cache.Get", func(ctx context.Context) ([]byte, error) {
		return s.faulty.Unwrap().Get(ctx, key)
	})
	if !errors.Is(err, qsessions.ErrCacheMiss) && !isLease(b) {
		s.t.Errorf("the Cache still holds %s under %q (Get error: %v)", what, key, err)
	}
}

// isLease reports whether a cache value is the marker a Store leaves under
// a key while it reads the Persister to fill it (see
// qsessions.ConditionalCache): a 0 byte and 16 random bytes, never a
// session.
func isLease(b []byte) bool { return len(b) == 17 && b[0] == 0 }

func testStoreSaveLoad(t tester, s *storeT) {
	c := s.create(s.a, "", "saved by A")
	s.wantLive(s.b, c, "a session saved by Store A")
	s.wantLive(s.a, c, "a session it saved")

	// A change saved through B is seen through A.
	sess := s.load(s.b, c.token)
	if err := sess.Set("v", "changed by B"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	s.mustSave(s.b, sess)
	c.value = "changed by B"
	s.wantLive(s.a, c, "a session changed by Store B")
}

func testStoreLogin(t tester, s *storeT) {
	u := user("alice")
	anon := s.create(s.a, "", "before login")
	sess := s.load(s.b, anon.token)
	s.login(s.b, sess, u)
	s.mustSave(s.b, sess)
	c := session{token: sess.Token(), id: sess.ID(), value: "before login"}
	if c.id == anon.id {
		t.Fatalf("Login kept the session ID; want a new token")
	}
	s.wantLive(s.a, c, "a session after Login")
	s.wantGone(anon, "the session's token from before Login")
	if got := s.load(s.a, c.token).UserID(); got != u {
		t.Errorf("Store A sees the logged-in session's UserID as %q; want %q", got, u)
	}
	infos, err := call1(t, s.cfg, context.Background(), "Store.Sessions", func(ctx context.Context) ([]qsessions.SessionInfo, error) {
		return s.a.Sessions(ctx, u)
	})
	if err != nil {
		t.Fatalf("Store A.Sessions: %v", err)
	}
	if len(infos) != 1 || infos[0].ID != c.id {
		t.Errorf("Store A.Sessions lists %d sessions; want just the one logged in through B", len(infos))
	}
}

func testStoreRevoke(t tester, s *storeT) {
	c := s.create(s.a, user("alice"), "to be revoked")
	other := s.create(s.a, user("alice"), "another session")
	// Both Stores have read it, so that it is cached wherever it can be.
	s.wantLive(s.a, c, "a session")
	s.wantLive(s.b, c, "a session")
	s.revoke(s.b, c.id)
	s.wantGone(c, "a session revoked by Store B")
	s.wantLive(s.a, other, "another session of the same user")
	s.revoke(s.b, c.id) // revoking it again is no error
}

func testStoreRevokeUser(t tester, s *storeT) {
	u := user("alice")
	var cs []session
	for i := range 4 {
		cs = append(cs, s.create(s.a, u, fmt.Sprintf("session %d", i)))
	}
	other := s.create(s.a, user("bob"), "bob's")
	for _, c := range cs {
		s.wantLive(s.a, c, "a session")
		s.wantLive(s.b, c, "a session")
	}
	n, err := call1(t, s.cfg, context.Background(), "Store.RevokeUser", func(ctx context.Context) (int, error) {
		return s.b.RevokeUser(ctx, u, cs[2].id)
	})
	if err != nil {
		t.Fatalf("Store B.RevokeUser: %v", err)
	}
	if n != 3 {
		t.Errorf("Store B.RevokeUser with one exception = %d; want 3", n)
	}
	for i, c := range cs {
		if i == 2 {
			s.wantLive(s.a, c, "the session RevokeUser was told to keep")
			continue
		}
		s.wantGone(c, fmt.Sprintf("session %d, revoked by RevokeUser through Store B", i))
	}
	s.wantLive(s.a, other, "another user's session")
}

func testStoreLogout(t tester, s *storeT) {
	c := s.create(s.a, user("alice"), "to be logged out")
	s.wantLive(s.b, c, "a session")
	sess := s.load(s.b, c.token)
	if err := call(t, s.cfg, context.Background(), "Session.Logout", func(ctx context.Context) error { return sess.Logout(ctx) }); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	s.mustSave(s.b, sess)
	s.wantGone(c, "a session logged out through Store B")
}

// wantSaveNotFound checks that saving sess through st fails with ErrNotFound.
func (s *storeT) wantSaveNotFound(st *qsessions.Store, sess *qsessions.Session, what string) {
	s.t.Helper()
	err := s.save(st, sess)
	switch {
	case err == nil:
		s.t.Errorf("%s.Save of %s: nil error; want an error wrapping ErrNotFound", s.name(st), what)
	case !errors.Is(err, qsessions.ErrNotFound):
		s.t.Errorf("%s.Save of %s: error %q does not wrap ErrNotFound", s.name(st), what, err)
	}
}

func testStoreRevokeInFlight(t tester, s *storeT) {
	c := s.create(s.a, user("alice"), "in flight")
	s.wantLive(s.b, c, "a session")
	// A request through A loads the session and changes it...
	sess := s.load(s.a, c.token)
	if err := sess.Set("v", "written by the request in flight"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	// ...B revokes it meanwhile...
	s.revoke(s.b, c.id)
	// ...and A's save must not bring it back.
	s.wantSaveNotFound(s.a, sess, "a session revoked while its request ran")
	s.wantGone(c, "a session revoked while a request changed it")
}

func testStoreRevokeUserInFlight(t tester, s *storeT) {
	u := user("alice")
	c := s.create(s.a, u, "in flight")
	s.wantLive(s.b, c, "a session")
	sess := s.load(s.a, c.token)
	if err := sess.Set("v", "written by the request in flight"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	// An unchanged session whose TouchInterval has passed is written too.
	touched := s.create(s.a, u, "touched")
	tsess := s.load(s.a, touched.token)
	if _, err := call1(t, s.cfg, context.Background(), "Store.RevokeUser", func(ctx context.Context) (int, error) {
		return s.b.RevokeUser(ctx, u)
	}); err != nil {
		t.Fatalf("Store B.RevokeUser: %v", err)
	}
	s.advance(2 * time.Hour)
	s.wantSaveNotFound(s.a, sess, "a session whose user was signed out everywhere while its request ran")
	s.wantSaveNotFound(s.a, tsess, "an unchanged session due for its activity write, whose user was signed out everywhere while its request ran")
	s.wantGone(c, "a changed session revoked by RevokeUser while its request ran")
	s.wantGone(touched, "a touched session revoked by RevokeUser while its request ran")
}

func testStoreRevokeInFlightRace(t tester, s *storeT) {
	// Two requests of a session run through A, one after the other, each
	// loading it, working a little and saving a change, while B revokes it.
	// The timings vary by round so that the revocation lands before, inside
	// and after the requests' loads and saves.
	const rounds = 10
	for round := range rounds {
		c := s.create(s.a, user("alice"), "racing")
		s.wantLive(s.b, c, "a session")
		work := time.Duration(round%3) * 300 * time.Microsecond
		delay := time.Duration(round%5) * 200 * time.Microsecond
		errs := make(chan error, 3)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for r := range 2 {
			wg.Go(func() {
				<-start
				for i := range 10 {
					var sess *qsessions.Session
					err := s.cfg.run(context.Background(), "Store.Load", func(ctx context.Context) (err error) {
						sess, err = s.a.Load(ctx, c.token)
						return err
					})
					if err != nil {
						errs <- fmt.Errorf("Store A.Load: %w", err)
						return
					}
					if sess.IsNew() {
						return // revoked: a new session, which it does not save
					}
					if err := sess.Set("v", fmt.Sprintf("request %d.%d", r, i)); err != nil {
						errs <- err
						return
					}
					time.Sleep(work) // the handler at work
					err = s.cfg.run(context.Background(), "Store.Save", func(ctx context.Context) error { return s.a.Save(ctx, sess) })
					if err != nil && !errors.Is(err, qsessions.ErrNotFound) {
						errs <- fmt.Errorf("Store A.Save racing with a revocation: %w (want nil or ErrNotFound)", err)
						return
					}
				}
			})
		}
		wg.Go(func() {
			<-start
			time.Sleep(delay)
			if err := s.cfg.run(context.Background(), "Store.Revoke", func(ctx context.Context) error { return s.b.Revoke(ctx, c.id) }); err != nil {
				errs <- fmt.Errorf("Store B.Revoke: %w", err)
			}
		})
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		s.wantGone(c, fmt.Sprintf("a session revoked while requests saved it (round %d)", round))
		if t.Failed() {
			return
		}
	}
}

// values returns the values of c as st loads them.
func (s *storeT) values(st *qsessions.Store, c session) map[string]string {
	s.t.Helper()
	sess := s.load(st, c.token)
	if sess.IsNew() {
		s.t.Fatalf("%s.Load of a live session returned a new session", s.name(st))
	}
	m := map[string]string{}
	for _, k := range sess.Keys() {
		var v string
		if _, err := sess.Get(k, &v); err != nil {
			s.t.Fatalf("Get(%q): %v", k, err)
		}
		m[k] = v
	}
	return m
}

// wantValues checks that both Stores load c with want among its values.
func (s *storeT) wantValues(c session, want map[string]string, what string) {
	s.t.Helper()
	for _, st := range []*qsessions.Store{s.a, s.b} {
		got := s.values(st, c)
		for k, v := range want {
			if got[k] != v {
				s.t.Errorf("%s: %s reads %q = %q; want %q (it holds %v)", what, s.name(st), k, got[k], v, got)
			}
		}
	}
}

func testStoreLostUpdate(t tester, s *storeT) {
	// Eight requests load the session, each sets a key of its own, and they
	// save one after the other: every save after the first was based on a
	// version someone else has replaced.
	const writers = 8
	c := s.create(s.a, user("alice"), "before")
	sessions := make([]*qsessions.Session, writers)
	for i := range sessions {
		sessions[i] = s.load([]*qsessions.Store{s.a, s.b}[i%2], c.token)
		if err := sessions[i].Set(fmt.Sprintf("k%d", i), fmt.Sprint(i)); err != nil {
			t.Fatalf("Set: %v", err)
		}
	}
	want := map[string]string{"v": "before"}
	for i, sess := range sessions {
		s.mustSave([]*qsessions.Store{s.a, s.b}[i%2], sess)
		want[fmt.Sprintf("k%d", i)] = fmt.Sprint(i)
	}
	s.wantValues(c, want, "after eight requests saved a key each")

	// The same key: the last save wins; a delete of one key does not undo
	// another's set.
	first, second := s.load(s.a, c.token), s.load(s.b, c.token)
	first.Set("k0", "first")
	first.Delete("k1")
	second.Set("k0", "second")
	s.mustSave(s.b, second)
	s.mustSave(s.a, first)
	want["k0"] = "first"
	delete(want, "k1")
	s.wantValues(c, want, "after two requests wrote the same key")
	if got := s.values(s.b, c)["k1"]; got != "" {
		t.Errorf("k1 was deleted by one request but reads %q", got)
	}
}

func testStoreLostUpdateConcurrent(t tester, s *storeT) {
	const writers = 8
	c := s.create(s.a, user("alice"), "before")
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		st := []*qsessions.Store{s.a, s.b}[i%2]
		wg.Go(func() {
			var sess *qsessions.Session
			err := s.cfg.run(context.Background(), "Store.Load", func(ctx context.Context) (err error) {
				sess, err = st.Load(ctx, c.token)
				return err
			})
			if err == nil {
				err = sess.Set(fmt.Sprintf("k%d", i), fmt.Sprint(i))
			}
			if err == nil {
				err = s.cfg.run(context.Background(), "Store.Save", func(ctx context.Context) error { return st.Save(ctx, sess) })
			}
			if err != nil {
				errs <- fmt.Errorf("writer %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("%v", err)
	}
	want := map[string]string{"v": "before"}
	for i := range writers {
		want[fmt.Sprintf("k%d", i)] = fmt.Sprint(i)
	}
	s.wantValues(c, want, "after eight concurrent requests saved a key each")
}

func testStoreTouchKeepsValues(t tester, s *storeT) {
	// A read-only request loads the session; another saves a change; the
	// first one's activity write, due by now, must not write back the
	// values it read.
	c := s.create(s.a, user("alice"), "before")
	reader := s.load(s.a, c.token)
	var v string
	if ok, err := reader.Get("v", &v); !ok || err != nil {
		t.Fatalf("Get(\"v\") of a stored session = %v, %v; want true, nil", ok, err)
	}
	writer := s.load(s.b, c.token)
	if err := writer.Set("mfa", "revoked"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	s.mustSave(s.b, writer)
	s.advance(2 * storeTouchInterval)
	s.mustSave(s.a, reader)
	s.wantValues(c, map[string]string{"v": "before", "mfa": "revoked"}, "after a request's activity write raced a change")
}

// pausing returns a Store over the shared backends whose first Persister
// Load of id stops after reading the row: paused is closed then, and the
// Load returns once resume is closed.
func (s *storeT) pausing(id string) (st *qsessions.Store, paused, resume chan struct{}) {
	s.t.Helper()
	paused, resume = make(chan struct{}), make(chan struct{})
	p := &pausingPersister{Persister: s.persister, id: id, paused: paused, resume: resume}
	return s.newStoreWith("C", p, nil), paused, resume
}

type pausingPersister struct {
	qsessions.Persister
	id             string
	once           sync.Once
	paused, resume chan struct{}
}

func (p *pausingPersister) Load(ctx context.Context, id string) (qsessions.Record, error) {
	r, err := p.Persister.Load(ctx, id)
	if id == p.id {
		p.once.Do(func() {
			close(p.paused)
			<-p.resume
		})
	}
	return r, err
}

// evict removes c's cache entry, so that the next load of it is a cache
// miss that fills the cache again.
func (s *storeT) evict(c session) {
	s.t.Helper()
	if s.cache == nil {
		return
	}
	if err := call(s.t, s.cfg, context.Background(), "Cache.Delete", func(ctx context.Context) error {
		return s.cache.Delete(ctx, storeKeyPrefix+c.id)
	}); err != nil {
		s.t.Fatalf("Cache.Delete: %v", err)
	}
}

// fillAround runs a load of c through a third Store, C, that stops right
// after it read the row, runs during while it is stopped, and lets the load
// finish. It returns Store C and the loaded session.
func (s *storeT) fillAround(c session, during func()) (*qsessions.Store, *qsessions.Session) {
	s.t.Helper()
	s.evict(c)
	st, paused, resume := s.pausing(c.id)
	var sess *qsessions.Session
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		sess, err = st.Load(context.Background(), c.token)
	}()
	select {
	case <-paused:
	case <-done:
		s.t.Fatalf("a load after its cache entry was evicted did not read the Persister (err %v)", err)
	}
	during()
	close(resume)
	<-done
	if err != nil {
		s.t.Fatalf("Store C.Load: %v", err)
	}
	return st, sess
}

func testStoreStaleFill(t tester, s *storeT) {
	c := s.create(s.a, user("alice"), "admin")
	var saved *qsessions.Session
	st, stale := s.fillAround(c, func() {
		// The fill has read "admin"; a request saves "user".
		saved = s.load(s.b, c.token)
		if err := saved.Set("v", "user"); err != nil {
			t.Fatalf("Set: %v", err)
		}
		s.mustSave(s.b, saved)
	})
	s.wantValues(c, map[string]string{"v": "user"}, "after a save that raced a cache fill")
	// The filling request's next write (its activity, here) keeps it.
	s.advance(2 * storeTouchInterval)
	s.mustSave(st, stale)
	s.wantValues(c, map[string]string{"v": "user"}, "after the request that filled the cache with the old value saved")
}

func testStoreRevokeDuringFill(t tester, s *storeT) {
	c := s.create(s.a, user("alice"), "to be revoked")
	st, sess := s.fillAround(c, func() { s.revoke(s.b, c.id) })
	s.wantGone(c, "a session revoked while a cache fill read it")
	if !sess.IsNew() {
		if err := sess.Set("v", "written by the request that filled the cache"); err != nil {
			t.Fatalf("Set: %v", err)
		}
		s.wantSaveNotFound(st, sess, "a session revoked while a cache fill read it")
	}
}

// A rivalPersister stands for another process that writes a session just
// before each of this Store's Updates of it, so that the Update loses its
// compare-and-swap: rival runs before each Update of id is passed on, and
// lost after each one that conflicted.
type rivalPersister struct {
	qsessions.Persister
	id    string
	rival func()
	lost  func()
}

func (p *rivalPersister) Update(ctx context.Context, r qsessions.Record) error {
	if r.ID != p.id {
		return p.Persister.Update(ctx, r)
	}
	p.rival()
	err := p.Persister.Update(ctx, r)
	if errors.Is(err, qsessions.ErrConflict) {
		p.lost()
	}
	return err
}

func testStoreContention(t tester, s *storeT) {
	// Store C saves a session while Store B, another process, saves it
	// first each time: C's Updates conflict, and C reloads and retries.
	c := s.create(s.a, user("alice"), "before")
	const lost = 5
	var rivals atomic.Int64 // saves the rival made
	var endless atomic.Bool // the rival wins every race, not only the first lost
	rp := &rivalPersister{Persister: s.persister, id: c.id, lost: func() {}}
	rp.rival = func() {
		n := rivals.Load()
		if n >= lost && !endless.Load() {
			return
		}
		rivals.Add(1)
		var sess *qsessions.Session
		err := s.cfg.run(context.Background(), "Store.Load", func(ctx context.Context) (err error) {
			sess, err = s.b.Load(ctx, c.token)
			return err
		})
		if err == nil {
			err = sess.Set(fmt.Sprintf("rival%d", n), "won")
		}
		if err == nil {
			err = s.cfg.run(context.Background(), "Store.Save", func(ctx context.Context) error { return s.b.Save(ctx, sess) })
		}
		if err != nil {
			t.Errorf("the rival Store B could not save the session: %v", err)
		}
	}
	st := s.newStoreWith("C", rp, nil)

	sess := s.load(st, c.token)
	if err := sess.Set("v", "saved under contention"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := s.save(st, sess); err != nil {
		t.Fatalf("Store C.Save of a session whose first %d Updates lost to another process's saves: %v; "+
			"want nil (the Store reloads and retries while its context has time)", lost, err)
	}
	want := map[string]string{"v": "saved under contention"}
	for i := range lost {
		want[fmt.Sprintf("rival%d", i)] = "won"
	}
	s.wantValues(c, want, fmt.Sprintf("after a save lost %d races to another process's saves and then won", lost))

	// Now the rival wins every race, and the save's context is cancelled
	// after its third lost race.
	sess = s.load(st, c.token)
	if err := sess.Set("v", "never saved"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var conflicts atomic.Int64
	rp.lost = func() {
		if conflicts.Add(1) == 3 {
			cancel()
		}
	}
	endless.Store(true)
	err := call(t, s.cfg, ctx, "Store.Save", func(ctx context.Context) error { return st.Save(ctx, sess) })
	endless.Store(false)
	if !errors.Is(err, qsessions.ErrConflict) || !errors.Is(err, context.Canceled) {
		t.Errorf("Store C.Save that lost every race until its context was cancelled: error %v; "+
			"want one wrapping both ErrConflict and context.Canceled", err)
	}
	if got := s.values(s.a, c)["v"]; got != "saved under contention" {
		t.Errorf("after a save that gave up, Store A reads v = %q; want %q (the save must write nothing)", got, "saved under contention")
	}
}

func testStoreAuthentication(t tester, s *storeT) {
	u := user("alice")
	sess := s.load(s.a, "")
	sess.Set("v", "signed in")
	if err := call(t, s.cfg, context.Background(), "Session.LoginWith", func(ctx context.Context) error {
		return sess.LoginWith(ctx, u, "oauth:github")
	}); err != nil {
		t.Fatalf("LoginWith: %v", err)
	}
	s.mustSave(s.a, sess)
	at := time.UnixMilli(s.now.Load()).UTC()
	check := func(what string, wantAt time.Time, wantMethod string) {
		t.Helper()
		got := s.load(s.b, sess.Token()).Info()
		if !got.AuthenticatedAt.Equal(wantAt) || got.AuthMethod != wantMethod {
			t.Errorf("%s: Store B reads AuthenticatedAt %v, AuthMethod %q; want %v, %q", what, got.AuthenticatedAt, got.AuthMethod, wantAt, wantMethod)
		}
		infos, err := call1(t, s.cfg, context.Background(), "Store.Sessions", func(ctx context.Context) ([]qsessions.SessionInfo, error) {
			return s.a.Sessions(ctx, u)
		})
		if err != nil || len(infos) != 1 {
			t.Fatalf("%s: Store A.Sessions = %d sessions, %v; want 1", what, len(infos), err)
		}
		if !infos[0].AuthenticatedAt.Equal(wantAt) || infos[0].AuthMethod != wantMethod {
			t.Errorf("%s: Store A lists AuthenticatedAt %v, AuthMethod %q; want %v, %q", what, infos[0].AuthenticatedAt, infos[0].AuthMethod, wantAt, wantMethod)
		}
	}
	check("after LoginWith through Store A", at, "oauth:github")

	s.advance(time.Hour)
	again := s.load(s.b, sess.Token())
	if again.AuthenticatedWithin(time.Minute) {
		t.Errorf("a session authenticated an hour ago is fresh within a minute")
	}
	if err := call(t, s.cfg, context.Background(), "Session.Reauthenticate", func(ctx context.Context) error {
		return again.Reauthenticate(ctx, "password")
	}); err != nil {
		t.Fatalf("Reauthenticate: %v", err)
	}
	s.mustSave(s.b, again)
	sess = again
	check("after Reauthenticate through Store B", time.UnixMilli(s.now.Load()).UTC(), "password")
	s.wantValues(session{token: again.Token(), id: again.ID()}, map[string]string{"v": "signed in"}, "after Reauthenticate")
}

func testStoreMaxSessionsPerUser(t tester, s *storeT) {
	const max = 2
	capped := func(o *qsessions.Options) { o.MaxSessionsPerUser = max }
	a, b := s.newStoreWith("A", s.persister, capped), s.newStoreWith("B", s.persister, capped)
	s.a, s.b = a, b
	u := user("alice")
	var cs []session
	for i := range max {
		cs = append(cs, s.create(a, u, fmt.Sprintf("session %d", i)))
		s.wantLive(b, cs[i], "a session") // cached by B too
		s.advance(time.Minute)
	}
	third := s.create(b, u, "session 2")
	s.wantGone(cs[0], "the least recently active session, after a sign-in over MaxSessionsPerUser")
	s.wantLive(a, cs[1], "the more recent session")
	s.wantLive(a, third, "the new session")
	// Another user's sessions do not count.
	s.create(a, user("bob"), "bob's")
	s.wantLive(b, cs[1], "a session, after another user signed in")
}

func testStoreExpiry(t tester, s *storeT) {
	old := s.create(s.a, user("alice"), "old")
	s.wantLive(s.b, old, "a session")
	s.advance(storeLifetime - time.Hour)
	young := s.create(s.b, user("alice"), "young")
	s.advance(time.Hour + time.Minute)
	for _, st := range []*qsessions.Store{s.a, s.b} {
		if sess := s.load(st, old.token); !sess.IsNew() {
			t.Errorf("%s.Load of a session past its lifetime returned it; want a new session", s.name(st))
		}
	}
	s.wantLive(s.a, young, "a session within its lifetime")
	n, err := call1(t, s.cfg, context.Background(), "Store.DeleteExpired", func(ctx context.Context) (int, error) {
		return s.b.DeleteExpired(ctx)
	})
	if err != nil {
		t.Fatalf("Store B.DeleteExpired: %v", err)
	}
	if n != 1 {
		t.Errorf("Store B.DeleteExpired = %d; want 1", n)
	}
	_, err = call1(t, s.cfg, context.Background(), "Persister.Load", func(ctx context.Context) (qsessions.Record, error) {
		return s.persister.Load(ctx, old.id)
	})
	if !errors.Is(err, qsessions.ErrNotFound) {
		t.Errorf("the Persister still holds an expired session after DeleteExpired (Load error: %v)", err)
	}
	s.wantLive(s.b, young, "a session within its lifetime, after DeleteExpired")
}

// revokeDuringFault revokes id through st while the cache fails. The Store
// may report that it could not evict the session's cache entry: then the
// revocation is not complete, and it is retried once the cache is back
// (retry reports true). Otherwise the revocation must be complete at once.
func (s *storeT) revokeDuringFault(st *qsessions.Store, id string) (retry bool) {
	s.t.Helper()
	err := call(s.t, s.cfg, context.Background(), "Store.Revoke", func(ctx context.Context) error { return st.Revoke(ctx, id) })
	// An error here is the Store doing its job: the eviction failed, so
	// the revocation is retried once the cache is back.
	return err != nil
}

// wantRefused checks that both Stores refuse c's token.
func (s *storeT) wantRefused(c session, what string) {
	s.t.Helper()
	for _, st := range []*qsessions.Store{s.a, s.b} {
		if sess := s.load(st, c.token); !sess.IsNew() {
			s.t.Errorf("%s.Load of %s returned it; want a new session", s.name(st), what)
		}
	}
}

func testStoreCacheOutage(t tester, s *storeT) {
	before := s.create(s.a, user("alice"), "saved before the outage")
	s.wantLive(s.b, before, "a session")
	s.faulty.Fail(OpAll)

	// Everything still works, from the Persister.
	s.wantLive(s.a, before, "a session saved before the outage")
	during := s.create(s.a, user("alice"), "saved during the outage")
	s.wantLive(s.b, during, "a session saved during the outage")
	sess := s.load(s.b, during.token)
	if err := sess.Set("v", "changed during the outage"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	s.mustSave(s.b, sess)
	during.value = "changed during the outage"
	s.wantLive(s.a, during, "a session changed during the outage")
	retry := s.revokeDuringFault(s.a, before.id)
	if !retry {
		s.wantRefused(before, "a session revoked during the outage")
	}
	if s.faulty.Injected() == 0 {
		t.Fatalf("the Stores made no cache call during the outage")
	}

	// Once the cache is back, nothing stale is served.
	s.faulty.Fail(OpNone)
	s.wantLive(s.b, during, "a session changed during the outage, after it")
	s.wantLive(s.a, during, "a session changed during the outage, after it")
	if retry {
		s.revoke(s.a, before.id)
	}
	s.wantGone(before, "a session revoked by Store A during the outage, after it")
	after := s.create(s.b, user("alice"), "saved after the outage")
	s.wantLive(s.a, after, "a session saved after the outage")
}

func testStoreCacheOutageRevoke(t tester, s *storeT) {
	c := s.create(s.a, user("alice"), "cached")
	s.wantLive(s.a, c, "a session")
	s.wantLive(s.b, c, "a session")
	// The cache goes down while B revokes the session: its eviction fails.
	s.faulty.Fail(OpAll)
	retry := s.revokeDuringFault(s.b, c.id)
	if !retry {
		s.wantRefused(c, "a session revoked during the outage")
	}
	// When the cache is back, the session must not come back with it, for
	// either Store; A, which did not revoke it, reads first. (A Store whose
	// Revoke returned nil has finished the revocation; one that reported the
	// failed eviction is asked again.)
	s.faulty.Fail(OpNone)
	if retry {
		s.revoke(s.b, c.id)
	}
	s.wantGone(c, "a session revoked during a cache outage, once the cache is back")
}

func testStoreCacheOutageRevokeUser(t tester, s *storeT) {
	u := user("alice")
	keep := s.create(s.a, u, "kept")
	var cs []session
	for i := range 3 {
		c := s.create(s.a, u, fmt.Sprintf("session %d", i))
		s.wantLive(s.a, c, "a session")
		s.wantLive(s.b, c, "a session")
		cs = append(cs, c)
	}
	s.faulty.Fail(OpAll)
	_, err := call1(t, s.cfg, context.Background(), "Store.RevokeUser", func(ctx context.Context) (int, error) {
		return s.b.RevokeUser(ctx, u, keep.id)
	})
	retry := err != nil // the Store reported the failed eviction: retried below
	if !retry {
		for _, c := range cs {
			s.wantRefused(c, "a session revoked by RevokeUser during the outage")
		}
	}
	s.faulty.Fail(OpNone)
	if retry {
		if _, err := call1(t, s.cfg, context.Background(), "Store.RevokeUser", func(ctx context.Context) (int, error) {
			return s.b.RevokeUser(ctx, u, keep.id)
		}); err != nil {
			t.Fatalf("Store B.RevokeUser, retried once the cache is back: %v", err)
		}
	}
	for i, c := range cs {
		s.wantGone(c, fmt.Sprintf("session %d, revoked by RevokeUser during a cache outage, once the cache is back", i))
	}
	s.wantLive(s.a, keep, "the session RevokeUser was told to keep")
}

func testStoreCacheFlaky(t tester, s *storeT) {
	// Each kind of cache failure alone, failing before or after reaching the
	// cache: sessions still save, load and revoke, and revoked ones stay
	// gone once the cache heals.
	for _, fail := range []Op{OpGet, OpSet, OpDelete, OpSet | OpDelete} {
		for _, after := range []bool{false, true} {
			what := fmt.Sprintf("while cache %s calls fail", fail)
			if after {
				what += " after reaching the cache"
			}
			live := s.create(s.a, user("alice"), "live "+what)
			revoked := s.create(s.a, user("alice"), "revoked "+what)
			s.wantLive(s.b, revoked, "a session")
			if after {
				s.faulty.FailAfter(fail)
			} else {
				s.faulty.Fail(fail)
			}
			c := s.create(s.b, user("alice"), "saved "+what)
			s.wantLive(s.a, c, "a session saved "+what)
			s.wantLive(s.b, live, "a session loaded "+what)
			retry := s.revokeDuringFault(s.b, revoked.id)
			s.faulty.Fail(OpNone)
			if retry {
				s.revoke(s.b, revoked.id)
			}
			s.wantGone(revoked, "a session revoked "+what+", once the cache is back")
			s.wantLive(s.a, c, "a session saved "+what+", once the cache is back")
			s.wantLive(s.b, live, "a session loaded "+what+", once the cache is back")
		}
	}
}

// String names the operations in o.
func (o Op) String() string {
	var names []string
	for _, n := range []struct {
		op   Op
		name string
	}{{OpGet, "Get"}, {OpSet, "Set"}, {OpDelete, "Delete"}} {
		if o&n.op != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "+")
}
