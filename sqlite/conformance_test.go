//go:build !js && !wasip1

package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/conformance"
	"github.com/qsessions/qsessions/memory"
	"github.com/qsessions/qsessions/sqlite"
)

// conformanceBackends are the setups the conformance suite runs against:
// a temporary file and an in-memory database, both made by Open.
var conformanceBackends = []struct {
	name string
	path func(t *testing.T) string
}{
	{"File", func(t *testing.T) string { return filepath.Join(t.TempDir(), "sessions.db") }},
	{"Memory", func(*testing.T) string { return ":memory:" }},
}

func newConformancePersister(t *testing.T, path string) *sqlite.Persister {
	t.Helper()
	p, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func TestConformancePersister(t *testing.T) {
	for _, b := range conformanceBackends {
		t.Run(b.name, func(t *testing.T) {
			conformance.TestPersister(t, func(t *testing.T) qsessions.Persister {
				return newConformancePersister(t, b.path(t))
			})
		})
	}
}

// TestConformanceStore runs the Store's invariants over a memory Cache in
// front of this Persister.
func TestConformanceStore(t *testing.T) {
	for _, b := range conformanceBackends {
		t.Run(b.name, func(t *testing.T) {
			conformance.TestStore(t, func(t *testing.T) (qsessions.Cache, qsessions.Persister) {
				return memory.NewCache(), newConformancePersister(t, b.path(t))
			})
		})
	}
}
