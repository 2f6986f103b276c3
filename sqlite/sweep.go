//go:build !js && !wasip1

package sqlite

import (
	"context"
	"runtime"
	"time"
)

// How a sweep makes way for writes, as measured with bench/cmd/scale -big
// (500,000 of 1,000,000 rows swept while 4 writers send 800 requests a
// second, on 2 processors).
const (
	// sweepRows is how many rows one statement of a sweep deletes, what a
	// write that comes during a sweep waits for (about 1.5 ms on a million
	// rows); sweepRowsBusy once writes have come (0.4 ms): 16 rows gave
	// the writes a p99 of 5.1 ms, 4 rows 3.2 ms.
	sweepRows, sweepRowsBusy = 16, 4

	// sweepPause is how long a sweep pauses after a transaction that made
	// way for a write, in multiples of the transaction's length: 2 gave
	// the writes a p99 of 2.7-2.9 ms (3.4-4.6 times their p99 without a
	// sweep), 3 gave 2.6-2.7 ms (3.9 times), for a sweep a third slower
	// under that load (84 s instead of 62 s).
	sweepPause = 3

	// sweepCheckpoint is how many rows a sweep deletes between two
	// checkpoints of the write-ahead log: a thousand pages or so.
	sweepCheckpoint = 256
)

// DeleteExpired removes every record whose ExpiresAt is before before, in
// expiry order, and returns how many it removed.
//
// It deletes in transactions, so that it never holds the write lock for
// long, and it makes way for the other writes of this Persister:
//   - a transaction runs for about [Options].SweepBudget, in statements of
//     16 rows, and commits after the statement in progress when a write is
//     waiting, which then goes first;
//   - after such a transaction the sweep pauses three times as long as
//     the transaction took, so that while writes keep coming it holds the
//     write lock at most a quarter of the time;
//   - between two statements it lets other goroutines run
//     (runtime.Gosched), so that on a machine with few processors the
//     requests that will write get to ask for the lock;
//   - every 256 rows, and at the end, it checkpoints the write-ahead log
//     outside the write lock, so that no write pays for copying the
//     sweep's pages: beside the sweep when the Persister runs its own
//     checkpoints (see Open); but once it has made way for a write, in
//     its own goroutine, with statements of 4 rows from then on, so that
//     the sweep keeps one processor busy, not two.
//
// When ctx ends, it returns the count removed so far with an error
// wrapping ctx.Err().
func (p *Persister) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	total, unchecked, busy := 0, 0, false
	for {
		if err := p.begin(ctx, "delete expired"); err != nil {
			return total, err
		}
		start := time.Now()
		n, more, yielded, err := p.sweepTx(ctx, ms(before), busy)
		took := time.Since(start)
		total += n
		if err != nil {
			return total, err
		}
		busy = busy || yielded
		if unchecked += n; unchecked >= sweepCheckpoint || !more && unchecked > 0 {
			if p.checkpoints != nil && !busy {
				p.trace("checkpoint beside", unchecked, 0)
				p.signalCheckpoint()
			} else {
				p.trace("checkpoint", unchecked, 0)
				p.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`) // a failure costs a longer log
			}
			unchecked = 0
		}
		if !more {
			return total, nil
		}
		if yielded {
			d := sweepPause * took
			p.trace("pause", 0, d)
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
}

// sweepTx runs one transaction of a sweep, which deletes p.chunk rows at a
// time (at most sweepRowsBusy when busy) until none is left (more is false),
// a write is waiting (yielded), or p.budget has passed.
func (p *Persister) sweepTx(ctx context.Context, cutoff int64, busy bool) (n int, more, yielded bool, err error) {
	const op = "delete expired"
	if err := p.lockWrite(ctx, op); err != nil {
		return 0, true, false, err
	}
	defer func() { <-p.wsem }() // not counted by the checkpointer: the sweep checkpoints for itself
	start := time.Now()
	// The connection is taken under the write lock, as every write does,
	// so that a pool of one connection cannot deadlock.
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, true, false, fail(ctx, op, err)
	}
	defer tx.Rollback()
	del := tx.StmtContext(ctx, p.deleteExpired)
	chunk := p.chunk
	if busy {
		chunk = min(chunk, sweepRowsBusy)
	}
	for more = true; more; {
		res, err := del.ExecContext(ctx, cutoff, chunk)
		if err != nil {
			return 0, true, false, fail(ctx, op, err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, true, false, fail(ctx, op, err)
		}
		n, more = n+int(k), int(k) == chunk
		p.trace("statement", int(k), 0)
		if yielded = p.waiting.Load() > 0; yielded || time.Since(start) >= p.budget {
			break
		}
		runtime.Gosched()
	}
	if err := tx.Commit(); err != nil {
		return 0, true, false, fail(ctx, op, err)
	}
	return n, more, yielded, nil
}

// trace reports a step of a sweep to the tests' hook, if any: a statement
// that deleted n rows, a checkpoint after n, or a pause of d.
func (p *Persister) trace(step string, n int, d time.Duration) {
	if p.sweepHook != nil {
		p.sweepHook(step, n, d)
	}
}
