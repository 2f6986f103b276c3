package bench_test

import (
	"net/http"
	"testing"
)

// serve runs the benchmark loop: one request per iteration through h, with
// token as the session cookie. When rotate is set, each request carries the
// token that the previous response set.
func serve(b *testing.B, h http.Handler, token string, rotate bool) {
	b.Helper()
	r := newRequest(token)
	w := newRecorder()
	// One request before timing, so that one-off work (a first cache fill,
	// a prepared statement, a lazily built pool) is not measured.
	h.ServeHTTP(w, r)
	if !w.ok() {
		b.Fatalf("warm-up request: %v", w)
	}
	if rotate {
		setCookie(r, w.sessionCookie())
	}
	b.ReportAllocs()
	cpu0, cpuOK := cpuTime()
	n := 0
	for b.Loop() {
		n++
		w.reset()
		h.ServeHTTP(w, r)
		if !w.ok() {
			b.Fatalf("request failed: %v", w)
		}
		if rotate {
			t := w.sessionCookie()
			if t == "" {
				b.Fatalf("no new session cookie: %v", w)
			}
			setCookie(r, t)
		}
	}
	// CPU time per request, besides the wall time: on a loaded machine it
	// depends far less on what other processes do. It does not count the
	// work of servers in other processes (Redis, PostgreSQL).
	if cpu1, ok := cpuTime(); ok && cpuOK && n > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(n), "cpu-ns/op")
	}
}

// eachBackend runs one sub-benchmark per backend, named after it.
func eachBackend(b *testing.B, run func(b *testing.B, be *backend)) {
	for _, f := range factories {
		b.Run(f.name, func(b *testing.B) { run(b, f.open(b)) })
	}
}

// BenchmarkBaseline is the same request through a handler that uses no
// session: the cost of net/http and the harness, for reference.
func BenchmarkBaseline(b *testing.B) {
	b.Run("net-http", func(b *testing.B) {
		serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write(okBody)
		}), "", false)
	})
}

// BenchmarkReadOnly is a request on an existing session whose handler
// reads the user ID: the commonest request of a signed-in user.
func BenchmarkReadOnly(b *testing.B) {
	eachBackend(b, func(b *testing.B, be *backend) {
		token := signIn(b, be, user)
		serve(b, be.wrap(readOnly(be)), token, false)
	})
}

// BenchmarkWrite is a request whose handler reads the user ID and changes
// one value, so that the session is written.
func BenchmarkWrite(b *testing.B) {
	eachBackend(b, func(b *testing.B, be *backend) {
		token := signIn(b, be, user)
		serve(b, be.wrap(write(be)), token, false)
	})
}

// BenchmarkLogin signs the user in again on every request: the handler
// stores the CSRF secret and rotates the token (qsessions Session.Login;
// scs RenewToken + Put). Each request deletes the previous session and
// stores a new one.
func BenchmarkLogin(b *testing.B) {
	eachBackend(b, func(b *testing.B, be *backend) {
		token := signIn(b, be, user)
		serve(b, be.wrap(login(be)), token, true)
	})
}

// BenchmarkListSessions lists the user's listMine sessions among
// listTotal: qsessions with Store.Sessions, scs, which cannot list by
// user, with Iterate over all sessions and a filter on the user ID.
func BenchmarkListSessions(b *testing.B) {
	eachBackend(b, func(b *testing.B, be *backend) {
		token := populate(b, be, listTotal, listMine)
		serve(b, be.wrap(listSessions(be)), token, false)
	})
}
