package memory

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The sweep drops expired entries and keeps live ones. It runs once the
// writes since the last sweep reach the entries that sweep left, and never
// more often, so that its cost per write stays constant however many
// entries are live.
func TestCacheSweep(t *testing.T) {
	c := NewCache()
	now := time.Unix(1_700_000_000, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	for i := range 3000 {
		if err := c.Set(ctx, fmt.Sprint("expiring", i), []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute)
	sweeps, held, last := 0, c.Len(), c.kept
	writes := c.sets // since the last sweep
	for i := range 6000 {
		ok, err := c.Add(ctx, fmt.Sprint("live", i), []byte("v"), 0)
		if err != nil || !ok {
			t.Fatalf("Add = %v, %v", ok, err)
		}
		writes++
		if n := c.Len(); n < held {
			sweeps++
			if writes < last {
				t.Fatalf("a sweep after %d writes, when the last sweep left %d entries: too early", writes, last)
			}
			writes, last = 0, n
		}
		held = c.Len()
	}
	if sweeps == 0 {
		t.Fatalf("no sweep in 6000 writes: %d entries held, 3000 of them expired", c.Len())
	}
	if n := c.Len(); n > 6000 {
		t.Errorf("%d entries held after the sweep, want the 6000 live ones", n)
	}
	for i := range 6000 {
		if _, err := c.Get(ctx, fmt.Sprint("live", i)); err != nil {
			t.Fatalf("live entry %d: %v", i, err)
		}
	}
}
