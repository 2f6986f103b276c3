package qsessions_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/qsessions/qsessions"
)

// serveCookie serves one request carrying the Cookie header through st's
// middleware, with a handler that reads the session's user, and returns
// the user it saw and the response.
func serveCookie(t *testing.T, st *qsessions.Store, cookie string) (user string, rec *httptest.ResponseRecorder) {
	t.Helper()
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user = qsessions.FromContext(r.Context()).UserID()
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", cookie)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return user, rec
}

// unknownToken returns a well-formed token that no session has.
func unknownToken(t *testing.T, st *qsessions.Store) string {
	t.Helper()
	s, err := st.Load(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	s.Set("k", "v")
	if err := st.Save(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	token := s.Token()
	if err := st.Revoke(context.Background(), s.ID()); err != nil {
		t.Fatal(err)
	}
	return token
}

// A cookie of the session's name planted for a parent domain or a longer
// path comes first in the Cookie header. It must neither sign the user out
// nor get the user's own cookie deleted.
func TestHTTPShadowingCookie(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	_, valid := newSession(t, st, "alice")
	planted := unknownToken(t, st)

	user, rec := serveCookie(t, st, "sessionid="+planted+"; sessionid="+valid)
	if user != "alice" {
		t.Errorf("with a planted cookie before the user's: served as %q; want alice", user)
	}
	if sc := rec.Header().Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("the response sets or deletes cookies the request did not use: %q", sc)
	}

	// The order does not matter, nor other cookies in between.
	user, _ = serveCookie(t, st, "sessionid="+valid+"; csrftoken=x; sessionid="+planted)
	if user != "alice" {
		t.Errorf("with a planted cookie after the user's: served as %q; want alice", user)
	}
	// Nor malformed ones, nor several Cookie lines.
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user = qsessions.FromContext(r.Context()).UserID()
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Add("Cookie", "sessionid=garbage; sessionid="+planted)
	req.Header.Add("Cookie", "sessionid="+valid)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if user != "alice" {
		t.Errorf("with the user's cookie on a second Cookie line: served as %q; want alice", user)
	}
}

// A request whose session cookies are all dead gets one deletion.
func TestHTTPAllCookiesDead(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	dead1, dead2 := unknownToken(t, st), unknownToken(t, st)
	user, rec := serveCookie(t, st, "sessionid="+dead1+"; sessionid="+dead2+"; sessionid=garbage")
	if user != "" {
		t.Errorf("served as %q; want anonymous", user)
	}
	sc := rec.Header().Values("Set-Cookie")
	if len(sc) != 1 || !strings.Contains(sc[0], "Max-Age=0") || strings.Contains(sc[0], "Domain=") {
		t.Errorf("Set-Cookie = %q; want one deletion of the host-only cookie", sc)
	}
}

// At most a handful of cookies are tried, so a header stuffed with
// well-formed tokens costs a bounded number of backend reads.
func TestHTTPCookiesTriedAreBounded(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	_, valid := newSession(t, st, "alice")
	var b strings.Builder
	for range 10 {
		b.WriteString("sessionid=" + unknownToken(t, st) + "; ")
	}
	b.WriteString("sessionid=" + valid)
	loads := f.persister.loads.Load()
	user, _ := serveCookie(t, st, b.String())
	if user != "" {
		t.Errorf("the 11th cookie was tried: served as %q", user)
	}
	if n := f.persister.loads.Load() - loads; n > 4 {
		t.Errorf("%d Persister loads for one request; want at most 4", n)
	}
}

func TestHostPrefixCookie(t *testing.T) {
	f := newFixture(t)
	for _, c := range []qsessions.CookieOptions{
		{Name: "__Host-sid", Domain: "example.com"},
		{Name: "__Host-sid", Path: "/app"},
		{Name: "__host-sid", Secure: qsessions.SwitchOff},
		{Name: "__Secure-sid", Secure: qsessions.SwitchOff},
	} {
		opts := f.opts
		opts.Cookie = c
		if _, err := qsessions.New(f.cache, f.persister, &opts); err == nil {
			t.Errorf("New accepted %+v", c)
		}
	}

	// A valid __Host- cookie is Secure, Path=/, without Domain, even on a
	// plain-HTTP request (browsers accept Secure cookies from localhost).
	opts := f.opts
	opts.Cookie = qsessions.CookieOptions{Name: "__Host-sessionid"}
	st, err := qsessions.New(f.cache, f.persister, &opts)
	if err != nil {
		t.Fatal(err)
	}
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qsessions.FromContext(r.Context()).Set("k", "v")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com/", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Set-Cookie: %q", rec.Header().Values("Set-Cookie"))
	}
	c := cookies[0]
	if c.Name != "__Host-sessionid" || !c.Secure || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie %+v; want __Host-sessionid, Secure, Path=/, no Domain", c)
	}
	// And the middleware reads it back.
	var got string
	h = st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qsessions.FromContext(r.Context()).Get("k", &got)
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", "sessionid="+c.Value+"; __Host-sessionid="+c.Value)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got != "v" {
		t.Errorf("the value set under a __Host- cookie reads %q; want v", got)
	}
}
