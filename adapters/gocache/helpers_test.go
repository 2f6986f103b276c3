package gocache_test

// The tests run every check over each gocache store: go-cache (always),
// ristretto (not on wasm: ristretto does not build there; see
// ristretto_test.go) and Redis through go-redis v9, with its client for
// conditional writes.
//
// Environment:
//
//	QSESSIONS_REDIS_ADDR=host:port  a Redis server to test against; the
//	                                Redis tests skip without it
//	QSESSIONS_REQUIRE_SERVICES=1    fail instead of skipping when Redis (or,
//	                                for the fault test, the redis-server
//	                                binary) is missing
//
// On js/wasm and wasip1/wasm there are no services by design: the Redis
// tests always skip there, whatever QSESSIONS_REQUIRE_SERVICES says.
//
// Each Redis test keeps its keys under a prefix of its own and deletes
// them (and nothing else) when it ends, so test packages can share one
// server.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"runtime"
	"testing"
	"time"

	gocachestore "github.com/eko/gocache/store/go_cache/v4"
	redisstore "github.com/eko/gocache/store/redis/v4"
	gocache "github.com/patrickmn/go-cache"
	"github.com/redis/go-redis/v9"

	adapter "github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/internal/redistest"
	"github.com/qsessions/qsessions/internal/testenv"
)

// A backend opens a fresh, isolated gocache store for one test.
type backend struct {
	name string
	// open returns the store and the options to use with it: the key
	// prefix the test must use and, for Redis, the client.
	open func(t testing.TB) (s adapter.Backend, opts adapter.Options)
	// redis is set for stores that keep values as Redis strings.
	redis bool
}

// backends lists the stores under test; ristretto_test.go adds ristretto
// where it builds.
var backends = []backend{
	{name: "GoCache", open: openGoCache},
	{name: "Redis", open: openRedis, redis: true},
}

// openGoCache returns a go-cache store whose default expiration is 1ms, so
// that any entry the adapter sets with an expiration of 0 (go-cache's
// "default") instead of NoExpiration vanishes at once and fails the test.
func openGoCache(testing.TB) (adapter.Backend, adapter.Options) {
	return gocachestore.NewGoCache(gocache.New(time.Millisecond, 0)), adapter.Options{}
}

// redisClient returns a client for QSESSIONS_REDIS_ADDR, closed when the
// test ends.
func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	addr := os.Getenv("QSESSIONS_REDIS_ADDR")
	if addr == "" || runtime.GOARCH == "wasm" {
		testenv.Missing(t, "QSESSIONS_REDIS_ADDR is not set")
	}
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s: %v", addr, err)
	}
	return client
}

// openRedis returns a Redis store with its client, for conditional writes.
func openRedis(t testing.TB) (adapter.Backend, adapter.Options) {
	client := redisClient(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { redistest.DeleteKeys(t, client, prefix) })
	return redisstore.NewRedis(client), adapter.Options{Prefix: prefix, Redis: client}
}

// uniquePrefix returns a key prefix no other test uses. It holds no glob
// characters, so it can be SCANned with prefix+"*".
func uniquePrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	return "qsessions-test:gocache:" + hex.EncodeToString(b) + ":"
}

// newCache opens b and returns an adapter over it with the test's options,
// the store, and the key prefix.
func newCache(t testing.TB, b backend) (*adapter.Cache, adapter.Backend, string) {
	t.Helper()
	s, opts := b.open(t)
	c, err := adapter.New(s, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, s, opts.Prefix
}

// eachBackend runs f as a subtest per backend.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}
