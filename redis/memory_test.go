package redis_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/redis"
)

// chrome is the User-Agent of the sessions measured: a current desktop
// Chrome, 111 bytes.
const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// Memory per session, as the README and the package documentation give
// it: 3,000 signed-in sessions (300 users with 10 each; each shard's
// expiry index then holds more than 128 entries, and so is a skip list, as
// at scale) made through the Store's middleware (IP and User-Agent
// recorded, a CSRF secret and a cart in the values), on a Redis server of
// the test's own, measured with MEMORY USAGE per key and with used_memory
// in all. Run with -v to see the figures.
func TestMemoryPerSession(t *testing.T) {
	for _, c := range []struct {
		name   string
		shards int
		config map[string]string
	}{
		{"Default", 0, nil},
		{"OneShard", 1, nil},
		{"Listpack1024", 0, map[string]string{"hash-max-listpack-value": "1024"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startServer(t, "--save", "", "--appendonly", "no")
			client := srv.client(nil)
			ctx := context.Background()
			for k, v := range c.config {
				if err := client.ConfigSet(ctx, k, v).Err(); err != nil {
					t.Fatal(err)
				}
			}
			m := measureMemory(t, client, c.shards, false)
			t.Logf("%s: %s", c.name, m)
			if m.total > 2048 {
				t.Errorf("%.0f bytes per session; the package documentation says about 1,300", m.total)
			}
		})
	}
	t.Run("WithCache", func(t *testing.T) {
		srv := startServer(t, "--save", "", "--appendonly", "no")
		m := measureMemory(t, srv.client(nil), 0, true)
		t.Logf("WithCache: %s", m)
	})
}

type memory struct {
	sessions                     int
	record, user, expiry, cached float64 // bytes per session, by key kind
	total                        float64 // used_memory per session
	encoding                     string  // of a record hash
}

func (m memory) String() string {
	s := fmt.Sprintf("%d sessions, per session: record hash %.0f B (%s), user index %.0f B, expiry index %.0f B",
		m.sessions, m.record, m.encoding, m.user, m.expiry)
	if m.cached > 0 {
		s += fmt.Sprintf(", cache entry %.0f B", m.cached)
	}
	return s + fmt.Sprintf("; used_memory %.0f B per session", m.total)
}

func measureMemory(t *testing.T, client *goredis.Client, shards int, cached bool) memory {
	ctx := context.Background()
	const users, perUser = 300, 10
	used0 := usedMemory(t, client)
	p, err := redis.New(client, &redis.Options{Prefix: "qs:", Shards: shards})
	if err != nil {
		t.Fatal(err)
	}
	var cache qsessions.Cache
	if cached {
		if cache, err = gocache.NewRedis(client, &gocache.Options{Prefix: "qc:"}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := qsessions.New(cache, p, &qsessions.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		s.Set("csrf", "dXJ3b3FvZW5vZmNhbWVzaG91bGRub3RiZWd1ZXNzZWQ")
		s.Set("cart", []int{1042, 77})
		if err := s.Login(r.Context(), r.URL.Query().Get("u")); err != nil {
			t.Error(err)
		}
		io.WriteString(w, "ok")
	}))
	tokens := make([]string, 0, users*perUser)
	for i := range users * perUser {
		r := httptest.NewRequest("POST", "/login?u=user"+strconv.Itoa(i/perUser), nil)
		r.RemoteAddr = "203.0.113." + strconv.Itoa(i%250) + ":50000"
		r.Header.Set("User-Agent", chrome)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("login: %d %s", w.Code, w.Body)
		}
		tokens = append(tokens, strings.TrimPrefix(strings.Split(w.Header().Get("Set-Cookie"), ";")[0], "sessionid="))
	}
	if cached {
		// Every session read once, as by its next request: the cache
		// holds them all.
		for _, tok := range tokens {
			if s, err := st.Load(ctx, tok); err != nil || s.IsNew() {
				t.Fatalf("load: %v", err)
			}
		}
	}
	used1 := usedMemory(t, client)
	n := users * perUser
	m := memory{sessions: n, total: float64(used1-used0) / float64(n)}
	sum := func(pattern string) float64 {
		var total int64
		for _, k := range scanKeys(t, client, pattern) {
			b, err := client.MemoryUsage(ctx, k, 0).Result()
			if err != nil {
				t.Fatal(err)
			}
			total += b
		}
		return float64(total) / float64(n)
	}
	m.record, m.user, m.expiry = sum("qs:*:r:*"), sum("qs:*:u:*"), sum("qs:*:e")
	if cached {
		m.cached = sum("qc:*")
	}
	recs := scanKeys(t, client, "qs:*:r:*")
	if len(recs) != n {
		t.Fatalf("%d record keys, want %d", len(recs), n)
	}
	m.encoding, _ = client.ObjectEncoding(ctx, recs[0]).Result()
	return m
}

func usedMemory(t *testing.T, c *goredis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("no used_memory in INFO memory")
	return 0
}

func scanKeys(t *testing.T, c *goredis.Client, pattern string) []string {
	t.Helper()
	ks, err := c.Keys(context.Background(), pattern).Result()
	if err != nil {
		t.Fatal(err)
	}
	return ks
}
