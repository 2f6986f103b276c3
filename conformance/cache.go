package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
)

// TestCache checks that the [qsessions.Cache] returned by newCache keeps every
// sentence of the Cache contract. It runs one subtest per behaviour, each on a
// fresh Cache from newCache; see the package documentation for the subtests
// and for what newCache must do.
func TestCache(t *testing.T, newCache func(t *testing.T) qsessions.Cache) {
	t.Helper()
	testCache(realT{t}, defaultConfig, func(t tester) qsessions.Cache { return newCache(testingT(t)) })
}

// cacheTest is one named subtest of TestCache.
type cacheTest struct {
	name string
	run  func(t tester, c *cacheT)
}

// cacheTests lists TestCache's subtests, grouped by contract sentence.
var cacheTests = []cacheTest{
	// Get of a key that was never set, was deleted, or has expired returns an
	// error wrapping ErrCacheMiss.
	{"GetMissing", testCacheGetMissing},
	{"GetDeleted", testCacheGetDeleted},
	{"GetExpired", testCacheGetExpired},
	// Get returns exactly the bytes last Set for the key, binary-safe, and an
	// empty non-nil value is distinct from a missing key.
	{"SetGet", testCacheSetGet},
	{"BinaryValue", testCacheBinaryValue},
	{"LargeValue", testCacheLargeValue},
	{"EmptyValue", testCacheEmptyValue},
	{"KeysDistinct", testCacheKeysDistinct},
	// Set of an existing key replaces its value and its TTL.
	{"Overwrite", testCacheOverwrite},
	{"OverwriteTTL", testCacheOverwriteTTL},
	// An entry set with a positive ttl is not returned once ttl has elapsed;
	// a ttl of zero or less means the entry does not expire by time.
	{"TTLExpiry", testCacheTTLExpiry},
	{"NoExpiry", testCacheNoExpiry},
	// Delete removes every key given; keys that are missing are not an error.
	{"DeleteMany", testCacheDeleteMany},
	{"DeleteMissing", testCacheDeleteMissing},
	// Values passed to Set and returned by Get are not retained or shared.
	{"SetValueNotRetained", testCacheSetValueNotRetained},
	{"GetValueNotShared", testCacheGetValueNotShared},
	// A cancelled or expired ctx makes a method return an error wrapping
	// ctx.Err() without changing anything.
	{"CanceledGet", testCacheCanceledGet},
	{"CanceledSet", testCacheCanceledSet},
	{"CanceledDelete", testCacheCanceledDelete},
	{"DeadlineExceeded", testCacheDeadlineExceeded},
	// All methods are safe for concurrent use by multiple goroutines.
	{"Concurrent", testCacheConcurrent},
}

func testCache(t tester, cfg config, newCache func(t tester) qsessions.Cache) {
	t.Helper()
	for _, tc := range cacheTests {
		t.Run(tc.name, func(t tester) {
			c := newCache(t)
			if c == nil {
				t.Fatalf("newCache returned a nil Cache")
			}
			tc.run(t, &cacheT{t: t, cfg: cfg, c: c})
		})
	}
}

// cacheT runs calls on one Cache under the watchdog.
type cacheT struct {
	t   tester
	cfg config
	c   qsessions.Cache
}

func (c *cacheT) get(ctx context.Context, key string) ([]byte, error) {
	c.t.Helper()
	return call1(c.t, c.cfg, ctx, "Get", func(ctx context.Context) ([]byte, error) { return c.c.Get(ctx, key) })
}

func (c *cacheT) set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	c.t.Helper()
	return call(c.t, c.cfg, ctx, "Set", func(ctx context.Context) error { return c.c.Set(ctx, key, value, ttl) })
}

func (c *cacheT) del(ctx context.Context, keys ...string) error {
	c.t.Helper()
	return call(c.t, c.cfg, ctx, "Delete", func(ctx context.Context) error { return c.c.Delete(ctx, keys...) })
}

// mustSet sets key or fails the test.
func (c *cacheT) mustSet(key string, value []byte, ttl time.Duration) {
	c.t.Helper()
	if err := c.set(context.Background(), key, value, ttl); err != nil {
		c.t.Fatalf("Set(%q, %d bytes, %v): %v", key, len(value), ttl, err)
	}
}

