// Package gocache is a [qsessions.Cache] over any store of
// github.com/eko/gocache/lib/v4: the in-process go-cache and ristretto
// stores, Redis, memcache, or a cache.New[any] of any of them. Call [New]
// with the store and pass the result to qsessions.New:
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	cache, err := gocache.New(redisstore.NewRedis(client), &gocache.Options{Prefix: "myapp:"})
//	if err != nil { ... }
//	st, err := qsessions.New(cache, persister, nil)
//
// The package itself imports only gocache's lib/v4 store and codec
// packages, so it builds everywhere qsessions does, WebAssembly included;
// the store you choose brings its own dependencies.
//
// # Values
//
// Entries are written as []byte. Stores that hand back strings (the Redis
// store does) are read as well, so a present key never comes back empty:
// an entry set to an empty value is returned as an empty, non-nil slice,
// distinct from a miss. An entry of any other type (written by something
// else under the same key) is reported as a miss. Values are copied on the
// way in and out, so callers may mutate them.
//
// Wrap stores with cache.New[any], never cache.New[[]byte]: the typed cache
// turns a Redis string into a nil slice, which [New] cannot tell from an
// empty value. The [Backend] interface accepts only the any-typed forms.
//
// # Misses
//
// Each store reports a missing key its own way: go-cache and ristretto
// return a *store.NotFound, the Redis store a *store.NotFound whose cause
// is redis.Nil. All of them, and a bare redis.Nil from a custom store, are
// translated into an error wrapping [qsessions.ErrCacheMiss]. Any other
// store error is returned wrapped with %w; the qsessions Store logs it and
// falls back to its Persister.
//
// # Expiry
//
// A positive ttl is passed with store.WithExpiration. A ttl of zero or less
// means the entry does not expire: the Redis, ristretto and memcache
// stores read an expiration of 0 that way (Redis reads -1 as KEEPTTL,
// ristretto refuses it), but go-cache reads 0 as "the default expiration
// given to go-cache's New", so for go-cache the adapter passes go-cache's
// NoExpiration (-1) instead. Memcached counts whole seconds and reads more
// than 30 days as a date, so for memcache a positive ttl is rounded up to
// a second and capped at 30 days. The adapter recognises the store by its
// GetType, also behind cache.New[any]; behind a chain cache it cannot, and
// passes the ttl as is and 0 for no expiry: give a chained go-cache
// NoExpiration as its default.
//
// # Ristretto
//
// Ristretto applies writes asynchronously and charges every entry a cost.
// The adapter passes store.WithSynchronousSet, so a Get right after a Set
// finds the entry, and store.WithCost with [Options.Cost] (the value's
// length by default). Ristretto may still drop a write when its buffers
// are full or its admission policy refuses the entry: Set then returns an
// error wrapping [ErrDropped] (which, unlike ristretto's own, does not
// quote the value), and
// the next Get is a miss, which the Store handles like any other.
//
// # Tags
//
// The adapter does not use gocache's tags. The Cache interface does not
// carry the user a key belongs to, so there is nothing to tag entries
// with; the Store's RevokeUser lists the user's sessions from the
// Persister and evicts their cache entries by ID.
package gocache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eko/gocache/lib/v4/codec"
	"github.com/eko/gocache/lib/v4/store"
	"github.com/qsessions/qsessions"
)

var _ qsessions.Cache = (*Cache)(nil)

// ErrDropped reports that the store refused a write without failing:
// ristretto does so when its buffers are full or its admission policy
// turns the entry away. The entry is simply not cached.
var ErrDropped = errors.New("gocache: the store dropped the entry")

// A Backend is what [Cache] uses of gocache: the methods that
// store.StoreInterface and cache.CacheInterface[any] have in common. Every
// gocache store and every cache.New[any], chain and loadable cache over
// them satisfy it.
type Backend interface {
	Get(ctx context.Context, key any) (any, error)
	Set(ctx context.Context, key any, value any, options ...store.Option) error
	Delete(ctx context.Context, key any) error
	GetType() string
}

var _ Backend = store.StoreInterface(nil)

// Options configure a [Cache]. The zero value is ready to use.
type Options struct {
	// Prefix is prepended to every key, to share one store between
	// applications (or tests) without collisions. Default: none.
	Prefix string

	// Cost returns the cost charged for an entry, passed with
	// store.WithCost. Only ristretto uses costs; they are counted against
	// its MaxCost. Default: len(value), and at least 1.
	Cost func(key string, value []byte) int64
}

// A Cache is a [qsessions.Cache] over a gocache [Backend]. It is safe for
// concurrent use when its Backend is, which every gocache store is.
type Cache struct {
	b        Backend
	prefix   string
	cost     func(key string, value []byte) int64
	noExpiry time.Duration // the expiration that means "never" to b
	memcache bool          // b counts expirations in whole seconds, up to 30 days
}

