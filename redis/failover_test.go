package redis_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions/internal/testenv"
)

// A master of a Redis Cluster of the test's own (three masters, a replica
// each) is killed under a write load; its replica takes over. While it
// does, requests on its slots fail with 500, never as a signed-out
// session; afterwards every session is there, and the writes go on. The
// test reports what the asynchronous replication lost.
func TestClusterFailover(t *testing.T) {
	cliBin, err := exec.LookPath("redis-cli")
	if err != nil {
		testenv.Missing(t, "no redis-cli binary on PATH")
	}
	var nodes []*server
	var addrs []string
	for range 6 {
		// The bus on a port of its own: port + 10000, the default, may be
		// taken or past 65535.
		n := startServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(freePort(t)),
			"--cluster-node-timeout", "1000", "--appendonly", "no", "--save", "")
		nodes = append(nodes, n)
		addrs = append(addrs, n.addr())
	}
	// redis-cli waits for the nodes to agree, without a time limit.
	cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	create := exec.CommandContext(cctx, cliBin, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "1", "--cluster-yes")...)
	orphanProof(create)
	out, err := create.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx := context.Background()
	admin := make([]*goredis.Client, len(nodes))
	for i, n := range nodes {
		admin[i] = n.client(&goredis.Options{MaxRetries: -1})
	}
	waitFor(t, 20*time.Second, "the cluster to be ready", func() bool {
		for _, c := range admin {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
			repl, err := c.Info(ctx, "replication").Result()
			if err != nil || strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				return false
			}
		}
		return true
	})

	client := goredis.NewClusterClient(&goredis.ClusterOptions{
		Addrs:              addrs,
		DialTimeout:        200 * time.Millisecond,
		ReadTimeout:        500 * time.Millisecond,
		WriteTimeout:       500 * time.Millisecond,
		MaxRetries:         1,
		DialerRetries:      1,
		DialerRetryTimeout: time.Millisecond,
	})
	t.Cleanup(func() { client.Close() })
	app := newAppServer(t, "app", client, newPrefix(t, client), "", nil)

	// The victim: a master; a survivor to ask how the cluster is.
	victim, survivor := -1, -1
	for i, c := range admin {
		repl, err := c.Info(ctx, "replication").Result()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case victim < 0 && strings.Contains(repl, "role:master"):
			victim = i
		case survivor < 0:
			survivor = i
		}
	}
	victimID, err := admin[victim].ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	var tookOver time.Duration
	res := faultLoad(t, app, 500*time.Millisecond, func() {
		start := time.Now()
		nodes[victim].kill()
		waitFor(t, 30*time.Second, "a replica to take over", func() bool {
			ns, err := admin[survivor].ClusterNodes(ctx).Result()
			if err != nil {
				return false
			}
			info, err := admin[survivor].ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok") && failed(ns, victimID)
		})
		tookOver = time.Since(start)
	}, func() {
		client.ReloadState(ctx)
	})
	t.Logf("%d writes acknowledged, %d failed while the master was down (a replica took over %v after the kill, the service back after %v); "+
		"afterwards %d of %d sessions were gone and %d had lost acknowledged writes (%d writes in all)",
		res.acked, res.failed, tookOver.Round(time.Millisecond), res.down.Round(time.Millisecond),
		res.sessionsGone, res.sessions, res.sessionsBehind, res.writesLost)
	if res.sessionsGone > 0 {
		t.Errorf("%d sessions, created and replicated before the failover, were gone after it", res.sessionsGone)
	}
}

// failed reports whether CLUSTER NODES output ns flags node id as failed
// (not merely suspected).
func failed(ns, id string) bool {
	for line := range strings.SplitSeq(ns, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[0] == id {
			for flag := range strings.SplitSeq(f[2], ",") {
				if flag == "fail" {
					return true
				}
			}
		}
	}
	return false
}

// waitFor polls ok until it reports true, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