// mustDelete deletes keys or fails the test.
func (c *cacheT) mustDelete(keys ...string) {
	c.t.Helper()
	if err := c.del(context.Background(), keys...); err != nil {
		c.t.Fatalf("Delete(%q): %v", keys, err)
	}
}

// wantValue checks that Get(key) returns exactly want.
func (c *cacheT) wantValue(key string, want []byte) {
	c.t.Helper()
	got, err := c.get(context.Background(), key)
	if err != nil {
		c.t.Errorf("Get(%q): %v; want the %d-byte value set", key, err, len(want))
		return
	}
	if !bytes.Equal(got, want) {
		c.t.Errorf("Get(%q) = %s; want %s", key, describeBytes(got), describeBytes(want))
	}
}

// wantMiss checks that Get(key) returns an error wrapping ErrCacheMiss.
func (c *cacheT) wantMiss(key, why string) {
	c.t.Helper()
	got, err := c.get(context.Background(), key)
	switch {
	case err == nil:
		c.t.Errorf("Get(%q) of a key that %s = %s, nil error; want an error wrapping ErrCacheMiss", key, why, describeBytes(got))
	case !errors.Is(err, qsessions.ErrCacheMiss):
		c.t.Errorf("Get(%q) of a key that %s: error %q does not wrap ErrCacheMiss", key, why, err)
	}
}

// isMiss reports whether Get(key) misses, failing the test on any error
// other than a miss.
func (c *cacheT) isMiss(key string) bool {
	c.t.Helper()
	_, err := c.get(context.Background(), key)
	if err != nil && !errors.Is(err, qsessions.ErrCacheMiss) {
		c.t.Fatalf("Get(%q): error %q does not wrap ErrCacheMiss", key, err)
	}
	return err != nil
}

// waitExpired polls key until it misses, for at most cfg.ttlWait, and
// reports whether it did.
func (c *cacheT) waitExpired(key string) bool {
	c.t.Helper()
	deadline := time.Now().Add(c.cfg.ttlWait)
	for {
		if c.isMiss(key) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(c.cfg.ttl / 5)
	}
}

// expireControl sets a control key with the short TTL, waits for it to
// expire and fails the test if it does not. Keys set before it with the same
// TTL have expired too once it returns.
func (c *cacheT) expireControl() {
	c.t.Helper()
	ctrl := newName("qsessions-conformance:control:")
	c.mustSet(ctrl, []byte("control"), c.cfg.ttl)
	if !c.waitExpired(ctrl) {
		c.t.Fatalf("a control entry set with ttl %v was still returned after %v: the Cache does not expire entries, so this test cannot go on", c.cfg.ttl, c.cfg.ttlWait)
	}
}

func key(name string) string { return newName("qsessions-conformance:" + name + ":") }

const longTTL = time.Hour

func testCacheGetMissing(t tester, c *cacheT) {
	c.wantMiss(key("missing"), "was never set")
}

func testCacheGetDeleted(t tester, c *cacheT) {
	k := key("deleted")
	c.mustSet(k, []byte("value"), longTTL)
	c.mustDelete(k)
	c.wantMiss(k, "was deleted")
}

func testCacheGetExpired(t tester, c *cacheT) {
	k := key("expired")
	c.mustSet(k, []byte("value"), c.cfg.ttl)
	if !c.waitExpired(k) {
		t.Fatalf("Get(%q) still returned the entry %v after it was set with ttl %v", k, c.cfg.ttlWait, c.cfg.ttl)
	}
	c.wantMiss(k, "has expired")
}

func testCacheSetGet(t tester, c *cacheT) {
	k := key("setget")
	want := []byte(`{"user":"alice","cart":[1,2,3]}`)
	c.mustSet(k, want, longTTL)
	c.wantValue(k, want)
	c.wantValue(k, want) // reading does not consume the entry
}

func testCacheBinaryValue(t tester, c *cacheT) {
	all := make([]byte, 0, 512)
	for i := range 256 {
		all = append(all, byte(i))
	}
	for i := 255; i >= 0; i-- {
		all = append(all, byte(i))
	}
	values := map[string][]byte{
		"all-bytes":       all,
		"nul":             {0},
		"nuls":            {0, 0, 0, 'a', 0},
		"invalid-utf8":    {0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1},
		"trailing-space":  []byte("value \t\r\n"),
		"newlines":        []byte("a\r\nb\nc\r"),
		"looks-like-json": []byte(`"quoted"`),
	}
	keys := make(map[string]string)
	for name, v := range values {
		keys[name] = key("binary-" + name)
		c.mustSet(keys[name], v, longTTL)
	}
	for name, v := range values {
		c.wantValue(keys[name], v)
	}
}

