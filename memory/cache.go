package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/qsessions/qsessions"
)

var _ qsessions.Cache = (*Cache)(nil)

// sweepEvery is how many Sets pass between two sweeps of expired entries.
const sweepEvery = 1024

// A Cache is an in-memory [qsessions.Cache] with per-entry TTLs.
// The zero Cache is not usable; call [NewCache].
type Cache struct {
	mu      sync.RWMutex
	entries map[string]cacheEntry
	sets    int
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
	e := cacheEntry{value: append(make([]byte, 0, len(value)), value...)}
	now := c.now()
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[key] = e
	c.sets++
	if c.sets%sweepEvery == 0 {
		for k, e := range c.entries {
			if e.expired(now) {
				delete(c.entries, k)
			}
		}
	}
	return nil
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
