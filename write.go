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
func (st *Store) readModifyWrite(ctx context.Context, what string, cur *Record, op writeOp, next Record, p planner) (writeOp, error) {
	lk, waited, err := st.locks.lock(ctx, cur.ID)
	if waited {
		st.stats.waits.Add(1)
	}
	if err != nil {
		return writeNothing, fmt.Errorf("qsessions: %s: waiting for its turn: %w", what, err)
	}
	defer st.locks.unlock(lk)
	// When another write of this Store landed since cur was read, start
	// from what it left, as kept or read again.
	fresh, reload := lk.newer(cur)
	var rt retrier
	for {
		if reload {
			r, err := st.persister.Load(ctx, cur.ID)
			if err != nil {
				lk.clear()
				return op, fmt.Errorf("qsessions: %s: read again: %w", what, st.cause(ctx, &rt, err))
			}
			*cur = r
		}
		now := st.clock()
		if fresh {
			if !now.Before(cur.ExpiresAt) {
				lk.clear()
				return op, fmt.Errorf("qsessions: %s: ended by another request: %w", what, ErrNotFound)
			}
			if op, next, err = p.replan(cur); err != nil {
				return op, fmt.Errorf("qsessions: %s: %w", what, err)
			}
			if op == writeNothing {
				return op, nil
			}
		}
		err = st.apply(ctx, op, cur, &next, now)
		if !errors.Is(err, ErrConflict) {
			lk.wrote(op, cur, err)
			if err != nil {
				return op, fmt.Errorf("qsessions: %s: %w", what, st.cause(ctx, &rt, err))
			}
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

// Write locks. Their memory is bounded: a lock exists while a write holds
// it or waits for it; the last records written are kept in a fixed table.
const (
	lockShards   = 64
	recentSlots  = 64 // per shard: 4096 records in all
	recentMaxLen = 16 << 10
)

type writeLocks struct {
	seed   maphash.Seed
	shards [lockShards]lockShard
	pool   sync.Pool // of *writeLock
}

type lockShard struct {
	mu     sync.Mutex
	locks  map[string]*writeLock
	recent [recentSlots]recentWrite
}

// A recentWrite is the last record that this Store wrote of a session:
// its version, and the record itself when it is small.
type recentWrite struct {
	id      string
	version int64
	rec     Record
	hasRec  bool
}

// A writeLock is one session's turn to write.
type writeLock struct {
	sem   chan struct{}
	id    string
	refs  int // holder and waiters; guarded by the shard's mu
	shard *lockShard
	slot  *recentWrite
}

func (l *writeLocks) init() {
	l.seed = maphash.MakeSeed()
	l.pool.New = func() any { return &writeLock{sem: make(chan struct{}, 1)} }
}

// lock waits for id's turn to write, or for ctx to end, and reports
// whether it had to wait.
func (l *writeLocks) lock(ctx context.Context, id string) (*writeLock, bool, error) {
	h := maphash.String(l.seed, id)
	sh := &l.shards[h%lockShards]
	sh.mu.Lock()
	lk := sh.locks[id]
	if lk == nil {
		if sh.locks == nil {
			sh.locks = make(map[string]*writeLock)
		}
		lk = l.pool.Get().(*writeLock)
		lk.id, lk.shard, lk.slot = id, sh, &sh.recent[(h/lockShards)%recentSlots]
		sh.locks[id] = lk
	}
	lk.refs++
	sh.mu.Unlock()
	select {
	case lk.sem <- struct{}{}:
		return lk, false, nil
	default:
	}
	select {
	case lk.sem <- struct{}{}:
		return lk, true, nil
	case <-ctx.Done():
		l.release(lk)
		return nil, true, ctx.Err()
	}
}

func (l *writeLocks) unlock(lk *writeLock) {
	<-lk.sem
	l.release(lk)
}

func (l *writeLocks) release(lk *writeLock) {
	sh := lk.shard
	sh.mu.Lock()
	lk.refs--
	free := lk.refs == 0
	if free {
		delete(sh.locks, lk.id)
	}
	sh.mu.Unlock()
	if free {
		lk.id, lk.shard, lk.slot = "", nil, nil
		l.pool.Put(lk)
	}
}

// newer reports whether this Store wrote a version of the session newer
// than *cur, and then replaces *cur with that record, or, when the record
// was too large to keep, reports that the caller must read it (reload).
// The caller holds the lock.
func (lk *writeLock) newer(cur *Record) (newer, reload bool) {
	sh := lk.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := lk.slot
	if w.id != lk.id || w.version <= cur.Version {
		return false, false
	}
	if !w.hasRec {
		return true, true
	}
	*cur = w.rec
	return true, false
}

// clear forgets what the Store knows of the session's last write.
func (lk *writeLock) clear() {
	sh := lk.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if lk.slot.id == lk.id {
		*lk.slot = recentWrite{}
	}
}

// wrote remembers what a write of op left stored, given the outcome err:
// the record *cur after a successful create or update; nothing after a
// seal or a failure, which may mean the session is gone.
func (lk *writeLock) wrote(op writeOp, cur *Record, err error) {
	if err != nil || op == writeSeal {
		lk.clear()
		return
	}
	w := recentWrite{id: lk.id, version: cur.Version}
	if len(cur.Data)+len(cur.Meta) <= recentMaxLen {
		w.rec, w.hasRec = *cur, true
	}
	sh := lk.shard
	sh.mu.Lock()
	*lk.slot = w
	sh.mu.Unlock()
}

// forget drops what the Store remembers of the sessions ids: they were
// revoked.
func (l *writeLocks) forget(ids []string) {
	for _, id := range ids {
		h := maphash.String(l.seed, id)
		sh := &l.shards[h%lockShards]
		sh.mu.Lock()
		if slot := &sh.recent[(h/lockShards)%recentSlots]; slot.id == id {
			*slot = recentWrite{}
		}
		sh.mu.Unlock()
	}
}
