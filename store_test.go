package qsessions_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/conformance"
	"github.com/qsessions/qsessions/memory"
)

var ctx = context.Background()

func hashOf(t *testing.T, token string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestNewRejectsNilPersister(t *testing.T) {
	if _, err := qsessions.New(nil, nil, nil); err == nil {
		t.Fatal("New(nil, nil, nil) succeeded")
	}
	if _, err := qsessions.New(nil, memory.NewPersister(), &qsessions.Options{Cookie: qsessions.CookieOptions{Name: "bad name"}}); err == nil {
		t.Fatal("New accepted an invalid cookie name")
	}
	if _, err := qsessions.New(nil, memory.NewPersister(), &qsessions.Options{Lifetime: -time.Second}); err == nil {
		t.Fatal("New accepted a negative Lifetime")
	}
}

func TestTokenAndIDShape(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, token := newSession(t, st, "")
	if len(token) != 43 || !qsessions.ValidToken(token) {
		t.Fatalf("token %q has the wrong shape", token)
	}
	if got, want := s.ID(), hashOf(t, token); got != want {
		t.Fatalf("ID = %q, want SHA-256 of token %q", got, want)
	}
	if _, err := f.mem.Load(ctx, s.ID()); err != nil {
		t.Fatalf("persister has no record under the hash: %v", err)
	}
	if _, err := f.mem.Load(ctx, token); !errors.Is(err, qsessions.ErrNotFound) {
		t.Fatalf("persister stores the raw token: %v", err)
	}
	_, token2 := newSession(t, st, "")
	if token == token2 {
		t.Fatal("two sessions got the same token")
	}
}

func TestRevokeSeenByOtherStore(t *testing.T) {
	f := newFixture(t)
	a, b := f.store(t), f.store(t)
	s, token := newSession(t, a, "alice")
	got, err := b.Load(ctx, token)
	if err != nil || got.IsNew() || got.UserID() != "alice" {
		t.Fatalf("store B does not see the session: new=%v user=%q err=%v", got.IsNew(), got.UserID(), err)
	}
	if err := a.Revoke(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	got, err = b.Load(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if !got.IsNew() || got.UserID() != "" {
		t.Fatalf("revoked session still loads in store B: user=%q", got.UserID())
	}
	if cachedRecord(f, s.ID()) {
		t.Fatal("revoked session still cached")
	}
}

func TestInFlightSaveOfRevokedSession(t *testing.T) {
	f := newFixture(t)
	a, b := f.store(t), f.store(t)
	_, token := newSession(t, a, "alice")
	s, err := a.Load(ctx, token) // in flight: loaded before the revocation
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	if err := s.Set("cart", []string{"book"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RevokeUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	err = a.Save(ctx, s)
	if !errors.Is(err, qsessions.ErrNotFound) {
		t.Fatalf("save of revoked session: err = %v, want ErrNotFound", err)
	}
	assertGone(t, f, id)
	for _, st := range []*qsessions.Store{a, b} {
		got, err := st.Load(ctx, token)
		if err != nil || !got.IsNew() {
			t.Fatalf("revoked session loads again: new=%v err=%v", got.IsNew(), err)
		}
	}
}

func assertGone(t *testing.T, f *fixture, id string) {
	t.Helper()
	if _, err := f.mem.Load(ctx, id); !errors.Is(err, qsessions.ErrNotFound) {
		t.Fatalf("row of revoked session %s: err = %v, want ErrNotFound", id, err)
	}
	if cachedRecord(f, id) {
		t.Fatalf("the cache holds a record of revoked session %s", id)
	}
}

// cachedRecord reports whether the cache holds a record for id: an entry
// other than a fill's lease (a 0 byte and 16 random ones).
func cachedRecord(f *fixture, id string) bool {
	b, err := f.memCache.Get(ctx, "qsessions:"+id)
	return err == nil && !(len(b) == 17 && b[0] == 0)
}

// A revocation that lands while a save is in flight must not leave a live
// copy in the cache, not even for the duration of the save.
func TestRevokeRacingSave(t *testing.T) {
	f := newFixture(t)
	a, b := f.store(t), f.store(t)
	_, token := newSession(t, a, "alice")
	s, err := a.Load(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	s.Set("n", 1)
	// The revocation lands after the cache write and before the persister
	// write of A's save.
	f.persister.beforeUpdate = func(qsessions.Record) {
		f.persister.beforeUpdate = nil
		if err := b.Revoke(ctx, id); err != nil {
			t.Error(err)
		}
		// While A's save is still in flight, the revoked session is
		// already refused everywhere.
		if got, err := b.Load(ctx, token); err != nil || !got.IsNew() {
			t.Errorf("revoked session loads while a save is in flight (new=%v, err=%v)", got.IsNew(), err)
		}
	}
	if err := a.Save(ctx, s); !errors.Is(err, qsessions.ErrNotFound) {
		t.Fatalf("save: err = %v, want ErrNotFound", err)
	}
	assertGone(t, f, id)
}

// A revocation that runs between the persister read and the cache refill of
// a load must not leave a live copy in the cache.
func TestRevokeRacingRefill(t *testing.T) {
	f := newFixture(t)
	a, b := f.store(t), f.store(t)
	s0, token := newSession(t, a, "alice")
	id := s0.ID()
	if err := f.memCache.Delete(ctx, "qsessions:"+id); err != nil {
		t.Fatal(err)
	}
	f.cache.beforeFill = func(string) {
		f.cache.beforeFill = nil
		if err := b.Revoke(ctx, id); err != nil {
			t.Error(err)
		}
	}
	s, err := a.Load(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	// The load read the row before the revocation, so this one request
	// may be served; nothing of it may outlive the revocation.
	assertGone(t, f, id)
	for _, st := range []*qsessions.Store{a, b} {
		if again, _ := st.Load(ctx, token); !again.IsNew() {
			t.Fatal("a load after the revocation returned the session")
		}
	}
	if !s.IsNew() {
		s.Set("k", "written after the revocation")
		if err := a.Save(ctx, s); !errors.Is(err, qsessions.ErrNotFound) {
			t.Fatalf("save of the session revoked during its refill: %v, want ErrNotFound", err)
		}
	}
}

func TestCacheOutageServedByPersister(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	_, token := newSession(t, st, "alice")
	f.faulty.Fail(conformance.OpAll)
	for i := range 3 {
		s, err := st.Load(ctx, token)
		if err != nil {
			t.Fatalf("load %d during cache outage: %v", i, err)
		}
		if s.UserID() != "alice" {
			t.Fatalf("load %d during cache outage lost the session", i)
		}
		if err := s.Set("i", i); err != nil {
			t.Fatal(err)
		}
		if err := st.Save(ctx, s); err != nil {
			t.Fatalf("save during cache outage: %v", err)
		}
	}
	// A new session can be created too.
	if _, tok := newSession(t, st, "bob"); tok == "" {
		t.Fatal("no session created during outage")
	}
	if !strings.Contains(f.logs.String(), "cache get failed") || !strings.Contains(f.logs.String(), "cache set failed") {
		t.Fatalf("cache faults were not logged:\n%s", f.logs)
	}
	// The last write reached the persister.
	f.faulty.Fail(conformance.OpNone)
	s, _ := st.Load(ctx, token)
	var i int
	if ok, err := s.Get("i", &i); !ok || err != nil || i != 2 {
		t.Fatalf("after the outage i = %d (ok=%v err=%v), want 2", i, ok, err)
	}
}

func TestPersisterErrorsAreReturned(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, token := newSession(t, st, "alice")
	f.memCache.Delete(ctx, "qsessions:"+s.ID())
	f.persister.fail.Store(true)
	if _, err := st.Load(ctx, token); !errors.Is(err, errBackend) {
		t.Fatalf("Load on a failing persister: err = %v, want the backend error", err)
	}
	f.persister.fail.Store(false)
	s, err := st.Load(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	s.Set("x", 1)
	f.persister.fail.Store(true)
	if err := st.Save(ctx, s); !errors.Is(err, errBackend) {
		t.Fatalf("Save on a failing persister: err = %v, want the backend error", err)
	}
	// The failed write left no unsaved copy in the cache.
	f.persister.fail.Store(false)
	s2, _ := st.Load(ctx, token)
	if has(s2, "x") {
		t.Fatal("a write the persister refused is visible through the cache")
	}
}

func TestUnchangedSessionWritesOncePerTouchInterval(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	_, token := newSession(t, st, "alice")
	before := f.persister.writes()
	for range 100 {
		s, err := st.Load(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		var v string
		s.Get("k", &v)
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(100 * time.Millisecond) // 10 s in all, within the minute
	}
	if n := f.persister.writes() - before; n != 0 {
		t.Fatalf("100 read-only loads wrote %d times, want 0", n)
	}
	if n := f.persister.loads.Load(); n != 0 {
		t.Fatalf("cache hits read the persister %d times, want 0", n)
	}
	f.clock.Advance(time.Minute)
	s, _ := st.Load(ctx, token)
	st.Save(ctx, s)
	if n := f.persister.updates.Load(); n != 1 {
		t.Fatalf("after TouchInterval: %d updates, want 1", n)
	}
	if got, want := s.Info().UpdatedAt, f.clock.Now(); !got.Equal(want) {
		t.Fatalf("UpdatedAt = %v, want %v", got, want)
	}
}

func TestUnknownTokenNeverBecomesID(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	planted := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if !qsessions.ValidToken(planted) {
		t.Fatal("test token has the wrong shape")
	}
	s, err := st.Load(ctx, planted)
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsNew() {
		t.Fatal("unknown token loaded an existing session")
	}
	s.Set("k", "v")
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.Token() == planted || s.ID() == hashOf(t, planted) {
		t.Fatal("the attacker-chosen token became the session's token")
	}
	if _, err := f.mem.Load(ctx, hashOf(t, planted)); !errors.Is(err, qsessions.ErrNotFound) {
		t.Fatal("a record exists under the planted token's hash")
	}
}

func TestMalformedTokensTouchNoBackend(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	for _, tok := range []string{
		"", "x", strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("A", 4096),
		strings.Repeat("+", 43), strings.Repeat("A", 42) + "=", strings.Repeat("A", 42) + "B", // non-zero padding bits
		strings.Repeat("é", 21) + "A", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00",
	} {
		s, err := st.Load(ctx, tok)
		if err != nil || !s.IsNew() {
			t.Fatalf("Load(%q): new=%v err=%v", tok, s.IsNew(), err)
		}
	}
	if n := f.cache.calls() + f.persister.calls(); n != 0 {
		t.Fatalf("malformed tokens caused %d backend calls", n)
	}
}

func TestLoginRotatesToken(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, oldToken := newSession(t, st, "")
	oldID := s.ID()
	if err := s.Login(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if s.Token() == oldToken || s.ID() == oldID {
		t.Fatal("Login kept the token")
	}
	assertGone(t, f, oldID)
	got, _ := st.Load(ctx, s.Token())
	var v string
	if ok, _ := got.Get("k", &v); got.UserID() != "alice" || !ok || v != "v" {
		t.Fatalf("after login: user=%q k=%q, want alice and the values kept", got.UserID(), v)
	}
	old, _ := st.Load(ctx, oldToken)
	if !old.IsNew() {
		t.Fatal("the pre-login token still works")
	}
	// Logging in as someone else clears the values.
	if err := got.Login(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if has(got, "k") {
		t.Fatal("values of alice's session carried over to bob's")
	}
	if err := got.Login(ctx, ""); !errors.Is(err, qsessions.ErrNoUser) {
		t.Fatalf("Login with empty user: %v", err)
	}
}

func TestLogout(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, token := newSession(t, st, "alice")
	id := s.ID()
	if err := s.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.IsNew() || s.UserID() != "" || len(s.Keys()) != 0 {
		t.Fatal("Logout did not leave an empty anonymous session")
	}
	assertGone(t, f, id)
	if got, _ := st.Load(ctx, token); !got.IsNew() {
		t.Fatal("logged-out token still loads")
	}
	if err := st.Save(ctx, s); err != nil || f.mem.Len() != 0 {
		t.Fatalf("saving an empty logged-out session stored something (err=%v, rows=%d)", err, f.mem.Len())
	}
}

func TestRotateKeepsUserAndValues(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, token := newSession(t, st, "alice")
	if err := s.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Token() == token {
		t.Fatal("Rotate kept the token")
	}
	got, _ := st.Load(ctx, s.Token())
	if got.UserID() != "alice" || !has(got, "k") {
		t.Fatal("Rotate lost the user or the values")
	}
}

func TestValues(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, _ := st.Load(ctx, "")
	type cart struct {
		Items []string `json:"items"`
		Total float64  `json:"total"`
	}
	if err := s.Set("cart", cart{Items: []string{"a", "b"}, Total: 9.5}); err != nil {
		t.Fatal(err)
	}
	s.Set("n", 42)
	s.Set("name", "Zoë 😀")
	if err := s.Set("_session_expiry", 1); !errors.Is(err, qsessions.ErrReservedKey) {
		t.Fatalf("Set of reserved key: %v", err)
	}
	if err := s.Set("ch", make(chan int)); err == nil {
		t.Fatal("Set of an unencodable value succeeded")
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Load(ctx, s.Token())
	var c cart
	if ok, err := got.Get("cart", &c); !ok || err != nil || len(c.Items) != 2 || c.Total != 9.5 {
		t.Fatalf("cart = %+v ok=%v err=%v", c, ok, err)
	}
	var name string
	got.Get("name", &name)
	if name != "Zoë 😀" {
		t.Fatalf("name = %q", name)
	}
	var missing int
	if ok, err := got.Get("missing", &missing); ok || err != nil {
		t.Fatalf("Get of missing key: ok=%v err=%v", ok, err)
	}
	var wrongType int
	if ok, err := got.Get("name", &wrongType); !ok || err == nil {
		t.Fatalf("Get into the wrong type: ok=%v err=%v", ok, err)
	}
	if keys := strings.Join(got.Keys(), ","); keys != "cart,n,name" {
		t.Fatalf("Keys = %s", keys)
	}
	got.Delete("n")
	if err := st.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	r, _ := f.mem.Load(ctx, got.ID())
	if strings.Contains(string(r.Data), `"n"`) || !strings.Contains(string(r.Data), `"cart":{"items":["a","b"],"total":9.5}`) {
		t.Fatalf("stored data is not the JSON of the values: %s", r.Data)
	}
	// Clearing every value of an anonymous session ends it.
	got.Clear()
	if err := st.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	if f.mem.Len() != 0 {
		t.Fatal("an emptied anonymous session was kept")
	}
}

func TestEmptyNewSessionIsNotStored(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, _ := st.Load(ctx, "")
	_ = s.UserID()
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if f.persister.writes() != 0 || s.Token() != "" {
		t.Fatal("an empty new session was stored")
	}
}

func TestLifetimeAndIdleTimeout(t *testing.T) {
	f := newFixture(t)
	f.opts.Lifetime = time.Hour
	f.opts.IdleTimeout = 10 * time.Minute
	st := f.store(t)
	_, token := newSession(t, st, "alice")
	// Active every 4 minutes: survives the idle timeout, not the lifetime.
	for elapsed := time.Duration(0); elapsed < 56*time.Minute; elapsed += 4 * time.Minute {
		f.clock.Advance(4 * time.Minute)
		s, err := st.Load(ctx, token)
		if err != nil || s.IsNew() {
			t.Fatalf("active session ended after %v (err=%v)", elapsed+4*time.Minute, err)
		}
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(4 * time.Minute) // 60 min: past Lifetime
	if s, _ := st.Load(ctx, token); !s.IsNew() {
		t.Fatal("session outlived its Lifetime")
	}
	_, token = newSession(t, st, "bob")
	f.clock.Advance(11 * time.Minute)
	if s, _ := st.Load(ctx, token); !s.IsNew() {
		t.Fatal("idle session outlived IdleTimeout")
	}
}

func TestSetMaxAge(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, token := newSession(t, st, "alice")
	if err := s.SetMaxAge(30 * 24 * time.Hour); err != nil {
		t.Fatal(err)
	}
	st.Save(ctx, s)
	f.clock.Advance(20 * 24 * time.Hour) // past the default 14 days
	got, _ := st.Load(ctx, token)
	if got.IsNew() {
		t.Fatal("SetMaxAge(30 days) did not extend the session")
	}
	if qsessions.BrowserCloseForTest(got) {
		t.Fatal("SetMaxAge session reports browser-close expiry")
	}
	again := got
	again.SetMaxAge(0)
	st.Save(ctx, again)
	if s, _ := st.Load(ctx, token); !s.IsNew() {
		t.Fatal("SetMaxAge(0) did not end the session")
	}
}

func TestExpireAtBrowserClose(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, token := newSession(t, st, "alice")
	if qsessions.BrowserCloseForTest(s) {
		t.Fatal("new session expires at browser close by default")
	}
	if err := s.SetExpireAtBrowserClose(true); err != nil {
		t.Fatal(err)
	}
	st.Save(ctx, s)
	got, _ := st.Load(ctx, token)
	if !qsessions.BrowserCloseForTest(got) {
		t.Fatal("browser-close flag not stored")
	}
	if keys := got.Keys(); len(keys) != 1 || keys[0] != "k" {
		t.Fatalf("the expiry flag leaks into Keys: %v", keys)
	}
	// The server still ends it after the Lifetime.
	f.clock.Advance((14 * 24 * time.Hour))
	if s, _ := st.Load(ctx, token); !s.IsNew() {
		t.Fatal("browser-close session outlived the Lifetime on the server")
	}
}

func TestCorruptCacheEntryIsAMiss(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, token := newSession(t, st, "alice")
	key := "qsessions:" + s.ID()
	for _, junk := range [][]byte{{}, {0xff}, []byte("garbage"), {1, 200, 200, 200}} {
		f.memCache.Set(ctx, key, junk, time.Hour)
		got, err := st.Load(ctx, token)
		if err != nil || got.UserID() != "alice" {
			t.Fatalf("corrupt entry %q: user=%q err=%v", junk, got.UserID(), err)
		}
	}
	if !strings.Contains(f.logs.String(), "corrupt cache entry") {
		t.Fatal("corrupt cache entry not logged")
	}
}

func TestNoCache(t *testing.T) {
	p := &countingPersister{Persister: memory.NewPersister()}
	st, err := qsessions.New(nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, token := newSession(t, st, "alice")
	s, err := st.Load(ctx, token)
	if err != nil || s.UserID() != "alice" {
		t.Fatalf("no-cache load: user=%q err=%v", s.UserID(), err)
	}
	if p.loads.Load() == 0 {
		t.Fatal("no-cache store did not read the persister")
	}
}

type fakeLocator map[string]qsessions.Location

func (l fakeLocator) Locate(ip netip.Addr) (qsessions.Location, error) { return l[ip.String()], nil }

type fakeParser struct{}

func (fakeParser) Parse(ua string) qsessions.Device {
	b, os, _ := strings.Cut(ua, "/")
	return qsessions.Device{Browser: b, OS: os}
}

func TestSessionsListing(t *testing.T) {
	f := newFixture(t)
	f.opts.Locator = fakeLocator{"203.0.113.7": {City: "Berlin", Country: "Germany"}}
	f.opts.DeviceParser = fakeParser{}
	st := f.store(t)
	var ids []string
	for i, meta := range []struct{ ip, ua string }{{"203.0.113.7", "Chrome/Mac OS X"}, {"::ffff:198.51.100.1", "Firefox/Windows"}, {"", ""}} {
		s, err := st.Load(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		qsessions.ObserveForTest(s, meta.ip, meta.ua)
		if err := s.Login(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID())
		f.clock.Advance(time.Duration(i+1) * time.Second)
	}
	newSession(t, st, "bob")
	expired, _ := newSession(t, st, "alice")
	expired.SetMaxAge(time.Second)
	st.Save(ctx, expired)
	f.clock.Advance(2 * time.Second)

	infos, err := st.Sessions(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 3 {
		t.Fatalf("got %d sessions, want 3 (bob's and the expired one excluded)", len(infos))
	}
	for i, want := range []string{ids[2], ids[1], ids[0]} {
		if infos[i].ID != want {
			t.Fatalf("sessions[%d] = %s, want newest first", i, infos[i].ID)
		}
	}
	loc, err := infos[2].Location()
	if err != nil || loc.City != "Berlin" || loc.Country != "Germany" {
		t.Fatalf("Location = %+v, %v", loc, err)
	}
	if d := infos[2].Device(); d.Browser != "Chrome" || d.OS != "Mac OS X" {
		t.Fatalf("Device = %+v", d)
	}
	if infos[1].IP != "::ffff:198.51.100.1" {
		t.Logf("IP recorded as %q", infos[1].IP)
	}
	if loc, err := infos[0].Location(); err != nil || loc != (qsessions.Location{}) {
		t.Fatalf("no IP: Location = %v, %v", loc, err)
	}
	if _, err := st.Sessions(ctx, ""); !errors.Is(err, qsessions.ErrNoUser) {
		t.Fatalf("Sessions(\"\"): %v", err)
	}
	// Without Locator and DeviceParser the methods are nil-safe.
	plain, _ := qsessions.New(f.cache, f.persister, &qsessions.Options{Clock: f.clock.Now})
	infos, _ = plain.Sessions(ctx, "alice")
	if loc, err := infos[0].Location(); err != nil || loc != (qsessions.Location{}) || infos[0].Device() != (qsessions.Device{}) {
		t.Fatal("Location/Device without a Locator/DeviceParser are not zero")
	}
}

func TestRevokeUserExcept(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	keep, keepToken := newSession(t, st, "alice")
	_, t2 := newSession(t, st, "alice")
	_, t3 := newSession(t, st, "alice")
	_, bobToken := newSession(t, st, "bob")
	n, err := st.RevokeUser(ctx, "alice", keep.ID())
	if err != nil || n != 2 {
		t.Fatalf("RevokeUser = %d, %v; want 2", n, err)
	}
	for tok, alive := range map[string]bool{keepToken: true, t2: false, t3: false, bobToken: true} {
		s, _ := st.Load(ctx, tok)
		if s.IsNew() == alive {
			t.Fatalf("token alive=%v after RevokeUser, want %v", !s.IsNew(), alive)
		}
	}
	if _, err := st.RevokeUser(ctx, ""); !errors.Is(err, qsessions.ErrNoUser) {
		t.Fatalf("RevokeUser(\"\"): %v", err)
	}
	if err := st.Revoke(ctx, "nope"); !errors.Is(err, qsessions.ErrInvalidID) {
		t.Fatalf("Revoke(bad id): %v", err)
	}
	ok, err := st.RevokeUserSession(ctx, "mallory", keep.ID())
	if ok || err != nil {
		t.Fatalf("RevokeUserSession by another user: %v, %v", ok, err)
	}
	if s, _ := st.Load(ctx, keepToken); s.IsNew() {
		t.Fatal("another user revoked alice's session")
	}
	if ok, err := st.RevokeUserSession(ctx, "alice", keep.ID()); !ok || err != nil {
		t.Fatalf("RevokeUserSession by owner: %v, %v", ok, err)
	}
}

// countingSweeps counts the Persister's DeleteExpired calls.
type countingSweeps struct {
	*countingPersister
	calls int
}

func (p *countingSweeps) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	p.calls++
	return p.countingPersister.DeleteExpired(ctx, before)
}

// The Store leaves batching to the Persister, which knows its lock costs:
// one call.
func TestDeleteExpiredOneCall(t *testing.T) {
	f := newFixture(t)
	sweeps := &countingSweeps{countingPersister: f.persister}
	st, err := qsessions.New(f.cache, sweeps, &f.opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		s, _ := newSession(t, st, fmt.Sprint("u", i))
		if i < 23 {
			s.SetMaxAge(time.Minute)
			st.Save(ctx, s)
		}
	}
	f.clock.Advance(2 * time.Minute)
	n, err := st.DeleteExpired(ctx)
	if err != nil || n != 23 {
		t.Fatalf("DeleteExpired = %d, %v; want 23", n, err)
	}
	if f.mem.Len() != 7 {
		t.Fatalf("%d rows left, want 7", f.mem.Len())
	}
	if sweeps.calls != 1 {
		t.Fatalf("DeleteExpired made %d Persister calls; want one", sweeps.calls)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := st.DeleteExpired(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("DeleteExpired with cancelled ctx: %v", err)
	}
}

func TestCancelledContextChangesNothing(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, token := newSession(t, st, "alice")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	s.Set("k", "changed")
	if err := st.Save(cancelled, s); !errors.Is(err, context.Canceled) {
		t.Fatalf("Save with cancelled ctx: %v", err)
	}
	if err := st.Revoke(cancelled, s.ID()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Revoke with cancelled ctx: %v", err)
	}
	got, _ := st.Load(ctx, token)
	var v string
	got.Get("k", &v)
	if got.IsNew() || v != "v" {
		t.Fatalf("a cancelled context changed the session: new=%v k=%q", got.IsNew(), v)
	}
}

func TestSessionConcurrentUse(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	_, token := newSession(t, st, "alice")
	s, err := st.Load(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				key := fmt.Sprint("g", g)
				s.Set(key, i)
				var v int
				s.Get(key, &v)
				_ = s.Keys()
				_ = s.UserID()
				_ = s.ID()
			}
		}()
	}
	for range 8 {
		<-done
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Load(ctx, token)
	for g := range 8 {
		var v int
		if ok, _ := got.Get(fmt.Sprint("g", g), &v); !ok || v != 199 {
			t.Fatalf("g%d = %d (ok=%v), want 199", g, v, ok)
		}
	}
}

func TestEvictionFailures(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	anon, _ := newSession(t, st, "")
	f.faulty.Fail(conformance.OpAll)
	// Signing in is not blocked by a cache that cannot evict the old,
	// anonymous session: its stale copy binds no user.
	if err := anon.Login(ctx, "alice"); err != nil {
		t.Fatalf("Login during a cache outage: %v", err)
	}
	// Signing out is: a stale copy would keep alice signed in elsewhere.
	if err := anon.Logout(ctx); err == nil || !errors.Is(err, conformance.ErrInjected) {
		t.Fatalf("Logout with a failing cache: err = %v, want the eviction error", err)
	}
	s2, _ := newSession(t, st, "bob")
	if err := st.Revoke(ctx, s2.ID()); !errors.Is(err, conformance.ErrInjected) {
		t.Fatalf("Revoke with a failing cache: err = %v", err)
	}
	s3, _ := newSession(t, st, "bob")
	if _, err := st.RevokeUser(ctx, "bob"); !errors.Is(err, conformance.ErrInjected) {
		t.Fatalf("RevokeUser with a failing cache: err = %v", err)
	}
	f.faulty.Fail(conformance.OpNone)
	if err := st.Revoke(ctx, s2.ID()); err != nil {
		t.Fatalf("retried Revoke: %v", err)
	}
	assertGone(t, f, s2.ID())
	if n, err := st.RevokeUser(ctx, "bob"); n != 1 || err != nil {
		t.Fatalf("retried RevokeUser = %d, %v; want 1 (nothing was revoked while the cache failed)", n, err)
	}
	assertGone(t, f, s3.ID())
}
