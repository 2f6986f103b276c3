package qsessions_test

import (
	"context"
	"errors"
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

// A save that loses the race to another writer every time gives up after
// ten attempts with ErrConflict, writing nothing of its own; one whose ctx
// ends while it waits between attempts stops there.
func TestSaveKeepsLosingRaces(t *testing.T) {
	for _, cancelAt := range []int64{0, 3} {
		mem := memory.NewPersister()
		p := &countingPersister{Persister: mem}
		st, err := qsessions.New(nil, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := st.Load(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("who", "first"); err != nil {
			t.Fatal(err)
		}
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := s.Set("who", "loser"); err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		p.updates.Store(0)
		// Before each of the save's Updates, another writer writes the
		// record first, so that the save's version is always stale.
		p.beforeUpdate = func(r qsessions.Record) {
			if p.updates.Load() == cancelAt {
				cancel()
			}
			cur, err := mem.Load(ctx, r.ID)
			if err != nil {
				t.Error(err)
				return
			}
			if err := mem.Update(ctx, cur); err != nil {
				t.Error(err)
			}
		}
		err = st.Save(sctx, s)
		cancel()
		want, wantUpdates := qsessions.ErrConflict, int64(10)
		if cancelAt > 0 {
			want, wantUpdates = context.Canceled, cancelAt
		}
		if !errors.Is(err, want) {
			t.Errorf("cancel at %d: Save = %v, want an error wrapping %v", cancelAt, err, want)
		}
		if n := p.updates.Load(); n != wantUpdates {
			t.Errorf("cancel at %d: Save made %d Updates, want %d", cancelAt, n, wantUpdates)
		}
		p.beforeUpdate = nil
		again, err := st.Load(ctx, s.Token())
		if err != nil {
			t.Fatal(err)
		}
		var who string
		if _, err := again.Get("who", &who); err != nil || who != "first" {
			t.Errorf("cancel at %d: stored value %q (%v), want %q: the losing save wrote nothing", cancelAt, who, err, "first")
		}
	}
}
