// Package gocache is a [qsessions.Cache] over any store of
// github.com/eko/gocache/lib/v4: the in-process go-cache and ristretto
// stores, Redis, memcache, or a cache.New[any] of any of them. Call [New]
// with the store and pass the result to qsessions.New; for Redis, call
// [NewRedis] with the go-redis client, which also gives the Cache its
// conditional writes:
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	cache, err := gocache.NewRedis(client, &gocache.Options{Prefix: "myapp:"})
//	if err != nil { ... }
//	st, err := qsessions.New(cache, persister, nil)
//
// The package imports gocache's lib/v4 and its Redis store, and go-redis,
// all of which build everywhere qsessions does, WebAssembly included; the
// other stores bring their own dependencies.
//
// # Conditional writes
//
// A Cache is a [qsessions.ConditionalCache]. Its Add and CompareAndSwap let
// the Store take a lease on a cache miss, so that no copy of a session older
// than the Persister's, and none of a revoked session, enters the cache.
// Whether they are available depends on the store, and [Cache.Conditional]
// says so:
//
//   - go-cache and ristretto, also behind cache.New[any]: available. The
//     Cache serialises every write of a key (Set, Delete, Add,
//     CompareAndSwap) under a lock of its own, one of 64 picked by the
//     key's hash, so that a conditional write is atomic against every other
//     write through the same Cache. Writes that bypass it (the store used
//     directly, or through a second Cache) are not covered: give all the
//     Stores of a process the one Cache. Ristretto may still drop an entry
//     that Add reported written; the Store's lease then fails, as after an
//     eviction.
//   - Redis: available when the Cache has the go-redis client under the
//     store, which gocache's Redis store does not expose: create the Cache
//     with [NewRedis], or pass the client in [Options.Redis]. Add is a SET
//     NX, with PX for a positive ttl; CompareAndSwap is a Lua script (EVALSHA,
//     falling back to EVAL) that compares the bytes and sets the new value
//     with its TTL. Both are atomic on the server, against every process
//     sharing it. Without the client, Conditional reports false.
//   - memcache, chain, loadable and metric caches, and any other store:
//     not available. Conditional reports false, and Add and CompareAndSwap
//     return an error wrapping [errors.ErrUnsupported].
//
// A Cache without conditional writes still works, as a plain
// [qsessions.Cache], with the weaker guarantee the Store documents for one
// (see [qsessions.ConditionalCache]): a cache refill that races a write or a
// revocation can expose the copy it read for the time of one Persister read.
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
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/eko/gocache/lib/v4/codec"
	"github.com/eko/gocache/lib/v4/store"
	redisstore "github.com/eko/gocache/store/redis/v4"
	"github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
)

var _ qsessions.ConditionalCache = (*Cache)(nil)

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

	// Redis is the go-redis client under the gocache Redis store given to
	// [New]: with it, Add and CompareAndSwap run on the server (see
	// "Conditional writes"). It must reach the same server or cluster as
	// the store. Only for a Redis store: New refuses it for any other.
	// [NewRedis] sets it. Default: none, and no conditional writes on Redis.
	Redis RedisClient
}

// A RedisClient is what a [Cache] uses of a go-redis client for conditional
// writes: SET NX and Lua scripts. *redis.Client, *redis.ClusterClient,
// *redis.Ring and every redis.UniversalClient satisfy it.
type RedisClient interface {
	redis.Scripter
	SetNX(ctx context.Context, key string, value any, expiration time.Duration) *redis.BoolCmd
}

// A Cache is a [qsessions.ConditionalCache] over a gocache [Backend]. It is
// safe for concurrent use when its Backend is, which every gocache store
// is. Its conditional writes are available over some stores only: see
// "Conditional writes".
type Cache struct {
	b        Backend
	typ      string // the store's type, as its GetType reports it
	prefix   string
	cost     func(key string, value []byte) int64
	noExpiry time.Duration // the expiration that means "never" to b
	memcache bool          // b counts expirations in whole seconds, up to 30 days

	// Conditional writes: one of the two is set when they are available.
	locks *keyLocks     // an in-process store: every write of a key holds its lock
	redis RedisClient   // Redis: writes on the server
	cas   *redis.Script // Redis: the compare-and-swap script
}

