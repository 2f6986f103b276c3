// Package bench compares qsessions, side by side, with
// github.com/alexedwards/scs/v2 and with Django's session backends. It is a
// module of its own, so that scs and its stores never enter the qsessions
// module's dependencies.
//
// The package holds no library code: the benchmarks are in its test files,
// cmd/report turns their output into a markdown table, django/bench.py
// measures Django on the same workloads, cmd/scale measures the persisters
// on django-qsessions' scale scenario (./run.sh scale), and run.sh runs
// everything and prints one combined table:
//
//	cd bench && ./run.sh              # COUNT=5 BENCHTIME=1s by default
//	go test -run '^$' -bench . -benchmem -count 5 | tee new.txt  # benchstat-ready
//	go run ./cmd/report -count 5     # runs the line above and prints the table
//
// # Workloads
//
// Every benchmark serves full HTTP requests in-process through a library's
// middleware: one *http.Request carrying the session cookie, a realistic
// User-Agent and a RemoteAddr, into a minimal ResponseWriter (the same for
// every library), and the same handler logic for every library:
//
//   - ReadOnly: the handler reads the user ID and writes it.
//   - Write: the handler reads the user ID and stores a counter that changes
//     on every request.
//   - Login: the handler rotates the session and binds the user
//     (qsessions Session.Login; scs RenewToken + Put). Each request carries
//     the cookie that the previous response set, so every request deletes
//     one stored session and stores a new one, and the store does not grow.
//   - ListSessions: the handler lists the current user's sessions: 10 among
//     [listTotal]. qsessions asks Store.Sessions; scs cannot list by user,
//     so its handler calls Iterate over every session and filters on the
//     stored user ID.
//   - Baseline: the same request through a handler that uses no session.
//
// Every session holds a user ID and a 43-character CSRF-style token, as a
// signed-in session does.
//
// # Backends
//
// Benchmark names are "Benchmark<Workload>/<library>-<backend>":
//
//   - qsessions-memory+sqlite: memory.NewCache in front of sqlite.Open, the
//     default; Django's cached_db.
//   - qsessions-sqlite: no cache, sqlite.Open only; Django's db.
//   - qsessions-ristretto+sqlite: adapters/gocache over the ristretto store,
//     in front of sqlite.Open.
//   - qsessions-redis+postgres: adapters/gocache over the Redis store, in
//     front of postgres.Open; skipped unless QSESSIONS_REDIS_ADDR and
//     QSESSIONS_POSTGRES_DSN are set.
//   - scs-memstore: scs with its memstore.
//   - scs-sqlite3store: scs with its sqlite3store, on modernc.org/sqlite.
//
// Both libraries' SQLite databases are files opened with the same settings:
// WAL journal, synchronous=NORMAL, busy_timeout=5000, BEGIN IMMEDIATE, and a
// pool of 4 connections (what sqlite.Open sets by default). scs's background
// cleanup goroutines are turned off, as qsessions has none.
package bench
