package qsessions_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/conformance"
	"github.com/qsessions/qsessions/internal/logtest"
	"github.com/qsessions/qsessions/memory"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingPersister counts calls and can fail or run hooks.
type countingPersister struct {
	qsessions.Persister
	loads, creates, updates, deletes atomic.Int64
	fail                             atomic.Bool
	beforeUpdate                     func(r qsessions.Record)
}

var errBackend = errors.New("backend down")

func (p *countingPersister) Load(ctx context.Context, id string) (qsessions.Record, error) {
	p.loads.Add(1)
	if p.fail.Load() {
		return qsessions.Record{}, errBackend
	}
	return p.Persister.Load(ctx, id)
}

func (p *countingPersister) Create(ctx context.Context, r qsessions.Record) error {
	p.creates.Add(1)
	if p.fail.Load() {
		return errBackend
	}
	return p.Persister.Create(ctx, r)
}

func (p *countingPersister) Update(ctx context.Context, r qsessions.Record) error {
	p.updates.Add(1)
	if p.fail.Load() {
		return errBackend
	}
	if p.beforeUpdate != nil {
		p.beforeUpdate(r)
	}
	return p.Persister.Update(ctx, r)
}

func (p *countingPersister) Delete(ctx context.Context, ids ...string) error {
	p.deletes.Add(1)
	if p.fail.Load() {
		return errBackend
	}
	return p.Persister.Delete(ctx, ids...)
}

func (p *countingPersister) writes() int64 {
	return p.creates.Load() + p.updates.Load() + p.deletes.Load()
}

func (p *countingPersister) calls() int64 { return p.loads.Load() + p.writes() }

// countingCache counts calls and can run hooks. It writes conditionally
// when the cache it wraps does; fixture wraps a conformance.FaultyCache,
// which injects failures.
type countingCache struct {
	qsessions.ConditionalCache
	gets, sets, dels, adds, swaps atomic.Int64
	beforeFill                    func(key string) // runs before a Set or CompareAndSwap: a write of a record
}

func (c *countingCache) Get(ctx context.Context, key string) ([]byte, error) {
	c.gets.Add(1)
	return c.ConditionalCache.Get(ctx, key)
}

func (c *countingCache) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	c.sets.Add(1)
	if c.beforeFill != nil {
		c.beforeFill(key)
	}
	return c.ConditionalCache.Set(ctx, key, v, ttl)
}

func (c *countingCache) Delete(ctx context.Context, keys ...string) error {
	c.dels.Add(1)
	return c.ConditionalCache.Delete(ctx, keys...)
}

func (c *countingCache) Add(ctx context.Context, key string, v []byte, ttl time.Duration) (bool, error) {
	c.adds.Add(1)
	return c.ConditionalCache.Add(ctx, key, v, ttl)
}

func (c *countingCache) CompareAndSwap(ctx context.Context, key string, old, v []byte, ttl time.Duration) (bool, error) {
	c.swaps.Add(1)
	if c.beforeFill != nil {
		c.beforeFill(key)
	}
	return c.ConditionalCache.CompareAndSwap(ctx, key, old, v, ttl)
}

func (c *countingCache) calls() int64 {
	return c.gets.Load() + c.sets.Load() + c.dels.Load() + c.adds.Load() + c.swaps.Load()
}

type fixture struct {
	cache     *countingCache
	faulty    *conformance.FaultyCache // under cache: f.faulty.Fail(conformance.OpAll) takes the cache down
	persister *countingPersister
	mem       *memory.Persister
	memCache  *memory.Cache
	clock     *fakeClock
	logs      *logtest.Buffer
	opts      qsessions.Options
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{clock: newClock(), logs: &logtest.Buffer{}, mem: memory.NewPersister(), memCache: memory.NewCache()}
	f.faulty = conformance.NewFaultyCache(f.memCache)
	f.cache = &countingCache{ConditionalCache: f.faulty}
	f.persister = &countingPersister{Persister: f.mem}
	f.opts = qsessions.Options{
		Clock:  f.clock.Now,
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return f
}

// store returns a new Store over the fixture's shared backends.
func (f *fixture) store(t testing.TB) *qsessions.Store {
	t.Helper()
	st, err := qsessions.New(f.cache, f.persister, &f.opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newSession stores a session with one value (and a user, if given) and
// returns its token.
func newSession(t testing.TB, st *qsessions.Store, userID string) (*qsessions.Session, string) {
	t.Helper()
	ctx := context.Background()
	s, err := st.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	if userID != "" {
		if err := s.Login(ctx, userID); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.Token() == "" {
		t.Fatal("saved session has no token")
	}
	return s, s.Token()
}

// has reports whether s holds a value under key.
func has(s *qsessions.Session, key string) bool {
	var v json.RawMessage
	ok, _ := s.Get(key, &v)
	return ok
}
