package gocache_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eko/gocache/lib/v4/codec"
	"github.com/eko/gocache/lib/v4/store"
	gocachestore "github.com/eko/gocache/store/go_cache/v4"
	redisstore "github.com/eko/gocache/store/redis/v4"
	gocache "github.com/patrickmn/go-cache"
	"github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	adapter "github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/internal/redistest"
)

// Which stores offer conditional writes, by the type they report, also
// behind cache.New[any]; the others report false and fail Add and
// CompareAndSwap with ErrUnsupported without touching the store.
func TestConditionalByStore(t *testing.T) {
	for typ, want := range map[string]bool{
		"go-cache":  true,
		"ristretto": true,
		"redis":     false, // without its client
		"memcache":  false,
		"chain":     false,
		"loadable":  false,
		"metric":    false,
		"rueidis":   false,
		"unknown":   false,
	} {
		t.Run(typ, func(t *testing.T) {
			f := &fakeBackend{typ: typ, getErr: store.NotFoundWithCause(errors.New("missing"))}
			c, err := adapter.New(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Conditional(); got != want {
				t.Fatalf("Conditional() over a %q store = %v, want %v", typ, got, want)
			}
			ctx := context.Background()
			added, addErr := c.Add(ctx, "k", []byte("v"), time.Hour)
			swapped, casErr := c.CompareAndSwap(ctx, "k", []byte("old"), []byte("v"), time.Hour)
			if want {
				if addErr != nil || !added {
					t.Errorf("Add of a missing key = %v, %v; want true, nil", added, addErr)
				}
				if casErr != nil || swapped {
					t.Errorf("CompareAndSwap of a missing key = %v, %v; want false, nil", swapped, casErr)
				}
				return
			}
			for op, err := range map[string]error{"Add": addErr, "CompareAndSwap": casErr} {
				if !errors.Is(err, errors.ErrUnsupported) {
					t.Errorf("%s over a %q store: err = %v, want ErrUnsupported", op, typ, err)
				}
			}
			if added || swapped {
				t.Errorf("Add, CompareAndSwap = %v, %v; want false, false", added, swapped)
			}
			if len(f.expirations) != 0 {
				t.Errorf("an unsupported Add or CompareAndSwap wrote to the store")
			}
		})
	}
	t.Run("BehindCache", func(t *testing.T) {
		s := gocachestore.NewGoCache(gocache.New(gocache.NoExpiration, 0))
		c, err := adapter.New(typedCache{Backend: s, codec: codec.New(s)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Conditional() {
			t.Fatal("Conditional() of go-cache behind cache.New[any] = false, want true")
		}
	})
}

// A Redis store without its client is a plain Cache: Conditional reports
// false, and Add and CompareAndSwap write nothing and say how to fix it.
func TestRedisWithoutClient(t *testing.T) {
	client := redisClient(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { redistest.DeleteKeys(t, client, prefix) })
	c, err := adapter.New(redisstore.NewRedis(client), &adapter.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if c.Conditional() {
		t.Fatal("Conditional() of a Redis store without its client = true, want false")
	}
	ctx := context.Background()
	if err := c.Set(ctx, "present", []byte("old"), time.Hour); err != nil {
		t.Fatal(err)
	}
	added, err := c.Add(ctx, "missing", []byte("v"), time.Hour)
	if added || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Add = %v, %v; want false and ErrUnsupported", added, err)
	}
	if err != nil && !strings.Contains(err.Error(), "NewRedis") {
		t.Errorf("Add's error %q does not say how to pass the client", err)
	}
	swapped, err := c.CompareAndSwap(ctx, "present", []byte("old"), []byte("new"), time.Hour)
	if swapped || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("CompareAndSwap = %v, %v; want false and ErrUnsupported", swapped, err)
	}
	if n := client.Exists(ctx, prefix+"missing").Val(); n != 0 {
		t.Errorf("Add without the client wrote the key")
	}
	if v, err := c.Get(ctx, "present"); err != nil || string(v) != "old" {
		t.Errorf("after CompareAndSwap without the client, Get = %q, %v; want the old value", v, err)
	}
}

func TestNewRedis(t *testing.T) {
	if _, err := adapter.NewRedis(nil, nil); err == nil {
		t.Error("NewRedis(nil) returned no error")
	}
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer client.Close()
	opts := &adapter.Options{Prefix: "app:"}
	c, err := adapter.NewRedis(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Conditional() {
		t.Error("Conditional() of NewRedis = false, want true")
	}
	if opts.Redis != nil {
		t.Error("NewRedis changed the caller's Options")
	}
	// Options.Redis is for a Redis store only.
	_, err = adapter.New(gocachestore.NewGoCache(gocache.New(gocache.NoExpiration, 0)), &adapter.Options{Redis: client})
	if err == nil {
		t.Error("New of a go-cache store with Options.Redis returned no error")
	}
}

// On Redis, Add and CompareAndSwap write under the prefix, give a positive
// ttl as the key's TTL and leave the key without one for a ttl of zero or
// less, as Set does.
func TestRedisConditionalTTL(t *testing.T) {
	client := redisClient(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { redistest.DeleteKeys(t, client, prefix) })
	c, err := adapter.NewRedis(client, &adapter.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pttl := func(key string) time.Duration {
		t.Helper()
		d, err := client.PTTL(ctx, prefix+key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	inHour := func(d time.Duration) bool { return d > 0 && d <= time.Hour }
	for _, ttl := range []time.Duration{0, -time.Second} {
		key := "add" + ttl.String()
		if ok, err := c.Add(ctx, key, []byte("v"), ttl); !ok || err != nil {
			t.Fatalf("Add(%v) = %v, %v", ttl, ok, err)
		}
		if d := pttl(key); d != -1 {
			t.Errorf("PTTL after Add with ttl %v = %v, want -1 (no expiry)", ttl, d)
		}
	}
	if ok, err := c.Add(ctx, "add1h", []byte("v"), time.Hour); !ok || err != nil {
		t.Fatalf("Add(1h) = %v, %v", ok, err)
	}
	if d := pttl("add1h"); !inHour(d) {
		t.Errorf("PTTL after Add with ttl 1h = %v", d)
	}
	// A ttl under Redis's millisecond is a millisecond, not an error.
	if ok, err := c.Add(ctx, "add-tiny", []byte("v"), time.Microsecond); !ok || err != nil {
		t.Errorf("Add(1µs) = %v, %v; want true, nil", ok, err)
	}

	// CompareAndSwap replaces the TTL either way.
	if err := c.Set(ctx, "cas", []byte("v1"), 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.CompareAndSwap(ctx, "cas", []byte("v1"), []byte("v2"), time.Hour); !ok || err != nil {
		t.Fatalf("CompareAndSwap(1h) = %v, %v", ok, err)
	}
	if d := pttl("cas"); !inHour(d) {
		t.Errorf("PTTL after CompareAndSwap with ttl 1h = %v", d)
	}
	if ok, err := c.CompareAndSwap(ctx, "cas", []byte("v2"), []byte("v3"), 0); !ok || err != nil {
		t.Fatalf("CompareAndSwap(0) = %v, %v", ok, err)
	}
	if d := pttl("cas"); d != -1 {
		t.Errorf("PTTL after CompareAndSwap with ttl 0 = %v, want -1 (no expiry)", d)
	}
	if v := client.Get(ctx, prefix+"cas").Val(); v != "v3" {
		t.Errorf("raw value under the prefixed key = %q, want v3", v)
	}
	if n := client.Exists(ctx, "cas", "add1h").Val(); n != 0 {
		t.Errorf("%d keys written without the prefix", n)
	}
}

// scriptCounter counts the script calls a Cache makes through its client.
type scriptCounter struct {
	adapter.RedisClient
	evalSha, eval atomic.Int32
}

func (s *scriptCounter) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	s.evalSha.Add(1)
	return s.RedisClient.EvalSha(ctx, sha1, keys, args...)
}

func (s *scriptCounter) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	s.eval.Add(1)
	return s.RedisClient.Eval(ctx, script, keys, args...)
}

// CompareAndSwap runs its script by hash, and sends it whole only to a
// server that does not know it yet: a server of the test's own, whose
// script cache starts empty.
func TestRedisScriptFallback(t *testing.T) {
	srv := startRedisServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { client.Close() })
	counter := &scriptCounter{RedisClient: client}
	c, err := adapter.New(redisstore.NewRedis(client), &adapter.Options{Redis: counter})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Set(ctx, "k", []byte("v0"), time.Hour); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ evalSha, eval int32 }{{1, 1}, {2, 1}, {3, 1}} {
		old, value := []byte{'v', byte('0' + i)}, []byte{'v', byte('1' + i)}
		if ok, err := c.CompareAndSwap(ctx, "k", old, value, time.Hour); !ok || err != nil {
			t.Fatalf("CompareAndSwap %d = %v, %v", i, ok, err)
		}
		if got := (struct{ evalSha, eval int32 }{counter.evalSha.Load(), counter.eval.Load()}); got != want {
			t.Errorf("after CompareAndSwap %d: %d EVALSHA and %d EVAL; want %d and %d", i, got.evalSha, got.eval, want.evalSha, want.eval)
		}
	}
}

// pausingBackend pauses the Get it is armed for after reading the store, as
// a read that happened just before a concurrent write does.
type pausingBackend struct {
	adapter.Backend
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (p *pausingBackend) Get(ctx context.Context, key any) (any, error) {
	v, err := p.Backend.Get(ctx, key)
	if p.armed.CompareAndSwap(true, false) {
		close(p.entered)
		<-p.release
	}
	return v, err
}

// Over an in-process store, Set and Delete wait for an Add or a
// CompareAndSwap of the same key that has read the key and not yet written
// it; otherwise the conditional write would overwrite them with what it
// decided on a value that is gone. Each case pauses the conditional write
// between its read and its write, lets the plain write run, and checks that
// the plain write has the last word.
func TestLocksSerialiseWrites(t *testing.T) {
	for _, tc := range []struct {
		name    string
		initial string // "": missing
		cond    func(c *adapter.Cache) (bool, error)
		write   func(c *adapter.Cache) error
		want    string // "": missing
	}{
		{
			name: "AddThenSet",
			cond: func(c *adapter.Cache) (bool, error) {
				return c.Add(context.Background(), "k", []byte("lease"), time.Hour)
			},
			write: func(c *adapter.Cache) error { return c.Set(context.Background(), "k", []byte("newer"), time.Hour) },
			want:  "newer",
		},
		{
			name:    "CompareAndSwapThenSet",
			initial: "lease",
			cond: func(c *adapter.Cache) (bool, error) {
				return c.CompareAndSwap(context.Background(), "k", []byte("lease"), []byte("stale"), time.Hour)
			},
			write: func(c *adapter.Cache) error { return c.Set(context.Background(), "k", []byte("newer"), time.Hour) },
			want:  "newer",
		},
		{
			name:    "CompareAndSwapThenDelete",
			initial: "lease",
			cond: func(c *adapter.Cache) (bool, error) {
				return c.CompareAndSwap(context.Background(), "k", []byte("lease"), []byte("stale"), time.Hour)
			},
			write: func(c *adapter.Cache) error { return c.Delete(context.Background(), "other", "k") },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pausingBackend{
				Backend: gocachestore.NewGoCache(gocache.New(gocache.NoExpiration, 0)),
				entered: make(chan struct{}),
				release: make(chan struct{}),
			}
			c, err := adapter.New(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.initial != "" {
				if err := c.Set(ctx, "k", []byte(tc.initial), time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			p.armed.Store(true)
			var wg sync.WaitGroup
			var condErr, writeErr error
			wg.Go(func() { _, condErr = tc.cond(c) })
			<-p.entered
			written := make(chan struct{})
			wg.Go(func() { defer close(written); writeErr = tc.write(c) })
			// A correct Cache blocks the write until the release; give a
			// wrong one the time to finish it first.
			select {
			case <-written:
			case <-time.After(100 * time.Millisecond):
			}
			close(p.release)
			wg.Wait()
			if condErr != nil || writeErr != nil {
				t.Fatalf("errors: %v, %v", condErr, writeErr)
			}
			v, err := c.Get(ctx, "k")
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("Get = %q after the Delete; want a miss: the conditional write outlasted it", v)
			case tc.want == "" && !errors.Is(err, qsessions.ErrCacheMiss):
				t.Errorf("Get: %v", err)
			case tc.want != "" && (err != nil || string(v) != tc.want):
				t.Errorf("Get = %q, %v; want %q: the conditional write outlasted the Set", v, err, tc.want)
			}
		})
	}
}

// Errors of the store reach the caller of Add and CompareAndSwap, and
// values the store holds as strings compare by their bytes.
func TestConditionalStoreErrors(t *testing.T) {
	boom := errors.New("store failure")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		f    *fakeBackend
		op   func(c *adapter.Cache) (bool, error)
		want bool
		err  error
	}{
		{
			name: "AddGetFails",
			f:    &fakeBackend{typ: "go-cache", getErr: boom},
			op:   func(c *adapter.Cache) (bool, error) { return c.Add(ctx, "k", nil, 0) },
			err:  boom,
		},
		{
			name: "AddSetFails",
			f:    &fakeBackend{typ: "go-cache", getErr: store.NotFound{}, setErr: boom},
			op:   func(c *adapter.Cache) (bool, error) { return c.Add(ctx, "k", nil, 0) },
			err:  boom,
		},
		{
			name: "AddOverOtherType",
			f:    &fakeBackend{typ: "go-cache", getValue: 42},
			op:   func(c *adapter.Cache) (bool, error) { return c.Add(ctx, "k", nil, 0) },
			want: true, // an entry Get reports as a miss is no live entry
		},
		{
			name: "CompareAndSwapGetFails",
			f:    &fakeBackend{typ: "go-cache", getErr: boom},
			op:   func(c *adapter.Cache) (bool, error) { return c.CompareAndSwap(ctx, "k", nil, nil, 0) },
			err:  boom,
		},
		{
			name: "CompareAndSwapSetFails",
			f:    &fakeBackend{typ: "go-cache", getValue: []byte("old"), setErr: boom},
			op:   func(c *adapter.Cache) (bool, error) { return c.CompareAndSwap(ctx, "k", []byte("old"), nil, 0) },
			err:  boom,
		},
		{
			name: "CompareAndSwapString",
			f:    &fakeBackend{typ: "go-cache", getValue: "old"},
			op:   func(c *adapter.Cache) (bool, error) { return c.CompareAndSwap(ctx, "k", []byte("old"), nil, 0) },
			want: true,
		},
		{
			name: "CompareAndSwapStringPrefix",
			f:    &fakeBackend{typ: "go-cache", getValue: "old value"},
			op:   func(c *adapter.Cache) (bool, error) { return c.CompareAndSwap(ctx, "k", []byte("old"), nil, 0) },
		},
		{
			name: "CompareAndSwapOtherType",
			f:    &fakeBackend{typ: "go-cache", getValue: 42},
			op:   func(c *adapter.Cache) (bool, error) { return c.CompareAndSwap(ctx, "k", []byte("42"), nil, 0) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := adapter.New(tc.f, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.op(c)
			if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("= %v, %v; want %v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}
