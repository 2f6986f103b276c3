package redis_test

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/conformance"
	"github.com/qsessions/qsessions/redis"
)

// TestPersister runs the Persister contract on a single server and on the
// cluster, each subtest under a key prefix of its own:
// go test -run 'TestPersister/Cluster/DeleteExpiredMany'.
func TestPersister(t *testing.T) {
	eachTarget(t, func(t *testing.T, client goredis.UniversalClient) {
		conformance.TestPersister(t, func(t *testing.T) qsessions.Persister {
			return newPersister(t, client, nil)
		})
	})
}

// TestPersisterOneShard runs it again with every record in one shard, as
// Options.Shards = 1 lays them out, and sweeps of a few records.
func TestPersisterOneShard(t *testing.T) {
	client := singleClient(t)
	conformance.TestPersister(t, func(t *testing.T) qsessions.Persister {
		return newPersister(t, client, &redis.Options{Shards: 1, DeleteBatch: 7})
	})
}

// TestStore runs the Store invariants over the Persister alone (no cache),
// on a single server and on the cluster.
func TestStore(t *testing.T) {
	eachTarget(t, func(t *testing.T, client goredis.UniversalClient) {
		conformance.TestStore(t, func(t *testing.T) (qsessions.Cache, qsessions.Persister) {
			return nil, newPersister(t, client, nil)
		})
	})
}

// TestStoreWithCache runs them with the same Redis as the cache, through
// gocache.NewRedis (conditional writes), as a deployment that puts the
// cache in front would.
func TestStoreWithCache(t *testing.T) {
	eachTarget(t, func(t *testing.T, client goredis.UniversalClient) {
		conformance.TestStore(t, func(t *testing.T) (qsessions.Cache, qsessions.Persister) {
			p := newPersister(t, client, nil)
			c, err := gocache.NewRedis(client, &gocache.Options{Prefix: newPrefix(t, client)})
			if err != nil {
				t.Fatal(err)
			}
			return c, p
		})
	})
}
