package qsessions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

// These tests run two operations against shared backends in every order
// their backend calls can take, with no sleeps: each backend call of an
// actor waits for its turn in a schedule, runs alone, and hands the turn
// on. They prove the guarantees of "Concurrent requests" in the package
// documentation one interleaving at a time.

type actorKey struct{}

// as marks ctx as belonging to actor: its backend calls follow the
// schedule.
func as(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// A scheduler lets backend calls through in the order of a schedule of
// actor names. Calls of contexts without an actor, and calls of an actor
// beyond its steps in the schedule, run at once. The steps of an actor that
// has finished are skipped.
type scheduler struct {
	mu    sync.Mutex
	cond  *sync.Cond
	steps []string
	done  map[string]bool
	trace []string
}

func newScheduler(steps []string) *scheduler {
	s := &scheduler{steps: slices.Clone(steps), done: map[string]bool{}}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// call runs f as the named call of ctx's actor, in its turn.
func (s *scheduler) call(ctx context.Context, name string, f func()) {
	actor, _ := ctx.Value(actorKey{}).(string)
	if s == nil || actor == "" {
		f()
		return
	}
	s.mu.Lock()
	for {
		s.skipFinishedLocked()
		if len(s.steps) == 0 || s.steps[0] == actor || !slices.Contains(s.steps, actor) {
			break
		}
		s.cond.Wait()
	}
	mine := len(s.steps) > 0 && s.steps[0] == actor
	s.mu.Unlock()
	f()
	s.mu.Lock()
	s.trace = append(s.trace, actor+"."+name)
	if mine {
		s.steps = s.steps[1:]
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *scheduler) skipFinishedLocked() {
	for len(s.steps) > 0 && s.done[s.steps[0]] {
		s.steps = s.steps[1:]
	}
}

// finish marks actor as done: its remaining steps are skipped.
func (s *scheduler) finish(actor string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done[actor] = true
	s.cond.Broadcast()
}

func (s *scheduler) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.trace, " ")
}

// run runs each actor's operation on its own goroutine under the schedule
// and waits for all of them.
func (s *scheduler) run(ops map[string]func(ctx context.Context)) {
	var wg sync.WaitGroup
	for actor, op := range ops {
		wg.Go(func() {
			defer s.finish(actor)
			op(as(context.Background(), actor))
		})
	}
	wg.Wait()
}

// interleavings returns every order in which the calls of two actors, a
// with na calls and b with nb, can be scheduled.
func interleavings(a string, na int, b string, nb int) [][]string {
	if na == 0 || nb == 0 {
		var s []string
		for range na {
			s = append(s, a)
		}
		for range nb {
			s = append(s, b)
		}
		return [][]string{s}
	}
	var out [][]string
	for _, rest := range interleavings(a, na-1, b, nb) {
		out = append(out, append([]string{a}, rest...))
	}
	for _, rest := range interleavings(a, na, b, nb-1) {
		out = append(out, append([]string{b}, rest...))
	}
	return out
}

// schedPersister and schedCache route every backend call through a
// scheduler, which the test swaps per interleaving.
type schedPersister struct {
	qsessions.Persister
	s **scheduler
}

func (p schedPersister) Load(ctx context.Context, id string) (r qsessions.Record, err error) {
	(*p.s).call(ctx, "Load", func() { r, err = p.Persister.Load(ctx, id) })
	return
}

func (p schedPersister) Create(ctx context.Context, r qsessions.Record) (err error) {
	(*p.s).call(ctx, "Create", func() { err = p.Persister.Create(ctx, r) })
	return
}

func (p schedPersister) Update(ctx context.Context, r qsessions.Record) (err error) {
	(*p.s).call(ctx, "Update", func() { err = p.Persister.Update(ctx, r) })
	return
}

func (p schedPersister) Delete(ctx context.Context, ids ...string) (err error) {
	(*p.s).call(ctx, "Delete", func() { err = p.Persister.Delete(ctx, ids...) })
	return
}

func (p schedPersister) ListByUser(ctx context.Context, u string) (rs []qsessions.Record, err error) {
	(*p.s).call(ctx, "ListByUser", func() { rs, err = p.Persister.ListByUser(ctx, u) })
	return
}

func (p schedPersister) DeleteByUser(ctx context.Context, u string, except ...string) (ids []string, err error) {
	(*p.s).call(ctx, "DeleteByUser", func() { ids, err = p.Persister.DeleteByUser(ctx, u, except...) })
	return
}

type schedCache struct {
	c *memory.Cache
	s **scheduler
}

func (c schedCache) Get(ctx context.Context, key string) (b []byte, err error) {
	(*c.s).call(ctx, "cache.Get", func() { b, err = c.c.Get(ctx, key) })
	return
}

func (c schedCache) Set(ctx context.Context, key string, v []byte, ttl time.Duration) (err error) {
	(*c.s).call(ctx, "cache.Set", func() { err = c.c.Set(ctx, key, v, ttl) })
	return
}

func (c schedCache) Delete(ctx context.Context, keys ...string) (err error) {
	(*c.s).call(ctx, "cache.Delete", func() { err = c.c.Delete(ctx, keys...) })
	return
}

// schedCondCache adds the conditional writes.
type schedCondCache struct{ schedCache }

func (c schedCondCache) Conditional() bool { return true }

func (c schedCondCache) Add(ctx context.Context, key string, v []byte, ttl time.Duration) (ok bool, err error) {
	(*c.s).call(ctx, "cache.Add", func() { ok, err = c.c.Add(ctx, key, v, ttl) })
	return
}

func (c schedCondCache) CompareAndSwap(ctx context.Context, key string, old, v []byte, ttl time.Duration) (ok bool, err error) {
	(*c.s).call(ctx, "cache.CAS", func() { ok, err = c.c.CompareAndSwap(ctx, key, old, v, ttl) })
	return
}

// world is three Stores (A, B and C, as three processes) over one Persister
// and one cache whose calls follow the current scheduler.
type world struct {
	sched   *scheduler
	mem     *memory.Persister
	memC    *memory.Cache
	clock   *fakeClock
	a, b, c *qsessions.Store
}

func newWorld(t testing.TB, conditional bool) *world {
	t.Helper()
	w := &world{mem: memory.NewPersister(), memC: memory.NewCache(), clock: newClock()}
	p := schedPersister{w.mem, &w.sched}
	var c qsessions.Cache = schedCache{w.memC, &w.sched}
	if conditional {
		c = schedCondCache{schedCache{w.memC, &w.sched}}
	}
	opts := &qsessions.Options{Clock: w.clock.Now, Logger: discardLogger()}
	for _, st := range []**qsessions.Store{&w.a, &w.b, &w.c} {
		var err error
		if *st, err = qsessions.New(c, p, opts); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// session stores a session through C with the given values (and user) and
// returns its token and ID. Its cache entry is evicted, so that the next
// load through any Store is a cache miss.
func (w *world) session(t testing.TB, userID string, kv ...string) (token, id string) {
	t.Helper()
	ctx := context.Background()
	s, err := w.c.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kv); i += 2 {
		if err := s.Set(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if userID != "" {
		if err := s.Login(ctx, userID); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.c.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	w.evict(s.ID())
	return s.Token(), s.ID()
}

func (w *world) evict(id string) {
	w.memC.Delete(context.Background(), "qsessions:"+id)
}

// wantRefused checks that token loads as a new session through every
// Store, and that the cache holds no record for id.
func (w *world) wantRefused(t *testing.T, token, id, what string) {
	t.Helper()
	w.wantNoCachedRecord(t, id, what)
	for name, st := range map[string]*qsessions.Store{"A": w.a, "B": w.b, "C": w.c} {
		s, err := st.Load(context.Background(), token)
		if err != nil {
			t.Fatalf("%s: Store %s: Load: %v", what, name, err)
		}
		if !s.IsNew() {
			t.Errorf("%s: Store %s served the session after its end returned (schedule: %s)", what, name, w.sched)
		}
	}
}

// wantNoCachedRecord checks that the cache holds no live record for id (a
// lease may remain).
func (w *world) wantNoCachedRecord(t *testing.T, id, what string) {
	t.Helper()
	b, err := w.memC.Get(context.Background(), "qsessions:"+id)
	if err == nil && len(b) > 0 && b[0] != 0 {
		t.Errorf("%s: the cache holds a record of the session after its end returned (schedule: %s)", what, w.sched)
	}
}

// values returns what the Persister holds for id, as Store C reads it
// from the Persister.
func (w *world) values(t *testing.T, id string) map[string]string {
	t.Helper()
	r, err := w.mem.Load(context.Background(), id)
	if err != nil {
		t.Fatalf("Persister.Load(%s): %v", id, err)
	}
	m := map[string]string{}
	if len(r.Data) > 0 {
		if err := json.Unmarshal(r.Data, &m); err != nil {
			t.Fatalf("decode %s: %v", r.Data, err)
		}
	}
	return m
}

// cachedValue loads token through st and returns the value under key.
func cachedValue(t *testing.T, st *qsessions.Store, token, key string) string {
	t.Helper()
	s, err := st.Load(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if s.IsNew() {
		t.Fatalf("Load(%s) returned a new session", key)
	}
	var v string
	if _, err := s.Get(key, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A read-only request whose touch is due must not write back values that
// another request changed while it ran, in whatever order their calls
// land.
func TestInterleaveTouchVsWrite(t *testing.T) {
	for _, steps := range interleavings("A", 4, "B", 4) {
		w := newWorld(t, true)
		token, id := w.session(t, "alice", "role", "admin", "mfa", "on")
		ctx := context.Background()
		reader, _ := w.a.Load(ctx, token)
		writer, _ := w.b.Load(ctx, token)
		has(reader, "role") // loaded before the write
		w.clock.Advance(2 * time.Minute)
		w.sched = newScheduler(steps)
		var touchErr, writeErr error
		w.sched.run(map[string]func(context.Context){
			"A": func(ctx context.Context) { touchErr = w.a.Save(ctx, reader) },
			"B": func(ctx context.Context) {
				writer.Set("mfa", "revoked")
				writeErr = w.b.Save(ctx, writer)
			},
		})
		if touchErr != nil || writeErr != nil {
			t.Fatalf("touch: %v, write: %v (schedule %s)", touchErr, writeErr, w.sched)
		}
		if got := w.values(t, id); got["mfa"] != "revoked" || got["role"] != "admin" {
			t.Errorf("after a touch and a write (schedule %s): Persister holds %v; want mfa revoked, role admin", w.sched, got)
		}
		if got := cachedValue(t, w.c, token, "mfa"); got != "revoked" {
			t.Errorf("schedule %s: Store C reads mfa %q; want revoked", w.sched, got)
		}
	}
}

// A cache miss that read the row before a concurrent save must not put its
// old copy in the cache, nor write it back at its next touch.
func TestInterleaveStaleRefillVsSave(t *testing.T) {
	for _, steps := range interleavings("A", 4, "B", 2) {
		w := newWorld(t, true)
		token, id := w.session(t, "alice", "role", "admin")
		ctx := context.Background()
		writer, _ := w.b.Load(ctx, token)
		has(writer, "role")
		w.evict(id) // B's load filled the cache: A misses again
		w.sched = newScheduler(steps)
		var refilled *qsessions.Session
		var loadErr, saveErr error
		w.sched.run(map[string]func(context.Context){
			"A": func(ctx context.Context) { refilled, loadErr = w.a.Load(ctx, token) },
			"B": func(ctx context.Context) {
				writer.Set("role", "user")
				saveErr = w.b.Save(ctx, writer)
			},
		})
		if loadErr != nil || saveErr != nil {
			t.Fatalf("load: %v, save: %v (schedule %s)", loadErr, saveErr, w.sched)
		}
		w.sched = nil
		for name, st := range map[string]*qsessions.Store{"A": w.a, "B": w.b, "C": w.c} {
			if got := cachedValue(t, st, token, "role"); got != "user" {
				t.Errorf("schedule %s: Store %s reads role %q after the save returned; want user", steps, name, got)
			}
		}
		// The refilling request's next touch keeps the saved value.
		w.clock.Advance(2 * time.Minute)
		if err := w.a.Save(ctx, refilled); err != nil {
			t.Fatal(err)
		}
		if got := w.values(t, id)["role"]; got != "user" {
			t.Errorf("schedule %s: after the stale request's touch the Persister holds role %q; want user", steps, got)
		}
	}
}

// Eight requests of one session each set their own key: every key
// survives, whatever order their saves land in.
func TestInterleaveWritersToDifferentKeys(t *testing.T) {
	const writers = 8
	run := func(t *testing.T, concurrent bool) {
		w := newWorld(t, true)
		token, id := w.session(t, "alice", "base", "v")
		ctx := context.Background()
		sessions := make([]*qsessions.Session, writers)
		for i := range sessions {
			st := []*qsessions.Store{w.a, w.b, w.c}[i%3]
			sessions[i], _ = st.Load(ctx, token)
			sessions[i].Set(fmt.Sprintf("key%d", i), fmt.Sprint(i))
		}
		save := func(i int) {
			st := []*qsessions.Store{w.a, w.b, w.c}[i%3]
			if err := st.Save(ctx, sessions[i]); err != nil {
				t.Errorf("writer %d: Save: %v", i, err)
			}
		}
		if concurrent {
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() { save(i) })
			}
			wg.Wait()
		} else {
			for i := range writers {
				save(i)
			}
		}
		got := w.values(t, id)
		for i := range writers {
			if got[fmt.Sprintf("key%d", i)] != fmt.Sprint(i) {
				t.Errorf("key%d lost: the Persister holds %v", i, got)
			}
		}
		if got["base"] != "v" {
			t.Errorf("the value set before the writers is lost: %v", got)
		}
		for i := range writers {
			if v := cachedValue(t, w.c, token, fmt.Sprintf("key%d", i)); v != fmt.Sprint(i) {
				t.Errorf("Store C reads key%d = %q", i, v)
			}
		}
	}
	t.Run("InOrder", func(t *testing.T) { run(t, false) })
	t.Run("Concurrent", func(t *testing.T) {
		for range 20 {
			run(t, true)
		}
	})
}

// The same key written by two requests: the last save wins, and a delete
// of one key does not undo another's set.
func TestSameKeyLastWriterWins(t *testing.T) {
	w := newWorld(t, true)
	token, id := w.session(t, "alice", "color", "red", "size", "m")
	ctx := context.Background()
	first, _ := w.a.Load(ctx, token)
	second, _ := w.b.Load(ctx, token)
	first.Set("color", "green")
	first.Delete("size")
	second.Set("color", "blue")
	second.Set("shape", "round")
	if err := w.b.Save(ctx, second); err != nil {
		t.Fatal(err)
	}
	if err := w.a.Save(ctx, first); err != nil {
		t.Fatal(err)
	}
	got := w.values(t, id)
	want := map[string]string{"color": "green", "shape": "round"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Persister holds %v; want %v", got, want)
	}
}

// A refill racing a revocation, in every order of their backend calls:
// once the revocation has returned, no Store serves the session and the
// cache holds no copy of it.
func TestInterleaveRefillVsRevoke(t *testing.T) {
	refillVsRevocation(t, 2, func(ctx context.Context, w *world, id string) error { return w.b.Revoke(ctx, id) })
}

func TestInterleaveRefillVsRevokeUser(t *testing.T) {
	refillVsRevocation(t, 4, func(ctx context.Context, w *world, id string) error {
		_, err := w.b.RevokeUser(ctx, "alice")
		return err
	})
}

// refillVsRevocation runs a load through Store A that fills the cache
// (4 backend calls) against revoke through Store B (calls backend calls),
// in every order.
func refillVsRevocation(t *testing.T, calls int, revoke func(ctx context.Context, w *world, id string) error) {
	t.Helper()
	for _, steps := range interleavings("A", 4, "B", calls) {
		w := newWorld(t, true)
		token, id := w.session(t, "alice", "k", "v")
		w.sched = newScheduler(steps)
		var s *qsessions.Session
		var loadErr, revokeErr error
		w.sched.run(map[string]func(context.Context){
			"A": func(ctx context.Context) { s, loadErr = w.a.Load(ctx, token) },
			"B": func(ctx context.Context) { revokeErr = revoke(ctx, w, id) },
		})
		if loadErr != nil || revokeErr != nil {
			t.Fatalf("load: %v, revoke: %v (schedule %s)", loadErr, revokeErr, w.sched)
		}
		w.wantRefused(t, token, id, "a refill against a revocation")
		wantSaveRefused(t, w, s)
	}
}

// wantSaveRefused checks that a session loaded while it was being revoked
// cannot be saved back: its save fails with ErrNotFound, or it was loaded
// as a new session already.
func wantSaveRefused(t *testing.T, w *world, s *qsessions.Session) {
	t.Helper()
	if s.IsNew() {
		return
	}
	s.Set("after", "revocation")
	err := w.a.Save(context.Background(), s)
	if !errors.Is(err, qsessions.ErrNotFound) {
		t.Errorf("save of a session revoked while it was loaded: %v; want ErrNotFound (schedule %s)", err, w.sched)
	}
}

// Login rotates the token while another request of the same session
// saves: the old token never works again, and the other request's change
// either reaches the new session or fails with ErrNotFound.
func TestInterleaveLoginVsWrite(t *testing.T) {
	for _, steps := range interleavings("A", 5, "B", 2) {
		w := newWorld(t, true)
		token, id := w.session(t, "", "cart", "book")
		ctx := context.Background()
		login, _ := w.a.Load(ctx, token)
		writer, _ := w.b.Load(ctx, token)
		has(login, "cart")
		has(writer, "cart")
		w.sched = newScheduler(steps)
		var loginErr, writeErr error
		w.sched.run(map[string]func(context.Context){
			"A": func(ctx context.Context) { loginErr = login.Login(ctx, "alice") },
			"B": func(ctx context.Context) {
				writer.Set("theme", "dark")
				writeErr = w.b.Save(ctx, writer)
			},
		})
		w.sched = nil
		if loginErr != nil {
			t.Fatalf("Login: %v (schedule %s)", loginErr, steps)
		}
		if writeErr != nil && !errors.Is(writeErr, qsessions.ErrNotFound) {
			t.Fatalf("concurrent save: %v (schedule %s)", writeErr, steps)
		}
		w.wantRefused(t, token, id, "the token before Login")
		newToken := login.Token()
		if cachedValue(t, w.c, newToken, "cart") != "book" {
			t.Errorf("schedule %s: the new session lost the value set before Login", steps)
		}
		if writeErr == nil {
			if got := cachedValue(t, w.c, newToken, "theme"); got != "dark" {
				t.Errorf("schedule %s: a save that returned nil before Login rotated the token is lost (theme %q)", steps, got)
			}
		}
	}
}

// With a plain Cache the guarantee is weaker, as documented: a refill that
// read the row before a revocation writes its copy into the cache after
// the revocation returned, and a third Store finds it there until the
// refill's re-read removes it. With a ConditionalCache the same
// interleaving serves nothing.
func TestPlainCacheRefillWindow(t *testing.T) {
	for _, conditional := range []bool{false, true} {
		w := newWorld(t, conditional)
		token, id := w.session(t, "alice", "k", "v")
		// A fills: Get, Load, Set, re-read Load, Delete (plain), or Get,
		// Add, Load, CompareAndSwap (conditional). B revokes right after
		// A's read; C loads right after A's fill.
		steps := []string{"A", "A", "B", "B", "A", "C", "A", "A"}
		if conditional {
			steps = []string{"A", "A", "A", "B", "B", "A", "C"}
		}
		revoked := make(chan struct{})
		var seen bool
		w.sched = newScheduler(steps)
		w.sched.run(map[string]func(context.Context){
			"A": func(ctx context.Context) { w.a.Load(ctx, token) },
			"B": func(ctx context.Context) {
				if err := w.b.Revoke(ctx, id); err != nil {
					t.Error(err)
				}
				close(revoked)
			},
			"C": func(ctx context.Context) {
				<-revoked
				s, _ := w.c.Load(ctx, token)
				seen = !s.IsNew()
			},
		})
		if seen != !conditional {
			t.Errorf("conditional=%v: a third Store served the session after Revoke returned: %v; want %v (schedule %s)",
				conditional, seen, !conditional, w.sched)
		}
		w.sched = nil
		w.wantRefused(t, token, id, fmt.Sprintf("conditional=%v, once the fill returned", conditional))
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// New says which guarantee a Store runs with: the strong one at debug
// level, the weaker one of a plain Cache at warn level, naming the
// conditional Redis adapter, so that operators see it (measured: 282 loads
// of revoked sessions in a 10-second churn over gocache.New on Redis, 0
// over gocache.NewRedis).
func TestNewLogsCacheGuarantee(t *testing.T) {
	for _, c := range []struct {
		cache qsessions.Cache
		level string
		says  string
	}{
		{memory.NewCache(), "DEBUG", "writes conditionally"},
		{schedCache{memory.NewCache(), new(*scheduler)}, "WARN", "use gocache.NewRedis"},
	} {
		f := newFixture(t)
		if _, err := qsessions.New(c.cache, f.mem, &f.opts); err != nil {
			t.Fatal(err)
		}
		logs := f.logs.String()
		if strings.Count(logs, "\n") != 1 || !strings.Contains(logs, "level="+c.level) || !strings.Contains(logs, c.says) {
			t.Errorf("New over a %T logged %q; want one %s line saying %q", c.cache, logs, c.level, c.says)
		}
	}
}
