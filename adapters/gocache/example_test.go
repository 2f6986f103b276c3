package gocache_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	gocachestore "github.com/eko/gocache/store/go_cache/v4"
	redisstore "github.com/eko/gocache/store/redis/v4"
	gocachelib "github.com/patrickmn/go-cache"
	"github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/memory"
)

// An in-process go-cache in front of a Persister. With Redis, call
// gocache.NewRedis instead (see its example); with ristretto, pass
// ristrettostore.NewRistretto(ristrettoCache) to New.
func Example() {
	store := gocachestore.NewGoCache(gocachelib.New(gocachelib.NoExpiration, 10*time.Minute))
	cache, err := gocache.New(store, &gocache.Options{Prefix: "myapp:"})
	if err != nil {
		panic(err)
	}
	st, err := qsessions.New(cache, memory.NewPersister(), nil)
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	s, _ := st.Load(ctx, "") // no cookie: a new session
	s.Set("cart", []string{"book"})
	if err := st.Save(ctx, s); err != nil {
		panic(err)
	}

	// The next request with the same token is served from go-cache.
	s, _ = st.Load(ctx, s.Token())
	var cart []string
	s.Get("cart", &cart)
	fmt.Println(cart)
	// Output: [book]
}

// The adapter used as a plain qsessions.Cache.
func ExampleCache() {
	store := gocachestore.NewGoCache(gocachelib.New(gocachelib.NoExpiration, 10*time.Minute))
	cache, err := gocache.New(store, nil)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	cache.Set(ctx, "key", []byte("value"), time.Hour)
	v, _ := cache.Get(ctx, "key")
	fmt.Printf("%s\n", v)

	cache.Delete(ctx, "key")
	_, err = cache.Get(ctx, "key")
	fmt.Println(errors.Is(err, qsessions.ErrCacheMiss))
	// Output:
	// value
	// true
}

// Redis with conditional writes: NewRedis builds gocache's Redis store on
// the go-redis client and keeps the client for Add and CompareAndSwap. The
// client connects on first use, so nothing here needs a server. Pass the
// Cache to qsessions.New.
func ExampleNewRedis() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	cache, err := gocache.NewRedis(client, &gocache.Options{Prefix: "myapp:"})
	if err != nil {
		panic(err)
	}
	fmt.Println("NewRedis:", cache.Conditional())

	// The same, for a Redis store built elsewhere: pass its client too.
	cache, err = gocache.New(redisstore.NewRedis(client), &gocache.Options{Prefix: "myapp:", Redis: client})
	if err != nil {
		panic(err)
	}
	fmt.Println("New with Options.Redis:", cache.Conditional())

	// Without the client, the Cache is a plain qsessions.Cache.
	plain, err := gocache.New(redisstore.NewRedis(client), &gocache.Options{Prefix: "myapp:"})
	if err != nil {
		panic(err)
	}
	_, err = plain.Add(context.Background(), "key", []byte("value"), time.Minute)
	fmt.Println("New without the client:", plain.Conditional(), errors.Is(err, errors.ErrUnsupported))
	// Output:
	// NewRedis: true
	// New with Options.Redis: true
	// New without the client: false true
}

// The lease the qsessions Store takes on a cache miss: Add a marker, read
// the Persister, swap the marker for the record. A write or a revocation
// deletes the key meanwhile, and the stale record stays out.
func ExampleCache_CompareAndSwap() {
	store := gocachestore.NewGoCache(gocachelib.New(gocachelib.NoExpiration, 10*time.Minute))
	cache, err := gocache.New(store, nil)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	lease := []byte("lease 1")

	ok, _ := cache.Add(ctx, "session", lease, 5*time.Second)
	fmt.Println("lease taken:", ok)
	ok, _ = cache.CompareAndSwap(ctx, "session", lease, []byte("record v1"), time.Hour)
	fmt.Println("record cached:", ok)

	cache.Delete(ctx, "session") // a write evicts the key
	ok, _ = cache.Add(ctx, "session", lease, 5*time.Second)
	fmt.Println("lease taken:", ok)
	cache.Delete(ctx, "session") // a revocation evicts it during the refill
	ok, _ = cache.CompareAndSwap(ctx, "session", lease, []byte("record v1"), time.Hour)
	fmt.Println("stale record cached:", ok)
	// Output:
	// lease taken: true
	// record cached: true
	// lease taken: true
	// stale record cached: false
}
