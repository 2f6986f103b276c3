package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qsessions/qsessions"
)

// fakeCache is a small map-based Cache that keeps the contract when bug is
// "", and breaks one sentence of it otherwise. The suite's self-test checks
// that each bug is caught by the subtests it names. It is a
// ConditionalCache, whose Conditional reports conditional.
type fakeCache struct {
	bug         string
	stop        chan struct{} // closed when the test ends; releases hung calls
	conditional bool

	mu      sync.Mutex // serialises writers (unless bug is "LostUpdates")
	entries atomic.Pointer[map[string]fakeEntry]
	condMu  sync.Mutex // serialises conditional writes, for "ConditionalRacesWrites"
}

type fakeEntry struct {
	value   []byte
	expires time.Time // zero: never
}

func newFakeCache(bug string, stop chan struct{}) *fakeCache {
	c := &fakeCache{bug: bug, stop: stop}
	c.entries.Store(&map[string]fakeEntry{})
	return c
}

// newFakeConditionalCache is newFakeCache with conditional writes.
func newFakeConditionalCache(bug string, stop chan struct{}) *fakeCache {
	c := newFakeCache(bug, stop)
	c.conditional = true
	return c
}

var _ qsessions.ConditionalCache = (*fakeCache)(nil)

// ctxErr is how the fake checks its context, per bug.
func (c *fakeCache) ctxErr(ctx context.Context) error {
	switch c.bug {
	case "IgnoresCtx", "WritesDespiteCanceled":
		return nil
	case "CtxErrorNotWrapped":
		if err := ctx.Err(); err != nil {
			return errors.New("cache: " + err.Error())
		}
		return nil
	}
	return ctx.Err()
}

func (c *fakeCache) Get(ctx context.Context, key string) ([]byte, error) {
	if err := c.ctxErr(ctx); err != nil {
		return nil, err
	}
	if c.bug == "CaseInsensitiveKeys" {
		key = strings.ToLower(key)
	}
	e, ok := (*c.entries.Load())[key]
	if ok && !e.expires.IsZero() && !time.Now().Before(e.expires) {
		ok = false
	}
	if !ok {
		switch c.bug {
		case "MissIsNilNil":
			return nil, nil
		case "MissWrongError":
			return nil, errors.New("cache: no such key")
		case "GetPanics":
			var m map[string]int
			m[key]++ // a nil map write
		}
		return nil, qsessions.ErrCacheMiss
	}
	switch {
	case c.bug == "SharesGetValue":
		return e.value, nil
	case c.bug == "EmptyIsMiss" && len(e.value) == 0:
		return nil, qsessions.ErrCacheMiss
	case c.bug == "EmptyIsNil" && len(e.value) == 0:
		return nil, nil
	}
	return append([]byte{}, e.value...), nil
}

func (c *fakeCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := c.ctxErr(ctx); err != nil {
		return err
	}
	switch c.bug {
	case "IgnoresTTL":
		ttl = 0
	case "ExpiresAtOnce":
		if ttl > 0 {
			ttl = time.Nanosecond
		}
	case "TTLWholeSeconds":
		ttl = ttl.Truncate(time.Second)
	case "ZeroTTLExpiresAtOnce":
		if ttl == 0 {
			ttl = time.Nanosecond
		}
	case "NegativeTTLExpiresAtOnce":
		if ttl < 0 {
			ttl = time.Nanosecond
		}
	case "NotBinarySafe":
		value = []byte(strings.ToValidUTF8(string(value), "\uFFFD"))
	case "StopsAtNUL":
		if i := bytes.IndexByte(value, 0); i >= 0 {
			value = value[:i]
		}
	case "CapsValueSize":
		if len(value) > 64<<10 {
			value = value[:64<<10]
		}
	case "CaseInsensitiveKeys":
		key = strings.ToLower(key)
	}
	e := fakeEntry{value: append([]byte{}, value...)}
	if c.bug == "RetainsSetValue" {
		e.value = value
	}
	if ttl > 0 {
		e.expires = time.Now().Add(ttl)
	}
	c.update(func(m map[string]fakeEntry) {
		old, ok := m[key]
		switch {
		case ok && c.bug == "FirstWriteWins":
			return
		case ok && c.bug == "KeepsOldTTL":
			e.expires = old.expires
		}
		m[key] = e
	})
	return c.canceledAfterWrite(ctx)
}

func (c *fakeCache) Delete(ctx context.Context, keys ...string) error {
	if err := c.ctxErr(ctx); err != nil {
		return err
	}
	switch c.bug {
	case "DeleteHangs":
		<-c.stop
		return errors.New("cache: released")
	case "DeleteIgnored":
		return nil
	case "DeleteFirstKeyOnly":
		keys = keys[:min(len(keys), 1)]
	}
	var missing bool
	c.update(func(m map[string]fakeEntry) {
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				missing = true
			}
			delete(m, k)
		}
	})
	if missing && c.bug == "DeleteMissingErrors" {
		return qsessions.ErrCacheMiss
	}
	return c.canceledAfterWrite(ctx)
}

// canceledAfterWrite returns ctx's error after the write is done, for the
// "WritesDespiteCanceled" bug.
func (c *fakeCache) canceledAfterWrite(ctx context.Context) error {
	if c.bug == "WritesDespiteCanceled" {
		return ctx.Err()
	}
	return nil
}

