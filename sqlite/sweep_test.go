//go:build !js && !wasip1

package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions/sqlite"
)

// expired creates n sessions that expired before base, oldest first.
func expired(t *testing.T, p *sqlite.Persister, n int) {
	t.Helper()
	for i := range n {
		r := record(fmt.Sprintf("x%05d", i), fmt.Sprint("u", i%7), base)
		r.ExpiresAt = base.Add(time.Duration(i-n) * time.Millisecond)
		mustCreate(t, p, r)
	}
}

// writeDuring starts a write of p (a Create of id) from the first statement
// of a sweep, while the sweep holds the write lock, and returns once the
// write is waiting for the lock. done is closed when the write has
// returned, with its error in *err.
func writeDuring(t *testing.T, p *sqlite.Persister, id string, err *error) (hook func(), done chan struct{}) {
	done = make(chan struct{})
	var once sync.Once
	return func() {
		once.Do(func() {
			go func() {
				defer close(done)
				*err = p.Create(ctx, record(id, "writer", base))
			}()
			for deadline := time.Now().Add(10 * time.Second); sqlite.WaitingWrites(p) == 0; {
				if time.Now().After(deadline) {
					t.Error("the write never waited for the sweep's lock")
					return
				}
				time.Sleep(100 * time.Microsecond)
			}
		})
	}, done
}

// TestSweepYields checks that a write that comes while a sweep holds the
// write lock waits for one statement, not for the sweep's transaction: the
// sweep commits after the statement in progress, and the write is done
// before the sweep's next statement.
func TestSweepYields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, p *sqlite.Persister) {
		expired(t, p, 200)
		sqlite.SetSweepChunk(p, 10)
		sqlite.SetSweepBudget(p, time.Hour) // one transaction, unless a write comes
		var werr error
		startWrite, written := writeDuring(t, p, "during", &werr)
		var steps []string
		sqlite.SetSweepHook(p, func(step string, n int, _ time.Duration) {
			steps = append(steps, fmt.Sprint(step, " ", n))
			switch step {
			case "statement":
				startWrite()
				select {
				case <-written:
				default:
					if len(steps) > 1 {
						t.Errorf("statement %d of the sweep ran while the write waited", len(steps))
					}
				}
			case "pause":
				// The write goes while the sweep pauses.
				select {
				case <-written:
				case <-time.After(10 * time.Second):
					t.Error("the waiting write did not go first when the sweep made way")
				}
			}
		})
		n, err := p.DeleteExpired(ctx, base)
		if err != nil || n != 200 {
			t.Fatalf("DeleteExpired = %d, %v; want 200", n, err)
		}
		<-written
		if werr != nil {
			t.Fatalf("the write during the sweep: %v", werr)
		}
		// The first transaction ends after its first statement; the
		// next, with no write waiting, deletes the rest in one go, in
		// statements of 4 rows now that writes have come, and the sweep
		// checkpoints in its own goroutine.
		want := []string{"statement 10", "pause 0"}
		for range 47 {
			want = append(want, "statement 4")
		}
		want = append(want, "statement 2", "checkpoint 200")
		if !slices.Equal(steps, want) {
			t.Fatalf("the sweep's steps: %q\nwant %q", steps, want)
		}
		if _, err := p.Load(ctx, "during"); err != nil {
			t.Fatalf("the write during the sweep is not stored: %v", err)
		}
	})
}

