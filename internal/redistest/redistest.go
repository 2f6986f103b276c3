// Package redistest helps tests that share one Redis server or cluster:
// each test keeps its keys under a prefix of its own and deletes them, and
// nothing else, when it ends.
package redistest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DeleteKeys deletes every key under prefix, and nothing else, on a
// server or on every master of a cluster, reporting a failure through tb.
func DeleteKeys(tb testing.TB, client redis.UniversalClient, prefix string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	del := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		pipe := c.Pipeline()
		n := 0
		for iter.Next(ctx) {
			pipe.Unlink(ctx, iter.Val()) // one key per command: keys of a cluster node differ in slot
			if n++; n%1000 == 0 {
				if _, err := pipe.Exec(ctx); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	var err error
	switch c := client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, del)
	case *redis.Client:
		err = del(ctx, c)
	default:
		err = fmt.Errorf("client %T", client)
	}
	if err != nil {
		tb.Errorf("delete keys %s*: %v", prefix, err)
	}
}
