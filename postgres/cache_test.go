package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	adapter "github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/internal/redistest"
	"github.com/qsessions/qsessions/memory"
)

// sharedCache returns a function that makes Caches sharing one backing
// store, as the caches of several app servers do, and says which store it
// is. With QSESSIONS_REDIS_ADDR set, every call opens its own Redis client
// (one per "app server") over the same key prefix, which is unique to the
// test and deleted when it ends. Without it, every call returns the same
// memory.Cache: a stand-in for a shared cache service, since per-process
// memory caches cannot see each other's evictions.
func sharedCache(t *testing.T) (newCache func() qsessions.Cache, kind string) {
	t.Helper()
	addr := os.Getenv(envRedis)
	if addr == "" {
		c := memory.NewCache()
		return func() qsessions.Cache { return c }, "shared memory.Cache (QSESSIONS_REDIS_ADDR not set)"
	}
	prefix := "qsessions-test:postgres:" + randomHex(8) + ":"
	admin := redisClientFor(t, addr)
	t.Cleanup(func() { redistest.DeleteKeys(t, admin, prefix) })
	return func() qsessions.Cache {
		// NewRedis keeps the client, so that the cache writes
		// conditionally: the Stores' fills take leases.
		c, err := adapter.NewRedis(redisClientFor(t, addr), &adapter.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}, "Redis at " + addr + " through adapters/gocache"
}

func redisClientFor(t *testing.T, addr string) *redis.Client {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s (%s): %v", addr, envRedis, err)
	}
	return client
}
