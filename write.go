package qsessions

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Every write of a session goes through readModifyWrite, the Store's one
// read-modify-write loop: a save, the seal of a rotation, a change of the
// device binding.
//
// Inside one Store, the writes of one session take turns: each holds the
// session's write lock around its plan and its Persister call (never
// around a handler), and the Store remembers the record that the last one
// wrote, so the next one starts from it instead of losing a
// compare-and-swap to its neighbour. Only writers in other processes can
// then make a write conflict; it reloads the record, plans again, and
// retries after a full-jitter backoff, until it wins or its context ends.

// A writeOp is what one attempt of a write does.
type writeOp uint8

const (
	writeNothing writeOp = iota
	writeCreate          // Persister.Create of a new session
	writeUpdate          // compare-and-swap on the version read
	writeSeal            // compare-and-swap to an empty, expired record, then delete it
)

// A planner plans a write again when the record it was planned on changed
// under it: after a reload that followed a conflict, or when another write
// of this Store landed first. cur is the new record; what the plan derived
// from the old one must be derived again.
type planner interface {
	replan(cur *Record) (writeOp, Record, error)
}

// A planFunc is a planner that plans every attempt the same way.
type planFunc func(cur *Record) (writeOp, Record, error)

func (f planFunc) replan(cur *Record) (writeOp, Record, error) { return f(cur) }

// Retry policy of a write that lost a compare-and-swap to another process:
// attempt n waits a random time below min(retryCap, retryBase<<(n-1)),
// and a write whose context has no deadline gives up after retryBudget.
const (
	retryBase = 500 * time.Microsecond
	retryCap  = 50 * time.Millisecond
)

var retryBudget = 10 * time.Second // a variable for the tests

// sealedAt is the expiry of a sealed record: long past, so that every
// Store refuses it and DeleteExpired removes it first.
var sealedAt = time.UnixMilli(0).UTC()

// readModifyWrite writes next, the record that op makes of cur (whose ID
// names the session), as one compare-and-swap, and retries after conflicts
// with what p plans again; it returns what it finally did. On success *cur
// is the record as stored (as it was before a seal). what names the
// operation in errors. A session ended meanwhile (found gone or expired
// when read again) makes it fail with ErrNotFound.
func (st *Store) readModifyWrite(ctx context.Context, what string, cur *Record, op writeOp, next Record, p planner) (done writeOp, err error) {
	// When another write of this Store landed since cur was read, the
	// turn starts from what it left, as kept or read again.
	turn, fresh, reload, err := st.locks.lock(ctx, cur, &st.stats)
	if err != nil {
		return writeNothing, fmt.Errorf("qsessions: %s: waiting for its turn: %w", what, err)
	}
	kept := false // whether cur is what is stored now, for the next turn
	id := cur.ID
	defer func() { st.locks.unlock(turn, cur, kept) }()
	var rt retrier
	for {
		if reload {
			r, err := st.persister.Load(ctx, id)
			if err != nil {
				return op, fmt.Errorf("qsessions: %s: read again: %w", what, st.cause(ctx, &rt, err))
			}
			*cur = r
		}
		now := st.clock()
		if fresh {
			if !now.Before(cur.ExpiresAt) {
				return op, fmt.Errorf("qsessions: %s: ended by another request: %w", what, ErrNotFound)
			}
			if op, next, err = p.replan(cur); err != nil {
				return op, fmt.Errorf("qsessions: %s: %w", what, err)
			}
			if op == writeNothing {
				kept = true
				return op, nil
			}
		}
		err = st.apply(ctx, op, cur, &next, now)
		if !errors.Is(err, ErrConflict) {
			if err != nil {
				return op, fmt.Errorf("qsessions: %s: %w", what, st.cause(ctx, &rt, err))
			}
			kept = op != writeSeal
			return op, nil
		}
		st.stats.conflicts.Add(1)
		st.log.LogAttrs(ctx, slog.LevelDebug, "qsessions: a write lost a race to another process; retrying",
			slog.String("op", what), slog.Int("attempt", rt.attempts+1))
		if err := rt.wait(ctx, err); err != nil {
			st.stats.giveUps.Add(1)
			return op, fmt.Errorf("qsessions: %s: %w", what, err)
		}
		fresh, reload = true, true
	}
}

// apply makes one attempt of op, with next the record to write; on success
// *cur is what is now stored (after a seal, what was stored before it).
func (st *Store) apply(ctx context.Context, op writeOp, cur, next *Record, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch op {
	case writeCreate:
		next.Version = 1
		cached := st.cache.put(ctx, next, now)
		if err := st.persister.Create(ctx, *next); err != nil {
			if cached {
				st.cache.evict(ctx, next.ID)
			}
			return err
		}
	case writeUpdate:
		next.Version = cur.Version
		if err := st.persister.Update(ctx, *next); err != nil {
			return err
		}
		next.Version++
		// Evict rather than write the new record: a write into the cache
		// could race another write or a revocation and leave an older
		// copy there; an eviction can only remove. The next request fills
		// it again. A failure is logged and retried.
		st.cache.evict(ctx, next.ID)
	case writeSeal:
		// The seal makes the end exact: a concurrent write either landed
		// before it (and the seal conflicts, so that the caller can merge
		// it) or fails after it.
		sealed := Record{ID: cur.ID, Version: cur.Version, UserID: cur.UserID, UpdatedAt: now, ExpiresAt: sealedAt}
		if err := st.persister.Update(ctx, sealed); err != nil {
			return err
		}
		evicted := st.cache.evict(ctx, cur.ID)
		if err := st.persister.Delete(ctx, cur.ID); err != nil {
			st.log.LogAttrs(ctx, slog.LevelWarn, "qsessions: a sealed session could not be deleted; DeleteExpired will remove it",
				slog.Any("error", err))
		}
		if evicted != nil {
			return &evictError{evicted}
		}
		return nil
	}
	*cur = *next
	return nil
}

