package redis_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/redis"
)

// BenchmarkStore is a request through the Store's middleware over the
// Redis Persister, with no cache and with the same Redis as the cache in
// front (gocache.NewRedis): a read-only request (the user ID), a write (a
// counter that changes every request), and a read after a write (the
// first read of a session another request just changed, which refills the
// cache). On QSESSIONS_REDIS_ADDR:
//
//	go test -run '^$' -bench Store -benchmem ./redis/
func BenchmarkStore(b *testing.B) {
	client := singleClient(b)
	for _, cached := range []bool{false, true} {
		name := "NoCache"
		if cached {
			name = "Cache"
		}
		b.Run(name, func(b *testing.B) {
			st := benchStore(b, client, cached)
			token := benchLogin(b, st)
			n := 0
			read := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if qsessions.FromContext(r.Context()).UserID() != "alice" {
					http.Error(w, "no user", http.StatusInternalServerError)
					return
				}
				io.WriteString(w, "ok")
			}))
			write := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n++
				if err := qsessions.FromContext(r.Context()).Set("n", n); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				io.WriteString(w, "ok")
			}))
			b.Run("ReadOnly", func(b *testing.B) { serveBench(b, read, token) })
			b.Run("Write", func(b *testing.B) { serveBench(b, write, token) })
			b.Run("ReadAfterWrite", func(b *testing.B) {
				r := benchRequest(token)
				for b.Loop() {
					b.StopTimer()
					serveOnce(b, write, r)
					b.StartTimer()
					serveOnce(b, read, r)
				}
			})
		})
	}
}

func benchStore(b *testing.B, client goredis.UniversalClient, cached bool) *qsessions.Store {
	b.Helper()
	p, err := redis.New(client, &redis.Options{Prefix: newPrefix(b, client)})
	if err != nil {
		b.Fatal(err)
	}
	var cache qsessions.Cache
	if cached {
		if cache, err = gocache.NewRedis(client, &gocache.Options{Prefix: newPrefix(b, client)}); err != nil {
			b.Fatal(err)
		}
	}
	st, err := qsessions.New(cache, p, &qsessions.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// benchLogin signs alice in through st and returns the session's token.
func benchLogin(b *testing.B, st *qsessions.Store) string {
	b.Helper()
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := qsessions.FromContext(r.Context()).Login(r.Context(), "alice"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, benchRequest(""))
	c := strings.TrimPrefix(strings.Split(w.Header().Get("Set-Cookie"), ";")[0], "sessionid=")
	if w.Code != http.StatusOK || c == "" {
		b.Fatalf("login: %d %q", w.Code, w.Body)
	}
	return c
}

func benchRequest(token string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("User-Agent", chrome)
	if token != "" {
		r.Header.Set("Cookie", "sessionid="+token)
	}
	return r
}

func serveOnce(b *testing.B, h http.Handler, r *http.Request) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatalf("%d %q", w.Code, w.Body)
	}
}

func serveBench(b *testing.B, h http.Handler, token string) {
	r := benchRequest(token)
	serveOnce(b, h, r) // a first cache fill is not measured
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(b, h, r)
	}
}

// BenchmarkListByUser lists a user's 10 sessions among 1000, with the
// default 16 shards and with one.
func BenchmarkListByUser(b *testing.B) {
	client := singleClient(b)
	for _, shards := range []int{1, redis.DefaultShards} {
		b.Run(fmt.Sprintf("Shards%d", shards), func(b *testing.B) {
			p, err := redis.New(client, &redis.Options{Prefix: newPrefix(b, client), Shards: shards})
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			createMany(b, p, 1000, func(i int) qsessions.Record { return record(fmt.Sprintf("user%d", i/10), now) })
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if rs, err := p.ListByUser(ctx, "user7"); err != nil || len(rs) != 10 {
					b.Fatalf("%d records, %v", len(rs), err)
				}
			}
		})
	}
}
