package qsessions_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

// A save that loses the race to another process every time retries until
// its context ends (or, without a deadline, until its retry budget is
// spent), then gives up with an error that says why and wraps both
// ErrConflict and the context's error, having written nothing of its own.
func TestSaveKeepsLosingRaces(t *testing.T) {
	qsessions.SetRetryBudgetForTest(t, 300*time.Millisecond)
	for _, c := range []struct {
		name     string
		ctx      func() (context.Context, context.CancelFunc)
		cancelAt int64 // cancel the context before this Update
		after    bool  // cancel it after that Update instead
		want     error
		says     string
	}{
		{"deadline", func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 200*time.Millisecond) },
			0, false, context.DeadlineExceeded, "gave up after"},
		{"cancelled while waiting", func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) },
			3, true, context.Canceled, "gave up after 3 attempts"},
		// The Persister refuses an Update under a cancelled context: after
		// conflicts, the save has given up on them; before any, the error
		// is the Persister's, as it is.
		{"cancelled before an Update", func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) },
			3, false, context.Canceled, "gave up after 2 attempts"},
		{"cancelled before the first Update", func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) },
			1, false, context.Canceled, "context canceled"},
		{"no deadline", func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) },
			0, false, context.DeadlineExceeded, "retry budget of 300ms spent"},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			mem := memory.NewPersister()
			p := &countingPersister{Persister: mem}
			cp := &cancellingPersister{countingPersister: p}
			st, err := qsessions.New(nil, cp, nil)
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
			sctx, cancel := c.ctx()
			defer cancel()
			p.updates.Store(0)
			// Before each of the save's Updates, another process writes
			// the record first, so that the save's version is always
			// stale.
			if c.after {
				cp.after = func() {
					if p.updates.Load() == c.cancelAt {
						cancel()
					}
				}
			}
			p.beforeUpdate = func(r qsessions.Record) {
				if !c.after && c.cancelAt > 0 && p.updates.Load() == c.cancelAt {
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
			start := time.Now()
			err = st.Save(sctx, s)
			elapsed := time.Since(start)
			p.beforeUpdate = nil
			conflict := c.cancelAt != 1 // some Update lost a race before the save gave up
			if errors.Is(err, qsessions.ErrConflict) != conflict || !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("Save = %v; want an error saying %q, wrapping %v (and ErrConflict: %v)", err, c.says, c.want, conflict)
			}
			n := p.updates.Load()
			switch {
			case c.cancelAt > 0 && n != c.cancelAt:
				t.Errorf("Save made %d Updates, want %d: it stops once its context is cancelled", n, c.cancelAt)
			case c.cancelAt == 0 && n < 2:
				// Two at least: it retried. (How many more fit in the
				// time depends on the timers of the platform: on js/wasm
				// under load, two.)
				t.Errorf("Save made %d Updates in %v: it should keep retrying while its context has time", n, elapsed)
			}
			if elapsed > 2*time.Second {
				t.Errorf("Save took %v to give up; its context or budget allowed well under a second", elapsed)
			}
			wantStats := qsessions.WriteStats{Conflicts: n, GiveUps: 1}
			if !c.after && c.cancelAt > 0 {
				// The last Update failed for its context, not a conflict.
				wantStats = qsessions.WriteStats{Conflicts: n - 1, GiveUps: min(1, n-1)}
			}
			if got := qsessions.StatsForTest(st); got != wantStats {
				t.Errorf("stats %+v after %d Updates; want %+v", got, n, wantStats)
			}
			again, err := st.Load(ctx, s.Token())
			if err != nil {
				t.Fatal(err)
			}
			var who string
			if _, err := again.Get("who", &who); err != nil || who != "first" {
				t.Errorf("stored value %q (%v), want %q: the losing save wrote nothing", who, err, "first")
			}
		})
	}
}

// cancellingPersister runs after once each Update has returned.
type cancellingPersister struct {
	*countingPersister
	after func()
}

func (p *cancellingPersister) Update(ctx context.Context, r qsessions.Record) error {
	err := p.countingPersister.Update(ctx, r)
	if p.after != nil {
		p.after()
	}
	return err
}
