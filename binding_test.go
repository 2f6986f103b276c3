package qsessions_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/binding"
)

func TestUpdateBindingSurvivesConcurrentWrites(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, token := newSession(t, st, "alice")
	id := s.ID()

	// A request loads the session and changes a value; the binding is
	// written meanwhile; the request's save must keep it.
	req, _ := st.Load(ctx, token)
	req.Set("k", "changed")
	if err := binding.Update(st, ctx, id, func(cur []byte) ([]byte, error) {
		if cur != nil {
			t.Errorf("binding of an unbound session = %q", cur)
		}
		return []byte("key+challenge"), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, req); err != nil {
		t.Fatal(err)
	}
	b, err := binding.Load(st, ctx, id)
	if err != nil || string(b) != "key+challenge" {
		t.Errorf("Binding after a concurrent save = %q, %v", b, err)
	}
	again, _ := f.store(t).Load(ctx, token)
	var v string
	again.Get("k", &v)
	if string(binding.Of(again)) != "key+challenge" || v != "changed" {
		t.Errorf("another Store reads binding %q and k %q", binding.Of(again), v)
	}
	infos, _ := st.Sessions(ctx, "alice")
	if len(infos) != 1 || !infos[0].DeviceBound() {
		t.Errorf("Sessions: %+v; want one device-bound session", infos)
	}

	// An error from f changes nothing; a revoked session is ErrNotFound.
	boom := errors.New("refused")
	if err := binding.Update(st, ctx, id, func([]byte) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("UpdateBinding with a failing f: %v", err)
	}
	if b, _ := binding.Load(st, ctx, id); string(b) != "key+challenge" {
		t.Errorf("a failed UpdateBinding changed the binding to %q", b)
	}
	st.Revoke(ctx, id)
	if err := binding.Update(st, ctx, id, func(b []byte) ([]byte, error) { return b, nil }); !errors.Is(err, qsessions.ErrNotFound) {
		t.Errorf("UpdateBinding of a revoked session: %v; want ErrNotFound", err)
	}
	if _, err := binding.Load(st, ctx, id); !errors.Is(err, qsessions.ErrNotFound) {
		t.Errorf("Binding of a revoked session: %v; want ErrNotFound", err)
	}
}

// Reading the binding does not use the session: no save, no touch, no
// Vary. Drop serves the rest of the request as signed out, and writes
// nothing.
func TestBindingReadIsQuietAndDropWritesNothing(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, token := newSession(t, st, "alice")
	binding.Update(st, ctx, s.ID(), func([]byte) ([]byte, error) { return []byte("b"), nil })
	f.clock.Advance(time.Hour) // a touch is due
	writes := f.persister.writes()
	var user string
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		if string(binding.Of(s)) != "b" {
			t.Errorf("Binding() = %q", binding.Of(s))
		}
		if r.URL.Path == "/drop" {
			binding.Drop(s)
			user = s.UserID()
		}
	}))
	for _, path := range []string{"/quiet", "/drop"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Cookie", "sessionid="+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if n := f.persister.writes() - writes; n != 0 {
			t.Errorf("%s: %d writes", path, n)
		}
		if path == "/quiet" && (rec.Header().Get("Vary") != "" || len(rec.Header().Values("Set-Cookie")) != 0) {
			t.Errorf("%s: headers %v", path, rec.Header())
		}
	}
	if user != "" {
		t.Errorf("after Drop the session reads as user %q", user)
	}
	if again, _ := st.Load(context.Background(), token); again.IsNew() {
		t.Error("Drop ended the stored session")
	}
}

// Login of another user starts unbound; Reauthenticate keeps the binding.
func TestLoginAndBinding(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	s, _ := newSession(t, st, "alice")
	binding.Update(st, ctx, s.ID(), func([]byte) ([]byte, error) { return []byte("b"), nil })
	s, _ = st.Load(ctx, s.Token())
	if err := s.Reauthenticate(ctx, "password"); err != nil {
		t.Fatal(err)
	}
	if string(binding.Of(s)) != "b" {
		t.Errorf("Reauthenticate dropped the binding: %q", binding.Of(s))
	}
	if err := s.Login(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if binding.Of(s) != nil {
		t.Errorf("Login of another user kept the binding: %q", binding.Of(s))
	}
}
