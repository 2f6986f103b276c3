package conformance

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"testing"
	"time"
)

// tester is the part of [testing.T] the suite uses. The exported entry points
// adapt a *testing.T; the suite's own tests pass a fake that records which
// subtests failed, so that they can check that every deliberately broken
// backend is caught.
type tester interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Failed() bool
	Cleanup(f func())
	Run(name string, f func(t tester)) bool
}

// realT adapts a *testing.T to tester.
type realT struct{ *testing.T }

func (t realT) Run(name string, f func(t tester)) bool {
	return t.T.Run(name, func(t *testing.T) { f(realT{t}) })
}

// testingT returns the *testing.T behind t, or nil for the suite's own fake.
func testingT(t tester) *testing.T {
	if rt, ok := t.(realT); ok {
		return rt.T
	}
	return nil
}

// config holds the suite's timing. The exported entry points use
// defaultConfig; the suite's own tests shorten the waits so that broken
// backends are caught quickly.
type config struct {
	// callTimeout bounds every backend call through its context.
	callTimeout time.Duration
	// grace is how long the watchdog waits past callTimeout for a call that
	// ignores its context before it fails the test.
	grace time.Duration
	// ttl is the short TTL given to cache entries that must expire.
	ttl time.Duration
	// ttlWait is how long the suite polls for a short-lived entry to expire.
	ttlWait time.Duration
	// large is the size of the large values and Data the suite stores;
	// largeMeta that of its large Meta.
	large, largeMeta int
	// many is how many expired records the DeleteExpired subtests that
	// must outlast a Persister's batches sweep at once.
	many int
	// workers and rounds size the concurrency tests: workers goroutines
	// doing rounds rounds of calls each.
	workers, rounds int
}

var defaultConfig = config{
	callTimeout: 10 * time.Second,
	grace:       2 * time.Second,
	ttl:         50 * time.Millisecond,
	ttlWait:     2 * time.Second,
	large:       1 << 20,
	largeMeta:   64 << 10,
	many:        1200,
	workers:     8,
	rounds:      25,
}

// errWatchdog marks a call that did not return in time or that panicked.
var errWatchdog = errors.New("conformance: watchdog")

// run calls f with a context derived from parent that ends after
// cfg.callTimeout. f runs on its own goroutine: a call that ignores its
// context and blocks is abandoned after cfg.grace more, and a call that panics
// is turned into an error; both wrap errWatchdog.
func (cfg config) run(parent context.Context, op string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(parent, cfg.callTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("%w: %s panicked: %v\n%s", errWatchdog, op, r, debug.Stack())
			}
		}()
		done <- f(ctx)
	}()
	timer := time.NewTimer(cfg.callTimeout + cfg.grace)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil && parent.Err() == nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return fmt.Errorf("%w: %s did not finish within the suite's %v call timeout: %w", errWatchdog, op, cfg.callTimeout, err)
		}
		return err
	case <-timer.C:
		return fmt.Errorf("%w: %s did not return within %v, although its context ended after %v: "+
			"it ignores ctx or is stuck (the call is abandoned, still blocked)", errWatchdog, op, cfg.callTimeout+cfg.grace, cfg.callTimeout)
	}
}

// call runs one backend call on the test goroutine under the watchdog, and
// fails the test at once if the call hung or panicked.
func call(t tester, cfg config, parent context.Context, op string, f func(ctx context.Context) error) error {
	t.Helper()
	err := cfg.run(parent, op, f)
	if errors.Is(err, errWatchdog) {
		t.Fatalf("%v", err)
	}
	return err
}

// call1 is call for a method with one result.
func call1[V any](t tester, cfg config, parent context.Context, op string, f func(ctx context.Context) (V, error)) (V, error) {
	t.Helper()
	var v V
	err := call(t, cfg, parent, op, func(ctx context.Context) error {
		var err error
		v, err = f(ctx)
		return err
	})
	return v, err
}

// canceledContext returns a context that is already cancelled.
func canceledContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// expiredContext returns a context whose deadline has passed.
func expiredContext(t tester) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	t.Cleanup(cancel)
	return ctx
}

// newID returns a random ID shaped like the Store's: the unpadded base64url
// SHA-256 of 32 random bytes.
func newID() string {
	var b [32]byte
	rand.Read(b[:])
	sum := sha256.Sum256(b[:])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newName returns a short random string to keep names unique across runs.
func newName(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// wrapsCtxErr reports whether err wraps the error of a context that was
// cancelled (want == context.Canceled) or that expired.
func wrapsCtxErr(err, want error) bool {
	return err != nil && errors.Is(err, want)
}

// A contractT is the tester a subtest runs with: its failures open with the
// contract sentence (or the Store invariant) that the subtest checks, in
// the words of the interface's documentation, and give the details on the
// lines that follow, as testing/slogtest does.
type contractT struct {
	tester
	kind string // "Persister contract", "Cache contract", "Store invariant"
	rule string // the sentence
}

// under returns t with its failures attributed to another sentence of the
// same kind: a setup call that fails breaks the sentence of that call, not
// the one the subtest checks.
func (t contractT) under(rule string) contractT {
	t.rule = rule
	return t
}

func (t contractT) Errorf(format string, args ...any) {
	t.Helper()
	t.tester.Errorf("%s", t.message(format, args...))
}

func (t contractT) Fatalf(format string, args ...any) {
	t.Helper()
	t.tester.Fatalf("%s", t.message(format, args...))
}

func (t contractT) message(format string, args ...any) string {
	return t.kind + ": " + t.rule + "\n" + fmt.Sprintf(format, args...)
}
