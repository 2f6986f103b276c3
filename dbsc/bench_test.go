package dbsc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkGuard measures what Guard adds to a request: reading the
// binding state and checking the bound cookie.
func BenchmarkGuard(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	bd := &binding{V: bindingVersion, SID: idOf(newToken()), Alg: ES256, JWK: []byte(`{"crv":"P-256","kty":"EC","x":"6_GB2voQ0qroMh6OlDFCFS_SJriQi1PTvvBOhGZ3bHI","y":"IegOJULyE7SxH_Cd1KCER7lWBvGFHQ-h0xyjzUjEIWE"}`), At: now.Unix()}
	cookie := bd.issueCookie(now, now.Add(DefaultCookieLifetime))
	bd.issueCookie(now, now.Add(DefaultCookieLifetime))
	raw := bd.encode()
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
			s := &fakeSession{id: bd.SID, binding: tt.binding}
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
