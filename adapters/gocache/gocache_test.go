package gocache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eko/gocache/lib/v4/codec"
	"github.com/eko/gocache/lib/v4/store"
	gocachestore "github.com/eko/gocache/store/go_cache/v4"
	redisstore "github.com/eko/gocache/store/redis/v4"
	ristrettostore "github.com/eko/gocache/store/ristretto/v4"
	gocache "github.com/patrickmn/go-cache"
	"github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	adapter "github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/internal/redistest"
)

func TestNewNilBackend(t *testing.T) {
	c, err := adapter.New(nil, nil)
	if err == nil || c != nil {
		t.Fatalf("New(nil) = %v, %v; want nil and an error", c, err)
	}
}

func TestMiss(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c, _, _ := newCache(t, b)
		ctx := context.Background()
		if _, err := c.Get(ctx, "never-set"); !errors.Is(err, qsessions.ErrCacheMiss) {
			t.Fatalf("Get of a key never set: err = %v, want ErrCacheMiss", err)
		}
		if err := c.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(ctx, "k"); !errors.Is(err, qsessions.ErrCacheMiss) {
			t.Fatalf("Get after Delete = %q, %v; want ErrCacheMiss", v, err)
		}
	})
}

func TestValues(t *testing.T) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	values := map[string][]byte{
		"text":   []byte("hello"),
		"binary": binary,
		"empty":  {},
		"nil":    nil,
		"large":  bytes.Repeat([]byte("x"), 1<<20),
	}
	eachBackend(t, func(t *testing.T, b backend) {
		c, _, _ := newCache(t, b)
		ctx := context.Background()
		for name, v := range values {
			if err := c.Set(ctx, name, v, time.Hour); err != nil {
				t.Fatalf("Set(%s): %v", name, err)
			}
		}
		for name, v := range values {
			got, err := c.Get(ctx, name)
			if err != nil {
				t.Fatalf("Get(%s): %v", name, err)
			}
			if got == nil {
				t.Errorf("Get(%s) = nil; a present key must come back non-nil", name)
			}
			if !bytes.Equal(got, v) {
				t.Errorf("Get(%s) = %d bytes, want %d bytes", name, len(got), len(v))
			}
		}
	})
}

// Stores may hold strings (the Redis store always returns them); both
// forms come back as the bytes that were stored, "" as an empty non-nil
// slice.
func TestStringValues(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c, s, prefix := newCache(t, b)
		ctx := context.Background()
		for _, v := range []string{"a string", ""} {
			if err := s.Set(ctx, prefix+"k", v, store.WithExpiration(time.Hour), store.WithCost(1), store.WithSynchronousSet()); err != nil {
				t.Fatal(err)
			}
			got, err := c.Get(ctx, "k")
			if err != nil {
				t.Fatalf("Get of string %q: %v", v, err)
			}
			if got == nil || string(got) != v {
				t.Errorf("Get of string %q = %#v", v, got)
			}
		}
	})
}

// An entry of another type, written by someone else, is a miss, not an
// empty value.
func TestOtherTypeIsMiss(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		if b.redis {
			t.Skip("Redis stores every value as a string")
		}
		c, s, prefix := newCache(t, b)
		ctx := context.Background()
		if err := s.Set(ctx, prefix+"k", 42, store.WithExpiration(time.Hour), store.WithCost(1), store.WithSynchronousSet()); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(ctx, "k"); !errors.Is(err, qsessions.ErrCacheMiss) {
			t.Fatalf("Get of an int = %v, %v; want ErrCacheMiss", v, err)
		}
	})
}

func TestOverwrite(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c, _, _ := newCache(t, b)
		ctx := context.Background()
		for _, v := range []string{"one", "two", ""} {
			if err := c.Set(ctx, "k", []byte(v), time.Hour); err != nil {
				t.Fatal(err)
			}
			got, err := c.Get(ctx, "k")
			if err != nil || string(got) != v {
				t.Fatalf("Get after Set(%q) = %q, %v", v, got, err)
			}
		}
	})
}

func TestTTLExpires(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c, _, _ := newCache(t, b)
		ctx := context.Background()
		const ttl = 100 * time.Millisecond
		start := time.Now()
		if err := c.Set(ctx, "k", []byte("v"), ttl); err != nil {
			t.Fatal(err)
		}
		// (On a loaded machine the TTL may be over before Get runs.)
		if _, err := c.Get(ctx, "k"); err != nil && time.Since(start) < ttl {
			t.Fatalf("Get before the TTL elapsed: %v", err)
		}
		time.Sleep(ttl + 50*time.Millisecond)
		if v, err := c.Get(ctx, "k"); !errors.Is(err, qsessions.ErrCacheMiss) {
			t.Fatalf("Get after the TTL elapsed = %q, %v; want ErrCacheMiss", v, err)
		}
	})
}

