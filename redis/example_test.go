package redis_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/redis"
)

// Sessions in Redis alone: the Persister over the application's client,
// and no cache in front of it. One process (or a cron job running
// qsessions clear-expired) sweeps the expired sessions.
// (This example needs a Redis server, so it is compiled but not run.)
func Example() {
	client := goredis.NewClient(&goredis.Options{Addr: os.Getenv("REDIS_ADDR")})
	defer client.Close()

	p, err := redis.New(client, nil)
	if errors.Is(err, redis.ErrEvicting) {
		log.Fatal(err, " (CONFIG SET maxmemory-policy noeviction, and in redis.conf)")
	}
	if err != nil {
		log.Fatal(err)
	}
	st, err := qsessions.New(nil, p, &qsessions.Options{Lifetime: 14 * 24 * time.Hour})
	if err != nil {
		log.Fatal(err)
	}

	go func() {
		for range time.Tick(time.Hour) {
			if _, err := st.DeleteExpired(context.Background()); err != nil {
				log.Print(err)
			}
		}
	}()

	mux := http.NewServeMux()
	log.Fatal(http.ListenAndServe(":8080", st.Middleware(mux)))
}

// On a Redis Cluster: a ClusterClient, and the same options on every app
// server. (Compiled but not run: it needs a cluster.)
func ExampleNew_cluster() {
	client := goredis.NewClusterClient(&goredis.ClusterOptions{
		Addrs: strings.Split(os.Getenv("REDIS_CLUSTER_ADDRS"), ","),
	})
	defer client.Close()

	p, err := redis.New(client, &redis.Options{Prefix: "shop-sessions:"})
	if err != nil {
		log.Fatal(err)
	}
	st, err := qsessions.New(nil, p, nil)
	if err != nil {
		log.Fatal(err)
	}
	_ = st
}

// Options are checked before anything reaches the server: a prefix may not
// hold the braces of a hash tag.
func ExampleOptions() {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()

	_, err := redis.New(client, &redis.Options{Prefix: "shop{eu}:"})
	fmt.Println(err)
	_, err = redis.New(client, &redis.Options{Shards: 5000})
	fmt.Println(err)
	// Output:
	// redis: Options.Prefix "shop{eu}:" contains { or }, which would change the keys' hash tags
	// redis: Options.Shards is 5000; want 1 to 1024
}
