package bench_test

import (
	"context"
	"os"
	"testing"

	"github.com/alexedwards/scs/redisstore"
	redigo "github.com/gomodule/redigo/redis"
	"github.com/redis/go-redis/v9"

	qsredis "github.com/qsessions/qsessions/redis"
)

// Redis alone as the session store: qsessions' Persister (package redis,
// no cache in front) beside scs's redisstore (on redigo, as scs ships
// it). Both run on QSESSIONS_REDIS_ADDR, each under a key prefix of its
// own that is deleted at the end.
func init() {
	factories = append(factories,
		factory{"qsessions-redis", "qsessions", openQsessionsRedis},
		factory{"scs-redisstore", "scs", openSCSRedisStore},
	)
}

// needRedis returns the Redis address, or skips tb when it is not set
// (fails it under QSESSIONS_REQUIRE_SERVICES=1).
func needRedis(tb testing.TB) string {
	tb.Helper()
	addr := os.Getenv("QSESSIONS_REDIS_ADDR")
	if addr == "" {
		msg := "QSESSIONS_REDIS_ADDR must be set for the Redis backends"
		if os.Getenv("QSESSIONS_REQUIRE_SERVICES") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return addr
}

// redisPrefix returns a go-redis client of addr and a key prefix of the
// run's own, whose keys are deleted when tb ends.
func redisPrefix(tb testing.TB, addr, lib string) (*redis.Client, string) {
	tb.Helper()
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: addr})
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		tb.Fatalf("redis at %s: %v", addr, err)
	}
	prefix := lib + "-" + uniqueName() + ":"
	tb.Cleanup(func() {
		defer client.Close()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		pipe := client.Pipeline()
		for iter.Next(ctx) {
			pipe.Unlink(ctx, iter.Val())
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			tb.Errorf("redis cleanup: %v", err)
		}
	})
	return client, prefix
}

func openQsessionsRedis(tb testing.TB) *backend {
	tb.Helper()
	client, prefix := redisPrefix(tb, needRedis(tb), "qsessions")
	p, err := qsredis.New(client, &qsredis.Options{Prefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	return newQsessions(tb, "qsessions-redis", nil, p)
}

func openSCSRedisStore(tb testing.TB) *backend {
	tb.Helper()
	addr := needRedis(tb)
	_, prefix := redisPrefix(tb, addr, "scs")
	pool := &redigo.Pool{
		MaxIdle: 10,
		Dial:    func() (redigo.Conn, error) { return redigo.Dial("tcp", addr) },
	}
	tb.Cleanup(func() { pool.Close() })
	return newSCS("scs-redisstore", redisstore.NewWithPrefix(pool, prefix))
}