// A ttl of zero or less means no expiry, also for a key that had one. The
// go-cache backend has a default expiration of 1ms, which catches an
// expiration of 0 passed to it.
func TestNoExpiry(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c, _, _ := newCache(t, b)
		ctx := context.Background()
		for _, ttl := range []time.Duration{0, -1, -time.Hour} {
			key := fmt.Sprint("k", ttl)
			if err := c.Set(ctx, key, []byte("v"), 50*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if err := c.Set(ctx, key, []byte("v"), ttl); err != nil {
				t.Fatalf("Set with ttl %v: %v", ttl, err)
			}
		}
		time.Sleep(100 * time.Millisecond)
		for _, ttl := range []time.Duration{0, -1, -time.Hour} {
			if _, err := c.Get(ctx, fmt.Sprint("k", ttl)); err != nil {
				t.Errorf("entry set with ttl %v: %v", ttl, err)
			}
		}
	})
}

// In Redis, a ttl of zero or less leaves the key without a TTL: not 0
// (which is "default" elsewhere) sent as KEEPTTL, nor an error.
func TestRedisNoExpiryHasNoTTL(t *testing.T) {
	client := redisClient(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { redistest.DeleteKeys(t, client, prefix) })
	c, err := adapter.New(redisstore.NewRedis(client), &adapter.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if ttl := client.PTTL(ctx, prefix+"k").Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("PTTL after Set with 1h = %v", ttl)
	}
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := c.Set(ctx, "k", []byte("v"), ttl); err != nil {
			t.Fatal(err)
		}
		if got := client.PTTL(ctx, prefix+"k").Val(); got != -1 {
			t.Fatalf("PTTL after Set with ttl %v = %v, want -1 (no expiry)", ttl, got)
		}
		if err := c.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCopies(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c, _, _ := newCache(t, b)
		ctx := context.Background()
		v := []byte("original")
		if err := c.Set(ctx, "k", v, time.Hour); err != nil {
			t.Fatal(err)
		}
		copy(v, "MUTATED!")
		got, err := c.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "original" {
			t.Fatalf("after mutating the Set argument, Get = %q", got)
		}
		copy(got, "MUTATED!")
		again, err := c.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != "original" {
			t.Fatalf("after mutating a Get result, Get = %q", again)
		}
	})
}

func TestDeleteMany(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c, _, _ := newCache(t, b)
		ctx := context.Background()
		for _, k := range []string{"a", "b", "c"} {
			if err := c.Set(ctx, k, []byte(k), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Delete(ctx, "a", "missing", "b"); err != nil {
			t.Fatalf("Delete with a missing key: %v", err)
		}
		if err := c.Delete(ctx); err != nil {
			t.Fatalf("Delete of no keys: %v", err)
		}
		for k, want := range map[string]bool{"a": false, "b": false, "c": true} {
			_, err := c.Get(ctx, k)
			if got := err == nil; got != want {
				t.Errorf("%s present = %v, want %v (err %v)", k, got, want, err)
			}
		}
	})
}

func TestCancelledContext(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c, _, _ := newCache(t, b)
		ctx := context.Background()
		if err := c.Set(ctx, "k", []byte("old"), time.Hour); err != nil {
			t.Fatal(err)
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := c.Get(cancelled, "k"); !errors.Is(err, context.Canceled) {
			t.Errorf("Get: err = %v, want context.Canceled", err)
		}
		if err := c.Set(cancelled, "k", []byte("new"), time.Hour); !errors.Is(err, context.Canceled) {
			t.Errorf("Set: err = %v, want context.Canceled", err)
		}
		if err := c.Set(cancelled, "other", []byte("new"), time.Hour); !errors.Is(err, context.Canceled) {
			t.Errorf("Set: err = %v, want context.Canceled", err)
		}
		if err := c.Delete(cancelled, "k"); !errors.Is(err, context.Canceled) {
			t.Errorf("Delete: err = %v, want context.Canceled", err)
		}
		expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel2()
		if err := c.Set(expired, "k", []byte("new"), time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Set with an expired ctx: err = %v, want context.DeadlineExceeded", err)
		}
		got, err := c.Get(ctx, "k")
		if err != nil || string(got) != "old" {
			t.Errorf("after cancelled calls, Get = %q, %v; want the old value", got, err)
		}
		if _, err := c.Get(ctx, "other"); !errors.Is(err, qsessions.ErrCacheMiss) {
			t.Errorf("a cancelled Set wrote a new key: err = %v", err)
		}
	})
}

