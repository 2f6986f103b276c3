package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
)

// TestCache checks that the [qsessions.Cache] returned by newCache keeps every
// sentence of the Cache contract. It runs one subtest per behaviour, each on a
// fresh Cache from newCache; see the package documentation for the subtests
// and for what newCache must do.
//
// When the Cache is also a [qsessions.ConditionalCache] whose Conditional
// reports true, TestCache checks every sentence of that contract too; for a
// Cache without conditional writes, those subtests are skipped, saying why.
func TestCache(t *testing.T, newCache func(t *testing.T) qsessions.Cache) {
	t.Helper()
	testCache(realT{t}, defaultConfig, func(t tester) qsessions.Cache { return newCache(testingT(t)) })
}

// The sentences of the Cache and ConditionalCache contracts, as their
// documentation words them (without its links). Every subtest checks one
// of them, and its failures open with it.
const (
	cMiss        = "Get of a key that was never set, was deleted, or has expired returns an error wrapping ErrCacheMiss."
	cGet         = "Get returns exactly the bytes last Set for the key, binary-safe, and an empty non-nil value is distinct from a missing key."
	cOverwrite   = "Set of an existing key replaces its value and its TTL."
	cTTL         = "An entry set with a positive ttl is not returned once ttl has elapsed; a ttl of zero or less means the entry does not expire by time."
	cDelete      = "Delete removes every key given; keys that are missing are not an error."
	cNotRetained = "Values passed to Set and returned by Get are not retained or shared: the caller may mutate them afterwards."
	cContext     = "A cancelled or expired ctx makes a method return an error wrapping ctx.Err() without changing anything."
	cConcurrent  = "All methods are safe for concurrent use by multiple goroutines."

	// ccConditional has no subtest of its own: it decides whether the
	// subtests of conditional writes run or are skipped.
	ccConditional = "Conditional reports whether Add and CompareAndSwap are available; an adapter may offer them over some stores only. The Store asks once, at New, and uses a cache that reports false as a plain Cache."
	ccAdd         = "Add stores value under key with ttl, as Set does, only when the key has no live entry, and reports whether it did."
	ccCAS         = "CompareAndSwap replaces the value under key with value and its ttl, as Set does, only when the key's live entry holds exactly old, and reports whether it did; a missing or expired key is never swapped."
	ccLease       = "A Delete, an expiry or a Set of another value of the key between an Add and a CompareAndSwap makes the CompareAndSwap report false (the Store's lease values are random, so no other write repeats one)."
	ccRest        = "Values passed in are not retained; a cancelled ctx returns an error wrapping ctx.Err() and changes nothing; both are safe for concurrent use."
)

// cacheSentences and conditionalCacheSentences list the contracts'
// sentences in the documentation's order.
var (
	cacheSentences            = []string{cMiss, cGet, cOverwrite, cTTL, cDelete, cNotRetained, cContext, cConcurrent}
	conditionalCacheSentences = []string{ccConditional, ccAdd, ccCAS, ccLease, ccRest}
)

// cacheTest is one named subtest of TestCache and the contract sentence it
// checks.
type cacheTest struct {
	name string
	rule string
	run  func(t tester, c *cacheT)
}

// cacheTests lists TestCache's subtests, in the order of the contract's
// sentences.
var cacheTests = []cacheTest{
	{"GetMissing", cMiss, testCacheGetMissing},
	{"GetDeleted", cMiss, testCacheGetDeleted},
	{"GetExpired", cMiss, testCacheGetExpired},
	{"SetGet", cGet, testCacheSetGet},
	{"BinaryValue", cGet, testCacheBinaryValue},
	{"LargeValue", cGet, testCacheLargeValue},
	{"EmptyValue", cGet, testCacheEmptyValue},
	{"KeysDistinct", cGet, testCacheKeysDistinct},
	{"Overwrite", cOverwrite, testCacheOverwrite},
	{"OverwriteTTL", cOverwrite, testCacheOverwriteTTL},
	{"TTLExpiry", cTTL, testCacheTTLExpiry},
	{"NoExpiry", cTTL, testCacheNoExpiry},
	{"DeleteMany", cDelete, testCacheDeleteMany},
	{"DeleteMissing", cDelete, testCacheDeleteMissing},
	{"SetValueNotRetained", cNotRetained, testCacheSetValueNotRetained},
	{"GetValueNotShared", cNotRetained, testCacheGetValueNotShared},
	{"CanceledGet", cContext, testCacheCanceledGet},
	{"CanceledSet", cContext, testCacheCanceledSet},
	{"CanceledDelete", cContext, testCacheCanceledDelete},
	{"DeadlineExceeded", cContext, testCacheDeadlineExceeded},
	{"Concurrent", cConcurrent, testCacheConcurrent},
}