// goCacheType is go_cache.GoCacheType, spelled out so that this package
// does not import the go-cache store.
const goCacheType = "go-cache"

// goCacheNoExpiration is go-cache's NoExpiration.
const goCacheNoExpiration = -1

// ristrettoType and redisType are ristretto.RistrettoType and
// redis.RedisType.
const (
	ristrettoType = "ristretto"
	redisType     = redisstore.RedisType
)

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
	c := &Cache{b: b, typ: storeType(b), prefix: opts.Prefix, cost: opts.Cost}
	if c.cost == nil {
		c.cost = defaultCost
	}
	switch c.typ {
	case goCacheType:
		c.noExpiry = goCacheNoExpiration
		c.locks = newKeyLocks()
	case ristrettoType:
		c.locks = newKeyLocks()
	case memcacheType:
		c.memcache = true
	}
	if opts.Redis != nil {
		if c.typ != redisType {
			return nil, fmt.Errorf("gocache: New: Options.Redis is for a Redis store, and this one is %q", c.typ)
		}
		c.redis = opts.Redis
		c.cas = redis.NewScript(casScript)
	}
	return c, nil
}

// NewRedis returns a Cache over gocache's Redis store on client, with
// conditional writes through the same client: the one-line setup for
// Redis. opts.Redis is ignored; a nil opts means the defaults.
func NewRedis(client redis.UniversalClient, opts *Options) (*Cache, error) {
	if client == nil {
		return nil, errors.New("gocache: NewRedis: nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Redis = client
	return New(redisstore.NewRedis(client), &o)
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
	if m := c.locks.lock(key); m != nil {
		defer m.Unlock()
	}
	if err := c.set(ctx, key, value, ttl); err != nil {
		return fmt.Errorf("gocache: set %q: %w", key, err)
	}
	return nil
}

// set stores a copy of value under key, translating ristretto's refusal
// into ErrDropped.
func (c *Cache) set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	v := append(make([]byte, 0, len(value)), value...)
	err := c.b.Set(ctx, c.prefix+key, v,
		store.WithExpiration(c.expiration(ttl)),
		store.WithCost(c.cost(key, value)),
		store.WithSynchronousSet(),
	)
	if err != nil && strings.HasPrefix(err.Error(), ristrettoDropped) {
		// Ristretto's message quotes the value: a session record, which
		// must not end up in logs.
		return ErrDropped
	}
	return err
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
		if err := c.delete(ctx, k); err != nil && !isNotFound(err) {
			return fmt.Errorf("gocache: delete %q: %w", k, err)
		}
	}
	return nil
}

func (c *Cache) delete(ctx context.Context, key string) error {
	if m := c.locks.lock(key); m != nil {
		defer m.Unlock()
	}
	return c.b.Delete(ctx, c.prefix+key)
}

// Conditional reports whether Add and CompareAndSwap are available: over
// go-cache and ristretto, and over Redis when the Cache has its client (see
// "Conditional writes").
func (c *Cache) Conditional() bool { return c.locks != nil || c.redis != nil }

// Add stores a copy of value under key, as Set does, only when key has no
// live entry, and reports whether it did. Without conditional writes it
// returns an error wrapping [errors.ErrUnsupported].
func (c *Cache) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("gocache: add %q: %w", key, err)
	}
	switch {
	case c.redis != nil:
		added, err := c.redis.SetNX(ctx, c.prefix+key, value, redisTTL(ttl)).Result()
		if err != nil {
			return false, fmt.Errorf("gocache: add %q: %w", key, err)
		}
		return added, nil
	case c.locks != nil:
		defer c.locks.lock(key).Unlock()
		_, found, err := c.lookup(ctx, key)
		if err == nil && !found {
			err = c.set(ctx, key, value, ttl)
		}
		if err != nil {
			return false, fmt.Errorf("gocache: add %q: %w", key, err)
		}
		return !found, nil
	default:
		return false, c.unsupported("add", key)
	}
}

