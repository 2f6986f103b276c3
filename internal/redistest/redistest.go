// Package redistest helps tests that share one Redis server: each test keeps
// its keys under a prefix of its own and deletes them, and nothing else,
// when it ends.
package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DeleteKeys deletes every key under prefix, and nothing else, reporting a
// failure through tb.
func DeleteKeys(tb testing.TB, client *redis.Client, prefix string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Errorf("scan %s*: %v", prefix, err)
		return
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if err := client.Del(ctx, keys[:n]...).Err(); err != nil {
			tb.Errorf("delete %s*: %v", prefix, err)
			return
		}
		keys = keys[n:]
	}
}