// conditionalCacheTests lists the subtests of the ConditionalCache
// contract, in the order of its sentences. They run only on a cache whose
// Conditional reports true.
var conditionalCacheTests = []cacheTest{
	{"AddMissing", ccAdd, testCacheAddMissing},
	{"AddPresent", ccAdd, testCacheAddPresent},
	{"AddExpired", ccAdd, testCacheAddExpired},
	{"AddTTL", ccAdd, testCacheAddTTL},
	{"CompareAndSwapMatch", ccCAS, testCacheCompareAndSwapMatch},
	{"CompareAndSwapMismatch", ccCAS, testCacheCompareAndSwapMismatch},
	{"CompareAndSwapMissing", ccCAS, testCacheCompareAndSwapMissing},
	{"CompareAndSwapExpired", ccCAS, testCacheCompareAndSwapExpired},
	{"CompareAndSwapTTL", ccCAS, testCacheCompareAndSwapTTL},
	{"CompareAndSwapBinary", ccCAS, testCacheCompareAndSwapBinary},
	{"LeaseDeleted", ccLease, testCacheLeaseDeleted},
	{"LeaseOverwritten", ccLease, testCacheLeaseOverwritten},
	{"LeaseExpired", ccLease, testCacheLeaseExpired},
	{"AddValueNotRetained", ccRest, testCacheAddValueNotRetained},
	{"CompareAndSwapValueNotRetained", ccRest, testCacheCompareAndSwapValueNotRetained},
	{"CanceledAdd", ccRest, testCacheCanceledAdd},
	{"CanceledCompareAndSwap", ccRest, testCacheCanceledCompareAndSwap},
	{"ConcurrentAdd", ccRest, testCacheConcurrentAdd},
	{"ConcurrentCompareAndSwap", ccRest, testCacheConcurrentCompareAndSwap},
	{"ConcurrentLease", ccRest, testCacheConcurrentLease},
}

func testCache(t tester, cfg config, newCache func(t tester) qsessions.Cache) {
	t.Helper()
	for _, tc := range cacheTests {
		t.Run(tc.name, func(raw tester) {
			t := contractT{tester: raw, kind: "Cache contract", rule: tc.rule}
			c := newCache(raw)
			if c == nil {
				raw.Fatalf("newCache returned a nil Cache")
			}
			tc.run(t, &cacheT{t: t, cfg: cfg, c: c})
		})
	}
	for _, tc := range conditionalCacheTests {
		t.Run(tc.name, func(raw tester) {
			t := contractT{tester: raw, kind: "ConditionalCache contract", rule: tc.rule}
			c := newCache(raw)
			if c == nil {
				raw.Fatalf("newCache returned a nil Cache")
			}
			cc, ok := c.(qsessions.ConditionalCache)
			switch {
			case !ok:
				t.Skipf("the Cache, a %T, is not a qsessions.ConditionalCache", c)
			case !cc.Conditional():
				t.Skipf("the Cache, a %T, offers no conditional writes: its Conditional reports false", c)
			}
			tc.run(t, &cacheT{t: t, cfg: cfg, c: c, cc: cc})
		})
	}
}

