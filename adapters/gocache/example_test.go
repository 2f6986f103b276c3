package gocache_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	gocachestore "github.com/eko/gocache/store/go_cache/v4"
	gocachelib "github.com/patrickmn/go-cache"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/memory"
)

// An in-process go-cache in front of a Persister. With Redis, pass
// redisstore.NewRedis(redis.NewClient(...)) instead; with ristretto,
// ristrettostore.NewRistretto(ristrettoCache).
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
