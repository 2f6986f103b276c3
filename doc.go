// Package qsessions is server-side web sessions that know who they belong
// to: every session records its user, last client IP and User-Agent, so an
// application can list a user's sessions ("where you're signed in"), show
// where and on what each one is, and sign out one, all others, or all.
//
// Create a [Store] with [New] over a [Cache] and a [Persister], wrap your
// handler with [Store.Middleware], and reach the request's [Session] with
// [FromContext]:
//
//	st, err := qsessions.New(memory.NewCache(), sqlitePersister, nil)
//	http.ListenAndServe(addr, st.Middleware(mux))
//
//	func handler(w http.ResponseWriter, r *http.Request) {
//		s := qsessions.FromContext(r.Context())
//		s.Set("cart", cart)
//		err := s.Login(r.Context(), userID) // new token, user bound
//	}
//
//	infos, err := st.Sessions(ctx, userID)   // each with Location() and Device()
//	n, err := st.RevokeUser(ctx, userID, s.ID()) // sign out everywhere else
//
// It is the Go counterpart of django-qsessions, with Django's cached_db
// semantics.
//
// # Caching
//
// Each session is one record: its values (JSON) and metadata. The Cache
// holds the whole record under Options.KeyPrefix + ID, so a request from
// the same IP and User-Agent is served from the cache without touching the
// Persister, and a changed IP or User-Agent is noticed on a cache hit. On a
// miss the record is read from the Persister and put back in the cache.
//
// A session is written only when something changed (values, user, IP,
// User-Agent, expiry), or once per Options.TouchInterval to record
// activity; read-only requests do not write. A write updates the Persister
// and then evicts the cache entry, which the next request fills again;
// Update never inserts, so a save of a session revoked meanwhile fails with
// ErrNotFound and re-creates nothing.
//
// A cache fill can race a write or a revocation: it reads the row, the
// other request writes or deletes it and evicts the entry, and then the
// fill writes the copy it read. With a [ConditionalCache] (memory.Cache,
// and the gocache adapter over in-process stores or Redis), the fill first
// adds a short-lived lease under the key and afterwards swaps the lease
// for the record only if it is still there; the other request's eviction
// removes the lease, so the old copy is dropped. Then no cache entry is
// ever older than the Persister's record, and a revoked session is refused
// on its next request, in every process sharing the backends, once
// Revoke, RevokeUser, Logout or Login has returned. With a plain Cache the
// fill writes its copy and then reads the row again, removing the entry
// when the row is gone or has moved on: the old copy is visible to other
// requests for the time of that one Persister read. New logs which of the
// two guarantees a Store runs with, the weaker one as a warning: over a
// Redis shared by several processes, use gocache.NewRedis, whose writes
// are conditional, rather than gocache.New.
//
// The Cache is lossy and optional: pass a nil Cache to read the Persister on
// every request (Django's db backend). A cache outage is never fatal: failed
// reads fall back to the Persister, failed writes are logged, and keys that
// could not be evicted are skipped by this Store and evicted again once the
// cache answers.
//
// Every revocation (Revoke, RevokeUserSession, RevokeUser, Logout, the
// MaxSessionsPerUser cap) takes the same three steps: evict the cache
// entries (if that fails, nothing is revoked, so a retry finds the same
// sessions), delete the rows, and evict again, for fills that raced the
// deletion. A revocation whose second eviction failed returns an error:
// retry it, since other processes may still find the entry. Login and
// Rotate instead seal the old record (see "Concurrent requests").
//
// # Concurrent requests
//
// A browser sends many requests of one session at once. Each Session keeps
// what its request did (values set and deleted, Clear, expiry changes) as
// a journal, and every write is a compare-and-swap on the record's version
// ([Persister].Update).
//
// Inside one Store, the saves of one session take turns: each waits for
// the session's turn (only around its Persister write, never around a
// handler), starts from the record the save before it stored, applies its
// journal, and writes; so they never conflict with each other, and a busy
// session costs no extra Persister reads. A save that loses the race to
// another process (another Store over the same Persister) reloads the
// record, applies its journal again and retries, after a random wait that
// grows from 0.5ms to at most 50ms (full jitter), until it wins or its
// context ends. A context without a deadline gets 10 seconds of retries:
// the middleware saves under the request's context detached from its
// cancellation (so that a client that hung up does not lose the handler's
// work), and so its saves fail only after 10 seconds of losing every race,
// or when the Persister fails. A save that gives up returns an error that
// wraps both [ErrConflict] and the context's error (context.DeadlineExceeded
// when the 10 seconds are spent) and says how many attempts it made over
// how long. Login, Rotate and package dbsc's binding updates go through the
// same loop. So:
//
//   - changes to different keys never interfere: all of them are kept;
//   - the same key is last-writer-wins, by the order the saves land in;
//   - contention alone fails no request while its context has time left;
//   - recording activity, IP, User-Agent or a new expiry never rewrites
//     values: a touch based on an old read starts from the newer record
//     and writes its values back untouched;
//   - a session revoked or logged out meanwhile stays revoked: a write to
//     it fails with ErrNotFound, and its reload finds nothing to write to;
//   - Login and Rotate end the old record with a compare-and-swap before
//     the new one is created, so a change that another request saved first
//     is carried into the new session, and one that comes later fails with
//     ErrNotFound: the old token never works again.
//
// Clear removes the values the request saw; a key that another request
// sets concurrently survives it, like any change to a different key.
//
// The turns go through 1024 stripes, picked by a hash of the session ID:
// each holds the last record written through it (when its values and
// metadata are under 16 KiB), so a Store keeps at most that many records
// for the purpose. Two sessions that share a stripe take turns too; one
// whose last record the other replaced may lose one race to its own
// Store, and retries. Set the Logger's level to debug to see each lost
// race.
//
// # Persistence
//
// The Persister is the source of truth. A [Record] holds what a Persister
// indexes (ID, Version, UserID, UpdatedAt, ExpiresAt), the values (Data)
// and everything else the Store keeps about the session (Meta: IP,
// User-Agent, creation, sign-in time and method, device binding), both
// opaque to the Persister, so a new Store feature changes no backend.
// Implementations in this module: memory (tests, single process), sqlite
// (single machine, cgo-free), postgres (many machines), redis (Redis
// alone, single node or cluster) and django (the tables a Django site
// shares). Expired sessions stay in the Persister until
// [Store.DeleteExpired] removes them; schedule it, as Django's
// clearsessions. The conformance package tests any Cache or Persister
// against the contracts written on the interfaces.
//
// Sessions expire Options.Lifetime after creation (default 14 days, as
// Django), after Options.IdleTimeout without activity when set, or at the
// time a session sets for itself with [Session.SetMaxAge].
//
// # Security
//
// A session token is 32 bytes from crypto/rand, base64url-encoded in the
// cookie. Backends see only its SHA-256, the session ID, so a leaked
// database or cache dump holds no usable token. (The one exception is
// package django, whose table Django shares: Django stores its session
// keys as they are, so that mode cannot hash them.) Tokens of the wrong
// shape are rejected before any backend is called, and an unknown token
// starts a new session under a new token, so an attacker cannot choose a
// victim's session token (session fixation); [Session.Login] rotates the
// token and ends the old record. The cookie is HttpOnly and SameSite=Lax,
// and Secure on TLS requests, by default. Client IPs come from the
// connection unless the peer is one of Options.TrustedProxies, and then
// from the one header that Options.ClientIPHeader names (X-Forwarded-For by
// default; package clientip says how each header is read); other
// forwarding headers, and any from other peers, are ignored, and a value
// that is not an address never replaces one. IP and User-Agent recording
// can be switched off.
//
// # Errors
//
// Errors wrap the sentinels [ErrNotFound], [ErrExists], [ErrConflict],
// [ErrCacheMiss], [ErrInvalidID], [ErrReservedKey] and [ErrNoUser]; match
// them with errors.Is. A Persister error is always returned, never
// swallowed: there is no silent logout and no silently dropped write. In
// the middleware, a failure to load or save goes to Options.ErrorHandler
// before the response starts.
package qsessions
