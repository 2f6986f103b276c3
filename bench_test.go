package qsessions_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

func benchStore(b *testing.B) (*qsessions.Store, string) {
	st, err := qsessions.New(memory.NewCache(), memory.NewPersister(), &qsessions.Options{TouchInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	_, token := newSession(b, st, "alice")
	return st, token
}

// BenchmarkLoadCacheHit loads an existing session whose cache entry is
// live, and reads its user: the work of a read-only request.
func BenchmarkLoadCacheHit(b *testing.B) {
	st, token := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		s, err := st.Load(ctx, token)
		if err != nil || s.UserID() != "alice" {
			b.Fatal("lost the session", err)
		}
	}
}

// BenchmarkLoadModifySave loads a session, changes one value and saves it
// through cache and persister.
func BenchmarkLoadModifySave(b *testing.B) {
	st, token := benchStore(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s, err := st.Load(ctx, token)
		if err != nil {
			b.Fatal(err)
		}
		i++
		if err := s.Set("n", i); err != nil {
			b.Fatal(err)
		}
		if err := st.Save(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRequest serves one request with the session cookie through h.
func benchRequest(b *testing.B, h http.Handler, token string) {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/120.0 Safari/537.36")
	req.AddCookie(&http.Cookie{Name: "sessionid", Value: token})
	b.ReportAllocs()
	for b.Loop() {
		w := discardWriter{h: http.Header{}}
		h.ServeHTTP(&w, req)
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatal(w.code)
		}
	}
}

// discardWriter is a minimal ResponseWriter, so that the benchmark measures
// the middleware and not a recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

func whoami(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, qsessions.FromContext(r.Context()).UserID())
}

// BenchmarkMiddlewareBaseline is the same handler without sessions.
func BenchmarkMiddlewareBaseline(b *testing.B) {
	benchRequest(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "alice")
	}), "")
}

// BenchmarkMiddlewareReadOnly is a request whose session is a cache hit and
// does not change.
func BenchmarkMiddlewareReadOnly(b *testing.B) {
	st, err := qsessions.New(memory.NewCache(), memory.NewPersister(), nil)
	if err != nil {
		b.Fatal(err)
	}
	s, token := newSession(b, st, "alice")
	qsessions.ObserveForTest(s, "192.0.2.1", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/120.0 Safari/537.36")
	st.Save(ctx, s)
	benchRequest(b, st.Middleware(http.HandlerFunc(whoami)), token)
}

// BenchmarkMiddlewareReadWrite is a request that changes one value.
func BenchmarkMiddlewareReadWrite(b *testing.B) {
	st, err := qsessions.New(memory.NewCache(), memory.NewPersister(), nil)
	if err != nil {
		b.Fatal(err)
	}
	_, token := newSession(b, st, "alice")
	n := 0
	benchRequest(b, st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		qsessions.FromContext(r.Context()).Set("n", n)
		whoami(w, r)
	})), token)
}

// BenchmarkSaveConflictMerge is two requests of one session that each
// change a key of their own from the same version: the second save
// conflicts, reloads the record and applies its change again. Compare with
// BenchmarkLoadModifySave, which is one request without a conflict.
func BenchmarkSaveConflictMerge(b *testing.B) {
	st, token := benchStore(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		first, err := st.Load(ctx, token)
		if err != nil {
			b.Fatal(err)
		}
		second, err := st.Load(ctx, token)
		if err != nil {
			b.Fatal(err)
		}
		i++
		first.Set("a", i)
		second.Set("b", i)
		if err := st.Save(ctx, first); err != nil {
			b.Fatal(err)
		}
		if err := st.Save(ctx, second); err != nil {
			b.Fatal(err)
		}
	}
}