// goCacheType is go_cache.GoCacheType, spelled out so that this package
// does not import the go-cache store.
const goCacheType = "go-cache"

// goCacheNoExpiration is go-cache's NoExpiration.
const goCacheNoExpiration = -1

// memcacheType is memcache.MemcacheType. Memcached reads an expiration in
// whole seconds, 0 meaning never, and reads one above 30 days as a Unix
// time.
const memcacheType = "memcache"

const memcacheMaxExpiration = 30 * 24 * time.Hour

// New returns a Cache over b. A nil opts means the defaults.
func New(b Backend, opts *Options) (*Cache, error) {
	if b == nil {
		return nil, errors.New("gocache: New: nil Backend")
	}
	if opts == nil {
		opts = &Options{}
	}
	c := &Cache{b: b, prefix: opts.Prefix, cost: opts.Cost}
	if c.cost == nil {
		c.cost = defaultCost
	}
	switch storeType(b) {
	case goCacheType:
		c.noExpiry = goCacheNoExpiration
	case memcacheType:
		c.memcache = true
	}
	return c, nil
}

func defaultCost(_ string, value []byte) int64 {
	return max(int64(len(value)), 1)
}

// storeType returns the type of the store behind b, looking through
// cache.New[any].
func storeType(b Backend) string {
	if c, ok := b.(interface{ GetCodec() codec.CodecInterface }); ok {
		if cd := c.GetCodec(); cd != nil {
			if s := cd.GetStore(); s != nil {
				return s.GetType()
			}
		}
	}
	return b.GetType()
}

// Get returns a copy of the value stored under key, or an error wrapping
// [qsessions.ErrCacheMiss] when the store has no entry for it.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gocache: get %q: %w", key, err)
	}
	v, err := c.b.Get(ctx, c.prefix+key)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("gocache: %q: %w", key, qsessions.ErrCacheMiss)
		}
		return nil, fmt.Errorf("gocache: get %q: %w", key, err)
	}
	switch v := v.(type) {
	case []byte:
		return append(make([]byte, 0, len(v)), v...), nil
	case string:
		return []byte(v), nil // never nil, even for ""
	case nil:
		return nil, fmt.Errorf("gocache: %q holds nil: %w", key, qsessions.ErrCacheMiss)
	default:
		return nil, fmt.Errorf("gocache: %q holds a %T, not []byte or string: %w", key, v, qsessions.ErrCacheMiss)
	}
}

// Set stores a copy of value under key. A ttl of zero or less means the
// entry does not expire.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gocache: set %q: %w", key, err)
	}
	v := append(make([]byte, 0, len(value)), value...)
	err := c.b.Set(ctx, c.prefix+key, v,
		store.WithExpiration(c.expiration(ttl)),
		store.WithCost(c.cost(key, value)),
		store.WithSynchronousSet(),
	)
	if err != nil {
		if strings.HasPrefix(err.Error(), ristrettoDropped) {
			// Ristretto's message quotes the value: a session record,
			// which must not end up in logs.
			return fmt.Errorf("gocache: set %q: %w", key, ErrDropped)
		}
		return fmt.Errorf("gocache: set %q: %w", key, err)
	}
	return nil
}

// expiration returns the store expiration for ttl.
func (c *Cache) expiration(ttl time.Duration) time.Duration {
	switch {
	case ttl <= 0:
		return c.noExpiry
	case c.memcache:
		// Round up, so that a ttl under a second does not become 0
		// (never); cap at 30 days, which memcached would read as a
		// time in 1970. The Store checks each session's expiry on
		// every hit, so a shorter cache entry is harmless.
		if ttl >= memcacheMaxExpiration {
			return memcacheMaxExpiration
		}
		return (ttl + time.Second - 1).Truncate(time.Second)
	default:
		return ttl
	}
}

// ristrettoDropped opens the error the ristretto store returns when
// ristretto refuses a write.
const ristrettoDropped = "An error has occurred while setting value"

// Delete removes the given keys; missing keys are not an error. It stops
// at the first key that fails and returns that error.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gocache: delete: %w", err)
	}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gocache: delete %q: %w", k, err)
		}
		if err := c.b.Delete(ctx, c.prefix+k); err != nil && !isNotFound(err) {
			return fmt.Errorf("gocache: delete %q: %w", k, err)
		}
	}
	return nil
}

// isNotFound reports whether err is how a gocache store says a key is
// missing: a store.NotFound, or go-redis's redis.Nil (matched by its text,
// so that this package does not import go-redis).
func isNotFound(err error) bool {
	var nf *store.NotFound
	var nfv store.NotFound
	if errors.As(err, &nf) || errors.As(err, &nfv) {
		return true
	}
	return isRedisNil(err)
}

func isRedisNil(err error) bool {
	if err == nil {
		return false
	}
	if err.Error() == "redis: nil" {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return isRedisNil(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if isRedisNil(e) {
				return true
			}
		}
	}
	return false
}
