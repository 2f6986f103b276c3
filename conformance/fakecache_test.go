package conformance

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qsessions/qsessions"
)

// fakeCache is a small map-based Cache that keeps the contract when bug is
// "", and breaks one sentence of it otherwise. The suite's self-test checks
// that each bug is caught by the subtests it names.
type fakeCache struct {
	bug  string
	stop chan struct{} // closed when the test ends; releases hung calls

	mu      sync.Mutex // serialises writers (unless bug is "LostUpdates")
	entries atomic.Pointer[map[string]fakeEntry]
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

var _ qsessions.Cache = (*fakeCache)(nil)

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