// cacheT runs calls on one Cache under the watchdog.
type cacheT struct {
	t   tester
	cfg config
	c   qsessions.Cache
	cc  qsessions.ConditionalCache // c, in the subtests of conditional writes
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
	values := map[string][]byte{
		"all-bytes":       allBytes(),
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
	scribble(v)
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
		scribbleReturned(t, got, "value that Get returned")
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

// allBytes returns every byte value, up and down again.
func allBytes() []byte {
	all := make([]byte, 0, 512)
	for i := range 256 {
		all = append(all, byte(i))
	}
	for i := 255; i >= 0; i-- {
		all = append(all, byte(i))
	}
	return all
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

// The subtests of conditional writes: Add and CompareAndSwap.

func (c *cacheT) add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	c.t.Helper()
	return call1(c.t, c.cfg, ctx, "Add", func(ctx context.Context) (bool, error) { return c.cc.Add(ctx, key, value, ttl) })
}

func (c *cacheT) cas(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	c.t.Helper()
	return call1(c.t, c.cfg, ctx, "CompareAndSwap", func(ctx context.Context) (bool, error) {
		return c.cc.CompareAndSwap(ctx, key, old, value, ttl)
	})
}

// wantAdd checks that Add(key, value, ttl) reports want and no error; why
// says what the key is, for the message. It reports whether it did.
func (c *cacheT) wantAdd(key string, value []byte, ttl time.Duration, want bool, why string) bool {
	c.t.Helper()
	ok, err := c.add(context.Background(), key, value, ttl)
	switch {
	case err != nil:
		c.t.Errorf("Add(%q, %s, %v) of a key that %s: %v; want %v and no error", key, describeBytes(value), ttl, why, err, want)
	case ok != want:
		c.t.Errorf("Add(%q, %s, %v) of a key that %s = %v; want %v", key, describeBytes(value), ttl, why, ok, want)
	}
	return err == nil && ok == want
}

// mustAdd adds key, as a lease would be taken, or fails the test.
func (c *cacheT) mustAdd(key string, value []byte, ttl time.Duration) {
	c.t.Helper()
	if !c.wantAdd(key, value, ttl, true, "was never set") {
		c.t.Fatalf("cannot go on without the entry Add(%q) should have written", key)
	}
}

// wantSwap checks that CompareAndSwap(key, old, value, ttl) reports want and
// no error; why says what the key holds, for the message. It reports
// whether it did.
func (c *cacheT) wantSwap(key string, old, value []byte, ttl time.Duration, want bool, why string) bool {
	c.t.Helper()
	ok, err := c.cas(context.Background(), key, old, value, ttl)
	switch {
	case err != nil:
		c.t.Errorf("CompareAndSwap(%q, old %s, new %s, %v) of a key that %s: %v; want %v and no error", key, describeBytes(old), describeBytes(value), ttl, why, err, want)
	case ok != want:
		c.t.Errorf("CompareAndSwap(%q, old %s, new %s, %v) of a key that %s = %v; want %v", key, describeBytes(old), describeBytes(value), ttl, why, ok, want)
	}
	return err == nil && ok == want
}

// wantEmpty checks that Get(key) returns an empty, non-nil value.
func (c *cacheT) wantEmpty(key, why string) {
	c.t.Helper()
	got, err := c.get(context.Background(), key)
	switch {
	case err != nil:
		c.t.Errorf("Get(%q) of a key that %s: %v; want an empty value and no error (an empty value is not a miss)", key, why, err)
	case got == nil:
		c.t.Errorf("Get(%q) of a key that %s = nil; want a non-nil empty slice, distinct from a missing value", key, why)
	case len(got) != 0:
		c.t.Errorf("Get(%q) of a key that %s = %s; want it empty", key, why, describeBytes(got))
	}
}

// setAndSwap sets a fresh key to v1 with the short TTL, swaps it at once
// for v2 with ttl, and returns the key. When the short TTL ran out before
// the swap could (a loaded machine), it tries again on another key.
func (c *cacheT) setAndSwap(name string, v1, v2 []byte, ttl time.Duration) string {
	c.t.Helper()
	for range 3 {
		k := key(name)
		start := time.Now()
		c.mustSet(k, v1, c.cfg.ttl)
		ok, err := c.cas(context.Background(), k, v1, v2, ttl)
		switch {
		case err != nil:
			c.t.Fatalf("CompareAndSwap(%q, old %s, new %s, %v) of a key that holds old: %v", k, describeBytes(v1), describeBytes(v2), ttl, err)
		case ok:
			return k
		case time.Since(start) < c.cfg.ttl:
			c.t.Fatalf("CompareAndSwap(%q, old %s, new %s, %v) of a key that holds old = false; want true", k, describeBytes(v1), describeBytes(v2), ttl)
		}
	}
	c.t.Fatalf("three entries set with ttl %v expired before the next call could swap them: the machine is too slow for this test", c.cfg.ttl)
	return ""
}

func testCacheAddMissing(t tester, c *cacheT) {
	k := key("add-missing")
	want := []byte("added\x00\xff value")
	c.wantAdd(k, want, longTTL, true, "was never set")
	c.wantValue(k, want)

	deleted := key("add-deleted")
	c.mustSet(deleted, []byte("before"), longTTL)
	c.mustDelete(deleted)
	c.wantAdd(deleted, []byte("added"), longTTL, true, "was deleted")
	c.wantValue(deleted, []byte("added"))

	empty := key("add-empty")
	c.wantAdd(empty, []byte{}, longTTL, true, "was never set")
	c.wantEmpty(empty, "was added with an empty value")
}

func testCacheAddPresent(t tester, c *cacheT) {
	k := key("add-present")
	c.mustSet(k, []byte("present"), longTTL)
	c.wantAdd(k, []byte("added"), longTTL, false, "holds a value")
	c.wantValue(k, []byte("present"))

	// An empty value is a live entry too.
	empty := key("add-present-empty")
	c.mustSet(empty, []byte{}, longTTL)
	c.wantAdd(empty, []byte("added"), longTTL, false, "holds an empty value")
	c.wantEmpty(empty, "was set to an empty value, then added to")

	// What Add wrote is present for the next Add.
	twice := key("add-twice")
	c.wantAdd(twice, []byte("first"), longTTL, true, "was never set")
	c.wantAdd(twice, []byte("second"), longTTL, false, "was added before")
	c.wantValue(twice, []byte("first"))

	// An Add that reports false leaves the entry's TTL alone.
	short := key("add-present-ttl")
	start := time.Now()
	c.mustSet(short, []byte("short"), c.cfg.ttl)
	ok, err := c.add(context.Background(), short, []byte("added"), 0)
	switch {
	case err != nil:
		t.Errorf("Add(%q) of a key that holds a value: %v; want false and no error", short, err)
	case ok && time.Since(start) < c.cfg.ttl:
		t.Errorf("Add(%q) of a key that holds a value = true; want false", short)
	case ok:
		// The entry expired before Add ran: nothing left to check.
	case !c.waitExpired(short):
		t.Errorf("an entry set with ttl %v was still returned after %v, once an Add without TTL had reported false on it: the failed Add changed its TTL", c.cfg.ttl, c.cfg.ttlWait)
	}
}

func testCacheAddExpired(t tester, c *cacheT) {
	k := key("add-expired")
	c.mustSet(k, []byte("old"), c.cfg.ttl)
	if !c.waitExpired(k) {
		t.Fatalf("Get(%q) still returned the entry %v after it was set with ttl %v", k, c.cfg.ttlWait, c.cfg.ttl)
	}
	c.wantAdd(k, []byte("new"), longTTL, true, "has expired")
	c.wantValue(k, []byte("new"))

	// An expired lease gives way to the next.
	lease := key("add-expired-lease")
	c.mustAdd(lease, []byte("lease 1"), c.cfg.ttl)
	if !c.waitExpired(lease) {
		t.Fatalf("Get(%q) still returned the entry %v after it was added with ttl %v", lease, c.cfg.ttlWait, c.cfg.ttl)
	}
	c.wantAdd(lease, []byte("lease 2"), longTTL, true, "was added and has expired")
	c.wantValue(lease, []byte("lease 2"))
}

func testCacheAddTTL(t tester, c *cacheT) {
	short := key("add-ttl-short")
	start := time.Now()
	c.mustAdd(short, []byte("short"), c.cfg.ttl)
	if !c.waitExpired(short) {
		t.Errorf("an entry added with ttl %v was still returned after %v", c.cfg.ttl, c.cfg.ttlWait)
	} else if d := time.Since(start); d < c.cfg.ttl {
		t.Errorf("an entry added with ttl %v expired after only %v", c.cfg.ttl, d)
	}

	zero := key("add-ttl-zero")
	negative := key("add-ttl-negative")
	long := key("add-ttl-long")
	c.wantAdd(zero, []byte("zero"), 0, true, "was never set")
	c.wantAdd(negative, []byte("negative"), -time.Second, true, "was never set")
	c.wantAdd(long, []byte("long"), longTTL, true, "was never set")
	c.expireControl()
	c.wantValue(zero, []byte("zero"))
	c.wantValue(negative, []byte("negative"))
	c.wantValue(long, []byte("long"))
}

func testCacheCompareAndSwapMatch(t tester, c *cacheT) {
	k := key("cas")
	c.mustSet(k, []byte("v1"), longTTL)
	c.wantSwap(k, []byte("v1"), []byte("v2"), longTTL, true, `holds "v1"`)
	c.wantValue(k, []byte("v2"))
	c.wantSwap(k, []byte("v2"), []byte("a longer third value"), longTTL, true, `holds "v2"`)
	c.wantValue(k, []byte("a longer third value"))

	// To and from an empty value.
	empty := key("cas-empty")
	c.mustSet(empty, []byte{}, longTTL)
	c.wantSwap(empty, []byte{}, []byte("filled"), longTTL, true, "holds an empty value")
	c.wantValue(empty, []byte("filled"))
	c.wantSwap(empty, []byte("filled"), []byte{}, longTTL, true, `holds "filled"`)
	c.wantEmpty(empty, "was swapped to an empty value")

	// A lease: what Add wrote.
	added := key("cas-added")
	c.mustAdd(added, []byte("lease"), longTTL)
	c.wantSwap(added, []byte("lease"), []byte("record"), longTTL, true, `was added with "lease"`)
	c.wantValue(added, []byte("record"))
}

func testCacheCompareAndSwapMismatch(t tester, c *cacheT) {
	k := key("cas-mismatch")
	c.mustSet(k, []byte("current"), longTTL)
	for _, old := range [][]byte{[]byte("other"), []byte("CURRENT"), {}, nil} {
		c.wantSwap(k, old, []byte("swapped"), longTTL, false, `holds "current"`)
	}
	c.wantValue(k, []byte("current"))

	// An empty entry holds no other value.
	empty := key("cas-mismatch-empty")
	c.mustSet(empty, []byte{}, longTTL)
	c.wantSwap(empty, []byte("current"), []byte("swapped"), longTTL, false, "holds an empty value")
	c.wantEmpty(empty, "holds an empty value that no swap matched")
}

func testCacheCompareAndSwapMissing(t tester, c *cacheT) {
	k := key("cas-missing")
	for _, old := range [][]byte{[]byte("old"), {}, nil} {
		c.wantSwap(k, old, []byte("swapped"), longTTL, false, "was never set")
	}
	c.wantMiss(k, "was never set, only swapped")

	deleted := key("cas-deleted")
	c.mustSet(deleted, []byte("old"), longTTL)
	c.mustDelete(deleted)
	c.wantSwap(deleted, []byte("old"), []byte("swapped"), longTTL, false, "was deleted")
	c.wantMiss(deleted, "was deleted, then only swapped")
}

func testCacheCompareAndSwapExpired(t tester, c *cacheT) {
	k := key("cas-expired")
	c.mustSet(k, []byte("old"), c.cfg.ttl)
	if !c.waitExpired(k) {
		t.Fatalf("Get(%q) still returned the entry %v after it was set with ttl %v", k, c.cfg.ttlWait, c.cfg.ttl)
	}
	c.wantSwap(k, []byte("old"), []byte("swapped"), longTTL, false, "has expired")
	c.wantMiss(k, "has expired, then was only swapped")
}

func testCacheCompareAndSwapTTL(t tester, c *cacheT) {
	// A short TTL replaced by none or a long one: the entry outlives it.
	dropped := c.setAndSwap("cas-ttl-dropped", []byte("v1"), []byte("v2"), 0)
	negative := c.setAndSwap("cas-ttl-negative", []byte("v1"), []byte("v2"), -time.Second)
	lengthened := c.setAndSwap("cas-ttl-lengthened", []byte("v1"), []byte("v2"), longTTL)
	// No TTL replaced by a short one: the entry expires.
	shortened := key("cas-ttl-shortened")
	c.mustSet(shortened, []byte("v1"), 0)
	c.wantSwap(shortened, []byte("v1"), []byte("v2"), c.cfg.ttl, true, `holds "v1"`)

	c.expireControl()
	for _, k := range []string{dropped, negative, lengthened} {
		got, err := c.get(context.Background(), k)
		switch {
		case errors.Is(err, qsessions.ErrCacheMiss):
			t.Errorf("Get(%q): a miss; an entry set with ttl %v and swapped with a longer ttl or none has expired: CompareAndSwap did not replace the TTL", k, c.cfg.ttl)
		case err != nil:
			t.Errorf("Get(%q): %v", k, err)
		case !bytes.Equal(got, []byte("v2")):
			t.Errorf("Get(%q) = %s; want %q", k, describeBytes(got), "v2")
		}
	}
	if !c.waitExpired(shortened) {
		t.Errorf("an entry set without TTL, then swapped with ttl %v, was still returned after %v: CompareAndSwap did not replace the TTL", c.cfg.ttl, c.cfg.ttlWait)
	}
}

func testCacheCompareAndSwapBinary(t tester, c *cacheT) {
	v := []byte("abc\x00def\xff\xfe \r\n")
	k := key("cas-binary")
	c.mustSet(k, v, longTTL)
	for _, m := range []struct {
		what string
		old  []byte
	}{
		{"a prefix of it", v[:3]},
		{"a prefix of it up to its NUL", v[:4]},
		{"all of it but the last byte", v[:len(v)-1]},
		{"it with its trailing white space trimmed", bytes.TrimRight(v, " \r\n")},
		{"it and a NUL", append(bytes.Clone(v), 0)},
		{"it and one more byte", append(bytes.Clone(v), 'x')},
		{"it twice", append(bytes.Clone(v), v...)},
		{"the same bytes up to the NUL, others after", []byte("abc\x00xyz\xff\xfe \r\n")},
		{"it made valid UTF-8", []byte(strings.ToValidUTF8(string(v), "\uFFFD"))},
	} {
		ok, err := c.cas(context.Background(), k, m.old, []byte("swapped"), longTTL)
		switch {
		case err != nil:
			t.Fatalf("CompareAndSwap(%q) of a key that holds %s, with old %s: %v", k, describeBytes(v), m.what, err)
		case ok:
			t.Fatalf("CompareAndSwap(%q) of a key that holds %s, with old %s (%s) = true; want false: only the exact bytes match", k, describeBytes(v), m.what, describeBytes(m.old))
		}
	}
	c.wantValue(k, v)

	// The exact bytes match, and binary values are swapped in whole.
	all := allBytes()
	c.wantSwap(k, v, all, longTTL, true, "holds exactly old")
	c.wantValue(k, all)
	c.wantSwap(k, all, v, longTTL, true, "holds exactly old")
	c.wantValue(k, v)

	// A large value is compared in full.
	large := key("cas-large")
	want := pattern(c.cfg.large)
	c.mustSet(large, want, longTTL)
	other := bytes.Clone(want)
	other[len(other)-1] ^= 1
	c.wantSwap(large, other, []byte("swapped"), longTTL, false, "holds a large value differing from old in its last byte")
	c.wantSwap(large, want, []byte("swapped"), longTTL, true, "holds exactly old, a large value")
	c.wantValue(large, []byte("swapped"))
}

func testCacheLeaseDeleted(t tester, c *cacheT) {
	k := key("lease-deleted")
	c.mustAdd(k, []byte("lease"), longTTL)
	c.mustDelete(k)
	c.wantSwap(k, []byte("lease"), []byte("stale record"), longTTL, false, "was added, then deleted")
	c.wantMiss(k, "was deleted while leased")

	// A lease deleted and taken again: only the new holder's swap succeeds.
	again := key("lease-taken-again")
	c.mustAdd(again, []byte("lease 1"), longTTL)
	c.mustDelete(again)
	c.mustAdd(again, []byte("lease 2"), longTTL)
	c.wantSwap(again, []byte("lease 1"), []byte("stale record"), longTTL, false, `was deleted and added again with "lease 2"`)
	c.wantSwap(again, []byte("lease 2"), []byte("record"), longTTL, true, `holds "lease 2"`)
	c.wantValue(again, []byte("record"))
}

func testCacheLeaseOverwritten(t tester, c *cacheT) {
	k := key("lease-overwritten")
	c.mustAdd(k, []byte("lease"), longTTL)
	c.mustSet(k, []byte("newer record"), longTTL)
	c.wantSwap(k, []byte("lease"), []byte("stale record"), longTTL, false, "was added, then set to another value")
	c.wantValue(k, []byte("newer record"))
}

func testCacheLeaseExpired(t tester, c *cacheT) {
	k := key("lease-expired")
	c.mustAdd(k, []byte("lease"), c.cfg.ttl)
	if !c.waitExpired(k) {
		t.Fatalf("Get(%q) still returned the entry %v after it was added with ttl %v", k, c.cfg.ttlWait, c.cfg.ttl)
	}
	c.wantSwap(k, []byte("lease"), []byte("stale record"), longTTL, false, "was added and has expired")
	c.wantMiss(k, "has expired while leased")
}

func testCacheAddValueNotRetained(t tester, c *cacheT) {
	k := key("add-retained")
	want := []byte("original value")
	v := bytes.Clone(want)
	c.mustAdd(k, v, longTTL)
	scribble(v)
	c.wantValue(k, want)
}

func testCacheCompareAndSwapValueNotRetained(t tester, c *cacheT) {
	k := key("cas-retained")
	c.mustSet(k, []byte("old value"), longTTL)
	old, v := []byte("old value"), []byte("new value")
	if !c.wantSwap(k, old, v, longTTL, true, `holds "old value"`) {
		return
	}
	for i := range v {
		v[i], old[i] = 'X', 'Y'
	}
	c.wantValue(k, []byte("new value"))
}

func testCacheCanceledAdd(t tester, c *cacheT) {
	k := key("canceled-add")
	for _, cc := range []struct {
		ctx  context.Context
		want error
	}{
		{canceledContext(), context.Canceled},
		{expiredContext(t), context.DeadlineExceeded},
	} {
		ok, err := c.add(cc.ctx, k, []byte("added"), longTTL)
		if !wrapsCtxErr(err, cc.want) {
			t.Errorf("Add of a missing key with a context that ended with %v: error %v; want an error wrapping it", cc.want, err)
		}
		if ok {
			t.Errorf("Add of a missing key with a context that ended with %v reported true; want false", cc.want)
		}
	}
	c.wantMiss(k, "was only added with ended contexts")
}

func testCacheCanceledCompareAndSwap(t tester, c *cacheT) {
	k := key("canceled-cas")
	c.mustSet(k, []byte("before"), longTTL)
	for _, cc := range []struct {
		ctx  context.Context
		want error
	}{
		{canceledContext(), context.Canceled},
		{expiredContext(t), context.DeadlineExceeded},
	} {
		ok, err := c.cas(cc.ctx, k, []byte("before"), []byte("after"), longTTL)
		if !wrapsCtxErr(err, cc.want) {
			t.Errorf("CompareAndSwap of a matching key with a context that ended with %v: error %v; want an error wrapping it", cc.want, err)
		}
		if ok {
			t.Errorf("CompareAndSwap of a matching key with a context that ended with %v reported true; want false", cc.want)
		}
	}
	c.wantValue(k, []byte("before"))
}

// race calls f from cfg.workers goroutines released at once, and returns
// the goroutines whose f reported true. It fails the test on any error.
func (c *cacheT) race(op string, f func(ctx context.Context, w int) (bool, error)) []int {
	c.t.Helper()
	n := c.cfg.workers
	won := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			<-start
			errs[w] = c.cfg.run(context.Background(), op, func(ctx context.Context) (err error) {
				won[w], err = f(ctx, w)
				return err
			})
		})
	}
	close(start)
	wg.Wait()
	var winners []int
	for w := range n {
		switch {
		case errs[w] != nil:
			c.t.Errorf("goroutine %d: %s: %v", w, op, errs[w])
		case won[w]:
			winners = append(winners, w)
		}
	}
	return winners
}

