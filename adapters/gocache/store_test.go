package gocache_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

// countingPersister counts Loads, to tell cache hits from misses.
type countingPersister struct {
	qsessions.Persister
	loads atomic.Int64
}

func (p *countingPersister) Load(ctx context.Context, id string) (qsessions.Record, error) {
	p.loads.Add(1)
	return p.Persister.Load(ctx, id)
}

// newSession stores a session holding one value and returns its token.
func newSession(t testing.TB, st *qsessions.Store, value string) string {
	t.Helper()
	ctx := context.Background()
	s, err := st.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("v", value); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	token := s.Token()
	if token == "" {
		t.Fatal("saved session has no token")
	}
	return token
}

// loadValue loads the session for token and returns its value "v".
func loadValue(t testing.TB, st *qsessions.Store, token string) string {
	t.Helper()
	s, err := st.Load(context.Background(), token)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var v string
	if ok, err := s.Get("v", &v); err != nil || !ok {
		t.Fatalf("session value: ok %v, err %v (new session: %v)", ok, err, s.IsNew())
	}
	return v
}

// logRecorder is a slog.Handler that keeps what it is given.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

// take returns and forgets the records kept so far.
func (h *logRecorder) take() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.records
	h.records = nil
	return r
}

func newPersister() *countingPersister {
	return &countingPersister{Persister: memory.NewPersister()}
}
