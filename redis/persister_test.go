package redis_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/redis"
)

// The key slots computed here are those Redis Cluster computes.
func TestKeySlot(t *testing.T) {
	c := clusterClient(t)
	ctx := context.Background()
	for _, key := range []string{
		"", "a", "qsessions-db:{3.7}:r:abc", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap",
		"foo{bar}{zap}", "{}x", "x{", "x}{y}", "123456789", "\xff\x00{\x01}",
	} {
		want, err := c.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := redis.KeySlot(key); int64(got) != want {
			t.Errorf("slot of %q = %d; Redis says %d", key, got, want)
		}
	}
}

// Each shard's tag hashes into the shard's share of the slots, so shards
// spread evenly over masters that hold contiguous slot ranges.
func TestShardTags(t *testing.T) {
	for _, n := range []int{1, 2, 3, 16, 100, redis.MaxShards} {
		seen := map[string]bool{}
		for k := range n {
			tag := redis.ShardTag(k, n)
			lo, hi := k*16384/n, (k+1)*16384/n
			if s := redis.KeySlot("{" + tag + "}"); s < lo || s >= hi {
				t.Errorf("shard %d of %d: tag %q in slot %d, want [%d, %d)", k, n, tag, s, lo, hi)
			}
			if seen[tag] {
				t.Errorf("shard %d of %d: tag %q used twice", k, n, tag)
			}
			seen[tag] = true
		}
	}
	// The three masters of redis-cli --cluster create get 5, 6 and 5 of
	// the default 16 shards.
	perMaster := [3]int{}
	for k := range redis.DefaultShards {
		s := redis.KeySlot("{" + redis.ShardTag(k, redis.DefaultShards) + "}")
		switch {
		case s <= 5460:
			perMaster[0]++
		case s <= 10922:
			perMaster[1]++
		default:
			perMaster[2]++
		}
	}
	t.Logf("default shards per master of a 3-master cluster: %v", perMaster)
	for _, n := range perMaster {
		if n < 4 || n > 7 {
			t.Errorf("shards per master %v: uneven", perMaster)
		}
	}
}

// Options are checked before anything reaches a server.
func TestOptions(t *testing.T) {
	nowhere := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer nowhere.Close()
	for _, o := range []redis.Options{
		{Prefix: "app{1}:"},
		{Prefix: "app}"},
		{Shards: -1},
		{Shards: redis.MaxShards + 1},
		{DeleteBatch: -5},
	} {
		_, err := redis.New(nowhere, &o)
		if err == nil || !strings.Contains(err.Error(), "Options.") {
			t.Errorf("New with %+v: %v; want an error naming the option", o, err)
		}
	}
	if _, err := redis.New(nil, nil); err == nil {
		t.Error("New(nil client): nil error")
	}
	// Valid options, an unreachable server: New fails, saying where.
	_, err := redis.New(nowhere, nil)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || errors.Is(err, redis.ErrPolicyUnknown) {
		t.Errorf("New on an unreachable server: %v; want a connection error naming it", err)
	}
}

// New refuses a Redis that may evict keys, and one that will not say,
// unless told not to check.
func TestEvictionCheck(t *testing.T) {
	for _, policy := range []string{"allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl"} {
		srv := startServer(t, "--save", "", "--appendonly", "no", "--maxmemory-policy", policy)
		c := srv.client(nil)
		_, err := redis.New(c, nil)
		if !errors.Is(err, redis.ErrEvicting) || !strings.Contains(err.Error(), policy) || !strings.Contains(err.Error(), "NoEvictionCheck") {
			t.Errorf("maxmemory-policy %s: New returned %v; want ErrEvicting naming the policy and Options.NoEvictionCheck", policy, err)
		}
		if _, err := redis.New(c, &redis.Options{NoEvictionCheck: true}); err != nil {
			t.Errorf("maxmemory-policy %s, NoEvictionCheck: %v", policy, err)
		}
		srv.kill()
	}

	// CONFIG renamed away, as many managed services do.
	srv := startServer(t, "--save", "", "--appendonly", "no", "--rename-command", "CONFIG", "")
	c := srv.client(nil)
	_, err := redis.New(c, nil)
	if !errors.Is(err, redis.ErrPolicyUnknown) || !strings.Contains(err.Error(), "NoEvictionCheck") {
		t.Errorf("without CONFIG: New returned %v; want ErrPolicyUnknown naming Options.NoEvictionCheck", err)
	}
	if _, err := redis.New(c, &redis.Options{NoEvictionCheck: true}); err != nil {
		t.Errorf("without CONFIG, NoEvictionCheck: %v", err)
	}

	// An ACL user without CONFIG.
	srv = startServer(t, "--save", "", "--appendonly", "no")
	admin := srv.client(nil)
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">secret", "~*", "&*", "+@all", "-config").Err(); err != nil {
		t.Fatal(err)
	}
	app := srv.client(&goredis.Options{Username: "app", Password: "secret"})
	_, err = redis.New(app, nil)
	if !errors.Is(err, redis.ErrPolicyUnknown) {
		t.Errorf("ACL user without +config: New returned %v; want ErrPolicyUnknown", err)
	}
	p, err := redis.New(app, &redis.Options{NoEvictionCheck: true})
	if err != nil {
		t.Fatalf("ACL user without +config, NoEvictionCheck: %v", err)
	}
	r := record("alice", time.Now())
	if err := p.Create(ctx, r); err != nil {
		t.Errorf("Create as an ACL user without +config: %v", err)
	}
}

