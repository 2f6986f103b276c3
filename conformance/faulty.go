package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/qsessions/qsessions"
)

// ErrInjected is the error a [FaultyCache] returns for a failure it
// injects, wrapped with the name of the operation.
var ErrInjected = errors.New("conformance: injected cache failure")

// An Op is a set of Cache operations, for [FaultyCache.Fail].
type Op uint8

const (
	OpGet    Op = 1 << iota // Cache.Get
	OpSet                   // Cache.Set, and ConditionalCache.Add and CompareAndSwap
	OpDelete                // Cache.Delete

	OpNone Op = 0                        // no operation: a healthy cache
	OpAll     = OpGet | OpSet | OpDelete // every operation: a cache that is down
)

// A FaultyCache wraps a [qsessions.Cache] and fails the operations that
// [FaultyCache.Fail] switches on, to test how code behaves when the cache is
// down or flaky. TestStore uses it to check that a Store survives a cache
// outage; use it in your own tests of code built on a Store. A failed call
// returns an error wrapping [ErrInjected] and does not reach the wrapped
// Cache, as when the cache cannot be reached. It is safe for concurrent use.
//
// A FaultyCache is a [qsessions.ConditionalCache] whose Conditional reports
// whether the wrapped cache is one that writes conditionally; its Add and
// CompareAndSwap are writes, and fail with OpSet.
type FaultyCache struct {
	cache qsessions.Cache

	mu       sync.Mutex
	failing  Op
	after    bool // failures reach the wrapped cache first
	injected int
}

var _ qsessions.ConditionalCache = (*FaultyCache)(nil)

// NewFaultyCache returns a healthy FaultyCache over c.
func NewFaultyCache(c qsessions.Cache) *FaultyCache {
	return &FaultyCache{cache: c}
}

// Fail makes the operations in ops fail from now on, without reaching the
// wrapped cache, and the others succeed. Fail(OpAll) takes the cache down;
// Fail(OpNone) heals it.
func (f *FaultyCache) Fail(ops Op) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing, f.after = ops, false
}

// FailAfter makes the operations in ops reach the wrapped cache and then
// report failure, as a call that times out after the cache applied it does,
// and the others succeed.
func (f *FaultyCache) FailAfter(ops Op) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing, f.after = ops, true
}

// Injected returns how many calls have failed through Fail or FailAfter.
func (f *FaultyCache) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// Unwrap returns the wrapped Cache.
func (f *FaultyCache) Unwrap() qsessions.Cache { return f.cache }

// fault reports whether the call op fails, and whether it reaches the
// wrapped cache first.
func (f *FaultyCache) fault(op Op) (fail, after bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing&op == 0 {
		return false, false
	}
	f.injected++
	return true, f.after
}

// Get returns the wrapped cache's value, or an injected failure.
func (f *FaultyCache) Get(ctx context.Context, key string) ([]byte, error) {
	fail, after := f.fault(OpGet)
	if !fail {
		return f.cache.Get(ctx, key)
	}
	if after {
		f.cache.Get(ctx, key)
	}
	return nil, fmt.Errorf("get %q: %w", key, ErrInjected)
}

// Set stores the value in the wrapped cache, or returns an injected failure.
func (f *FaultyCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	fail, after := f.fault(OpSet)
	if !fail {
		return f.cache.Set(ctx, key, value, ttl)
	}
	if after {
		f.cache.Set(ctx, key, value, ttl)
	}
	return fmt.Errorf("set %q: %w", key, ErrInjected)
}

// Delete removes the keys from the wrapped cache, or returns an injected
// failure.
func (f *FaultyCache) Delete(ctx context.Context, keys ...string) error {
	fail, after := f.fault(OpDelete)
	if !fail {
		return f.cache.Delete(ctx, keys...)
	}
	if after {
		f.cache.Delete(ctx, keys...)
	}
	return fmt.Errorf("delete %q: %w", keys, ErrInjected)
}

// Conditional reports whether the wrapped cache writes conditionally.
func (f *FaultyCache) Conditional() bool {
	cc, ok := f.cache.(qsessions.ConditionalCache)
	return ok && cc.Conditional()
}

// Add adds the value to the wrapped cache, or returns an injected failure.
// It returns an error wrapping errors.ErrUnsupported when the wrapped cache
// does not write conditionally.
func (f *FaultyCache) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	cc, ok := f.cache.(qsessions.ConditionalCache)
	if !ok {
		return false, fmt.Errorf("add %q: %w", key, errors.ErrUnsupported)
	}
	fail, after := f.fault(OpSet)
	if !fail {
		return cc.Add(ctx, key, value, ttl)
	}
	if after {
		cc.Add(ctx, key, value, ttl)
	}
	return false, fmt.Errorf("add %q: %w", key, ErrInjected)
}

// CompareAndSwap swaps the value in the wrapped cache, or returns an
// injected failure. It returns an error wrapping errors.ErrUnsupported when
// the wrapped cache does not write conditionally.
func (f *FaultyCache) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	cc, ok := f.cache.(qsessions.ConditionalCache)
	if !ok {
		return false, fmt.Errorf("compare and swap %q: %w", key, errors.ErrUnsupported)
	}
	fail, after := f.fault(OpSet)
	if !fail {
		return cc.CompareAndSwap(ctx, key, old, value, ttl)
	}
	if after {
		cc.CompareAndSwap(ctx, key, old, value, ttl)
	}
	return false, fmt.Errorf("compare and swap %q: %w", key, ErrInjected)
}