// wantOneWinner checks that exactly one of the goroutines that raced op
// won, and that key holds its value.
func (c *cacheT) wantOneWinner(op, key string, winners []int, r int) {
	c.t.Helper()
	switch len(winners) {
	case 0:
		c.t.Errorf("round %d: none of %d goroutines racing %s on %q won; want exactly one", r, c.cfg.workers, op, key)
	case 1:
		c.wantValue(key, workerValue(winners[0], r))
	default:
		c.t.Errorf("round %d: goroutines %v of %d racing %s on %q all won; want exactly one: %s is not atomic", r, winners, c.cfg.workers, op, key, op)
	}
}

func testCacheConcurrentAdd(t tester, c *cacheT) {
	for r := range c.cfg.rounds {
		k := key("concurrent-add")
		winners := c.race("Add", func(ctx context.Context, w int) (bool, error) {
			return c.cc.Add(ctx, k, workerValue(w, r), longTTL)
		})
		c.wantOneWinner("Add", k, winners, r)
		if t.Failed() {
			return
		}
	}
}

func testCacheConcurrentCompareAndSwap(t tester, c *cacheT) {
	for r := range c.cfg.rounds {
		k := key("concurrent-cas")
		old := fmt.Appendf(nil, "round %d", r)
		c.mustSet(k, old, longTTL)
		winners := c.race("CompareAndSwap", func(ctx context.Context, w int) (bool, error) {
			return c.cc.CompareAndSwap(ctx, k, old, workerValue(w, r), longTTL)
		})
		c.wantOneWinner("CompareAndSwap", k, winners, r)
		if t.Failed() {
			return
		}
	}
}

