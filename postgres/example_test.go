package postgres_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	redisstore "github.com/eko/gocache/store/redis/v4"
	"github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/postgres"
)

// Several app servers share their sessions: each runs this same program,
// with Redis as the cache and PostgreSQL as the source of truth. The first
// server to start creates the table; the others find it ready.
// (This example needs the two servers, so it is compiled but not run.)
func Example() {
	ctx := context.Background()

	p, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR")})
	defer rdb.Close()
	cache, err := gocache.New(redisstore.NewRedis(rdb), nil)
	if err != nil {
		log.Fatal(err)
	}

	st, err := qsessions.New(cache, p, &qsessions.Options{Lifetime: 14 * 24 * time.Hour})
	if err != nil {
		log.Fatal(err)
	}

	// One server (or a cron job) sweeps expired sessions; sweepers on
	// several servers skip each other's rows instead of waiting.
	go func() {
		for range time.Tick(time.Hour) {
			if _, err := st.DeleteExpired(ctx); err != nil {
				log.Print(err)
			}
		}
	}()

	mux := http.NewServeMux()
	log.Fatal(http.ListenAndServe(":8080", st.Middleware(mux)))
}

// Schema and table names are checked before anything reaches the server.
func ExampleOptions() {
	ctx := context.Background()
	_, err := postgres.Open(ctx, "postgres://app@db.internal/app", &postgres.Options{
		Schema: "sessions",
		Table:  "web-sessions",
	})
	fmt.Println(err)
	// Output:
	// postgres: invalid table name "web-sessions": use ASCII letters, digits and underscores, not starting with a digit
}
