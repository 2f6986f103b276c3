package redis_test

// Tests in this package need Redis. They read where it is from
//
//	QSESSIONS_REDIS_ADDR=host:port            a single Redis server
//	QSESSIONS_REDIS_CLUSTER_ADDRS=h:p,h:p,... the masters of a Redis Cluster
//	                                          (.ci/redis-cluster.sh starts one)
//
// and start redis-server processes of their own (for the fault, eviction
// and measurement tests) when the binary is on PATH. Without them they
// skip, unless QSESSIONS_REQUIRE_SERVICES=1, in which case they fail. Each
// test keeps its keys under a prefix of its own and deletes them, and
// nothing else, when it ends, so packages may share the servers.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/redistest"
	"github.com/qsessions/qsessions/internal/testenv"
	"github.com/qsessions/qsessions/redis"
)

const (
	envAddr    = "QSESSIONS_REDIS_ADDR"
	envCluster = "QSESSIONS_REDIS_CLUSTER_ADDRS"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial, and the fault tests make many.
	goredis.SetLogger(quiet{})
	os.Exit(m.Run())
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// A target is a Redis deployment the tests run on.
type target struct {
	name   string
	client func(tb testing.TB) goredis.UniversalClient
}

var targets = []target{
	{"Single", func(tb testing.TB) goredis.UniversalClient { return singleClient(tb) }},
	{"Cluster", func(tb testing.TB) goredis.UniversalClient { return clusterClient(tb) }},
}

// eachTarget runs f as a subtest per target, with a client of the target
// (closed when the subtest ends).
func eachTarget(t *testing.T, f func(t *testing.T, client goredis.UniversalClient)) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) { f(t, tg.client(t)) })
	}
}

// singleClient returns a client of QSESSIONS_REDIS_ADDR.
func singleClient(tb testing.TB) *goredis.Client {
	tb.Helper()
	addr := testenv.Getenv(tb, envAddr, "a Redis server")
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	tb.Cleanup(func() { c.Close() })
	ping(tb, c, addr)
	return c
}

// clusterClient returns a client of the cluster at
// QSESSIONS_REDIS_CLUSTER_ADDRS.
func clusterClient(tb testing.TB) *goredis.ClusterClient {
	tb.Helper()
	addrs := testenv.Getenv(tb, envCluster, "a Redis Cluster (.ci/redis-cluster.sh starts one)")
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	tb.Cleanup(func() { c.Close() })
	ping(tb, c, addrs)
	return c
}

func ping(tb testing.TB, c goredis.UniversalClient, addr string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("redis at %s: %v", addr, err)
	}
}

// newPrefix returns a key prefix that no other test uses, and deletes the
// keys under it when the test ends.
func newPrefix(tb testing.TB, client goredis.UniversalClient) string {
	tb.Helper()
	var b [8]byte
	rand.Read(b[:])
	prefix := "qsessions-test:redis:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() { redistest.DeleteKeys(tb, client, prefix) })
	return prefix
}

// newPersister returns a Persister over client with opts (nil for the
// defaults), under a prefix of the test's own.
func newPersister(tb testing.TB, client goredis.UniversalClient, opts *redis.Options) *redis.Persister {
	tb.Helper()
	var o redis.Options
	if opts != nil {
		o = *opts
	}
	o.Prefix = newPrefix(tb, client)
	p, err := redis.New(client, &o)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// keys returns the keys under prefix, on every master.
func keys(tb testing.TB, client goredis.UniversalClient, prefix string) []string {
	tb.Helper()
	ctx := context.Background()
	var out []string
	scan := func(ctx context.Context, c *goredis.Client) error {
		ks, err := c.Keys(ctx, prefix+"*").Result()
		out = append(out, ks...)
		return err
	}
	var err error
	switch c := client.(type) {
	case *goredis.ClusterClient:
		// ForEachMaster runs in parallel; collect one node at a time.
		var nodes []*goredis.Client
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
			nodes = append(nodes, n)
			return nil
		})
		for _, n := range nodes {
			if err == nil {
				err = scan(ctx, n)
			}
		}
	case *goredis.Client:
		err = scan(ctx, c)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// record returns a record of user, updated now and expiring in a day, with
// metadata as a Store records it.
func record(user string, now time.Time) qsessions.Record {
	now = now.UTC().Truncate(time.Millisecond)
	return qsessions.Record{
		ID:        newID(),
		Version:   1,
		UserID:    user,
		UpdatedAt: now,
		ExpiresAt: now.Add(24 * time.Hour),
		Data:      []byte(`{"cart":[1,2,3]}`),
		Meta: qsessions.EncodeMeta(qsessions.SessionInfo{
			IP:        "203.0.113.7",
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
			CreatedAt: now.Add(-time.Hour),
		}),
	}
}

// newID returns an ID shaped like the Store's: 43 characters of base64url.
func newID() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// A server is a redis-server process of the test's own, on a loopback
// port, in a temporary directory, that the test can kill and start again.
type server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// startServer starts redis-server with the given extra arguments. It skips
// (or fails, with QSESSIONS_REQUIRE_SERVICES=1) when there is no
// redis-server binary.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	if runtime.GOARCH == "wasm" {
		testenv.Missing(t, "redis-server cannot run here")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Missing(t, "no redis-server binary on PATH")
	}
	s := &server{t: t, bin: bin, dir: t.TempDir(), port: freePort(t), args: args}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *server) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// start starts the server, in the same directory (so with the same data
// files) as before, and waits until it answers.
func (s *server) start() {
	s.t.Helper()
	args := append([]string{"--bind", "127.0.0.1", "--port", fmt.Sprint(s.port), "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log")}, s.args...)
	s.cmd = exec.Command(s.bin, args...)
	orphanProof(s.cmd)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	c := goredis.NewClient(&goredis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// PING answers LOADING while the server reads its files.
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server not ready on %s: %v", s.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill kills the server (the process this test started, with SIGKILL: no
// shutdown save) and waits for it to exit.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// client returns a client of the server, closed when the test ends.
func (s *server) client(opts *goredis.Options) *goredis.Client {
	var o goredis.Options
	if opts != nil {
		o = *opts
	}
	o.Addr = s.addr()
	c := goredis.NewClient(&o)
	s.t.Cleanup(func() { c.Close() })
	return c
}
