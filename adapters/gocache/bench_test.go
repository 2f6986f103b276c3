package gocache_test

import (
	"context"
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

// BenchmarkStoreLoadHit measures Store.Load of an existing session that
// the cache holds, through the adapter over each store (memory.Cache,
// without the adapter, as the baseline):
//
//	QSESSIONS_REDIS_ADDR=127.0.0.1:16379 go test -run '^$' -bench StoreLoadHit -benchmem ./adapters/gocache/
func BenchmarkStoreLoadHit(b *testing.B) {
	b.Run("Memory", func(b *testing.B) { benchLoadHit(b, memory.NewCache()) })
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			c, _, _ := newCache(b, be)
			benchLoadHit(b, c)
		})
	}
}

func benchLoadHit(b *testing.B, cache qsessions.Cache) {
	persister := newPersister()
	st, err := qsessions.New(cache, persister, nil)
	if err != nil {
		b.Fatal(err)
	}
	token := newSession(b, st, "a value")
	ctx := context.Background()
	loads := persister.loads.Load()
	b.ReportAllocs()
	for b.Loop() {
		s, err := st.Load(ctx, token)
		if err != nil {
			b.Fatal(err)
		}
		if s.IsNew() {
			b.Fatal("Load returned a new session")
		}
	}
	if n := persister.loads.Load() - loads; n != 0 {
		b.Fatalf("%d of the loads missed the cache and read the Persister", n)
	}
}

// BenchmarkStoreLoadHitParallel is BenchmarkStoreLoadHit from GOMAXPROCS
// goroutines at once, each loading the same session.
func BenchmarkStoreLoadHitParallel(b *testing.B) {
	b.Run("Memory", func(b *testing.B) { benchLoadHitParallel(b, memory.NewCache()) })
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			c, _, _ := newCache(b, be)
			benchLoadHitParallel(b, c)
		})
	}
}

func benchLoadHitParallel(b *testing.B, cache qsessions.Cache) {
	persister := newPersister()
	st, err := qsessions.New(cache, persister, nil)
	if err != nil {
		b.Fatal(err)
	}
	token := newSession(b, st, "a value")
	ctx := context.Background()
	loads := persister.loads.Load()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, err := st.Load(ctx, token)
			if err != nil {
				b.Error(err)
				return
			}
			if s.IsNew() {
				b.Error("Load returned a new session")
				return
			}
		}
	})
	if n := persister.loads.Load() - loads; n != 0 {
		b.Fatalf("%d of the loads missed the cache and read the Persister", n)
	}
}
