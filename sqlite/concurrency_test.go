//go:build !js && !wasip1

package sqlite_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/sqlite"
)

// hammer runs 8 goroutines that create, load, update, list and delete
// sessions on ps (round robin) for d, and fails on any error other than the
// ErrNotFound that a concurrent delete legitimately causes.
func hammer(t *testing.T, d time.Duration, ps ...*sqlite.Persister) {
	t.Helper()
	const workers = 8
	var (
		wg    sync.WaitGroup
		ops   atomic.Int64
		errMu sync.Mutex
		errs  []error
	)
	fail := func(err error) {
		errMu.Lock()
		if len(errs) < 10 {
			errs = append(errs, err)
		}
		errMu.Unlock()
	}
	deadline := time.Now().Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := 0; time.Now().Before(deadline); i++ {
				p := ps[(w+i)%len(ps)]
				user := fmt.Sprint("user", rng.IntN(20))
				id := fmt.Sprintf("w%d-%d", w, i)
				r := record(id, user, base.Add(time.Duration(i)*time.Millisecond))
				if rng.IntN(4) == 0 {
					r.ExpiresAt = base.Add(-time.Hour)
				}
				if err := p.Create(ctx, r); err != nil {
					fail(fmt.Errorf("Create: %w", err))
					continue
				}
				got, err := p.Load(ctx, id)
				switch {
				case errors.Is(err, qsessions.ErrNotFound): // deleted by another worker
				case err != nil:
					fail(fmt.Errorf("Load: %w", err))
				case !equalRecord(got, r):
					fail(fmt.Errorf("Load(%s) = %+v, want %+v", id, got, r))
				}
				r.Data = append(r.Data, '!')
				if err := p.Update(ctx, r); err != nil && !errors.Is(err, qsessions.ErrNotFound) {
					fail(fmt.Errorf("Update: %w", err))
				}
				if _, err := p.ListByUser(ctx, user); err != nil {
					fail(fmt.Errorf("ListByUser: %w", err))
				}
				switch rng.IntN(10) {
				case 0:
					if _, err := p.DeleteByUser(ctx, user, id); err != nil {
						fail(fmt.Errorf("DeleteByUser: %w", err))
					}
				case 1:
					if _, err := p.DeleteExpired(ctx, base); err != nil {
						fail(fmt.Errorf("DeleteExpired: %w", err))
					}
				case 2, 3:
					if err := p.Delete(ctx, id, fmt.Sprintf("w%d-%d", w, i-1)); err != nil {
						fail(fmt.Errorf("Delete: %w", err))
					}
				}
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if ops.Load() < workers {
		t.Errorf("only %d rounds in %v", ops.Load(), d)
	}
	t.Logf("%d rounds of 5-6 calls by %d goroutines in %v", ops.Load(), workers, d)
}

// TestConcurrent checks that concurrent writers and readers see no
// SQLITE_BUSY (or any other error). Two Persisters share the file, as two
// processes would, so both the in-process write queue and SQLite's busy
// timeout are exercised.
func TestConcurrent(t *testing.T) {
	t.Run("File", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.db")
		p1, err := sqlite.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p1.Close()
		p2, err := sqlite.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p2.Close()
		hammer(t, 2*time.Second, p1, p2)
	})
	t.Run("Memory", func(t *testing.T) {
		hammer(t, 500*time.Millisecond, openMemory(t))
	})
}

// TestConcurrentOpen checks that processes opening a new database at the
// same moment do not trip over each other's migration.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	start := make(chan struct{})
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			p, err := sqlite.Open(path, nil)
			if err != nil {
				errs <- err
				return
			}
			defer p.Close()
			errs <- p.Create(ctx, record(fmt.Sprint("r", i), "u", base))
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	p := openFileAt(t, path)
	if rs, err := p.ListByUser(ctx, "u"); err != nil || len(rs) != 8 {
		t.Fatalf("ListByUser after 8 concurrent opens = %d records, %v; want 8", len(rs), err)
	}
}

func openFileAt(t *testing.T, path string) *sqlite.Persister {
	t.Helper()
	p, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
