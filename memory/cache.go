package memory

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/qsessions/qsessions"
)

var _ qsessions.ConditionalCache = (*Cache)(nil)

// sweepEvery is the fewest writes between two sweeps of expired entries.
// There are also at least as many as the entries the last sweep left, so
// that sweeping costs each write O(1) however many entries are live.
const sweepEvery = 1024

// A Cache is an in-memory [qsessions.ConditionalCache] with per-entry TTLs.
// Its conditional writes are atomic under one lock, which is all they need
// within one process: an in-memory cache is never shared with another.
// The zero Cache is not usable; call [NewCache].
type Cache struct {
	mu      sync.RWMutex
	entries map[string]cacheEntry
	sets    int // writes since the last sweep
	kept    int // entries the last sweep left
	now     func() time.Time
}

type cacheEntry struct {
	value   []byte
	expires time.Time // zero: never
}

// NewCache returns an empty Cache.
func NewCache() *Cache {
	return &Cache{entries: make(map[string]cacheEntry), now: time.Now}
}

// Get returns a copy of the value stored under key, or an error wrapping
// [qsessions.ErrCacheMiss] when there is no live entry.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: cache get: %w", err)
	}
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || e.expired(c.now()) {
		return nil, fmt.Errorf("memory: %q: %w", key, qsessions.ErrCacheMiss)
	}
	return append(make([]byte, 0, len(e.value)), e.value...), nil
}

// Set stores a copy of value under key. A ttl of zero or less means the entry
// does not expire.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: cache set: %w", err)
	}
	now := c.now()
	e := c.entry(value, ttl, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(key, e, now)
	return nil
}

func (c *Cache) entry(value []byte, ttl time.Duration, now time.Time) cacheEntry {
	e := cacheEntry{value: append(make([]byte, 0, len(value)), value...)}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	return e
}

// putLocked stores e under key, sweeping expired entries once the writes
// since the last sweep reach sweepEvery and the entries that sweep left.
func (c *Cache) putLocked(key string, e cacheEntry, now time.Time) {
	c.entries[key] = e
	c.sets++
	if c.sets >= max(sweepEvery, c.kept) {
		for k, e := range c.entries {
			if e.expired(now) {
				delete(c.entries, k)
			}
		}
		c.sets, c.kept = 0, len(c.entries)
	}
}

// Conditional reports true: Add and CompareAndSwap are always available.
func (c *Cache) Conditional() bool { return true }

// Add stores a copy of value under key, as Set does, only when key has no
// live entry, and reports whether it did.
func (c *Cache) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("memory: cache add: %w", err)
	}
	now := c.now()
	e := c.entry(value, ttl, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.entries[key]; ok && !cur.expired(now) {
		return false, nil
	}
	c.putLocked(key, e, now)
	return true, nil
}

// CompareAndSwap replaces the value under key with a copy of value, as Set
// does, only when the live entry holds exactly old, and reports whether it
// did.
func (c *Cache) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("memory: cache compare and swap: %w", err)
	}
	now := c.now()
	e := c.entry(value, ttl, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.entries[key]; !ok || cur.expired(now) || !bytes.Equal(cur.value, old) {
		return false, nil
	}
	c.putLocked(key, e, now)
	return true, nil
}

// Delete removes the given keys; missing keys are ignored.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: cache delete: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.entries, k)
	}
	return nil
}

// Len returns the number of entries held, including expired ones not yet
// swept. It is meant for tests and monitoring.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

func (e cacheEntry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}
