package qsessions_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

// contentionWriters is how many requests of one session write at once: a
// page that fires a few XHRs, and then some.
const contentionWriters = 8

// stores returns n Stores over one cache and one Persister, as n
// application servers over shared backends, and a session stored through
// the first.
func contendedStores(t testing.TB, n int) ([]*qsessions.Store, string) {
	t.Helper()
	cache, mem := memory.NewCache(), memory.NewPersister()
	stores := make([]*qsessions.Store, n)
	for i := range stores {
		st, err := qsessions.New(cache, mem, &qsessions.Options{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = st
	}
	_, token := newSession(t, stores[0], "alice")
	return stores, token
}

// writeKey loads the session through st, sets key and saves it, as one
// request does.
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

// Writers of one session through one Store take turns inside it: none of
// them ever loses a compare-and-swap, none fails, and every change is
// kept. Through two Stores (two processes), the writes of one Store still
// never conflict with each other; those of the other retry until they
// win: none fails, and every change is kept.
func TestContendedSaves(t *testing.T) {
	for _, nStores := range []int{1, 2} {
		t.Run(fmt.Sprintf("stores=%d", nStores), func(t *testing.T) {
			stores, token := contendedStores(t, nStores)
			const rounds = 40
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, nStores*contentionWriters*rounds)
			for si, st := range stores {
				for w := range contentionWriters {
					wg.Go(func() {
						for r := range rounds {
							if err := writeKey(ctx, st, token, fmt.Sprintf("s%dw%d", si, w), r); err != nil {
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
			s, err := stores[0].Load(ctx, token)
			if err != nil {
				t.Fatal(err)
			}
			for si := range stores {
				for w := range contentionWriters {
					var v int
					if ok, err := s.Get(fmt.Sprintf("s%dw%d", si, w), &v); !ok || err != nil || v != rounds-1 {
						t.Errorf("store %d, writer %d: the stored value is %d (%v, %v), want its last write, %d", si, w, v, ok, err, rounds-1)
					}
				}
			}
			var conflicts int64
			for si, st := range stores {
				stats := qsessions.StatsForTest(st)
				t.Logf("store %d: %+v", si, stats)
				conflicts += stats.Conflicts
				if stats.GiveUps != 0 {
					t.Errorf("store %d gave up %d writes", si, stats.GiveUps)
				}
			}
			if nStores == 1 && conflicts != 0 {
				t.Errorf("one Store saw %d conflicts among the writes of one session; want 0: they take turns", conflicts)
			}
		})
	}
}

// Two requests of one session in one Store that read it at the same
// version: the second to save starts from what the first stored, without a
// conflict and without a Persister read.
func TestSecondSaveStartsFromTheFirst(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	_, token := newSession(t, st, "alice")
	a, _ := st.Load(ctx, token)
	b, _ := st.Load(ctx, token)
	a.Set("a", 1)
	b.Set("b", 2)
	if err := st.Save(ctx, a); err != nil {
		t.Fatal(err)
	}
	loads := f.persister.loads.Load()
	if err := st.Save(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n := f.persister.loads.Load() - loads; n != 0 {
		t.Errorf("the second save read the Persister %d times; want 0", n)
	}
	if got := qsessions.StatsForTest(st); got.Conflicts != 0 {
		t.Errorf("stats %+v; want no conflict", got)
	}
	again, _ := f.store(t).Load(ctx, token)
	var va, vb int
	again.Get("a", &va)
	again.Get("b", &vb)
	if va != 1 || vb != 2 {
		t.Errorf("stored a=%d b=%d; want both changes, 1 and 2", va, vb)
	}
}

// A write waiting for its turn gives up when its context ends, with the
// context's error, and writes nothing.
func TestWaitingSaveHonoursContext(t *testing.T) {
	f := newFixture(t)
	st := f.store(t)
	_, token := newSession(t, st, "alice")
	first, _ := st.Load(ctx, token)
	second, _ := st.Load(ctx, token)
	first.Set("k", "first")
	second.Set("k", "second")
	hold := make(chan struct{})
	entered := make(chan struct{}, 1)
	var once sync.Once
	f.persister.beforeUpdate = func(qsessions.Record) {
		once.Do(func() {
			entered <- struct{}{}
			<-hold
		})
	}
	done := make(chan error, 1)
	go func() { done <- st.Save(ctx, first) }()
	<-entered // the first save holds the session's turn, inside its Update
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := st.Save(wctx, second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a save waiting for its turn past its deadline = %v; want an error wrapping context.DeadlineExceeded", err)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := qsessions.StatsForTest(st); got.Waits != 1 {
		t.Errorf("stats %+v; want one write that waited", got)
	}
	again, _ := f.store(t).Load(ctx, token)
	var v string
	again.Get("k", &v)
	if v != "first" {
		t.Errorf("stored %q; want %q, the save that held its turn", v, "first")
	}
}

// BenchmarkContendedSave measures the latency of saves of one session
// under contention: contentionWriters goroutines per Store, each loading,
// changing its own key and saving in a loop, through one Store or two over
// the same memory backends. It reports the median and the 99th percentile.
func BenchmarkContendedSave(b *testing.B) {
	for _, nStores := range []int{1, 2} {
		b.Run(fmt.Sprintf("stores=%d", nStores), func(b *testing.B) {
			stores, token := contendedStores(b, nStores)
			var mu sync.Mutex
			var lat []time.Duration
			perWriter := b.N/(nStores*contentionWriters) + 1
			b.ResetTimer()
			var wg sync.WaitGroup
			for si, st := range stores {
				for w := range contentionWriters {
					wg.Go(func() {
						mine := make([]time.Duration, 0, perWriter)
						for r := range perWriter {
							start := time.Now()
							if err := writeKey(context.Background(), st, token, fmt.Sprintf("s%dw%d", si, w), r); err != nil {
								b.Error(err)
								return
							}
							mine = append(mine, time.Since(start))
						}
						mu.Lock()
						lat = append(lat, mine...)
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
		})
	}
}