// CompareAndSwap replaces the value under key with a copy of value, as Set
// does, only when the live entry holds exactly old, and reports whether it
// did. Without conditional writes it returns an error wrapping
// [errors.ErrUnsupported].
func (c *Cache) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("gocache: compare and swap %q: %w", key, err)
	}
	switch {
	case c.redis != nil:
		n, err := c.cas.Run(ctx, c.redis, []string{c.prefix + key}, old, value, redisTTL(ttl).Milliseconds()).Int()
		if err != nil {
			return false, fmt.Errorf("gocache: compare and swap %q: %w", key, err)
		}
		return n == 1, nil
	case c.locks != nil:
		defer c.locks.lock(key).Unlock()
		cur, found, err := c.lookup(ctx, key)
		if err != nil {
			return false, fmt.Errorf("gocache: compare and swap %q: %w", key, err)
		}
		if !found || !equal(cur, old) {
			return false, nil
		}
		if err := c.set(ctx, key, value, ttl); err != nil {
			return false, fmt.Errorf("gocache: compare and swap %q: %w", key, err)
		}
		return true, nil
	default:
		return false, c.unsupported("compare and swap", key)
	}
}

// lookup returns the value stored under key, a []byte or a string, without
// copying it; found is false for a miss, as Get reports one.
func (c *Cache) lookup(ctx context.Context, key string) (v any, found bool, err error) {
	v, err = c.b.Get(ctx, c.prefix+key)
	if err != nil {
		if isNotFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	switch v.(type) {
	case []byte, string:
		return v, true, nil
	}
	return nil, false, nil
}

// equal reports whether v, a []byte or a string, holds exactly b.
func equal(v any, b []byte) bool {
	switch v := v.(type) {
	case []byte:
		return bytes.Equal(v, b)
	case string:
		return v == string(b)
	}
	return false
}

func (c *Cache) unsupported(op, key string) error {
	hint := ""
	if c.typ == redisType {
		hint = " without its client (see gocache.NewRedis and Options.Redis)"
	}
	return fmt.Errorf("gocache: %s %q: no conditional writes over a %q store%s: %w", op, key, c.typ, hint, errors.ErrUnsupported)
}

// casScript is CompareAndSwap on Redis: GET, compare the bytes, SET with
// the new TTL in milliseconds, or without one for 0. A missing key's GET
// returns false, which equals no string.
const casScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
	return 0
end
if ARGV[3] == '0' then
	redis.call('SET', KEYS[1], ARGV[2])
else
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`

// redisTTL returns the expiration to give Redis for ttl: 0, no expiry, for
// a ttl of zero or less, and at least the millisecond Redis counts in.
func redisTTL(ttl time.Duration) time.Duration {
	switch {
	case ttl <= 0:
		return 0
	case ttl < time.Millisecond:
		return time.Millisecond
	}
	return ttl
}

// lockStripes is how many locks the keys of an in-process store share.
const lockStripes = 64

// keyLocks serialise the writes of each key to an in-process store, so
// that Add and CompareAndSwap, which read and then write, are atomic
// against every other write through the Cache. Keys share a fixed number
// of locks, picked by hash.
type keyLocks struct {
	seed  maphash.Seed
	locks [lockStripes]struct {
		sync.Mutex
		_ [64 - 8]byte // one lock per cache line
	}
}

func newKeyLocks() *keyLocks { return &keyLocks{seed: maphash.MakeSeed()} }

// lock locks key's lock and returns it; it returns nil, and locks nothing,
// when l is nil.
func (l *keyLocks) lock(key string) *sync.Mutex {
	if l == nil {
		return nil
	}
	m := &l.locks[maphash.String(l.seed, key)%lockStripes].Mutex
	m.Lock()
	return m
}

// isNotFound reports whether err is how a gocache store says a key is
// missing: a store.NotFound, or go-redis's redis.Nil (matched by its text,
// so that a custom store on another major version of go-redis counts too).
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