func testCacheLargeValue(t tester, c *cacheT) {
	k := key("large")
	want := pattern(c.cfg.large)
	c.mustSet(k, want, longTTL)
	c.wantValue(k, want)
}

func testCacheEmptyValue(t tester, c *cacheT) {
	k := key("empty")
	c.mustSet(k, []byte{}, longTTL)
	got, err := c.get(context.Background(), k)
	switch {
	case err != nil:
		t.Errorf("Get(%q) of an entry set to an empty value: %v; want an empty value and a nil error (an empty value is not a miss)", k, err)
	case got == nil:
		t.Errorf("Get(%q) of an entry set to []byte{} = nil; want a non-nil empty slice, distinct from a missing value", k)
	case len(got) != 0:
		t.Errorf("Get(%q) of an entry set to an empty value = %s; want it empty", k, describeBytes(got))
	}
}

func testCacheKeysDistinct(t tester, c *cacheT) {
	// Keys that differ only in case, a prefix or a trailing byte are distinct.
	base := key("distinct")
	keys := []string{base, base + "x", base + "X", base[:len(base)-1], base + " ", base + "\u00e9"}
	for i, k := range keys {
		c.mustSet(k, []byte(fmt.Sprintf("value %d", i)), longTTL)
	}
	for i, k := range keys {
		c.wantValue(k, []byte(fmt.Sprintf("value %d", i)))
	}
}

func testCacheOverwrite(t tester, c *cacheT) {
	k := key("overwrite")
	c.mustSet(k, []byte("first value, the longer one"), longTTL)
	c.mustSet(k, []byte("second"), longTTL)
	c.wantValue(k, []byte("second"))
	c.mustSet(k, []byte{}, longTTL)
	c.mustSet(k, []byte("third"), longTTL)
	c.wantValue(k, []byte("third"))
}

func testCacheOverwriteTTL(t tester, c *cacheT) {
	// A short TTL replaced by no TTL or a long one: the entry outlives it.
	kept := key("ttl-dropped")
	longer := key("ttl-lengthened")
	c.mustSet(kept, []byte("v1"), c.cfg.ttl)
	c.mustSet(longer, []byte("v1"), c.cfg.ttl)
	c.mustSet(kept, []byte("v2"), 0)
	c.mustSet(longer, []byte("v2"), longTTL)
	// No TTL replaced by a short one: the entry expires.
	shortened := key("ttl-shortened")
	c.mustSet(shortened, []byte("v1"), 0)
	c.mustSet(shortened, []byte("v2"), c.cfg.ttl)

	c.expireControl()
	c.wantValue(kept, []byte("v2"))
	c.wantValue(longer, []byte("v2"))
	if !c.waitExpired(shortened) {
		t.Errorf("an entry set without TTL and then again with ttl %v was still returned after %v: Set did not replace the TTL", c.cfg.ttl, c.cfg.ttlWait)
	}
}

func testCacheTTLExpiry(t tester, c *cacheT) {
	short := key("ttl-short")
	long := key("ttl-long")
	start := time.Now()
	c.mustSet(short, []byte("short"), c.cfg.ttl)
	c.mustSet(long, []byte("long"), longTTL)
	c.wantValue(long, []byte("long"))
	if !c.waitExpired(short) {
		t.Fatalf("an entry set with ttl %v was still returned after %v", c.cfg.ttl, c.cfg.ttlWait)
	}
	if d := time.Since(start); d < c.cfg.ttl {
		t.Errorf("an entry set with ttl %v expired after only %v", c.cfg.ttl, d)
	}
	c.wantMiss(short, "has expired")
	c.wantValue(long, []byte("long"))
}

func testCacheNoExpiry(t tester, c *cacheT) {
	zero := key("ttl-zero")
	negative := key("ttl-negative")
	c.mustSet(zero, []byte("zero"), 0)
	c.mustSet(negative, []byte("negative"), -time.Second)
	c.wantValue(zero, []byte("zero"))
	c.wantValue(negative, []byte("negative"))
	c.expireControl()
	c.wantValue(zero, []byte("zero"))
	c.wantValue(negative, []byte("negative"))
}

