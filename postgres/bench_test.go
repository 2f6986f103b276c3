package postgres_test

// Benchmarks on a table of 1,000,000 sessions (100,000 users with 10 each),
// seeded with COPY into a schema of their own (qs_bench_<random hex>) on
// first use and dropped when the test binary exits. Seeding takes a while,
// and happens only when a benchmark runs, that is under -bench:
//
//	QSESSIONS_POSTGRES_DSN='postgres://postgres@127.0.0.1:15432/postgres?sslmode=disable' \
//	    go test -run '^$' -bench . -benchtime 3s ./postgres/

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/binding"
	"github.com/qsessions/qsessions/postgres"
)

const (
	benchRows        = 1_000_000
	benchPerUser     = 10
	benchUsers       = benchRows / benchPerUser
	benchDataSize    = 256
	benchBindingSize = 196 // a dbsc binding with an EC key
)

var benchBase = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

var benchState struct {
	once   sync.Once
	err    error
	pool   *pgxpool.Pool
	schema string
	p      *postgres.Persister

	// updates counts the Updates of each row since seeding: row i is at
	// version 1 + updates[i].
	updates map[int]int64
}

// benchID is the ID of seeded row i.
func benchID(i int) string {
	sum := sha256.Sum256([]byte("qsessions bench " + strconv.Itoa(i)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func benchUser(i int) string { return fmt.Sprintf("user-%06d", i%benchUsers) }

// benchRecord is seeded row i, last written at updated. Every row is
// signed in; every other one is device-bound.
func benchRecord(i int, updated time.Time) qsessions.Record {
	data := make([]byte, benchDataSize)
	for j := range data {
		data[j] = byte(i + j)
	}
	var bind []byte
	if i%2 == 0 {
		bind = make([]byte, benchBindingSize)
		for j := range bind {
			bind[j] = byte(i*7 + j)
		}
	}
	meta := qsessions.EncodeMeta(qsessions.SessionInfo{
		IP:              "198.51.100." + strconv.Itoa(i%250),
		UserAgent:       "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
		CreatedAt:       benchBase.Add(-time.Duration(i%86400) * time.Second),
		AuthenticatedAt: benchBase.Add(-time.Duration(i%86400) * time.Second),
		AuthMethod:      "password",
	})
	if bind != nil {
		var err error
		if meta, err = binding.SetInMeta(meta, bind); err != nil {
			panic(err)
		}
	}
	return qsessions.Record{
		ID:        benchID(i),
		Version:   1,
		UserID:    benchUser(i),
		UpdatedAt: updated,
		ExpiresAt: benchBase.Add(14*24*time.Hour + time.Duration(i%86400)*time.Second),
		Data:      data,
		Meta:      meta,
	}
}

// benchPersister returns a Persister over the seeded table, seeding it on
// first use.
func benchPersister(b *testing.B) *postgres.Persister {
	b.Helper()
	dsn := needService(b, envDSN, "a PostgreSQL server")
	benchState.once.Do(func() {
		benchState.err = seedBench(dsn)
	})
	if benchState.err != nil {
		b.Fatal(benchState.err)
	}
	return benchState.p
}

func seedBench(dsn string) error {
	pool, err := newPool(dsn, "qsessions-postgres-bench", 8)
	if err != nil {
		return err
	}
	benchState.pool = pool
	benchState.schema = "qs_bench_" + randomHex(8)
	ctx := context.Background()
	p, err := postgres.New(ctx, pool, &postgres.Options{Schema: benchState.schema})
	if err != nil {
		return err
	}
	start := time.Now()
	cols := []string{"id", "version", "data", "user_id", "updated_at", "expires_at", "meta"}
	i := 0
	n, err := pool.CopyFrom(ctx, pgx.Identifier{benchState.schema, postgres.DefaultTable}, cols,
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == benchRows {
				return nil, nil
			}
			r := benchRecord(i, benchBase.Add(-time.Duration(i%(30*86400))*time.Second))
			i++
			return []any{r.ID, r.Version, r.Data, r.UserID, r.UpdatedAt, r.ExpiresAt, r.Meta}, nil
		}))
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if n != benchRows {
		return fmt.Errorf("seed: copied %d rows, want %d", n, benchRows)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE "+pgx.Identifier{benchState.schema, postgres.DefaultTable}.Sanitize()); err != nil {
		return err
	}
	fmt.Printf("seeded %d rows with COPY in %v\n", n, time.Since(start).Round(time.Millisecond))
	benchState.p = p
	benchState.updates = make(map[int]int64)
	return nil
}

// dropBenchSchema drops the benchmark schema, if a benchmark made one.
func dropBenchSchema() {
	if benchState.pool == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if benchState.schema != "" {
		if _, err := benchState.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{benchState.schema}.Sanitize()+" CASCADE"); err != nil {
			fmt.Printf("drop %s: %v\n", benchState.schema, err)
		}
	}
	benchState.pool.Close()
}

func BenchmarkLoad(b *testing.B) {
	p := benchPersister(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		i := rng.IntN(benchRows)
		if _, err := p.Load(ctx, benchID(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadParallel is Load from many goroutines over a pool of 8
// connections: throughput rather than latency.
func BenchmarkLoadParallel(b *testing.B) {
	p := benchPersister(b)
	ctx := context.Background()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 3))
		for pb.Next() {
			if _, err := p.Load(ctx, benchID(rng.IntN(benchRows))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	p := benchPersister(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	now := benchBase
	for b.Loop() {
		now = now.Add(time.Millisecond)
		i := rng.IntN(benchRows)
		r := benchRecord(i, now)
		r.Version += benchState.updates[i]
		if err := p.Update(ctx, r); err != nil {
			b.Fatal(err)
		}
		benchState.updates[i]++
	}
}

func BenchmarkListByUser(b *testing.B) {
	p := benchPersister(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	for b.Loop() {
		rs, err := p.ListByUser(ctx, benchUser(rng.IntN(benchUsers)))
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != benchPerUser {
			b.Fatalf("ListByUser returned %d records, want %d", len(rs), benchPerUser)
		}
	}
}
