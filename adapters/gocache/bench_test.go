package gocache_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

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

// BenchmarkCache measures each Cache operation through the adapter over
// each store, memory.Cache (without the adapter) as the baseline, with a
// 300-byte value, about a session record:
//
//	QSESSIONS_REDIS_ADDR=127.0.0.1:16379 go test -run '^$' -bench 'Cache/' -benchmem ./adapters/gocache/
//
// Add writes a new key each time (its name is the one allocation the
// benchmark adds); CompareAndSwap swaps one key back and forth between
// two values, succeeding every time.
func BenchmarkCache(b *testing.B) {
	caches := []struct {
		name string
		open func(b *testing.B) qsessions.ConditionalCache
	}{
		{"Memory", func(*testing.B) qsessions.ConditionalCache { return memory.NewCache() }},
	}
	for _, be := range backends {
		caches = append(caches, struct {
			name string
			open func(b *testing.B) qsessions.ConditionalCache
		}{be.name, func(b *testing.B) qsessions.ConditionalCache {
			c, _, _ := newCache(b, be)
			return c
		}})
	}
	value := bytes.Repeat([]byte("v"), 300)
	other := bytes.Repeat([]byte("w"), 300)
	ctx := context.Background()
	for _, cc := range caches {
		b.Run(cc.name+"/Get", func(b *testing.B) {
			c := cc.open(b)
			if err := c.Set(ctx, "k", value, time.Hour); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Get(ctx, "k"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(cc.name+"/Set", func(b *testing.B) {
			c := cc.open(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Set(ctx, "k", value, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(cc.name+"/Add", func(b *testing.B) {
			c := cc.open(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				ok, err := c.Add(ctx, "k"+strconv.Itoa(i), value, time.Minute)
				if err != nil || !ok {
					b.Fatalf("Add = %v, %v", ok, err)
				}
			}
		})
		b.Run(cc.name+"/CompareAndSwap", func(b *testing.B) {
			c := cc.open(b)
			if err := c.Set(ctx, "k", value, time.Hour); err != nil {
				b.Fatal(err)
			}
			old, next := value, other
			b.ReportAllocs()
			for b.Loop() {
				ok, err := c.CompareAndSwap(ctx, "k", old, next, time.Hour)
				if err != nil || !ok {
					b.Fatalf("CompareAndSwap = %v, %v", ok, err)
				}
				old, next = next, old
			}
		})
	}
}
