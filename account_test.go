package qsessions_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
)

// signIn creates a session of userID through st from ip with user agent
// ua, signed in by method, and returns it.
func signIn(t *testing.T, st *qsessions.Store, userID, method, ip, ua string) *qsessions.Session {
	t.Helper()
	s, err := st.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	qsessions.ObserveForTest(s, ip, ua)
	if err := s.LoginWith(ctx, userID, method); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoginRecordsAuthentication(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	at := f.clock.Now()
	s := signIn(t, st, "alice", "passkey", "192.0.2.1", "UA")
	if !s.Info().AuthenticatedAt.Equal(at) || s.Info().AuthMethod != "passkey" {
		t.Errorf("AuthenticatedAt, AuthMethod = %v, %q; want %v, passkey", s.Info().AuthenticatedAt, s.Info().AuthMethod, at)
	}
	// Through another Store, in the session and in the list.
	other := f.store(t)
	again, _ := other.Load(ctx, s.Token())
	if !again.Info().AuthenticatedAt.Equal(at) || again.Info().AuthMethod != "passkey" {
		t.Errorf("another Store reads %v, %q", again.Info().AuthenticatedAt, again.Info().AuthMethod)
	}
	infos, err := other.Sessions(ctx, "alice")
	if err != nil || len(infos) != 1 {
		t.Fatalf("Sessions: %v, %v", infos, err)
	}
	if !infos[0].AuthenticatedAt.Equal(at) || infos[0].AuthMethod != "passkey" {
		t.Errorf("SessionInfo: %v, %q", infos[0].AuthenticatedAt, infos[0].AuthMethod)
	}

	// Activity does not move the authentication time.
	f.clock.Advance(time.Hour)
	again.Set("k", "v")
	if err := other.Save(ctx, again); err != nil {
		t.Fatal(err)
	}
	if !again.Info().AuthenticatedAt.Equal(at) {
		t.Errorf("a save moved AuthenticatedAt to %v", again.Info().AuthenticatedAt)
	}

	// Plain Login records the time, and no method.
	plain := signIn(t, st, "bob", "", "", "")
	if plain.Info().AuthMethod != "" || !plain.Info().AuthenticatedAt.Equal(f.clock.Now()) {
		t.Errorf("Login: %v, %q", plain.Info().AuthenticatedAt, plain.Info().AuthMethod)
	}
	anon, _ := st.Load(ctx, "")
	if !anon.Info().AuthenticatedAt.IsZero() || anon.AuthenticatedWithin(time.Hour) {
		t.Error("an anonymous session reads as authenticated")
	}
}

func TestAuthenticatedWithinAndReauthenticate(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s := signIn(t, st, "alice", "password", "", "")
	s.Set("cart", "book")
	if !s.AuthenticatedWithin(5 * time.Minute) {
		t.Error("a session signed in just now is not fresh")
	}
	f.clock.Advance(10 * time.Minute)
	if s.AuthenticatedWithin(5 * time.Minute) {
		t.Error("a session signed in 10 minutes ago is fresh within 5")
	}
	oldToken := s.Token()
	if err := s.Reauthenticate(ctx, "passkey"); err != nil {
		t.Fatal(err)
	}
	if !s.AuthenticatedWithin(5*time.Minute) || s.Info().AuthMethod != "passkey" {
		t.Errorf("after Reauthenticate: fresh %v, method %q", s.AuthenticatedWithin(5*time.Minute), s.Info().AuthMethod)
	}
	if s.UserID() != "alice" {
		t.Errorf("Reauthenticate changed the user to %q", s.UserID())
	}
	var cart string
	if ok, _ := s.Get("cart", &cart); !ok || cart != "book" {
		t.Errorf("Reauthenticate lost the values: %q", cart)
	}
	if gone, _ := st.Load(ctx, oldToken); !gone.IsNew() {
		t.Error("the token from before Reauthenticate still works")
	}

	anon, _ := st.Load(ctx, "")
	if err := anon.Reauthenticate(ctx, "password"); !errors.Is(err, qsessions.ErrNoUser) {
		t.Errorf("Reauthenticate of an anonymous session: %v; want ErrNoUser", err)
	}
}

func TestLoginWithBadMethodChangesNothing(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	_, token := newSession(t, st, "")
	for _, method := range []string{strings.Repeat("m", 64+1), "pass\nword", "\xff"} {
		s, _ := st.Load(ctx, token)
		writes := f.persister.writes()
		if err := s.LoginWith(ctx, "alice", method); err == nil {
			t.Errorf("LoginWith(%q): nil error", method)
		}
		if n := f.persister.writes() - writes; n != 0 {
			t.Errorf("LoginWith(%q) failed but wrote %d times", method, n)
		}
		if again, _ := st.Load(ctx, token); again.IsNew() || again.UserID() != "" {
			t.Errorf("after a refused LoginWith(%q) the session is new %v, user %q", method, again.IsNew(), again.UserID())
		}
	}
	s, _ := st.Load(ctx, token)
	if err := s.LoginWith(ctx, "alice", strings.Repeat("m", 64)); err != nil {
		t.Errorf("LoginWith of a method of MaxAuthMethod bytes: %v", err)
	}
}

// The cap revokes exactly the least recently active sessions, and the
// revocation is seen by a Store that had them cached.
func TestMaxSessionsPerUser(t *testing.T) {
	f := newFixture(t)
	f.opts.MaxSessionsPerUser = 3
	a := f.store(t)
	b := f.store(t)
	var tokens []string
	for i := range 5 {
		s := signIn(t, a, "alice", "password", "", "")
		tokens = append(tokens, s.Token())
		f.clock.Advance(time.Minute)
		// Each one is loaded through B too, so that B has it cached.
		if again, _ := b.Load(ctx, s.Token()); again.IsNew() && i >= 2 {
			t.Fatalf("session %d is not live", i)
		}
	}
	// The cap held while they were created: the first two are gone.
	for i, tok := range tokens {
		s, _ := b.Load(ctx, tok)
		if live := !s.IsNew(); live != (i >= 2) {
			t.Errorf("before the sixth sign-in, session %d live: %v", i, live)
		}
	}
	// Session 3 becomes the most recently active; 2 and 4 are older.
	f.clock.Advance(2 * time.Minute)
	s3, _ := b.Load(ctx, tokens[3])
	s3.Set("k", "v")
	if err := b.Save(ctx, s3); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	newest := signIn(t, b, "alice", "passkey", "", "")
	live := map[string]bool{}
	for i, tok := range tokens {
		s, _ := a.Load(ctx, tok)
		live[string(rune('0'+i))] = !s.IsNew()
	}
	if want := map[string]bool{"0": false, "1": false, "2": false, "3": true, "4": true}; !mapsEqual(live, want) {
		t.Errorf("after the sixth sign-in, live sessions %v; want %v (the least recently active ones revoked)", live, want)
	}
	infos, _ := a.Sessions(ctx, "alice")
	if len(infos) != 3 || infos[0].ID != newest.ID() {
		t.Errorf("Sessions lists %d, newest first %v; want 3, the new one first", len(infos), infos)
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestLoginEventNewDeviceAndLocation(t *testing.T) {
	f := newFixture(t)
	f.opts.Locator = fakeLocator{
		"203.0.113.7":  {City: "Berlin", Country: "Germany", CountryCode: "DE"},
		"203.0.113.8":  {City: "Berlin", Country: "Germany", CountryCode: "DE"},
		"198.51.100.1": {City: "Paris", Country: "France", CountryCode: "FR"},
		"198.51.100.2": {Country: "France", CountryCode: "FR"},
	}
	f.opts.DeviceParser = fakeParser{}
	events := make(chan qsessions.LoginEvent, 10)
	f.opts.OnLogin = func(ctx context.Context, e qsessions.LoginEvent) error {
		events <- e
		return nil
	}
	st := f.store(t)
	next := func() qsessions.LoginEvent {
		t.Helper()
		st.Wait()
		select {
		case e := <-events:
			return e
		default:
			t.Fatal("OnLogin was not called")
			return qsessions.LoginEvent{}
		}
	}
	first := signIn(t, st, "alice", "password", "203.0.113.7", "Chrome/Windows")
	if e := next(); !e.NewDevice || !e.NewLocation || e.OtherSessions != 0 || e.Session.ID != first.ID() {
		t.Errorf("first sign-in: %+v", e)
	}
	for _, c := range []struct {
		ip, ua          string
		device, locatin bool
	}{
		{"203.0.113.8", "Chrome/Windows", false, false}, // same device, same city
		{"198.51.100.1", "Chrome/Windows", false, true}, // known device, new country
		{"203.0.113.7", "Firefox/Linux", true, false},   // new device, known city
		{"198.51.100.2", "Firefox/Linux", false, false}, // France, city unknown: known country
	} {
		s := signIn(t, st, "alice", "password", c.ip, c.ua)
		e := next()
		if e.NewDevice != c.device || e.NewLocation != c.locatin {
			t.Errorf("sign-in from %s with %s: NewDevice %v, NewLocation %v; want %v, %v", c.ip, c.ua, e.NewDevice, e.NewLocation, c.device, c.locatin)
		}
		if d := e.Session.Device(); d.Browser == "" || e.Session.ID != s.ID() {
			t.Errorf("the event's session: %+v, device %+v", e.Session, d)
		}
	}
	// Re-authenticating is not a new sign-in, and says so.
	s := signIn(t, st, "alice", "password", "198.51.100.9", "Opera/BeOS")
	if e := next(); e.Reauthentication || !e.NewDevice {
		t.Errorf("a sign-in from a new device: %+v", e)
	}
	if err := s.Reauthenticate(ctx, "passkey"); err != nil {
		t.Fatal(err)
	}
	st.Save(ctx, s)
	if e := next(); !e.Reauthentication || e.Session.ID != s.ID() {
		t.Errorf("a re-authentication: %+v; want Reauthentication", e)
	}
	// Another user's sessions do not count.
	signIn(t, st, "bob", "password", "203.0.113.7", "Chrome/Windows")
	if e := next(); !e.NewDevice || !e.NewLocation || e.OtherSessions != 0 {
		t.Errorf("bob's first sign-in: %+v", e)
	}
}

// The hook runs after the response is saved and never holds it up: a
// hook that blocks, fails or panics leaves the response as it was.
func TestOnLoginNeverDelaysOrFailsTheResponse(t *testing.T) {
	for _, mode := range []string{"blocks", "fails", "panics"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			release := make(chan struct{})
			var calls sync.WaitGroup
			calls.Add(1)
			f.opts.OnLogin = func(ctx context.Context, e qsessions.LoginEvent) error {
				defer calls.Done()
				switch mode {
				case "blocks":
					<-release
				case "fails":
					return errors.New("mailer down")
				case "panics":
					panic("mailer exploded")
				}
				return nil
			}
			st := f.store(t)
			h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := qsessions.FromContext(r.Context()).Login(r.Context(), "alice"); err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				io.WriteString(w, "welcome")
			}))
			rec := httptest.NewRecorder()
			done := make(chan struct{})
			go func() {
				h.ServeHTTP(rec, httptest.NewRequest("POST", "/login", nil))
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the response waited for the OnLogin hook")
			}
			if rec.Code != 200 || rec.Body.String() != "welcome" || len(rec.Result().Cookies()) != 1 {
				t.Errorf("response %d %q, cookies %v", rec.Code, rec.Body, rec.Result().Cookies())
			}
			close(release)
			calls.Wait()
			st.Wait()
			switch mode {
			case "fails":
				if !strings.Contains(f.logs.String(), "mailer down") {
					t.Errorf("the hook's error was not logged: %s", f.logs)
				}
			case "panics":
				if !strings.Contains(f.logs.String(), "mailer exploded") {
					t.Errorf("the hook's panic was not logged: %s", f.logs)
				}
			}
		})
	}
}

// A Login that fails leaves no signed-in session behind for the
// middleware's save to store.
func TestFailedLoginStoresNothing(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	_, token := newSession(t, st, "")
	s, _ := st.Load(ctx, token)
	f.persister.fail.Store(true)
	if err := s.Login(ctx, "alice"); err == nil {
		t.Fatal("Login with a failing Persister: nil error")
	}
	f.persister.fail.Store(false)
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.UserID() != "" {
		t.Errorf("after a failed Login the session holds user %q", s.UserID())
	}
	if infos, _ := st.Sessions(ctx, "alice"); len(infos) != 0 {
		t.Errorf("a failed Login left %d sessions of the user", len(infos))
	}
}
