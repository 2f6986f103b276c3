package django

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// A Cache is the Django site's session cache, as far as Go needs it: Go
// never reads Django's cache entries (django-redis pickles them), it only
// deletes them, so that Django's cached_db store reads the row again. Any
// [qsessions.Cache] is one; [NewRedisCache] makes one for Redis, where
// django-redis and Django's own RedisCache (Django 4.0+) keep it.
//
// The keys are the site's cache keys, made as Django's default
// KEY_FUNCTION makes them: KEY_PREFIX, ":", VERSION, ":", and the session
// store's cache_key_prefix and the session key, such as
// ":1:qsessions.q_cached_dbabc...". A Cache must not change them.
type Cache interface {
	// Delete removes the given keys. Missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error
}

// NewRedisCache returns a Cache that deletes keys with DEL through client,
// which must point at the Redis server and database of the site's CACHES
// LOCATION (the number after the last "/" of redis://host:port/N).
func NewRedisCache(client redis.UniversalClient) Cache { return redisCache{client} }

type redisCache struct{ c redis.UniversalClient }

// Delete sends one DEL per key, pipelined, so that keys in different hash
// slots of a Redis Cluster are deleted too.
func (r redisCache) Delete(ctx context.Context, keys ...string) error {
	switch len(keys) {
	case 0:
		return nil
	case 1:
		return r.c.Del(ctx, keys[0]).Err()
	}
	_, err := r.c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, k := range keys {
			pipe.Del(ctx, k)
		}
		return nil
	})
	return err
}
