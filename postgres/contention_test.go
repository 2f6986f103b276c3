package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/logtest"
	"github.com/qsessions/qsessions/memory"
	"github.com/qsessions/qsessions/postgres"
)

// writersPerSession is how many requests of one session write at once
// through each Store: a page firing its XHRs, and then some.
const writersPerSession = 8

// contendedStores returns n Stores, each with a pool and a Persister of
// its own, over one schema and one cache: n application servers. logs, if
// not nil, receives the Stores' debug logs.
func contendedStores(tb testing.TB, n int, logs io.Writer) []*qsessions.Store {
	tb.Helper()
	schema := freshSchema(tb)
	cache := memory.NewCache()
	level, out := slog.LevelInfo, io.Discard
	if logs != nil {
		level, out = slog.LevelDebug, logs
	}
	stores := make([]*qsessions.Store, n)
	for i := range stores {
		pool := ownPool(tb, fmt.Sprint("contention-", i), writersPerSession+2)
		p, err := postgres.New(context.Background(), pool, &postgres.Options{Schema: schema})
		if err != nil {
			tb.Fatal(err)
		}
		st, err := qsessions.New(cache, p, &qsessions.Options{
			Logger: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level})),
		})
		if err != nil {
			tb.Fatal(err)
		}
		stores[i] = st
	}
	return stores
}

// writeKey is one request: load the session, set key, save.
func writeKey(ctx context.Context, st *qsessions.Store, token, key string, v int) error {
	s, err := st.Load(ctx, token)
	if err != nil {
		return err
	}
	if s.IsNew() {
		return fmt.Errorf("the session is gone")
	}
	if err := s.Set(key, v); err != nil {
		return err
	}
	return st.Save(ctx, s)
}

// Eight writers of one session per Store, through one Store and through
// two: every save succeeds within its request's deadline and keeps its
// change. Through one Store the writers take turns and never lose a race
// (the Store logs each lost race at debug level: none is logged).
func TestEightWritersPerSession(t *testing.T) {
	for _, nStores := range []int{1, 2} {
		t.Run(fmt.Sprintf("stores=%d", nStores), func(t *testing.T) {
			var logs logtest.Buffer
			stores := contendedStores(t, nStores, &logs)
			token, _ := newSession(t, stores[0], "alice", 0)
			const rounds = 25
			var wg sync.WaitGroup
			errs := make(chan error, nStores*writersPerSession)
			for si, st := range stores {
				for w := range writersPerSession {
					wg.Go(func() {
						for r := range rounds {
							// A request's deadline, as a server's
							// WriteTimeout would give it.
							ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
							err := writeKey(ctx, st, token, fmt.Sprintf("s%dw%d", si, w), r)
							cancel()
							if err != nil {
								errs <- fmt.Errorf("store %d, writer %d, round %d: %w", si, w, r, err)
								return
							}
						}
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			s, err := stores[0].Load(context.Background(), token)
			if err != nil {
				t.Fatal(err)
			}
			for si := range stores {
				for w := range writersPerSession {
					var v int
					if ok, err := s.Get(fmt.Sprintf("s%dw%d", si, w), &v); !ok || err != nil || v != rounds-1 {
						t.Errorf("store %d, writer %d: stored %d (%v, %v), want its last write, %d", si, w, v, ok, err, rounds-1)
					}
				}
			}
			lost := strings.Count(logs.String(), "lost a race")
			t.Logf("%d stores × %d writers × %d saves: %d lost races", nStores, writersPerSession, rounds, lost)
			if nStores == 1 && lost != 0 {
				t.Errorf("one Store lost %d races among the writes of one session; want 0: they take turns", lost)
			}
		})
	}
}

// BenchmarkContendedSave measures the latency of one request's save of a
// session that writersPerSession requests per Store write at once,
// through one Store or two over one PostgreSQL schema, and reports the
// median and the 99th percentile.
func BenchmarkContendedSave(b *testing.B) {
	for _, nStores := range []int{1, 2} {
		b.Run(fmt.Sprintf("stores=%d", nStores), func(b *testing.B) {
			stores := contendedStores(b, nStores, nil)
			token, _ := newSession(b, stores[0], "alice", 0)
			perWriter := b.N/(nStores*writersPerSession) + 1
			var mu sync.Mutex
			var lat []time.Duration
			failed := 0
			b.ResetTimer()
			var wg sync.WaitGroup
			for si, st := range stores {
				for w := range writersPerSession {
					wg.Go(func() {
						mine := make([]time.Duration, 0, perWriter)
						bad := 0
						for r := range perWriter {
							start := time.Now()
							if err := writeKey(context.Background(), st, token, fmt.Sprintf("s%dw%d", si, w), r); err != nil {
								bad++
								continue
							}
							mine = append(mine, time.Since(start))
						}
						mu.Lock()
						lat, failed = append(lat, mine...), failed+bad
						mu.Unlock()
					})
				}
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
			b.ReportMetric(float64(failed), "failed")
		})
	}
}
