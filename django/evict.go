package django

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Django's cached_db store fills its cache after it reads a row: it reads
// the row, then sets the cache entry. When Go writes or deletes the row and
// deletes the entry between the two, Django's fill puts back the copy Go
// replaced, and Django serves it (a revoked session, or values Go changed)
// until the entry times out, SESSION_COOKIE_AGE later. Django's own
// processes race each other the same way. So Go deletes the entry a second
// time, Options.SecondEviction after the first: a fill that raced the
// first deletion lasts only that long.
//
// The second deletions are batched by one goroutine of the Persister,
// started on first use and stopped by Close, which deletes what is still
// queued first.

// DefaultSecondEviction is how long after a write or deletion Go deletes
// Django's cache entry a second time, by default.
const DefaultSecondEviction = time.Second

type pendingEviction struct {
	key string // the session key
	due time.Time
}

// reEvictor runs the second deletions.
type reEvictor struct {
	p     *Persister
	delay time.Duration // <= 0: none

	mu      sync.Mutex
	queue   []pendingEviction // in due order
	started bool
	closed  bool
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

func (e *reEvictor) init(p *Persister, delay time.Duration) {
	e.p, e.delay = p, delay
	e.wake = make(chan struct{}, 1)
	e.stop = make(chan struct{})
	e.done = make(chan struct{})
}

// later queues the second deletion of the cache entries of keys.
func (e *reEvictor) later(keys ...string) {
	if e.delay <= 0 || e.p.cache == nil || len(keys) == 0 {
		return
	}
	due := time.Now().Add(e.delay)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	for _, k := range keys {
		e.queue = append(e.queue, pendingEviction{k, due})
	}
	if !e.started {
		e.started = true
		go e.run()
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// run deletes the queued entries as they fall due, until Close.
func (e *reEvictor) run() {
	defer close(e.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e.mu.Lock()
		now := time.Now()
		n := 0
		for n < len(e.queue) && !e.queue[n].due.After(now) {
			n++
		}
		due := e.queue[:n:n]
		e.queue = e.queue[n:]
		var next time.Duration = time.Hour
		if len(e.queue) > 0 {
			next = time.Until(e.queue[0].due)
		}
		e.mu.Unlock()
		e.evict(due)
		timer.Reset(next)
		select {
		case <-timer.C:
		case <-e.wake:
			if !timer.Stop() {
				<-timer.C
			}
		case <-e.stop:
			e.mu.Lock()
			rest := e.queue
			e.queue = nil
			e.mu.Unlock()
			e.evict(rest)
			return
		}
	}
}

func (e *reEvictor) evict(due []pendingEviction) {
	if len(due) == 0 {
		return
	}
	keys := make([]string, len(due))
	for i, d := range due {
		keys[i] = d.key
	}
	ctx, cancel := context.WithTimeout(context.Background(), evictTimeout)
	defer cancel()
	if err := e.p.evict(ctx, false, keys...); err != nil {
		e.p.log.LogAttrs(ctx, slog.LevelWarn, "django: the second deletion of Django's cache entries failed",
			slog.Int("sessions", len(keys)), slog.Any("error", err))
	}
}

// close deletes what is queued and stops the goroutine.
func (e *reEvictor) close() {
	e.mu.Lock()
	started := e.started
	if !e.closed {
		e.closed = true
		close(e.stop)
	}
	e.mu.Unlock()
	if started {
		<-e.done
	}
}