// TestSweepPause checks that after a transaction that made way for a write
// the sweep pauses three times as long as the transaction took, and that the
// pause ends with ctx.
func TestSweepPause(t *testing.T) {
	t.Run("Length", func(t *testing.T) {
		p := openFile(t)
		expired(t, p, 50)
		sqlite.SetSweepChunk(p, 10)
		sqlite.SetSweepBudget(p, time.Hour)
		var werr error
		startWrite, written := writeDuring(t, p, "during", &werr)
		var (
			first          = true
			pause          time.Duration // the pause the sweep reported
			paused, resume time.Time     // when it began, and the next statement
		)
		start := time.Now() // before the first transaction
		sqlite.SetSweepHook(p, func(step string, _ int, d time.Duration) {
			switch {
			case step == "statement" && first:
				first = false
				startWrite()
				time.Sleep(20 * time.Millisecond) // a transaction of 20 ms at least
			case step == "pause":
				pause, paused = d, time.Now()
				if most := paused.Sub(start); d < 3*20*time.Millisecond || d > 3*most {
					t.Errorf("a pause of %v after a transaction of 20 ms to %v, want three times its length", d, most)
				}
			case step == "statement" && resume.IsZero() && !paused.IsZero():
				resume = time.Now()
			}
		})
		n, err := p.DeleteExpired(ctx, base)
		<-written
		if err != nil || n != 50 || werr != nil {
			t.Fatalf("DeleteExpired = %d, %v (the write: %v); want 50", n, err, werr)
		}
		if pause == 0 {
			t.Fatal("the sweep did not pause after making way for a write")
		}
		if got := resume.Sub(paused); got < pause {
			t.Fatalf("the sweep went on %v after a pause of %v began", got, pause)
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		p := openFile(t)
		expired(t, p, 50)
		sqlite.SetSweepChunk(p, 10)
		sqlite.SetSweepBudget(p, time.Hour)
		var werr error
		startWrite, written := writeDuring(t, p, "during", &werr)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var canceled time.Time
		var pause time.Duration
		sqlite.SetSweepHook(p, func(step string, _ int, d time.Duration) {
			switch step {
			case "statement":
				startWrite()
				time.Sleep(time.Second) // a pause of 2 s at least
			case "pause":
				pause, canceled = d, time.Now()
				cancel()
			}
		})
		n, err := p.DeleteExpired(cctx, base)
		<-written
		if !errors.Is(err, context.Canceled) || n != 10 {
			t.Fatalf("DeleteExpired cancelled in its pause = %d, %v; want 10, an error wrapping context.Canceled", n, err)
		}
		if took := time.Since(canceled); took >= pause/2 {
			t.Fatalf("DeleteExpired returned %v after ctx ended in a pause of %v", took, pause)
		}
	})
}

// TestSweepCheckpoints checks that a sweep checkpoints the write-ahead log
// every 256 rows and at the end, while no write waits for it: beside the
// sweep on a quiet site when the Persister runs its own checkpoints, and
// in the sweep's goroutine once writes have come or when SQLite runs the
// checkpoints; and that each checkpoint the sweep runs itself lets the log
// start over, so that the log stops growing.
func TestSweepCheckpoints(t *testing.T) {
	for _, c := range []struct {
		name  string
		new   bool   // New over a database with SQLite's automatic checkpoints, rather than Open
		write bool   // a write comes during the first statement
		step  string // how the sweep checkpoints
	}{
		{"Quiet", false, false, "checkpoint beside"},
		{"Busy", false, true, "checkpoint"},
		{"Automatic", true, false, "checkpoint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			p := openFileAt(t, path)
			if c.new {
				var err error
				if p, err = sqlite.New(openDB(t, path, ""), &sqlite.Options{Table: "other"}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
			}
			const n = 1536
			expired(t, p, n)
			// An empty log, so that it holds the sweep's pages alone (a
			// checkpoint of the Persister's own may be in the way).
			for busy := 1; busy != 0; {
				var log, copied int
				if err := sqlite.DB(p).QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &log, &copied); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Millisecond)
			}
			sqlite.SetSweepChunk(p, 16)
			sqlite.SetSweepBudget(p, time.Nanosecond) // one statement per transaction
			var werr error
			startWrite, written := writeDuring(t, p, "during", &werr)
			if !c.write {
				startWrite = func() {}
				close(written)
			}
			var checkpoints []int
			var sizes []int64 // of the log, at each checkpoint
			sqlite.SetSweepHook(p, func(step string, k int, _ time.Duration) {
				switch {
				case step == "statement":
					startWrite()
				case strings.HasPrefix(step, "checkpoint"):
					if step != c.step {
						t.Errorf("%q after %d rows, want %q", step, k, c.step)
					}
					checkpoints = append(checkpoints, k)
					fi, err := os.Stat(path + "-wal")
					if err != nil {
						t.Fatal(err)
					}
					sizes = append(sizes, fi.Size())
					if !sqlite.TryLockWrite(p) {
						t.Error("the sweep checkpoints while it holds the write lock")
						return
					}
					sqlite.UnlockWrite(p)
				}
			})
			k, err := p.DeleteExpired(ctx, base)
			<-written
			if err != nil || k != n || werr != nil {
				t.Fatalf("DeleteExpired = %d, %v (the write: %v); want %d", k, err, werr, n)
			}
			var want []int
			for left := n; left > 0; left -= 256 {
				want = append(want, min(left, 256))
			}
			if !slices.Equal(checkpoints, want) {
				t.Fatalf("the sweep checkpointed after %v rows, want %v", checkpoints, want)
			}
			// Without checkpoints the log would hold the whole sweep, six
			// times what it holds at the first. (Beside the sweep,
			// the Persister's own checkpoints let the log start over only
			// once it is long: TestCheckpoints.)
			t.Logf("the log's size at each checkpoint: %v", sizes)
			if last := sizes[len(sizes)-1]; c.step == "checkpoint" && last > 2*sizes[0] {
				t.Fatalf("the log grew from %d bytes at the first checkpoint to %d at the last: %v", sizes[0], last, sizes)
			}
		})
	}
}
