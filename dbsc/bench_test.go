package dbsc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
)

// benchBinding returns the binding state of session sid bound to an EC
// key at now, with two valid bound cookies, and the newest of them.
func benchBinding(sid string, now time.Time) (raw []byte, cookie string) {
	key, err := parseJWK([]byte(`{"crv":"P-256","kty":"EC","x":"6_GB2voQ0qroMh6OlDFCFS_SJriQi1PTvvBOhGZ3bHI","y":"IegOJULyE7SxH_Cd1KCER7lWBvGFHQ-h0xyjzUjEIWE"}`))
	if err != nil {
		panic(err)
	}
	bd, err := newBinding(sid, key, now, 0)
	if err != nil {
		panic(err)
	}
	bd.issueCookie(now, now.Add(DefaultCookieLifetime))
	cookie = bd.issueCookie(now, now.Add(DefaultCookieLifetime))
	return bd.encode(), cookie
}

// BenchmarkGuard measures what Guard adds to a request: reading the
// binding state and checking the bound cookie.
func BenchmarkGuard(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	sid := idOf(newToken())
	raw, cookie := benchBinding(sid, now)
	for _, tt := range []struct {
		name    string
		binding []byte
	}{{"unbound", nil}, {"bound", raw}} {
		b.Run(tt.name, func(b *testing.B) {
			binder, err := newBinder(newFakeStore(), &Options{Clock: func() time.Time { return now }}, sessionOfTest)
			if err != nil {
				b.Fatal(err)
			}
			h := binder.Guard(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			s := &fakeSession{id: sid, binding: tt.binding}
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Cookie", "sessionid="+newToken()+"; "+DefaultCookieName+"="+cookie)
			req = req.WithContext(context.WithValue(req.Context(), sessionKey{}, s))
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		})
	}
}

// BenchmarkGuardStore measures a request of a signed-in session through
// Store.Middleware over the memory backends, to a handler that reads the
// session's user: without Guard, then with Guard for an unbound and for a
// bound session.
func BenchmarkGuardStore(b *testing.B) {
	ctx := context.Background()
	clock := newTestClock()
	be := newStoreBackend(b, clock, nil)
	binder, err := New(be.Store, &Options{Clock: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	signIn := func() (*qsessions.Session, string) {
		s, err := be.Load(ctx, "")
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Login(ctx, "alice"); err != nil {
			b.Fatal(err)
		}
		return s, s.Token()
	}
	_, unbound := signIn()
	s, bound := signIn()
	raw, cookie := benchBinding(s.ID(), clock.Now())
	if err := be.UpdateBinding(ctx, s.ID(), func([]byte) ([]byte, error) { return raw, nil }); err != nil {
		b.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if qsessions.FromContext(r.Context()).UserID() != "alice" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	for _, tt := range []struct {
		name   string
		h      http.Handler
		cookie string
	}{
		{"none", be.Middleware(handler), "sessionid=" + unbound},
		{"unbound", be.Middleware(binder.Guard(handler)), "sessionid=" + unbound},
		{"bound", be.Middleware(binder.Guard(handler)), "sessionid=" + bound + "; " + DefaultCookieName + "=" + cookie},
	} {
		b.Run(tt.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Cookie", tt.cookie)
			serve := func() {
				w := httptest.NewRecorder()
				tt.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
			serve() // records the client's IP: the requests that follow write nothing
			b.ReportAllocs()
			for b.Loop() {
				serve()
			}
		})
	}
}
