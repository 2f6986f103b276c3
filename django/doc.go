// Package django shares sessions with a running Django site, row for row.
// Its [Persister] stores sessions in the site's own session table, on
// SQLite or PostgreSQL, as Django reads and writes them, so that a Go
// [qsessions.Store] and the Django app serve the same sessions: a user
// signed in on one side is signed in on the other, values written on one
// side are read on the other, and a session revoked or logged out on
// either side is refused by both on their next request.
//
// It works with django-qsessions' table, qsessions_session (SESSION_ENGINE
// "qsessions.backends.cached_db", the default [QSessions]), and with
// Django's own django_session ([DjangoSessions]). Make a Persister with
// [NewSQLite] over a *sql.DB of modernc.org/sqlite (cgo-free) or with
// [NewPostgres] over a pgx pool, and give it to [qsessions.New] with no
// Cache:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: 1}) // CACHES' LOCATION
//	p, err := django.NewPostgres(ctx, pool, &django.Options{
//		SecretKey: os.Getenv("DJANGO_SECRET_KEY"),
//		Cache:     django.NewRedisCache(rdb),
//	})
//	...
//	defer p.Close()
//	st, err := qsessions.New(nil, p, &qsessions.Options{
//		Cookie: qsessions.CookieOptions{Domain: ".example.com"}, // SESSION_COOKIE_DOMAIN
//	})
//	http.ListenAndServe(addr, st.Middleware(mux))
//
// Django owns its tables: New never creates or alters them, and refuses one
// that lacks a column it needs (an error wrapping [ErrSchema]).
//
// # The Django site
//
// The settings the site needs, or must agree with Go on:
//
//	INSTALLED_APPS = [..., "qsessions", ...]        # in place of "django.contrib.sessions"
//	MIDDLEWARE = ["qsessions.middleware.SessionMiddleware", ...]
//	SESSION_ENGINE = "qsessions.backends.cached_db"  # or "qsessions.backends.db"
//	SESSION_SERIALIZER = "django.contrib.sessions.serializers.JSONSerializer"  # the default; Go cannot read pickles
//	SECRET_KEY = "..."                               # Options.SecretKey (SECRET_KEY_FALLBACKS: Options.SecretKeyFallbacks)
//	CACHES = {"default": {                           # Options.Cache, CacheKeyPrefix, CacheVersion
//	    "BACKEND": "django_redis.cache.RedisCache",
//	    "LOCATION": "redis://127.0.0.1:6379/1",
//	}}
//	SESSION_COOKIE_NAME = "sessionid"                # qsessions.CookieOptions.Name (its default is "sessionid")
//	SESSION_COOKIE_DOMAIN = ".example.com"           # qsessions.CookieOptions.Domain: both apps must see the cookie
//	SESSION_COOKIE_AGE = 1209600                     # qsessions.Options.Lifetime, Options.SessionCookieAge
//	USE_TZ = True                                    # else Options.TimeZone = TIME_ZONE, on SQLite
//
// DEFAULT_HASHING_ALGORITHM must be its default, "sha256" (Django 3.1 and
// 3.2 allow "sha1", with which Django cannot read what Go signs), and
// AUTHENTICATION_BACKENDS must list Options.AuthBackend (ModelBackend by
// default). Both apps must see the same client IP (TrustedProxies and
// ClientIPHeader on the Go side, whatever django-ipware reads on Django's):
// django-qsessions rewrites a session whose IP or User-Agent changed.
// Tested with Django 3.2 and django-qsessions 1.1.4.
//
// # Session keys are not hashed
//
// Everywhere else, qsessions stores only the SHA-256 of a session token.
// Django stores its session keys as they are, and looks them up by the
// cookie's value, so this package cannot hash them: whoever can read the
// session table can use every session in it, as with Django alone. The
// keys are Django's: 32 characters of [a-z0-9] from crypto/rand (about 165
// bits; [Persister.NewKey]), and a cookie of another shape reaches no
// database ([Persister.ValidKey]).
//
// # What maps to what
//
// session_data is Django's signed dict (django.core.signing, as Django 3.2
// writes it: JSON, zlib-compressed when that is shorter, salted HMAC-SHA256
// under SECRET_KEY with the salt "django.contrib.sessions.SessionStore").
// Go reads what Django 3.2 reads: that format signed with SHA-256 or SHA-1,
// the format before Django 3.1, and, under SECRET_KEY_FALLBACKS, what
// Django 4.1 reads. A row whose session_data does not verify is no session,
// as Django treats it as an empty one: Load reports it as not found, never
// as an error. In the dict:
//
//   - _auth_user_id is Record.UserID; _auth_user_backend and
//     _auth_user_hash are kept as Django wrote them, and written by a Go
//     sign-in (below).
//   - _qsessions_ip and _qsessions_user_agent, with the ip, user_agent and
//     created_at columns of qsessions_session, are Meta's IP, User-Agent
//     and creation time; updated_at and expire_date are UpdatedAt and
//     ExpiresAt.
//   - _session_expiry is the session's own expiry (see Expiry).
//   - _qsessions_go is Go's own: the version, and what Meta holds that
//     Django has no place for (when and how the user signed in, the device
//     binding of package dbsc). Django keeps keys it does not know when it
//     rewrites a session.
//   - Every other key is a session value, a JSON value, for Session.Get and
//     Session.Set, on both sides. Go writes JSON as Python's json module
//     does (ASCII, \u escapes), so that Django reads the same strings.
//
// Django's own django_session has no columns but session_data: there, the
// client and the times that Django does not record live in _qsessions_go,
// and ListByUser and DeleteByUser read and verify every row of the table.
//
// # Users
//
// A session is checked as Django's get_user checks it, in the table of the
// user model (Options.UserTable, auth_user by default: its key must be id,
// with a password column and, optionally, is_active): a session whose user
// is gone or inactive, or whose _auth_user_hash is not the HMAC of the
// user's password field (the user changed password), is no session. A Go
// sign-in (Session.Login with a user's primary key, as text) writes
// _auth_user_id, _auth_user_backend and the _auth_user_hash that Django
// accepts, and fails with [ErrUnknownUser] for a user Django would refuse.
// Options.NoUserTable turns this off. This costs one query per Load.
// Integer and text primary keys work; a UUID key works on PostgreSQL, not
// on SQLite, where Django stores it without its dashes.
//
// # Expiry
//
// Django keeps a session's own expiry as an age: set_expiry(seconds) puts
// the number of seconds in _session_expiry (0 for "at browser close"), and
// each Django write sets expire_date to that age, or SESSION_COOKIE_AGE,
// from the time of the write. The Store keeps an absolute time. So a row
// that Django wrote last expires, for Go, at its expire_date: Go's writes
// keep that end (they do not slide it), and leave _session_expiry as Django
// set it. A Go SetMaxAge becomes for Django the age from Go's write, which
// Django's later writes slide, as set_expiry(seconds) does; 0 is "at
// browser close" on both sides. A browser-close session still ends, on Go's
// side, Lifetime after it was created.
//
// # Concurrency
//
// Django's table has no version column, and Django writes a session with a
// plain UPDATE of the whole row from what its request read: between its
// own processes, the last write wins. Go's side is safe anyway. The Record
// version is Go's count, kept in _qsessions_go with a hash of the dict and
// the row's datetimes as Go wrote them; once Django rewrites the row (every
// Django write moves expire_date), that hash no longer matches and the
// version is a hash of the row instead. An Update reads the row, compares
// versions, and writes with an UPDATE that also compares session_data,
// expire_date and updated_at with what it read. So a Go write never
// overwrites a Django write it did not see: it conflicts, and the Store
// reloads and applies its changes again, as it does against another Go
// process. A Django write racing a Go write overwrites it when the Django
// request read the session before the Go write (Django's last write wins,
// as against itself); the Store's guarantees hold between Go processes.
//
// On SQLite, a Django save that meets a write in progress may fail at once
// with "database is locked" (Django 3.2 reads and then writes in a deferred
// transaction, which SQLite will not upgrade while another connection
// writes; Django answers 400). This happens between Django's own processes
// too; PostgreSQL has no such limit. Open the Go side's database with a
// busy timeout.
//
// # Django's cache
//
// Django's cached_db store serves a session from its cache first. So every
// Go write and deletion (Create, Update, Delete, DeleteByUser,
// DeleteExpired) deletes the session's entry in Django's cache (Options.Cache,
// a Redis client for django-redis or Django 4's RedisCache through
// [NewRedisCache]), under the key Django's make_key gives it:
// KEY_PREFIX:VERSION:cache_key_prefix+key, such as
// ":1:qsessions.q_cached_dbabc...". A revocation deletes the entry before
// and after it deletes the row, and fails, deleting nothing, while the
// cache cannot be reached (an error wrapping [ErrCacheInvalidation]); a
// write that succeeded logs a failed deletion. Django fills its cache after
// it reads a row, and a fill that read the row before Go's write would put
// back the old copy: Go deletes the entry once more, Options.SecondEviction
// (one second) later, so that such a copy lasts no longer than that.
//
// A cache that Go cannot reach (a LocMemCache, which each Django process
// keeps for itself, or a cache for which no [Cache] is configured) keeps
// serving what Go replaced or revoked: revocation then waits for Django's
// cache timeout, which cached_db sets to the session's age (two weeks by
// default). Use the db engine, or a cache both can reach.
//
// The Go Store must have no cache of its own (pass a nil Cache to
// qsessions.New): Django's writes and logouts would not evict it.
//
// # Limits
//
// Session values are JSON on both sides. A value that Python's json module
// writes but JSON does not allow (NaN, Infinity) makes the session
// unreadable for Go, which then treats it as no session. Values that Go
// sets under the keys Django keeps for itself (_auth_user_id,
// _auth_user_backend, _auth_user_hash, _qsessions_ip,
// _qsessions_user_agent, _qsessions_go) are refused with
// [qsessions.ErrReservedKey].
package django
