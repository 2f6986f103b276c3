package conformance

import (
	"fmt"
	"maps"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
)

// fakeT is a tester that records failures instead of reporting them, so that
// the suite can be run against backends that must fail it.
type fakeT struct {
	name string
	rec  *recording

	mu       sync.Mutex
	failed   bool
	cleanups []func()
}

// recording collects what a run of the suite under fakeT reported.
type recording struct {
	mu       sync.Mutex
	failures map[string][]string // subtest name → messages
	panics   []string            // panics in the suite's own code
	skipped  map[string]string   // subtest name → reason
}

func newFakeT() *fakeT {
	return &fakeT{rec: &recording{failures: map[string][]string{}, skipped: map[string]string{}}}
}

func (f *fakeT) Helper()      {}
func (f *fakeT) Name() string { return f.name }

func (f *fakeT) Logf(format string, args ...any) {}

func (f *fakeT) Errorf(format string, args ...any) {
	f.fail(fmt.Sprintf(format, args...))
}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.fail(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (f *fakeT) Skipf(format string, args ...any) {
	f.rec.mu.Lock()
	f.rec.skipped[f.name] = fmt.Sprintf(format, args...)
	f.rec.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeT) fail(msg string) {
	f.mu.Lock()
	f.failed = true
	f.mu.Unlock()
	f.rec.mu.Lock()
	f.rec.failures[f.name] = append(f.rec.failures[f.name], msg)
	f.rec.mu.Unlock()
}

func (f *fakeT) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *fakeT) Cleanup(fn func()) {
	f.mu.Lock()
	f.cleanups = append(f.cleanups, fn)
	f.mu.Unlock()
}

// Run runs fn as a subtest on its own goroutine, as testing.T.Run does, so
// that Fatalf and Skipf can end it with runtime.Goexit.
func (f *fakeT) Run(name string, fn func(t tester)) bool {
	child := &fakeT{name: name, rec: f.rec}
	if f.name != "" {
		child.name = f.name + "/" + name
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer child.runCleanups()
		defer func() {
			if r := recover(); r != nil {
				child.fail(fmt.Sprintf("panic: %v", r))
				f.rec.mu.Lock()
				f.rec.panics = append(f.rec.panics, fmt.Sprintf("%s: %v\n%s", child.name, r, debug.Stack()))
				f.rec.mu.Unlock()
			}
		}()
		fn(child)
	}()
	<-done
	if child.Failed() {
		f.mu.Lock()
		f.failed = true
		f.mu.Unlock()
	}
	return !child.Failed()
}

func (f *fakeT) runCleanups() {
	f.mu.Lock()
	cs := f.cleanups
	f.cleanups = nil
	f.mu.Unlock()
	for _, c := range slices.Backward(cs) {
		c()
	}
}

// failed returns the names of the subtests that failed, sorted.
func (r *recording) failedTests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.failures))
}

// report formats the failures for a log, each message cut to its first two
// lines: the contract sentence it breaks and what went wrong.
func (r *recording) report() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(r.failures)) {
		for _, msg := range r.failures[name] {
			lines := strings.SplitN(msg, "\n", 3)
			fmt.Fprintf(&b, "\n\t%s: %s", name, strings.Join(lines[:min(len(lines), 2)], "\n\t\t"))
		}
	}
	return b.String()
}
