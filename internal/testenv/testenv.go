// Package testenv holds the one rule every test of this module follows for
// the services it needs (Redis, PostgreSQL, a redis-server binary,
// Chromium): without the service the test skips, saying what is missing,
// unless QSESSIONS_REQUIRE_SERVICES=1, set by .ci/run, where it fails
// instead. On WebAssembly there are no services by design, so such tests
// always skip there.
package testenv

import (
	"os"
	"runtime"
	"testing"
)

// RequireServices names the environment variable that turns a missing
// service from a skip into a failure.
const RequireServices = "QSESSIONS_REQUIRE_SERVICES"

// Missing ends the test because a service it needs is missing: why says
// which and how to provide it.
func Missing(tb testing.TB, why string) {
	tb.Helper()
	switch {
	case runtime.GOARCH == "wasm":
		tb.Skipf("%s: no services on %s/%s", why, runtime.GOOS, runtime.GOARCH)
	case os.Getenv(RequireServices) == "1":
		tb.Fatalf("%s, and %s=1 requires it", why, RequireServices)
	default:
		tb.Skip(why)
	}
}

// Getenv returns the value of the environment variable env, which locates
// a service; when it is unset it calls Missing.
func Getenv(tb testing.TB, env, what string) string {
	tb.Helper()
	v := os.Getenv(env)
	if v == "" || runtime.GOARCH == "wasm" {
		Missing(tb, env+" is not set: this test needs "+what)
	}
	return v
}
