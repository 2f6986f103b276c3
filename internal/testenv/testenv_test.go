package testenv_test

import (
	"runtime"
	"testing"

	"github.com/qsessions/qsessions/internal/testenv"
)

// recorder is a testing.TB that records how a test ended.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skip(...any)           { r.skipped = true }
func (r *recorder) Skipf(string, ...any)  { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestGetenv(t *testing.T) {
	t.Setenv("QSESSIONS_TESTENV_PROBE", "127.0.0.1:1")
	if runtime.GOARCH != "wasm" {
		if got := testenv.Getenv(t, "QSESSIONS_TESTENV_PROBE", "a probe"); got != "127.0.0.1:1" {
			t.Fatalf("Getenv = %q", got)
		}
	}
	for _, require := range []string{"", "1"} {
		t.Setenv(testenv.RequireServices, require)
		r := &recorder{TB: t}
		testenv.Getenv(r, "QSESSIONS_TESTENV_UNSET", "nothing")
		wantFail := require == "1" && runtime.GOARCH != "wasm"
		if r.failed != wantFail || r.skipped == wantFail {
			t.Fatalf("%s=%q: failed=%v skipped=%v, want failed=%v", testenv.RequireServices, require, r.failed, r.skipped, wantFail)
		}
	}
}