// A retrier paces the attempts of a write that keeps losing races.
type retrier struct {
	attempts int       // conflicts so far
	start    time.Time // of the first
	until    time.Time // when to give up
	last     error     // the last conflict
}

// wait sleeps before the next attempt after a conflict (err), with full
// jitter, or returns why the write gives up: its context ended, or, for a
// context without a deadline, the retry budget is spent.
func (r *retrier) wait(ctx context.Context, err error) error {
	r.attempts++
	r.last = err
	now := time.Now()
	if r.attempts == 1 {
		r.start = now
		if d, ok := ctx.Deadline(); ok {
			r.until = d
		} else {
			r.until = now.Add(retryBudget)
		}
	}
	d := time.Duration(rand.Int64N(int64(min(retryCap, retryBase<<min(r.attempts-1, 16)))))
	if ctx.Err() != nil {
		return r.giveUp(ctx.Err())
	}
	if now.Add(d).After(r.until) {
		if _, ok := ctx.Deadline(); ok {
			return r.giveUp(context.DeadlineExceeded)
		}
		return r.giveUp(fmt.Errorf("retry budget of %v spent: %w", retryBudget, context.DeadlineExceeded))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return r.giveUp(ctx.Err())
	}
}

// giveUp says that the write gives up retrying, and why.
func (r *retrier) giveUp(why error) error {
	return fmt.Errorf("gave up after %d attempts over %v (%w): %w", r.attempts, time.Since(r.start).Round(time.Millisecond), why, r.last)
}

// cause returns err, an error of an attempt that was not a conflict, or,
// when it came from ctx ending after the write had lost races, the
// write's giving up: contention is then why it failed.
func (st *Store) cause(ctx context.Context, r *retrier, err error) error {
	if r.attempts == 0 || ctx.Err() == nil {
		return err
	}
	st.stats.giveUps.Add(1)
	return r.giveUp(ctx.Err())
}

// An evictError reports a session whose row is deleted but whose cache
// entry could not be evicted: other processes may still serve it from the
// cache until the eviction is retried.
type evictError struct{ err error }

func (e *evictError) Error() string {
	return "session deleted, but its cache entry could not be evicted (other processes may still serve it; retry): " + e.err.Error()
}

func (e *evictError) Unwrap() error { return e.err }

// stats count what the write loop saw.
type stats struct {
	waits     atomic.Int64 // writes that waited for another write of the same session in this Store
	conflicts atomic.Int64 // compare-and-swaps lost to another process
	giveUps   atomic.Int64 // writes that gave up retrying
}

// Turns. A session's writes take turns through one of a fixed number of
// stripes, picked by a hash of its ID: each stripe is a one-slot semaphore
// and the last record written through it. Two sessions that share a
// stripe take turns too, which costs little with this many stripes; a
// session whose last record another one replaced loses at most one race
// to its own Store, and retries. The memory is bounded: the stripes and
// the records they keep (up to recentMaxLen bytes of Data and Meta each).
const (
	stripes      = 1024
	recentMaxLen = 16 << 10
)

type writeLocks struct {
	seed    maphash.Seed
	once    sync.Once
	stripes []stripe // made on the first write
}

// A stripe is one turn to write, and what the last turn left.
type stripe struct {
	sem  chan struct{}
	last recentWrite // only the holder of sem reads or writes it
}

// A recentWrite is the last record that a stripe's turn wrote of a
// session: its version, and the record itself when it is small.
type recentWrite struct {
	id      string
	version int64
	rec     Record
	hasRec  bool
}

func (l *writeLocks) init() { l.seed = maphash.MakeSeed() }

// lock waits for the turn of the session cur names to write, or for ctx to
// end, counting a wait in stats. When this Store wrote the session since
// cur was read, it replaces *cur with the record it wrote (fresh), or,
// when that was too large to keep, reports that the caller must read it
// (fresh and reload).
func (l *writeLocks) lock(ctx context.Context, cur *Record, stats *stats) (sp *stripe, fresh, reload bool, err error) {
	l.once.Do(func() {
		l.stripes = make([]stripe, stripes)
		for i := range l.stripes {
			l.stripes[i].sem = make(chan struct{}, 1)
		}
	})
	sp = &l.stripes[maphash.String(l.seed, cur.ID)%stripes]
	select {
	case sp.sem <- struct{}{}:
	default:
		stats.waits.Add(1)
		select {
		case sp.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, false, false, ctx.Err()
		}
	}
	w := &sp.last
	switch {
	case w.id != cur.ID || w.version <= cur.Version:
	case !w.hasRec:
		fresh, reload = true, true
	default:
		*cur, fresh = w.rec, true
	}
	return sp, fresh, reload, nil
}

// unlock ends the turn. With kept, *cur is what is stored now, and the
// next turn may start from it; without, the stripe forgets what it knew of
// the session's last write (a failure, or a seal, may mean it is gone).
func (l *writeLocks) unlock(sp *stripe, cur *Record, kept bool) {
	switch {
	case kept:
		sp.last = recentWrite{id: cur.ID, version: cur.Version}
		if len(cur.Data)+len(cur.Meta) <= recentMaxLen {
			sp.last.rec, sp.last.hasRec = *cur, true
		}
	case sp.last.id == cur.ID:
		sp.last = recentWrite{}
	}
	<-sp.sem
}