// On a cluster, New checks every master, and refuses a single-server
// client connected to a node.
func TestEvictionCheckCluster(t *testing.T) {
	c := clusterClient(t)
	ctx := context.Background()
	if _, err := redis.New(c, nil); err != nil {
		t.Fatalf("New on the cluster: %v", err)
	}
	// Make one master evict (the cluster is this package's alone: tests
	// of one package run one at a time), and put it back.
	seeds := strings.Split(os.Getenv(envCluster), ",")
	addr := seeds[len(seeds)-1]
	one := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { one.Close() })
	if err := one.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := one.ConfigSet(context.Background(), "maxmemory-policy", "noeviction").Err(); err != nil {
			t.Errorf("restore maxmemory-policy of %s: %v", addr, err)
		}
	})
	_, err := redis.New(c, nil)
	if !errors.Is(err, redis.ErrEvicting) || !strings.Contains(err.Error(), addr) {
		t.Errorf("one master evicting: New returned %v; want ErrEvicting naming %s", err, addr)
	}
	if err := one.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	_, err = redis.New(one, nil)
	if err == nil || !strings.Contains(err.Error(), "ClusterClient") {
		t.Errorf("a *goredis.Client connected to a cluster node: New returned %v; want an error saying to use a ClusterClient", err)
	}
}