// update replaces the entry map by an edited copy. With the "LostUpdates"
// bug it does so without holding the lock, so that concurrent writers lose
// each other's changes.
func (c *fakeCache) update(edit func(m map[string]fakeEntry)) {
	if c.bug != "LostUpdates" {
		c.mu.Lock()
		defer c.mu.Unlock()
	}
	old := *c.entries.Load()
	m := make(map[string]fakeEntry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if c.bug == "LostUpdates" {
		runtime.Gosched()
		time.Sleep(50 * time.Microsecond)
	}
	edit(m)
	c.entries.Store(&m)
}

func (c *fakeCache) Conditional() bool { return c.conditional }

// condCtxErr is how Add and CompareAndSwap check their context, per bug.
func (c *fakeCache) condCtxErr(ctx context.Context) error {
	switch c.bug {
	case "ConditionalIgnoresCtx", "ConditionalWritesDespiteCanceled":
		return nil
	}
	return c.ctxErr(ctx)
}

// condCanceledAfterWrite returns ctx's error after a conditional write, for
// the "ConditionalWritesDespiteCanceled" bug.
func (c *fakeCache) condCanceledAfterWrite(ctx context.Context) error {
	if c.bug == "ConditionalWritesDespiteCanceled" {
		return ctx.Err()
	}
	return c.canceledAfterWrite(ctx)
}

func (e fakeEntry) live(now time.Time) bool {
	return e.expires.IsZero() || now.Before(e.expires)
}

// condEntry is the entry Add or CompareAndSwap writes: holding value
// itself when retain is set, a copy otherwise.
func condEntry(value []byte, ttl time.Duration, retain bool) fakeEntry {
	e := fakeEntry{value: append([]byte{}, value...)}
	if retain {
		e.value = value
	}
	if ttl > 0 {
		e.expires = time.Now().Add(ttl)
	}
	return e
}

// racyPause widens the window between a racy check and its write.
func racyPause() {
	runtime.Gosched()
	time.Sleep(2 * time.Millisecond)
}

func (c *fakeCache) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := c.condCtxErr(ctx); err != nil {
		return false, err
	}
	if c.bug == "AddFails" {
		return false, fmt.Errorf("cache: add: %w", errors.ErrUnsupported)
	}
	if c.bug == "AddIgnoresTTL" {
		ttl = 0
	}
	e := condEntry(value, ttl, c.bug == "AddRetainsValue")
	absent := func(m map[string]fakeEntry) bool {
		cur, ok := m[key]
		switch {
		case !ok:
			return true
		case c.bug == "AddOverwrites":
			return true
		case c.bug == "AddEmptyIsAbsent" && len(cur.value) == 0:
			return true
		case c.bug == "AddIgnoresExpired":
			return false
		}
		return !cur.live(time.Now())
	}
	var added bool
	switch c.bug {
	case "RacyAdd", "ConditionalRacesWrites":
		// Check, then write: atomic against nothing ("RacyAdd"), or only
		// against other conditional writes.
		if c.bug == "ConditionalRacesWrites" {
			c.condMu.Lock()
			defer c.condMu.Unlock()
		}
		if !absent(*c.entries.Load()) {
			return false, nil
		}
		racyPause()
		c.update(func(m map[string]fakeEntry) { m[key] = e })
		added = true
	default:
		c.update(func(m map[string]fakeEntry) {
			if absent(m) {
				m[key] = e
				added = true
			}
		})
	}
	return added, c.condCanceledAfterWrite(ctx)
}

func (c *fakeCache) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if err := c.condCtxErr(ctx); err != nil {
		return false, err
	}
	if c.bug == "CASNeverSwaps" {
		return false, nil
	}
	e := condEntry(value, ttl, c.bug == "CASRetainsValue")
	matches := func(m map[string]fakeEntry) bool {
		cur, ok := m[key]
		switch {
		case !ok:
			return c.bug == "CASSwapsMissing" || c.bug == "CASMissingIsEmpty" && len(old) == 0
		case !cur.live(time.Now()) && c.bug != "CASSwapsExpired":
			return false
		}
		switch c.bug {
		case "CASIgnoresOld":
			return true
		case "CASComparesPrefix":
			return bytes.HasPrefix(cur.value, old)
		case "CASLongerMatches":
			return bytes.HasPrefix(old, cur.value)
		case "CASStopsAtNUL":
			a, _, _ := bytes.Cut(cur.value, []byte{0})
			b, _, _ := bytes.Cut(old, []byte{0})
			return bytes.Equal(a, b)
		}
		return bytes.Equal(cur.value, old)
	}
	swap := func(m map[string]fakeEntry) {
		if cur, ok := m[key]; ok && c.bug == "CASKeepsOldTTL" {
			e.expires = cur.expires
		}
		m[key] = e
	}
	var swapped bool
	switch c.bug {
	case "RacyCompareAndSwap", "ConditionalRacesWrites":
		if c.bug == "ConditionalRacesWrites" {
			c.condMu.Lock()
			defer c.condMu.Unlock()
		}
		if !matches(*c.entries.Load()) {
			return false, nil
		}
		racyPause()
		c.update(swap)
		swapped = true
	default:
		c.update(func(m map[string]fakeEntry) {
			if matches(m) {
				swap(m)
				swapped = true
			}
		})
	}
	return swapped, c.condCanceledAfterWrite(ctx)
}
