//go:build linux || darwin

package conformance

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

// readOnlyPersister returns Data and Meta in read-only memory, as a store
// over an mmap'd file (bbolt, say) does when it hands out its own pages.
type readOnlyPersister struct {
	*memory.Persister
	t *testing.T
}

func (p readOnlyPersister) readOnly(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	m, err := syscall.Mmap(-1, 0, len(b), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		p.t.Fatalf("mmap: %v", err)
	}
	copy(m, b)
	if err := syscall.Mprotect(m, syscall.PROT_READ); err != nil {
		p.t.Fatalf("mprotect: %v", err)
	}
	return m
}

func (p readOnlyPersister) Load(ctx context.Context, id string) (qsessions.Record, error) {
	r, err := p.Persister.Load(ctx, id)
	r.Data, r.Meta = p.readOnly(r.Data), p.readOnly(r.Meta)
	return r, err
}

func (p readOnlyPersister) ListByUser(ctx context.Context, userID string) ([]qsessions.Record, error) {
	rs, err := p.Persister.ListByUser(ctx, userID)
	for i := range rs {
		rs[i].Data, rs[i].Meta = p.readOnly(rs[i].Data), p.readOnly(rs[i].Meta)
	}
	return rs, err
}

// A Persister that returns read-only memory fails the subtests that write
// to what it returned, with a message that says why, and the rest of the
// suite runs on: the fault does not crash the test binary.
func TestSelfReadOnlyMemory(t *testing.T) {
	rec := selfRun(selfConfig, func(ft tester, cfg config) {
		testPersister(ft, cfg, func(tester) qsessions.Persister {
			return readOnlyPersister{memory.NewPersister(), t}
		})
	})
	failed := rec.failedTests()
	want := []string{"ListDataNotShared", "LoadDataNotShared"}
	if strings.Join(failed, ",") != strings.Join(want, ",") {
		t.Errorf("failed subtests %v; want %v:%s", failed, want, rec.report())
	}
	for _, name := range want {
		if msgs := strings.Join(rec.failures[name], "\n"); !strings.Contains(msgs, "aliases memory the store owns") {
			t.Errorf("%s failed with %q; want it to say that the Data aliases memory the store owns", name, msgs)
		}
	}
	if len(rec.panics) > 0 {
		t.Errorf("the suite panicked: %v", rec.panics)
	}
}
