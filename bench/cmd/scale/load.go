package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/qsessions/qsessions"
)

// Write load: writers goroutines, each sending a write request every
// writeEvery to sessions of its own (no two requests of one session run at
// once), through a Store over a memory cache, as an application serves
// them: Load by token, Set a value that changes every time, Save.
const (
	writers    = 4
	writeEvery = 5 * time.Millisecond
	sessions   = 1000 // live sessions the write load uses, created through the Store
)

// A sweeper is what the sweep under load runs: Store.DeleteExpired.
type sweeper interface {
	DeleteExpired(ctx context.Context) (int, error)
}

// underLoad creates the write load's sessions, measures write requests for
// d without a sweep, then again while sweep runs over a Store that calls
// the Persister's DeleteExpired once, and returns both.
func underLoad(ctx context.Context, p qsessions.Persister, d time.Duration, sweep func(sweeper) (sweepResult, error)) (without, with latencies, res sweepResult, err error) {
	st, err := newStore(p)
	if err != nil {
		return without, with, res, err
	}
	tokens := make([]string, sessions)
	for i := range tokens {
		s, err := st.Load(ctx, "")
		if err != nil {
			return without, with, res, err
		}
		if err := s.Set("n", 0); err != nil {
			return without, with, res, err
		}
		if err := s.Login(ctx, fmt.Sprint("writer-", i)); err != nil {
			return without, with, res, err
		}
		if err := st.Save(ctx, s); err != nil {
			return without, with, res, err
		}
		tokens[i] = s.Token()
	}
	progress("  write requests alone for %v", d)
	stop := make(chan struct{})
	time.AfterFunc(d, func() { close(stop) })
	if without, err = writeLoad(ctx, st, tokens, stop); err != nil {
		return without, with, res, err
	}
	progress("  %s", without)

	progress("  write requests during a sweep")
	stop = make(chan struct{})
	done := make(chan struct{})
	var lat latencies
	var loadErr error
	go func() {
		defer close(done)
		lat, loadErr = writeLoad(ctx, st, tokens, stop)
	}()
	time.Sleep(writeEvery * 20) // the load first, then the sweep
	res, err = onThread(func() (sweepResult, error) { return sweep(st) })
	close(stop)
	<-done
	if err != nil {
		return without, with, res, err
	}
	progress("  sweep: %v, %d rows; %s", res.d.Round(time.Millisecond), res.rows, lat)
	return without, lat, res, loadErr
}

// writeLoad runs the write requests until stop is closed.
func writeLoad(ctx context.Context, st *qsessions.Store, tokens []string, stop <-chan struct{}) (latencies, error) {
	var (
		mu   sync.Mutex
		all  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			mine := tokens[w*len(tokens)/writers : (w+1)*len(tokens)/writers]
			var lat []time.Duration
			tick := time.NewTicker(writeEvery)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					mu.Lock()
					all = append(all, lat...)
					mu.Unlock()
					return
				case <-tick.C:
				}
				start := time.Now()
				err := writeRequest(ctx, st, mine[i%len(mine)], i)
				lat = append(lat, time.Since(start))
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return latencies{}, fmt.Errorf("%d write requests failed, the first: %w", len(errs), errs[0])
	}
	return summarize(all), nil
}

func writeRequest(ctx context.Context, st *qsessions.Store, token string, n int) error {
	s, err := st.Load(ctx, token)
	if err != nil {
		return err
	}
	if s.Token() != token {
		return fmt.Errorf("session of token %.8s… is gone", token)
	}
	if err := s.Set("n", n); err != nil {
		return err
	}
	return st.Save(ctx, s)
}

// latencies summarises the write requests of a run.
type latencies struct {
	n                  int
	p50, p90, p99, max time.Duration
}

func summarize(d []time.Duration) latencies {
	if len(d) == 0 {
		return latencies{}
	}
	return latencies{n: len(d), p50: percentile(d, 0.5), p90: percentile(d, 0.9), p99: percentile(d, 0.99), max: slices.Max(d)}
}

func (l latencies) String() string {
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s (%d requests)", ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max), l.n)
}

// percentile returns the q-quantile of d (which it sorts).
func percentile(d []time.Duration, q float64) time.Duration {
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*q))]
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// onThread runs f on a goroutine locked to its thread, so that the CPU time
// of the thread is the CPU time of f.
func onThread[T any](f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		v, err := f()
		ch <- result{v, err}
	}()
	r := <-ch
	return r.v, r.err
}
