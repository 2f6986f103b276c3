//go:build !wasm

// Ristretto (github.com/dgraph-io/ristretto v0.1.1) does not build on
// WebAssembly: its z package has no wasm allocator or mmap. Its tests
// live here, out of the wasm builds.

package gocache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto"
	ristrettostore "github.com/eko/gocache/store/ristretto/v4"

	adapter "github.com/qsessions/qsessions/adapters/gocache"
)

func init() {
	backends = append(backends, backend{name: "Ristretto", open: openRistretto})
}

func newRistretto(t testing.TB) *ristretto.Cache {
	t.Helper()
	rc, err := ristretto.NewCache(&ristretto.Config{
		NumCounters: 100_000,  // ten times the entries expected
		MaxCost:     64 << 20, // bytes, with the adapter's default cost
		BufferItems: 64,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	return rc
}

func openRistretto(t testing.TB) (adapter.Backend, adapter.Options) {
	return ristrettostore.NewRistretto(newRistretto(t)), adapter.Options{}
}

// Ristretto applies writes on a goroutine of its own; without
// WithSynchronousSet a Get right after a Set usually misses.
func TestRistrettoGetAfterSet(t *testing.T) {
	c, _, _ := newCache(t, backend{name: "Ristretto", open: openRistretto})
	ctx := context.Background()
	for i := range 2000 {
		key := fmt.Sprint("k", i)
		if err := c.Set(ctx, key, []byte(key), time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get(%q) right after Set: %v", key, err)
		}
		if string(got) != key {
			t.Fatalf("Get(%q) = %q", key, got)
		}
	}
}