func TestPrefixIsolates(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s, opts := b.open(t)
		prefix := opts.Prefix
		optsA, optsB := opts, opts
		optsA.Prefix, optsB.Prefix = prefix+"a:", prefix+"b:"
		a, _ := adapter.New(s, &optsA)
		bb, _ := adapter.New(s, &optsB)
		ctx := context.Background()
		if err := a.Set(ctx, "k", []byte("from a"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := bb.Get(ctx, "k"); !errors.Is(err, qsessions.ErrCacheMiss) {
			t.Fatalf("b sees a's key: err = %v", err)
		}
		raw, err := s.Get(ctx, prefix+"a:k")
		if err != nil {
			t.Fatalf("raw store Get of the prefixed key: %v", err)
		}
		if fmt.Sprintf("%s", raw) != "from a" {
			t.Fatalf("raw value = %q", raw)
		}
		if err := bb.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Get(ctx, "k"); err != nil {
			t.Fatalf("b's Delete removed a's key: %v", err)
		}
	})
}

func TestConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c, _, _ := newCache(t, b)
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				for i := range 100 {
					key := fmt.Sprint("k", i%10)
					want := fmt.Sprint(g, ":", i)
					if err := c.Set(ctx, key, []byte(want), time.Hour); err != nil {
						errs <- err
						return
					}
					v, err := c.Get(ctx, key)
					if err != nil && !errors.Is(err, qsessions.ErrCacheMiss) {
						errs <- err
						return
					}
					if err == nil && !strings.Contains(string(v), ":") {
						errs <- fmt.Errorf("Get(%s) = %q: not a value any writer set", key, v)
						return
					}
					if i%7 == 0 {
						if err := c.Delete(ctx, key); err != nil {
							errs <- err
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// fakeBackend returns fixed results, to check error translation, and
// records the expirations it is given.
type fakeBackend struct {
	typ         string
	getValue    any
	getErr      error
	setErr      error
	delErr      error
	expirations []time.Duration
}

func (f *fakeBackend) Get(context.Context, any) (any, error) { return f.getValue, f.getErr }
func (f *fakeBackend) Set(_ context.Context, _, _ any, opts ...store.Option) error {
	f.expirations = append(f.expirations, store.ApplyOptions(opts...).Expiration)
	return f.setErr
}
func (f *fakeBackend) Delete(context.Context, any) error { return f.delErr }
func (f *fakeBackend) GetType() string                   { return f.typ }

func TestErrorTranslation(t *testing.T) {
	boom := errors.New("connection refused")
	for _, tc := range []struct {
		name     string
		err      error
		wantMiss bool
	}{
		{"NotFoundWithCause", store.NotFoundWithCause(errors.New("x")), true},
		{"NotFoundValue", store.NotFound{}, true},
		{"WrappedNotFound", fmt.Errorf("layer: %w", store.NotFoundWithCause(redis.Nil)), true},
		{"BareRedisNil", redis.Nil, true},
		{"WrappedRedisNil", fmt.Errorf("custom store: %w", redis.Nil), true},
		{"JoinedRedisNil", errors.Join(errors.New("a"), redis.Nil), true},
		{"OtherError", boom, false},
		{"ContextError", context.DeadlineExceeded, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := adapter.New(&fakeBackend{typ: "fake", getErr: tc.err, delErr: tc.err}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			_, err = c.Get(ctx, "k")
			if got := errors.Is(err, qsessions.ErrCacheMiss); got != tc.wantMiss {
				t.Fatalf("Get: err = %v; is ErrCacheMiss = %v, want %v", err, got, tc.wantMiss)
			}
			if !tc.wantMiss && !errors.Is(err, tc.err) {
				t.Fatalf("Get: err = %v does not wrap %v", err, tc.err)
			}
			err = c.Delete(ctx, "k")
			if tc.wantMiss && err != nil {
				t.Fatalf("Delete of a missing key: %v", err)
			}
			if !tc.wantMiss && !errors.Is(err, tc.err) {
				t.Fatalf("Delete: err = %v, want it to wrap %v", err, tc.err)
			}
		})
	}
	t.Run("NilValue", func(t *testing.T) {
		c, _ := adapter.New(&fakeBackend{}, nil)
		if v, err := c.Get(context.Background(), "k"); !errors.Is(err, qsessions.ErrCacheMiss) {
			t.Fatalf("Get of a nil value = %v, %v; want ErrCacheMiss", v, err)
		}
	})
	t.Run("SetError", func(t *testing.T) {
		c, _ := adapter.New(&fakeBackend{setErr: boom}, nil)
		if err := c.Set(context.Background(), "k", nil, 0); !errors.Is(err, boom) {
			t.Fatalf("Set: err = %v, want it to wrap %v", err, boom)
		}
	})
}

// fakeRistretto stands in for a *ristretto.Cache behind the real ristretto
// store, to see what the adapter asks of it.
type fakeRistretto struct {
	mu     sync.Mutex
	refuse bool
	costs  []int64
	ttls   []time.Duration
	waits  int
}

func (f *fakeRistretto) Get(any) (any, bool)              { return nil, false }
func (f *fakeRistretto) GetTTL(any) (time.Duration, bool) { return 0, false }
func (f *fakeRistretto) Del(any)                          {}
func (f *fakeRistretto) Clear()                           {}
func (f *fakeRistretto) Wait()                            { f.mu.Lock(); f.waits++; f.mu.Unlock() }
func (f *fakeRistretto) SetWithTTL(_, _ any, cost int64, ttl time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.costs = append(f.costs, cost)
	f.ttls = append(f.ttls, ttl)
	return !f.refuse
}

func TestRistrettoOptions(t *testing.T) {
	ctx := context.Background()
	f := &fakeRistretto{}
	c, err := adapter.New(ristrettostore.NewRistretto(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"12345", ""} {
		if err := c.Set(ctx, "key", []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Set(ctx, "key", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if want := []int64{5, 1, 1}; fmt.Sprint(f.costs) != fmt.Sprint(want) {
		t.Errorf("default costs = %v, want %v (len(value), at least 1)", f.costs, want)
	}
	if want := []time.Duration{0, 0, time.Minute}; fmt.Sprint(f.ttls) != fmt.Sprint(want) {
		t.Errorf("ttls = %v, want %v (ristretto: 0 is no expiry, <0 a refusal)", f.ttls, want)
	}
	if f.waits != 3 {
		t.Errorf("Wait called %d times for 3 Sets, want 3 (synchronous sets)", f.waits)
	}

	f = &fakeRistretto{}
	c, _ = adapter.New(ristrettostore.NewRistretto(f), &adapter.Options{
		Cost: func(key string, value []byte) int64 { return int64(len(key) * 100) },
	})
	if err := c.Set(ctx, "key", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(f.costs) != "[300]" {
		t.Errorf("costs with Options.Cost = %v, want [300]", f.costs)
	}
}

// Ristretto's own error for a refused write quotes the value, a session
// record; the adapter's must not.
func TestRistrettoDropped(t *testing.T) {
	c, err := adapter.New(ristrettostore.NewRistretto(&fakeRistretto{refuse: true}), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Set(context.Background(), "key", []byte("SECRET-SESSION-DATA"), time.Hour)
	if !errors.Is(err, adapter.ErrDropped) {
		t.Fatalf("Set refused by ristretto: err = %v, want ErrDropped", err)
	}
	if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "83 69 67") {
		t.Fatalf("error quotes the value: %v", err)
	}
}

// typedCache mimics cache.New[any](s): a Backend of type "cache" whose
// codec leads to the real store.
type typedCache struct {
	adapter.Backend
	codec codec.CodecInterface
}

func (c typedCache) GetType() string                { return "cache" }
func (c typedCache) GetCodec() codec.CodecInterface { return c.codec }

// Behind cache.New[any], go-cache is still recognised, and a ttl of zero
// still means no expiry rather than go-cache's default expiration.
func TestGoCacheBehindCache(t *testing.T) {
	s := gocachestore.NewGoCache(gocache.New(time.Millisecond, 0))
	c, err := adapter.New(typedCache{Backend: s, codec: codec.New(s)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatalf("entry set with ttl 0 behind cache.New: %v", err)
	}
}

// The expiration each kind of store is given for a ttl.
func TestExpirations(t *testing.T) {
	const month = 30 * 24 * time.Hour
	ttls := []time.Duration{0, -time.Second, time.Nanosecond, 1500 * time.Millisecond, time.Hour, 40 * 24 * time.Hour, 1<<63 - 1}
	for typ, want := range map[string][]time.Duration{
		// go-cache: 0 would be its default expiration, -1 is never.
		"go-cache": {-1, -1, time.Nanosecond, 1500 * time.Millisecond, time.Hour, 40 * 24 * time.Hour, 1<<63 - 1},
		// memcache: whole seconds, rounded up, at most 30 days.
		"memcache": {0, 0, time.Second, 2 * time.Second, time.Hour, month, month},
		// Redis, ristretto, anything else: 0 is never, the rest as given.
		"redis": {0, 0, time.Nanosecond, 1500 * time.Millisecond, time.Hour, 40 * 24 * time.Hour, 1<<63 - 1},
	} {
		f := &fakeBackend{typ: typ}
		c, err := adapter.New(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, ttl := range ttls {
			if err := c.Set(context.Background(), "k", nil, ttl); err != nil {
				t.Fatal(err)
			}
		}
		if fmt.Sprint(f.expirations) != fmt.Sprint(want) {
			t.Errorf("%s: expirations for %v\n = %v\nwant %v", typ, ttls, f.expirations, want)
		}
	}
}