// testCacheConcurrentLease races Adds or CompareAndSwaps of a key against
// one Set or Delete of it, as refills race a write or a revocation. In every
// order the Set or the Delete has the last word: an Add or a swap that comes
// first is overwritten, one that comes after finds the key taken or changed.
// writerPause lets the conditional writers of ConcurrentLease start first,
// so that the plain write lands inside their calls even where goroutines
// take turns on one thread (WebAssembly) rather than run in parallel.
func writerPause() {
	runtime.Gosched()
	time.Sleep(time.Millisecond)
}

func testCacheConcurrentLease(t tester, c *cacheT) {
	newer := []byte("newer record")
	for r := range c.cfg.rounds {
		k := key("concurrent-lease")
		lease := fmt.Appendf(nil, "lease %d", r)
		var op, writer string
		var f func(ctx context.Context, w int) (bool, error)
		switch r % 3 {
		case 0:
			op, writer = "Add", "Set"
			f = func(ctx context.Context, w int) (bool, error) {
				if w == 0 {
					writerPause()
					return false, c.c.Set(ctx, k, newer, longTTL)
				}
				return c.cc.Add(ctx, k, workerValue(w, r), longTTL)
			}
		case 1:
			op, writer = "CompareAndSwap", "Set"
			c.mustAdd(k, lease, longTTL)
			f = func(ctx context.Context, w int) (bool, error) {
				if w == 0 {
					writerPause()
					return false, c.c.Set(ctx, k, newer, longTTL)
				}
				return c.cc.CompareAndSwap(ctx, k, lease, workerValue(w, r), longTTL)
			}
		case 2:
			op, writer = "CompareAndSwap", "Delete"
			c.mustAdd(k, lease, longTTL)
			f = func(ctx context.Context, w int) (bool, error) {
				if w == 0 {
					writerPause()
					return false, c.c.Delete(ctx, k)
				}
				return c.cc.CompareAndSwap(ctx, k, lease, workerValue(w, r), longTTL)
			}
		}
		winners := c.race(op+" and "+writer, f)
		if len(winners) > 1 {
			t.Errorf("round %d: goroutines %v racing %s on %q all won; want at most one", r, winners, op, k)
		}
		got, err := c.get(context.Background(), k)
		switch {
		case writer == "Delete" && err == nil:
			t.Errorf("round %d: %q holds %s after CompareAndSwaps raced a Delete; want a miss: a swap checked the key before the Delete and wrote it after", r, k, describeBytes(got))
		case writer == "Delete" && !errors.Is(err, qsessions.ErrCacheMiss):
			t.Errorf("round %d: Get(%q): %v", r, k, err)
		case writer == "Set" && err != nil:
			t.Errorf("round %d: Get(%q) after %ss raced a Set: %v; want the value Set", r, k, op, err)
		case writer == "Set" && !bytes.Equal(got, newer):
			t.Errorf("round %d: %q holds %s after %ss raced a Set; want the value Set, %s: %s checked the key before the Set and wrote it after", r, k, describeBytes(got), op, describeBytes(newer), op)
		}
		if t.Failed() {
			return
		}
	}
}
