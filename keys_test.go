package qsessions_test

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/keys"
	"github.com/qsessions/qsessions/memory"
)

// plainKeys is a Persister that stores its clients' keys as they are, as
// Django's table does: 32 characters of [a-z0-9].
type plainKeys struct{ *countingPersister }

var _ keys.Plain = plainKeys{}

func (plainKeys) ValidKey(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func (plainKeys) NewKey() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Over a Persister whose keys are plain, the cookie's key is the session
// ID, new sessions get keys of its shape, and a cookie of another shape
// reaches no backend.
func TestPlainKeys(t *testing.T) {
	p := plainKeys{&countingPersister{Persister: memory.NewPersister()}}
	st, err := qsessions.New(nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Set("k", "v")
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	key := s.Token()
	if !p.ValidKey(key) || s.ID() != key {
		t.Fatalf("token %q, ID %q: want a plain key that is its own ID", key, s.ID())
	}
	if _, err := p.Persister.Load(ctx, key); err != nil {
		t.Fatalf("the Persister holds no record under the key itself: %v", err)
	}
	again, err := st.Load(ctx, key)
	if err != nil || again.IsNew() {
		t.Fatalf("Load(key) = new %v, %v", again.IsNew(), err)
	}
	loads := p.loads.Load()
	for _, bad := range []string{"", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", key[:31], key + "0", qsessions.NewTokenForTest()} {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(&http.Cookie{Name: "sessionid", Value: bad})
		st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !qsessions.FromContext(r.Context()).IsNew() {
				t.Errorf("cookie %q loaded a session", bad)
			}
		})).ServeHTTP(httptest.NewRecorder(), req)
	}
	if n := p.loads.Load() - loads; n != 0 {
		t.Errorf("cookies of the wrong shape made %d Persister loads; want 0", n)
	}
	if err := st.Revoke(ctx, "not a key"); err == nil {
		t.Error("Revoke of a malformed key: no error")
	}
	if err := st.Revoke(ctx, key); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Load(ctx, key); !s.IsNew() {
		t.Error("a revoked plain key still loads")
	}
}
