package qsessions

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// A cacheLayer is the Store's side of the Cache: it reads entries, fills
// them after a miss without ever writing a copy older than the Persister's,
// and evicts them. It treats every cache failure as a miss.
//
// The Store uses four methods: get, fill, put and evict.
type cacheLayer struct {
	c      Cache            // nil: no cache
	cond   ConditionalCache // c, when it writes conditionally
	prefix string
	log    *slog.Logger
	load   func(ctx context.Context, id string) (Record, error) // the Persister's Load, for the plain-cache fill
	stale  staleSet                                             // sessions whose eviction failed
}

func (c *cacheLayer) key(id string) string { return c.prefix + id }

// A lease marks a cache entry that one request is filling. It is never a
// record: records begin with codecVersion, leases with 0.
const (
	leaseTTL   = 5 * time.Second
	leaseBytes = 1 + 16
)

func isLease(b []byte) bool { return len(b) == leaseBytes && b[0] == 0 }

// get reads the entry under key (the cache key of id) into *dst and reports
// whether it was there. On a miss it returns the lease to pass to fill:
// with a ConditionalCache, a marker it added under the key, or nil when
// another request holds one (then the fill writes nothing).
func (c *cacheLayer) get(ctx context.Context, id, key string, dst *Record) (hit bool, lease []byte) {
	if c.c == nil {
		return false, nil
	}
	if c.stale.has(id) {
		// The entry may be older than the Persister's: evict it before
		// anything reads or refills it.
		if c.c.Delete(ctx, key) != nil {
			return false, nil
		}
		c.stale.remove(id)
		return false, c.lease(ctx, key)
	}
	b, err := c.c.Get(ctx, key)
	switch {
	case err != nil:
		if !errors.Is(err, ErrCacheMiss) && ctx.Err() == nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "qsessions: cache get failed; reading the persister", slog.Any("error", err))
		}
	case isLease(b):
		return false, nil // another request is filling the entry
	case decodeRecordTo(dst, b) != nil || dst.ID != id:
		c.log.LogAttrs(ctx, slog.LevelWarn, "qsessions: corrupt cache entry removed", slog.String("key", key))
		c.evict(ctx, id)
	default:
		return true, nil
	}
	return false, c.lease(ctx, key)
}

// lease adds a lease under key when the cache can write conditionally, and
// returns it, or nil when there is none: then no request fills the entry,
// or another one is filling it.
func (c *cacheLayer) lease(ctx context.Context, key string) []byte {
	if c.cond == nil {
		return nil
	}
	lease := make([]byte, leaseBytes)
	rand.Read(lease[1:])
	ok, err := c.cond.Add(ctx, key, lease, leaseTTL)
	if err != nil && ctx.Err() == nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "qsessions: cache add failed", slog.String("key", key), slog.Any("error", err))
	}
	if err != nil || !ok {
		return nil
	}
	return lease
}

// fill puts r, just read from the Persister after get missed, into the
// cache, and reports whether the session still exists.
//
// With a ConditionalCache, the record replaces the request's lease only if
// the lease is still there: a write or a revocation that landed after the
// read deleted the key, lease and all, and the stale record is dropped.
//
// With a plain Cache, the record is written and the row read again: when
// it is gone or has moved on, the entry is removed. A revocation or a
// write racing the fill can then expose the stale copy until that re-read
// returns.
func (c *cacheLayer) fill(ctx context.Context, key string, r *Record, lease []byte, now time.Time) bool {
	switch {
	case c.c == nil:
		return true
	case c.cond != nil:
		if lease == nil {
			return true
		}
		if _, err := c.cond.CompareAndSwap(ctx, key, lease, encodeRecord(r), r.ExpiresAt.Sub(now)); err != nil {
			c.fault(ctx, "compare and swap", r.ID, err)
		}
		return true
	}
	if !c.put(ctx, r, now) {
		return true
	}
	again, err := c.load(ctx, r.ID)
	if err == nil && again.Version == r.Version {
		return true
	}
	c.evict(ctx, r.ID)
	return !errors.Is(err, ErrNotFound)
}

// put writes r into the cache unconditionally, and reports whether it did.
// The Store puts a new session's record before it creates its row, so that
// no revocation can name the session before the entry exists.
func (c *cacheLayer) put(ctx context.Context, r *Record, now time.Time) bool {
	if c.c == nil {
		return false
	}
	if err := c.c.Set(ctx, c.key(r.ID), encodeRecord(r), r.ExpiresAt.Sub(now)); err != nil {
		c.fault(ctx, "set", r.ID, err)
		return false
	}
	c.stale.remove(r.ID)
	return true
}

// fault logs a failed cache write and removes the key, which may now be
// stale, where the cache still allows it.
func (c *cacheLayer) fault(ctx context.Context, op, id string, err error) {
	if ctx.Err() != nil {
		return
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "qsessions: cache "+op+" failed", slog.String("key", c.key(id)), slog.Any("error", err))
	c.evict(ctx, id)
}

// evict removes the entries of ids, even when ctx is cancelled. On failure
// it logs, remembers the ids, so that this Store neither reads nor refills
// their entries and evicts them again once the cache answers, and returns
// the error.
func (c *cacheLayer) evict(ctx context.Context, ids ...string) error {
	if c.c == nil || len(ids) == 0 {
		return nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = c.key(id)
	}
	if err := c.c.Delete(context.WithoutCancel(ctx), keys...); err != nil {
		c.log.LogAttrs(ctx, slog.LevelError, "qsessions: cache delete failed; retrying when the cache answers again",
			slog.Int("keys", len(keys)), slog.Any("error", err))
		c.stale.add(ids)
		return err
	}
	return nil
}

// maxStale bounds the staleSet.
const maxStale = 100_000

// A staleSet remembers sessions whose cache entry could not be evicted
// during a cache fault.
type staleSet struct {
	n   atomic.Int64 // fast path: len(ids)
	mu  sync.Mutex
	ids map[string]struct{}
}

func (s *staleSet) add(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[string]struct{})
	}
	for _, id := range ids {
		if len(s.ids) >= maxStale {
			break
		}
		s.ids[id] = struct{}{}
	}
	s.n.Store(int64(len(s.ids)))
}

func (s *staleSet) has(id string) bool {
	if s.n.Load() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

func (s *staleSet) remove(id string) {
	if s.n.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
	s.n.Store(int64(len(s.ids)))
}
