package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gocachestore "github.com/eko/gocache/store/go_cache/v4"
	gocacheclient "github.com/patrickmn/go-cache"
	"github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/adapters/gocache"
)

// newMemoryCache returns the demo's in-process cache: go-cache behind the
// gocache adapter.
func newMemoryCache() (qsessions.Cache, error) {
	// Entries carry their own TTL (the session's expiry); the default
	// expiration is not used, and the janitor sweeps every 10 minutes.
	return gocache.New(gocachestore.NewGoCache(gocacheclient.New(gocacheclient.NoExpiration, 10*time.Minute)), nil)
}

// openRedis connects to the Redis at addr (host:port or a redis:// or
// rediss:// URL) and returns a Cache over it and a function that closes it.
func openRedis(ctx context.Context, addr string) (qsessions.Cache, func(), error) {
	var opts *redis.Options
	if strings.Contains(addr, "://") {
		o, err := redis.ParseURL(addr)
		if err != nil {
			// The error may quote the URL, password included.
			return nil, nil, errors.New("redis: invalid URL in --redis")
		}
		opts = o
	} else {
		opts = &redis.Options{Addr: addr}
	}
	// go-redis logs dial failures itself; the error returned says it all.
	redis.SetLogger(quietRedis{})
	opts.DialTimeout = 5 * time.Second
	opts.MaxRetries = 1
	client := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	// NewRedis writes conditionally: no stale copy and no revoked session
	// can enter the cache that several processes share.
	c, err := gocache.NewRedis(client, nil)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return c, func() { client.Close() }, nil
}

// quietRedis is a go-redis logger that drops everything.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