func testCacheDeleteMany(t tester, c *cacheT) {
	keys := []string{key("del-a"), key("del-b"), key("del-c")}
	other := key("del-other")
	for _, k := range append([]string{other}, keys...) {
		c.mustSet(k, []byte("value"), longTTL)
	}
	c.mustDelete(keys...)
	for _, k := range keys {
		c.wantMiss(k, "was deleted with others in one call")
	}
	c.wantValue(other, []byte("value"))
	if err := c.del(context.Background()); err != nil {
		t.Errorf("Delete() with no keys: %v; want nil", err)
	}
	c.wantValue(other, []byte("value"))
}

func testCacheDeleteMissing(t tester, c *cacheT) {
	present := key("present")
	c.mustSet(present, []byte("value"), longTTL)
	if err := c.del(context.Background(), key("never-set")); err != nil {
		t.Errorf("Delete of a missing key: %v; want nil", err)
	}
	if err := c.del(context.Background(), key("never-set"), present, key("never-set")); err != nil {
		t.Errorf("Delete of missing keys around a present one: %v; want nil", err)
	}
	c.wantMiss(present, "was deleted along with missing keys")
	if err := c.del(context.Background(), present); err != nil {
		t.Errorf("Delete of a key deleted before: %v; want nil", err)
	}
}

func testCacheSetValueNotRetained(t tester, c *cacheT) {
	k := key("set-retained")
	want := []byte("original value")
	v := bytes.Clone(want)
	c.mustSet(k, v, longTTL)
	for i := range v {
		v[i] = 'X'
	}
	c.wantValue(k, want)
}

func testCacheGetValueNotShared(t tester, c *cacheT) {
	k := key("get-shared")
	want := []byte("original value")
	c.mustSet(k, want, longTTL)
	for range 2 {
		got, err := c.get(context.Background(), k)
		if err != nil {
			t.Fatalf("Get(%q): %v", k, err)
		}
		for i := range got {
			got[i] = 'X'
		}
		_ = append(got[:0:0], "appended"...)
	}
	c.wantValue(k, want)
}

func testCacheCanceledGet(t tester, c *cacheT) {
	k := key("canceled-get")
	c.mustSet(k, []byte("value"), longTTL)
	_, err := c.get(canceledContext(), k)
	if !wrapsCtxErr(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: error %v; want an error wrapping context.Canceled", err)
	}
	c.wantValue(k, []byte("value"))
}

func testCacheCanceledSet(t tester, c *cacheT) {
	existing := key("canceled-set-existing")
	fresh := key("canceled-set-new")
	c.mustSet(existing, []byte("before"), longTTL)
	if err := c.set(canceledContext(), existing, []byte("after"), longTTL); !wrapsCtxErr(err, context.Canceled) {
		t.Errorf("Set of an existing key with a cancelled context: error %v; want an error wrapping context.Canceled", err)
	}
	if err := c.set(canceledContext(), fresh, []byte("after"), longTTL); !wrapsCtxErr(err, context.Canceled) {
		t.Errorf("Set of a new key with a cancelled context: error %v; want an error wrapping context.Canceled", err)
	}
	c.wantValue(existing, []byte("before"))
	c.wantMiss(fresh, "was only set with a cancelled context")
}

func testCacheCanceledDelete(t tester, c *cacheT) {
	k := key("canceled-delete")
	c.mustSet(k, []byte("value"), longTTL)
	if err := c.del(canceledContext(), k); !wrapsCtxErr(err, context.Canceled) {
		t.Errorf("Delete with a cancelled context: error %v; want an error wrapping context.Canceled", err)
	}
	c.wantValue(k, []byte("value"))
}

