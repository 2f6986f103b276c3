// Package redis provides a [qsessions.Persister] on Redis, for deployments
// that keep their sessions in Redis alone: a single server (or one behind
// Sentinel) or a Redis Cluster, through github.com/redis/go-redis/v9.
//
// Call [New] with a go-redis client that the application owns and closes,
// and give the Store no cache:
//
//	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
//	p, err := redis.New(client, nil)
//	if err != nil { ... } // redis.ErrEvicting: see "Memory" below
//	st, err := qsessions.New(nil, p, nil)
//
// For a cluster, pass a *goredis.ClusterClient; the key layout is the
// same. (The package is named redis, as go-redis's is: import go-redis
// under another name, goredis here.) New checks the options, then asks
// every server, every master of a cluster, for its maxmemory-policy; it
// fails when a server is unreachable. The package is tested on Redis 7.0.
// It builds for WebAssembly, but has nothing to connect to there and is
// not tested there.
//
// # Key layout
//
// Records are spread over [Options.Shards] shards (16 by default) by the
// FNV-1a hash of their ID. Every key of a shard starts with the prefix
// ([Options.Prefix], "qsessions-db:" by default) and the shard's hash tag,
// {k.j}: shard k's tag is the first of "k.0", "k.1", ... whose Cluster
// slot lies in the k-th of Shards equal ranges of the 16,384 slots, so that the shards
// spread evenly over the masters of a cluster (with three masters, 6, 5
// and 5 of them). Shard k holds:
//
//	<prefix>{k.j}:r:<id>      a hash per record: v Version, u UserID,
//	                          t UpdatedAt and e ExpiresAt (Unix ms), d Data,
//	                          m Meta, w the nonce of the write that stored it
//	<prefix>{k.j}:u:<userID>  a sorted set of the user's record IDs in the
//	                          shard, scored by UpdatedAt (anonymous
//	                          sessions are in none)
//	<prefix>{k.j}:e           a sorted set of every record ID in the shard,
//	                          scored by ExpiresAt
//	<prefix>{k.j}:m:<nonce>   for a minute, the reply of a DeleteByUser or
//	                          DeleteExpired script, in case go-redis sends
//	                          it again
//
// Prefix and Shards make the key names: every process sharing the
// sessions must use the same ones, and changing either hides every stored
// session. A prefix may not contain "{" or "}".
//
// Every write is one Lua script on one shard, with the version check and
// the maintenance of both indexes inside it: Create (refused when the ID
// is taken), Update (a compare-and-swap on v that moves the record between
// user indexes and in the expiry index), Delete. A write carries a random
// nonce, stored in w, so that a script that go-redis sends again after a
// lost reply (it retries a command whose connection broke) is recognised
// as done instead of being refused as a taken ID or a conflict. Load is one
// HMGET. ListByUser reads the user's index and the records it names inside
// one script (Data left out), so a listing costs no round trip per
// session: on a single server, one script over every shard; on a cluster,
// one per shard, pipelined (one round trip per master). DeleteByUser works
// the same way. DeleteExpired runs, shard by shard, scripts that each
// remove at most [Options.DeleteBatch] records (100 by default) whose
// ExpiresAt is before the cut-off: measured with SLOWLOG on Redis 7.0
// (TestSweepLatency), one such script holds the server for 0.7 to 1 ms
// (7 to 10 µs a record; the slowest of a sweep of 5,000 records, 0.85 ms;
// 20,000 records went in 0.24 s), so other clients never wait long.
// Batches of 1,000 take 2.3 ms each, with outliers past 4 ms.
//
// # Redis Cluster
//
// A user's index is not one key but one per shard, kept beside the
// records it lists, so that a record, its entry in its user's index and
// its entry in the expiry index always share a slot. What that buys:
// every write of a record, index maintenance included, is atomic, on a
// cluster as on a single server. Nothing is repaired after a failed or
// interrupted write, because no write is ever half done. What it costs: a
// listing or a DeleteByUser runs one script per shard on a cluster (16 by
// default), whatever the user; each is atomic in its shard, but the whole
// is not a snapshot of the cluster, and a DeleteByUser that fails partway
// has removed the user's sessions in some shards only (run it again). On
// a single server one script covers every shard and is atomic as a whole.
// Shards bounds how many masters share the sessions (16 by default):
// raise it before the first deployment to grow past that.
//
// What is repaired lazily is what Redis removes by itself: a record whose
// safety-net expiry (below) has passed leaves its entries in the indexes.
// No listing returns it and no sweep counts it: ListByUser and
// DeleteByUser read every record they list and drop the entries of
// records that are gone (or, should an ID be reused, are another user's),
// and DeleteExpired drops the expiry entries of records that are gone
// without counting them. An index key lives as long as the longest-lived
// record it lists, so the entries left behind go at the latest with their
// key; until then each costs what a live entry does (about 50 to 150
// bytes).
//
// # Expiry
//
// The Persister contract keeps an expired record until DeleteExpired
// removes it (the Store refuses it meanwhile). As a safety net for a
// deployment that never sweeps, every write also sets the record to
// expire in Redis [Options.KeepExpired] (24 hours by default) after the
// later of its ExpiresAt and the write: a sealed or expired record is gone
// a day later even if no DeleteExpired runs. Run DeleteExpired anyway
// (qsessions clear-expired does, hourly say): it frees the memory sooner
// and keeps the indexes clean. A negative KeepExpired turns the safety net
// off.
//
// # Durability
//
// Redis acknowledges a write once it is in memory; what survives a crash
// depends on its persistence settings, and so does whether a revocation
// (a sign-out, a password change) stays done. The fault test (TestRestart)
// kills Redis with SIGKILL under a write load and starts it again on its
// files:
//
//   - AOF with appendfsync always: nothing acknowledged is lost, even if the
//     machine loses power. Each write waits for the disk: in the test, on
//     one machine, a third as many writes went through as with everysec.
//   - AOF with appendfsync everysec (the usual choice): nothing was lost when
//     the process was killed, since Redis has written each command to the
//     file before it replies; a crash of the machine (kernel, power) loses
//     up to about a second of writes.
//   - RDB snapshots only: everything since the last snapshot is lost (in the
//     test, killed 300 ms after a SAVE, every session lost its writes of
//     those 300 ms).
//   - no persistence: a restart signs every user out.
//
// Replication is asynchronous: a failover to a replica loses the writes
// it had not received, revocations included, so a revoked session can
// come back. (TestClusterFailover kills a master of a cluster of three
// with a replica each, under load: the replica took over within 1 to 3
// seconds, requests on its slots failed with 500 meanwhile, never as a
// signed-out session, and on loopback, where the replicas keep up,
// nothing was lost.) Use appendonly yes (everysec, or always where a lost
// sign-out matters) and size replication for it; PostgreSQL, whose commit
// returns once the write is durable, is the choice where that is not good
// enough.
//
// # Memory
//
// Measured with MEMORY USAGE on Redis 7.0 (TestMemoryPerSession): a
// signed-in session made through the Store's middleware, with a desktop
// Chrome User-Agent, an IP and a CSRF secret and a cart in its values,
// takes 774 bytes for its record hash, 119 for its entries in its user's
// index (with 10 sessions per user spread over 16 shards, about one small
// sorted set per session) and 146 in the expiry index; used_memory grows
// by about 1,300 bytes per session in all. Two settings cut that:
//
//   - hash-max-listpack-value 1024 (in redis.conf; the default, 64, makes
//     every record whose Meta or Data exceeds 64 bytes a hash table): the
//     record hash falls to 424 bytes, about 890 bytes per session in all.
//   - Options.Shards 1, for a deployment that will never be a cluster: each
//     user's index is one sorted set, 71 bytes per session, and a listing
//     reads one key.
//
// Redis must not evict sessions: an evicting Redis signs users out
// without a word when memory runs out. New returns an error wrapping
// [ErrEvicting] unless maxmemory-policy is noeviction (the volatile-*
// policies evict these keys too: they all have an expiry, unless
// KeepExpired is negative), and one
// wrapping [ErrPolicyUnknown] when CONFIG GET is refused, as many managed
// services do; [Options.NoEvictionCheck] skips the check, once you have
// set the policy yourself. With noeviction, a full Redis refuses writes
// (sign-ins, saves and the Store's activity touches fail with an error,
// OOM command not allowed, and write nothing) but keeps every session:
// loads, listings, revocations and sweeps still work (TestOutOfMemory). Size maxmemory at about 1.3 KB (0.9 KB with
// hash-max-listpack-value 1024) times the sessions that live at once,
// counting those that expired and wait for the sweep (up to a day more
// without one), plus the longer User-Agents and larger values of your
// own sessions, plus half again for fragmentation and the copy-on-write
// of snapshots: a million sessions need about 2 GB.
//
// # A cache in front
//
// Do not put a cache on the same Redis in front of this Persister
// (gocache.NewRedis): a request that finds its session in the cache saves
// no round trip (one GET instead of one HMGET), every write costs an
// eviction more, the read after a write refills the cache (a lease, a
// read, a swap), and each cached session takes another 424 bytes. In
// BenchmarkStore (go test -run '^$' -bench Store ./redis/; medians of 5
// on a busy 2-core machine), a read-only request took 91 µs without the
// cache and 94 µs with it, a write 0.28 ms and 1.1 ms, the first read
// after a write 61 µs and 199 µs. An in-process cache (package memory,
// ristretto) saves the round trip only where one app server runs: with
// several, one server's cache would go on serving a session that another
// one revoked.
//
// # What Redis gives up against PostgreSQL
//
// Sessions live in memory (about 1.3 KB each), durability is what the
// persistence settings make it (above), a failover can undo revocations,
// the only queries are the Persister's (no SQL over IPs, User-Agents or
// dates), and on a cluster a DeleteByUser is one transaction per shard
// rather than one in all. In return: no database to run, sub-millisecond
// requests, and sessions on the Redis you already have.
package redis
