package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/redistest"
	qsredis "github.com/qsessions/qsessions/redis"
)

// clear-expired, sessions list and sessions revoke work on the sessions a
// Redis Persister stores (--redis-persister, --redis-prefix), on a single
// server and on a Redis Cluster, named by one node or by all.
func TestRedisPersister(t *testing.T) {
	type target struct {
		name   string
		env    string
		client func(addr string) goredis.UniversalClient
		addrs  func(addr string) []string // the --redis-persister values to try
	}
	for _, tg := range []target{
		{"Single", "QSESSIONS_REDIS_ADDR",
			func(addr string) goredis.UniversalClient { return goredis.NewClient(&goredis.Options{Addr: addr}) },
			func(addr string) []string { return []string{addr, "redis://" + addr + "/0"} }},
		{"Cluster", "QSESSIONS_REDIS_CLUSTER_ADDRS",
			func(addrs string) goredis.UniversalClient {
				return goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
			},
			func(addrs string) []string { return []string{addrs, strings.Split(addrs, ",")[0]} }},
	} {
		t.Run(tg.name, func(t *testing.T) {
			addr := requireService(t, tg.env, "Redis")
			t.Parallel()
			client := tg.client(addr)
			t.Cleanup(func() { client.Close() })
			for _, flagAddr := range tg.addrs(addr) {
				testRedisPersister(t, client, flagAddr)
			}
		})
	}
}

func testRedisPersister(t *testing.T, client goredis.UniversalClient, addr string) {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	prefix := "qsessions-test:cli:" + hex.EncodeToString(b[:]) + ":"
	p, err := qsredis.New(client, &qsredis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"--redis-persister", addr, "--redis-prefix", prefix}
	expired, live := seedExpiry(t)
	now := time.Now()
	other := record(t, "alice", "192.0.2.3", macChrome, now.Add(-time.Minute), now.Add(time.Hour))
	bob := record(t, "bob", "192.0.2.4", macChrome, now, now.Add(time.Hour))
	all := append(append(slices.Clone(expired), live...), other, bob)
	for _, r := range all {
		if err := p.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { redistest.DeleteKeys(t, client, prefix) })

	r := cli(t, nil, append([]string{"clear-expired"}, flags...)...)
	wantExit(t, r, 0)
	if r.stdout != "deleted 3 expired sessions\n" {
		t.Errorf("clear-expired %s: stdout %q, want \"deleted 3 expired sessions\\n\"", addr, r.stdout)
	}
	for _, rec := range expired {
		if _, err := p.Load(ctx, rec.ID); !errors.Is(err, qsessions.ErrNotFound) {
			t.Errorf("expired session after clear-expired: %v", err)
		}
	}

	r = cli(t, nil, append([]string{"sessions", "list", "--user", "alice", "--json"}, flags...)...)
	wantExit(t, r, 0)
	var got []sessionJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("sessions list --json: %v\n%s", err, r.stdout)
	}
	if len(got) != 2 || got[0].ID != live[0].ID || got[1].ID != other.ID {
		t.Errorf("sessions list --user alice %s: %+v; want %s then %s", addr, got, live[0].ID, other.ID)
	}

	r = cli(t, nil, append([]string{"sessions", "revoke", "--user", "alice", "--except", other.ID}, flags...)...)
	wantExit(t, r, 0)
	if r.stdout != "revoked 1 session of user \"alice\" (except the 1 session given)\n" {
		t.Errorf("sessions revoke --user alice --except: %q", r.stdout)
	}
	r = cli(t, nil, append([]string{"sessions", "revoke", bob.ID}, flags...)...)
	wantExit(t, r, 0)
	left, err := p.ListByUser(ctx, "alice")
	if err != nil || len(left) != 1 || left[0].ID != other.ID {
		t.Errorf("alice's sessions after the revoke: %v, %v; want only %s", ids(left), err, other.ID)
	}
	if _, err := p.Load(ctx, bob.ID); !errors.Is(err, qsessions.ErrNotFound) {
		t.Errorf("bob's session after sessions revoke ID: %v", err)
	}
	// The anonymous live session is untouched.
	if _, err := p.Load(ctx, live[1].ID); err != nil {
		t.Errorf("the anonymous session: %v", err)
	}
}

// Bad --redis-persister command lines fail before anything is changed.
func TestRedisPersisterUsage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"clear-expired", "--redis-persister", "127.0.0.1:1", "--sqlite", "x.db"}, 2, "exclusive"},
		{[]string{"clear-expired", "--redis-persister", "127.0.0.1:1", "--table", "t"}, 2, "--table applies to --sqlite and --postgres only"},
		{[]string{"clear-expired", "--redis-persister", "127.0.0.1:1", "--schema", "s"}, 2, "--schema applies to --postgres only"},
		{[]string{"sessions", "list", "--user", "a", "--sqlite", "x.db", "--redis-prefix", "p:"}, 2, "--redis-prefix applies to --redis-persister only"},
		{[]string{"sessions", "list", "--user", "a", "--redis-persister", "127.0.0.1:1"}, 1, "redis persister at 127.0.0.1:1"},
		{[]string{"sessions", "revoke", "--user", "a", "--redis-persister", "redis://:hunter2@127.0.0.1:1/nonsense"}, 1, "invalid URL in --redis-persister"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := cli(t, nil, c.args...)
			wantExit(t, r, c.code, c.msg)
			if strings.Contains(r.stderr, "hunter2") {
				t.Error("the Redis password is printed")
			}
		})
	}
	r := cli(t, nil, "clear-expired", "--help")
	wantExit(t, r, 0)
	for _, want := range []string{"--redis-persister ADDR", "--redis-prefix prefix"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("clear-expired --help does not show %q\n%s", want, r.stdout)
		}
	}
}