func testCacheDeadlineExceeded(t tester, c *cacheT) {
	k := key("deadline")
	c.mustSet(k, []byte("before"), longTTL)
	ctx := expiredContext(t)
	if _, err := c.get(ctx, k); !wrapsCtxErr(err, context.DeadlineExceeded) {
		t.Errorf("Get with an expired context: error %v; want an error wrapping context.DeadlineExceeded", err)
	}
	if err := c.set(ctx, k, []byte("after"), longTTL); !wrapsCtxErr(err, context.DeadlineExceeded) {
		t.Errorf("Set with an expired context: error %v; want an error wrapping context.DeadlineExceeded", err)
	}
	if err := c.del(ctx, k); !wrapsCtxErr(err, context.DeadlineExceeded) {
		t.Errorf("Delete with an expired context: error %v; want an error wrapping context.DeadlineExceeded", err)
	}
	c.wantValue(k, []byte("before"))
}

func testCacheConcurrent(t tester, c *cacheT) {
	shared := key("shared")
	prefix := key("worker")
	var wg sync.WaitGroup
	errs := make(chan error, c.cfg.workers)
	for w := range c.cfg.workers {
		wg.Go(func() {
			if err := cacheWorker(c, prefix, shared, w); err != nil {
				errs <- fmt.Errorf("goroutine %d: %w", w, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("%v", err)
	}
	if t.Failed() {
		return
	}
	// Every goroutine's last surviving write is there.
	for w := range c.cfg.workers {
		for r := range c.cfg.rounds {
			k := fmt.Sprintf("%s:%d:%d", prefix, w, r)
			if r%5 == 4 {
				c.wantMiss(k, "was deleted by its goroutine")
			} else {
				c.wantValue(k, workerValue(w, r))
			}
		}
	}
	// The shared key holds one goroutine's complete value.
	got, err := c.get(context.Background(), shared)
	if err != nil {
		t.Fatalf("Get(shared key): %v", err)
	}
	if !isWorkerValue(got) {
		t.Errorf("shared key holds %s, which no goroutine wrote: concurrent Sets interleaved", describeBytes(got))
	}
}

func cacheWorker(c *cacheT, prefix, shared string, w int) error {
	ctx := context.Background()
	for r := range c.cfg.rounds {
		k := fmt.Sprintf("%s:%d:%d", prefix, w, r)
		want := workerValue(w, r)
		if err := c.cfg.run(ctx, "Set", func(ctx context.Context) error { return c.c.Set(ctx, k, want, longTTL) }); err != nil {
			return fmt.Errorf("Set(%q): %w", k, err)
		}
		if err := c.cfg.run(ctx, "Set", func(ctx context.Context) error { return c.c.Set(ctx, shared, want, longTTL) }); err != nil {
			return fmt.Errorf("Set(shared key): %w", err)
		}
		var got []byte
		err := c.cfg.run(ctx, "Get", func(ctx context.Context) (err error) { got, err = c.c.Get(ctx, k); return err })
		if err != nil {
			return fmt.Errorf("Get(%q) right after Set: %w", k, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("Get(%q) right after Set = %s; want %s", k, describeBytes(got), describeBytes(want))
		}
		err = c.cfg.run(ctx, "Get", func(ctx context.Context) (err error) { got, err = c.c.Get(ctx, shared); return err })
		if err != nil {
			return fmt.Errorf("Get(shared key): %w", err)
		}
		if !isWorkerValue(got) {
			return fmt.Errorf("Get(shared key) = %s, which no goroutine wrote", describeBytes(got))
		}
		if r%5 == 4 {
			if err := c.cfg.run(ctx, "Delete", func(ctx context.Context) error { return c.c.Delete(ctx, k) }); err != nil {
				return fmt.Errorf("Delete(%q): %w", k, err)
			}
		}
	}
	return nil
}

// workerValue is a value only goroutine w writes in round r, long enough
// that torn writes show.
func workerValue(w, r int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("[worker %03d round %03d]", w, r)), 64)
}

// isWorkerValue reports whether v is some workerValue.
func isWorkerValue(v []byte) bool {
	var w, r int
	if _, err := fmt.Sscanf(string(v), "[worker %03d round %03d]", &w, &r); err != nil {
		return false
	}
	return bytes.Equal(v, workerValue(w, r))
}

// pattern returns n bytes that are not all alike, so that a value cut,
// shifted or mixed up with another shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// describeBytes formats b for a failure message, shortened when long.
func describeBytes(b []byte) string {
	switch {
	case b == nil:
		return "nil"
	case len(b) <= 64:
		return fmt.Sprintf("%q (%d bytes)", b, len(b))
	default:
		return fmt.Sprintf("%q... (%d bytes)", b[:48], len(b))
	}
}
