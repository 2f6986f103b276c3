package gocache_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	redisstore "github.com/eko/gocache/store/redis/v4"
	"github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	adapter "github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/internal/testenv"
)

// redisServer is a redis-server process of the test's own, on a loopback
// port, that the test can stop and start again.
type redisServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedisServer starts redis-server on a free loopback port. It skips
// (or fails, with QSESSIONS_REQUIRE_SERVICES=1) when there is no
// redis-server binary.
func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	if runtime.GOARCH == "wasm" {
		testenv.Missing(t, "redis-server cannot run here")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Missing(t, "no redis-server binary on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &redisServer{t: t, bin: bin, dir: t.TempDir(), port: port}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(s.port),
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"))
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server not listening on %s: %v", s.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server (only the process this test started) and waits
// for it to exit.
func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// A Redis outage is never fatal: while the server is down, sessions are
// served from the Persister and the cache errors are logged; once it is
// back, loads fill the cache again.
func TestRedisOutage(t *testing.T) {
	srv := startRedisServer(t)
	client := redis.NewClient(&redis.Options{
		Addr:         srv.addr(),
		DialTimeout:  200 * time.Millisecond,
		ReadTimeout:  200 * time.Millisecond,
		WriteTimeout: 200 * time.Millisecond,
		MaxRetries:   -1,
		// One dial attempt per command, so that the outage is quick to see.
		DialerRetries:      1,
		DialerRetryTimeout: time.Millisecond,
	})
	t.Cleanup(func() { client.Close() })
	prefix := uniquePrefix(t)
	cache, err := adapter.New(redisstore.NewRedis(client), &adapter.Options{Prefix: prefix, Redis: client})
	if err != nil {
		t.Fatal(err)
	}
	persister := newPersister()
	logs := &logRecorder{}
	st, err := qsessions.New(cache, persister, &qsessions.Options{
		Logger:    slog.New(logs),
		KeyPrefix: "s:",
	})
	if err != nil {
		t.Fatal(err)
	}
	logs.take() // New says, at debug level, which guarantee the Store runs with
	ctx := context.Background()
	token := newSession(t, st, "before")
	s, err := st.Load(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	redisKey := prefix + "s:" + s.ID()
	if n, err := client.Exists(ctx, redisKey).Result(); err != nil || n != 1 {
		t.Fatalf("after Save, %s in Redis: %d, %v", redisKey, n, err)
	}

	// Up: served from Redis, the Persister is not read.
	loads := persister.loads.Load()
	if v := loadValue(t, st, token); v != "before" {
		t.Fatalf("value = %q", v)
	}
	if n := persister.loads.Load() - loads; n != 0 {
		t.Fatalf("with Redis up, a load read the Persister %d times", n)
	}
	if r := logs.take(); len(r) != 0 {
		t.Fatalf("with Redis up, %d log records; first: %s", len(r), r[0].Message)
	}

	// Down: served from the Persister, and a save still reaches it.
	srv.stop()
	loads = persister.loads.Load()
	for range 3 {
		if v := loadValue(t, st, token); v != "before" {
			t.Fatalf("with Redis down, value = %q", v)
		}
	}
	if n := persister.loads.Load() - loads; n < 3 {
		t.Fatalf("with Redis down, 3 loads read the Persister %d times", n)
	}
	s, err = st.Load(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("v", "during"); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatalf("Save with Redis down: %v", err)
	}
	if v := loadValue(t, st, token); v != "during" {
		t.Fatalf("with Redis down, value after Save = %q", v)
	}
	records := logs.take()
	var faults []string
	for _, r := range records {
		if r.Level < slog.LevelWarn {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" {
				faults = append(faults, a.Value.String())
			}
			return true
		})
	}
	if len(faults) == 0 {
		t.Fatalf("with Redis down, no warning with an error attribute among %d log records", len(records))
	}
	for _, f := range faults {
		if !strings.Contains(f, "gocache:") {
			t.Errorf("logged cache error does not come from the adapter: %s", f)
		}
	}
	t.Logf("%d cache faults logged while Redis was down; first: %s", len(faults), faults[0])

	// Back (empty, as after a restart without persistence): loads refill it.
	srv.start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v := loadValue(t, st, token); v != "during" {
			t.Fatalf("after the restart, value = %q", v)
		}
		n, err := client.Exists(ctx, redisKey).Result()
		if err == nil && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache did not fill again after Redis came back: exists %d, %v", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	loads = persister.loads.Load()
	if v := loadValue(t, st, token); v != "during" {
		t.Fatalf("after the refill, value = %q", v)
	}
	if n := persister.loads.Load() - loads; n != 0 {
		t.Fatalf("after the refill, a load read the Persister %d times", n)
	}
}