func pttl(t *testing.T, c goredis.UniversalClient, key string) time.Duration {
	t.Helper()
	d, err := c.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Every write sets the record's expiry to KeepExpired after the later of
// its ExpiresAt and now, and keeps its index keys alive at least as long.
func TestSafetyNet(t *testing.T) {
	eachTarget(t, func(t *testing.T, c goredis.UniversalClient) {
		ctx := context.Background()
		p := newPersister(t, c, &redis.Options{KeepExpired: time.Hour})
		now := time.Now()
		near := func(got, want time.Duration, what string) {
			t.Helper()
			if got < want-time.Minute || got > want+time.Minute {
				t.Errorf("%s: TTL %v, want about %v", what, got, want)
			}
		}
		live := record("alice", now)
		expired := record("alice", now)
		expired.ExpiresAt = now.Add(-48 * time.Hour).UTC().Truncate(time.Millisecond)
		for _, r := range []qsessions.Record{live, expired} {
			if err := p.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		near(pttl(t, c, p.RecordKey(live.ID)), 25*time.Hour, "a record expiring in a day")
		near(pttl(t, c, p.RecordKey(expired.ID)), time.Hour, "a record that expired two days ago, just written")
		for _, r := range []qsessions.Record{live, expired} {
			rec := pttl(t, c, p.RecordKey(r.ID))
			for _, k := range []string{p.UserKey(r.ID, "alice"), p.ExpiryKey(r.ID)} {
				if d := pttl(t, c, k); d < rec-time.Second { // read a moment later
					t.Errorf("index %s lives %v, less than its record's %v", k, d, rec)
				}
			}
		}

		// A seal (ExpiresAt long past) shortens the record's life; the
		// indexes keep theirs.
		idx := pttl(t, c, p.UserKey(live.ID, "alice"))
		sealed := live
		sealed.ExpiresAt, sealed.Data = time.UnixMilli(0).UTC(), nil
		if err := p.Update(ctx, sealed); err != nil {
			t.Fatal(err)
		}
		near(pttl(t, c, p.RecordKey(live.ID)), time.Hour, "a sealed record")
		if d := pttl(t, c, p.UserKey(live.ID, "alice")); d < idx-time.Minute {
			t.Errorf("the user index's TTL fell from %v to %v", idx, d)
		}

		// Without a safety net nothing expires, and a later Persister with
		// one does not give the indexes an expiry that the records it did
		// not write lack.
		prefix := newPrefix(t, c)
		never, err := redis.New(c, &redis.Options{Prefix: prefix, KeepExpired: -1})
		if err != nil {
			t.Fatal(err)
		}
		r := record("bob", now)
		if err := never.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{never.RecordKey(r.ID), never.UserKey(r.ID, "bob"), never.ExpiryKey(r.ID)} {
			if d := pttl(t, c, k); d != -1 {
				t.Errorf("KeepExpired -1: %s has TTL %v, want none", k, d)
			}
		}
		netted, err := redis.New(c, &redis.Options{Prefix: prefix, KeepExpired: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		// Another record of bob's in the same shard.
		r2 := record("bob", now)
		for redis.ShardOf(r2.ID, redis.DefaultShards) != redis.ShardOf(r.ID, redis.DefaultShards) {
			r2.ID = newID()
		}
		if err := netted.Create(ctx, r2); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{never.UserKey(r.ID, "bob"), never.ExpiryKey(r.ID)} {
			if d := pttl(t, c, k); d != -1 {
				t.Errorf("a record without expiry in %s, then one with: the index has TTL %v, want none", k, d)
			}
		}
		near(pttl(t, c, netted.RecordKey(r2.ID)), 25*time.Hour, "the record with a safety net")
	})
}

func zscore(t *testing.T, c goredis.UniversalClient, key, member string) bool {
	t.Helper()
	err := c.ZScore(context.Background(), key, member).Err()
	switch {
	case errors.Is(err, goredis.Nil):
		return false
	case err != nil:
		t.Fatal(err)
	}
	return true
}

// waitGone waits until Redis has expired the record keys.
func waitGone(t *testing.T, c goredis.UniversalClient, keys ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, k := range keys {
		for {
			n, err := c.Exists(context.Background(), k).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still exists", k)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// The indexes tolerate entries whose record Redis expired (the safety net)
// and repair them lazily: ListByUser, DeleteByUser and DeleteExpired
// neither return nor count such a record, and drop its entries; an entry
// left in the index of a user whom a record of the same ID no longer
// belongs to is dropped too.
func TestLazyRepair(t *testing.T) {
	eachTarget(t, func(t *testing.T, c goredis.UniversalClient) {
		ctx := context.Background()
		prefix := newPrefix(t, c)
		// Two Persisters over the same keys: keep holds expired records
		// for a day, brief for 50ms.
		keep, err := redis.New(c, &redis.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		brief, err := redis.New(c, &redis.Options{Prefix: prefix, KeepExpired: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		expired := func(user string) qsessions.Record {
			r := record(user, now.Add(-2*time.Hour))
			r.ExpiresAt = now.Add(-time.Hour).UTC().Truncate(time.Millisecond)
			return r
		}
		mustCreate := func(p *redis.Persister, rs ...qsessions.Record) {
			t.Helper()
			for _, r := range rs {
				if err := p.Create(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
		}
		wantEntries := func(r qsessions.Record, user string, want bool, what string) {
			t.Helper()
			if got := zscore(t, c, keep.UserKey(r.ID, user), r.ID); got != want {
				t.Errorf("%s: %s's index holds it: %v, want %v", what, user, got, want)
			}
			if got := zscore(t, c, keep.ExpiryKey(r.ID), r.ID); got != want {
				t.Errorf("%s: the expiry index holds it: %v, want %v", what, got, want)
			}
		}

		// An index key lives as long as the longest-lived record it holds,
		// so an entry dangles only beside a record that outlives it: each
		// record Redis expires here shares its shard with one that stays.
		sameShard := func(r, as qsessions.Record) qsessions.Record {
			for redis.ShardOf(r.ID, redis.DefaultShards) != redis.ShardOf(as.ID, redis.DefaultShards) {
				r.ID = newID()
			}
			return r
		}

		// ListByUser.
		live := record("alice", now)
		gone := sameShard(expired("alice"), live)
		mustCreate(brief, live, gone)
		waitGone(t, c, keep.RecordKey(gone.ID))
		wantEntries(gone, "alice", true, "a record Redis expired, before any repair")
		list, err := keep.ListByUser(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if ids := recordIDs(list); !slices.Equal(ids, []string{live.ID}) {
			t.Errorf("ListByUser after Redis expired one of two records: %q, want only the live one %q", ids, live.ID)
		}
		wantEntries(gone, "alice", false, "a record Redis expired, after ListByUser")
		wantEntries(live, "alice", true, "the live record, after ListByUser")

		// DeleteByUser.
		gone2 := sameShard(expired("alice"), live)
		mustCreate(brief, gone2)
		waitGone(t, c, keep.RecordKey(gone2.ID))
		ids, err := keep.DeleteByUser(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, []string{live.ID}) {
			t.Errorf("DeleteByUser after Redis expired one of two records returned %q, want only the live one %q", ids, live.ID)
		}
		wantEntries(gone2, "alice", false, "a record Redis expired, after DeleteByUser")
		wantEntries(live, "alice", false, "a record DeleteByUser removed")

		// DeleteExpired: of two expired records, Redis removed one.
		stays := expired("bob")
		gone3 := sameShard(expired("bob"), stays)
		mustCreate(keep, stays)
		mustCreate(brief, gone3)
		waitGone(t, c, keep.RecordKey(gone3.ID))
		n, err := keep.DeleteExpired(ctx, now)
		if err != nil || n != 1 {
			t.Errorf("DeleteExpired of an expired record and one Redis removed already: %d, %v; want 1", n, err)
		}
		wantEntries(stays, "bob", false, "an expired record DeleteExpired removed")
		// Its entry in bob's index is repaired when bob's are next listed.
		if !zscore(t, c, keep.UserKey(gone3.ID, "bob"), gone3.ID) {
			t.Errorf("DeleteExpired dropped the user entry of a record whose user it could not know")
		}
		if list, err := keep.ListByUser(ctx, "bob"); err != nil || len(list) != 0 {
			t.Errorf("ListByUser(bob) after DeleteExpired: %d records, %v; want none", len(list), err)
		}
		wantEntries(gone3, "bob", false, "a record Redis expired, after DeleteExpired and ListByUser")

		// The ID of a record Redis expired, created again for another user:
		// the first user's stale entry is not the record.
		carols := record("carol", now)
		old := sameShard(expired("carol"), carols)
		mustCreate(keep, carols)
		mustCreate(brief, old)
		waitGone(t, c, keep.RecordKey(old.ID))
		again := record("dave", now)
		again.ID = old.ID
		mustCreate(keep, again)
		if !zscore(t, c, keep.UserKey(old.ID, "carol"), old.ID) {
			t.Fatalf("carol's index lost the entry of a record Redis expired, before any repair")
		}
		if list, err := keep.ListByUser(ctx, "carol"); err != nil || !slices.Equal(recordIDs(list), []string{carols.ID}) {
			t.Errorf("ListByUser(carol), one of whose records' ID is now dave's: %q, %v; want only %q", recordIDs(list), err, carols.ID)
		}
		if zscore(t, c, keep.UserKey(old.ID, "carol"), old.ID) {
			t.Errorf("carol's stale entry survived ListByUser(carol)")
		}
		if ids, err := keep.DeleteByUser(ctx, "carol"); err != nil || !slices.Equal(ids, []string{carols.ID}) {
			t.Errorf("DeleteByUser(carol): %q, %v; want only %q", ids, err, carols.ID)
		}
		if list, err := keep.ListByUser(ctx, "dave"); err != nil || !slices.Equal(recordIDs(list), []string{again.ID}) {
			t.Errorf("ListByUser(dave): %q, %v; want his record", recordIDs(list), err)
		}
	})
}

func recordIDs(rs []qsessions.Record) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// A write whose reply was lost and that go-redis sent again (it retries a
// command on a connection that broke) is recognised as done: a Create
// does not report its own record as taken, an Update does not report its
// own write as a conflict, a DeleteByUser returns what the first run
// removed.
func TestRetriedWrites(t *testing.T) {
	eachTarget(t, func(t *testing.T, c goredis.UniversalClient) {
		ctx := context.Background()
		p := newPersister(t, c, nil)
		p.SetNonce(func() string { return "same-call" })
		r := record("alice", time.Now())
		for i := range 2 {
			if err := p.Create(ctx, r); err != nil {
				t.Fatalf("Create, run %d of the same call: %v", i+1, err)
			}
		}
		next := r
		next.Data = []byte("changed")
		for i := range 2 {
			if err := p.Update(ctx, next); err != nil {
				t.Fatalf("Update at version 1, run %d of the same call: %v", i+1, err)
			}
		}
		got, err := p.Load(ctx, r.ID)
		if err != nil || got.Version != 2 || string(got.Data) != "changed" {
			t.Fatalf("after one Update run twice: version %d, data %q, %v; want version 2", got.Version, got.Data, err)
		}
		other := record("alice", time.Now())
		if err := p.Create(ctx, other); err != nil {
			t.Fatal(err)
		}
		first, err := p.DeleteByUser(ctx, "alice")
		if err != nil || len(first) != 2 {
			t.Fatalf("DeleteByUser: %q, %v", first, err)
		}
		second, err := p.DeleteByUser(ctx, "alice")
		if err != nil || !slices.Equal(sorted(first), sorted(second)) {
			t.Errorf("DeleteByUser run twice as one call: %q, then %q, %v; want the same IDs", first, second, err)
		}

		// Other calls are other writes.
		p.SetNonce(func() string { return "another-call" })
		if err := p.Create(ctx, other); err != nil {
			t.Fatal(err)
		}
		p.SetNonce(func() string { return "a-third-call" })
		if err := p.Create(ctx, other); !errors.Is(err, qsessions.ErrExists) {
			t.Errorf("Create of a taken ID by another call: %v, want ErrExists", err)
		}
		if err := p.Update(ctx, other); err != nil {
			t.Fatal(err)
		}
		p.SetNonce(func() string { return "a-fourth-call" })
		if err := p.Update(ctx, other); !errors.Is(err, qsessions.ErrConflict) {
			t.Errorf("Update at a stale version by another call: %v, want ErrConflict", err)
		}
	})
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// The same through the network: a proxy drops the connection after Redis
// has run the script and before its reply reaches the client, which sends
// the command again on a new connection.
func TestLostReply(t *testing.T) {
	addr := singleClient(t).Options().Addr
	px := newProxy(t, addr)
	c := goredis.NewClient(&goredis.Options{Addr: px.addr(), MaxRetries: 3})
	t.Cleanup(func() { c.Close() })
	p := newPersister(t, c, nil)
	ctx := context.Background()

	r := record("alice", time.Now())
	px.dropNextReply()
	if err := p.Create(ctx, r); err != nil {
		t.Fatalf("Create whose first reply was lost: %v", err)
	}
	if px.dropped.Load() != 1 {
		t.Fatalf("the proxy dropped %d replies, want 1", px.dropped.Load())
	}
	px.dropNextReply()
	if err := p.Update(ctx, r); err != nil {
		t.Fatalf("Update whose first reply was lost: %v", err)
	}
	other := record("alice", time.Now())
	if err := p.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	px.dropNextReply()
	ids, err := p.DeleteByUser(ctx, "alice")
	if err != nil || len(ids) != 2 {
		t.Errorf("DeleteByUser whose first reply was lost: %q, %v; want both IDs", ids, err)
	}
	if px.dropped.Load() != 3 {
		t.Errorf("the proxy dropped %d replies, want 3", px.dropped.Load())
	}
}

// A proxy relays TCP to a Redis server; when armed, it closes the
// connection instead of relaying the next reply.
type proxy struct {
	l       net.Listener
	target  string
	armed   atomic.Bool
	dropped atomic.Int32
	wg      sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &proxy{l: l, target: target}
	px.wg.Go(px.serve)
	t.Cleanup(func() { l.Close(); px.wg.Wait() })
	return px
}

func (px *proxy) addr() string   { return px.l.Addr().String() }
func (px *proxy) dropNextReply() { px.armed.Store(true) }

func (px *proxy) serve() {
	for {
		in, err := px.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", px.target)
		if err != nil {
			in.Close()
			continue
		}
		px.wg.Go(func() { io.Copy(out, in); out.Close() })
		px.wg.Go(func() {
			defer in.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := out.Read(buf)
				if n > 0 && px.armed.CompareAndSwap(true, false) {
					px.dropped.Add(1)
					out.Close()
					return
				}
				if n > 0 {
					if _, err := in.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

// A sweep blocks the server for a few milliseconds at most: every script
// it runs is timed by the server (SLOWLOG, which logs every command here).
func TestSweepLatency(t *testing.T) {
	srv := startServer(t, "--save", "", "--appendonly", "no", "--slowlog-log-slower-than", "0", "--slowlog-max-len", "1000000")
	c := srv.client(nil)
	ctx := context.Background()
	const n = 5_000
	for _, batch := range []int{redis.DefaultDeleteBatch, 1000} {
		p := newPersister(t, c, &redis.Options{DeleteBatch: batch})
		now := time.Now()
		createMany(t, p, n, func(i int) qsessions.Record {
			r := record(fmt.Sprintf("user%d", i%2000), now.Add(-2*time.Hour))
			r.ExpiresAt = now.Add(-time.Hour - time.Duration(i)*time.Millisecond).UTC().Truncate(time.Millisecond)
			return r
		})
		c.SlowLogReset(ctx)
		start := time.Now()
		got, err := p.DeleteExpired(ctx, now)
		elapsed := time.Since(start)
		if err != nil || got != n {
			t.Fatalf("DeleteExpired: %d, %v; want %d", got, err, n)
		}
		logs, err := c.SlowLogGet(ctx, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		var ds []time.Duration
		for _, l := range logs {
			if len(l.Args) > 1 && strings.EqualFold(l.Args[0], "evalsha") && l.Args[1] == redis.SweepScriptHash {
				ds = append(ds, l.Duration)
			}
		}
		slices.Sort(ds)
		if len(ds) == 0 {
			t.Fatal("no sweep script in SLOWLOG")
		}
		q := func(f float64) time.Duration { return ds[int(f*float64(len(ds)-1))] }
		t.Logf("batch %d: %d sessions swept in %v, %d scripts; server time per script: median %v, p99 %v, max %v (%.1f µs per session)",
			batch, n, elapsed.Round(time.Millisecond), len(ds), q(0.5), q(0.99), ds[len(ds)-1],
			float64(q(0.5).Microseconds())/float64(batch))
		// The median, as the figure the machine's load disturbs least.
		if batch == redis.DefaultDeleteBatch && q(0.5) > 5*time.Millisecond {
			t.Errorf("batch %d: a sweep script held the server for %v (median); want a few milliseconds at most", batch, q(0.5))
		}
	}
}

// createMany creates n records made by mk, from 8 goroutines.
func createMany(t testing.TB, p qsessions.Persister, n int, mk func(i int) qsessions.Record) {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if err := p.Create(context.Background(), mk(i)); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
}

// A full Redis with noeviction refuses writes with an error and keeps
// every session: loads and listings still work.
func TestOutOfMemory(t *testing.T) {
	srv := startServer(t, "--save", "", "--appendonly", "no", "--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
	c := srv.client(nil)
	p := newPersister(t, c, nil)
	ctx := context.Background()
	var stored []qsessions.Record
	var err error
	for len(stored) < 100_000 {
		r := record("alice", time.Now())
		r.Data = make([]byte, 1000)
		if err = p.Create(ctx, r); err != nil {
			break
		}
		stored = append(stored, r)
	}
	if err == nil || !strings.Contains(err.Error(), "OOM") {
		t.Fatalf("Create into a full Redis: %v; want an OOM error", err)
	}
	t.Logf("full after %d sessions: %v", len(stored), err)
	for _, r := range []qsessions.Record{stored[0], stored[len(stored)-1]} {
		if _, err := p.Load(ctx, r.ID); err != nil {
			t.Errorf("Load from a full Redis: %v", err)
		}
	}
	upd := stored[0]
	upd.Data = make([]byte, 2000)
	if err := p.Update(ctx, upd); err == nil || !strings.Contains(err.Error(), "OOM") {
		t.Errorf("Update in a full Redis: %v; want an OOM error", err)
	}
	// Removing sessions makes room.
	if err := p.Delete(ctx, stored[0].ID); err != nil {
		t.Errorf("Delete from a full Redis: %v", err)
	}
}
