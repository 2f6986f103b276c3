package bench_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/dgraph-io/ristretto"
	redisstore "github.com/eko/gocache/store/redis/v4"
	ristrettostore "github.com/eko/gocache/store/ristretto/v4"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // the "sqlite" driver, for scs's sqlite3store

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/adapters/gocache"
	"github.com/qsessions/qsessions/memory"
	"github.com/qsessions/qsessions/postgres"
	"github.com/qsessions/qsessions/sqlite"
)

const (
	// userAgent is what every request sends: a current desktop Chrome.
	userAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

	cookieName = "sessionid" // both libraries use Django's cookie name
	user       = "alice"
	// csrf is stored in every session, as a signed-in session holds a
	// CSRF secret: 32 random bytes, base64url.
	csrf = "dXJ3b3FvZW5vZmNhbWVzaG91bGRub3RiZWd1ZXNzZWQ"

	// The listing workload: the user has listMine sessions among
	// listTotal, the others belonging to listTotal/listMine-1 other users.
	listMine  = 10
	listTotal = 1000

	// sqliteParams are the connection settings of both libraries' SQLite
	// databases: those that sqlite.Open sets.
	sqliteParams = "_txlock=immediate&_busy_timeout=5000&_journal_mode=WAL&_synchronous=NORMAL"
	sqliteConns  = 4 // sqlite.Open's default pool
)

// okBody is what every workload handler answers when all went well.
var okBody = []byte("ok")

// A backend is one library over one storage configuration, reduced to the
// operations that the workload handlers need. The handlers are the same for
// every backend; only these functions differ.
type backend struct {
	name      string
	wrap      func(http.Handler) http.Handler // the library's middleware
	userID    func(r *http.Request) string
	setInt    func(r *http.Request, key string, v int) error
	getInt    func(r *http.Request, key string) (int, bool, error)
	setString func(r *http.Request, key, v string) error
	login     func(r *http.Request, userID string) error // rotate the token and bind the user
	list      func(r *http.Request, userID string) (int, error)
}

// A factory opens a fresh backend, with empty storage of its own, whose
// resources are released by tb.Cleanup.
type factory struct {
	name string
	lib  string // "qsessions" or "scs"
	open func(tb testing.TB) *backend
}

var factories = []factory{
	{"qsessions-memory+sqlite", "qsessions", openMemorySQLite},
	{"qsessions-sqlite", "qsessions", openSQLite},
	{"qsessions-ristretto+sqlite", "qsessions", openRistrettoSQLite},
	{"qsessions-redis+postgres", "qsessions", openRedisPostgres},
	{"scs-memstore", "scs", openMemstore},
	{"scs-sqlite3store", "scs", openSQLite3Store},
}

// newQsessions returns qsessions over cache (nil for none) and p, with the
// default Options.
func newQsessions(tb testing.TB, name string, cache qsessions.Cache, p qsessions.Persister) *backend {
	tb.Helper()
	st, err := qsessions.New(cache, p, nil)
	if err != nil {
		tb.Fatal(err)
	}
	sess := func(r *http.Request) *qsessions.Session { return qsessions.FromContext(r.Context()) }
	return &backend{
		name:   name,
		wrap:   st.Middleware,
		userID: func(r *http.Request) string { return sess(r).UserID() },
		setInt: func(r *http.Request, key string, v int) error { return sess(r).Set(key, v) },
		getInt: func(r *http.Request, key string) (int, bool, error) {
			var v int
			ok, err := sess(r).Get(key, &v)
			return v, ok, err
		},
		setString: func(r *http.Request, key, v string) error { return sess(r).Set(key, v) },
		login:     func(r *http.Request, userID string) error { return sess(r).Login(r.Context(), userID) },
		list: func(r *http.Request, userID string) (int, error) {
			infos, err := st.Sessions(r.Context(), userID)
			return len(infos), err
		},
	}
}

// newSCS returns scs over store, with its defaults except for the cookie
// name and a lifetime equal to qsessions' (neither changes the work done).
func newSCS(name string, store scs.Store) *backend {
	sm := scs.New()
	sm.Store = store
	sm.Lifetime = (14 * 24 * time.Hour)
	sm.Cookie.Name = cookieName
	return &backend{
		name:   name,
		wrap:   sm.LoadAndSave,
		userID: func(r *http.Request) string { return sm.GetString(r.Context(), "userID") },
		setInt: func(r *http.Request, key string, v int) error {
			sm.Put(r.Context(), key, v)
			return nil
		},
		getInt: func(r *http.Request, key string) (int, bool, error) {
			v, ok := sm.Get(r.Context(), key).(int)
			return v, ok, nil
		},
		setString: func(r *http.Request, key, v string) error {
			sm.Put(r.Context(), key, v)
			return nil
		},
		login: func(r *http.Request, userID string) error {
			if err := sm.RenewToken(r.Context()); err != nil {
				return err
			}
			sm.Put(r.Context(), "userID", userID)
			return nil
		},
		// scs stores no user per session: the only way to find a user's
		// sessions is to decode every session in the store.
		list: func(r *http.Request, userID string) (int, error) {
			n := 0
			err := sm.Iterate(r.Context(), func(ctx context.Context) error {
				if sm.GetString(ctx, "userID") == userID {
					n++
				}
				return nil
			})
			return n, err
		},
	}
}

func openSQLitePersister(tb testing.TB) *sqlite.Persister {
	tb.Helper()
	return openSQLitePersisterAt(tb, filepath.Join(tb.TempDir(), "qsessions.db"))
}

// openSQLitePersisterAt opens qsessions' SQLite persister with its defaults.
func openSQLitePersisterAt(tb testing.TB, path string) *sqlite.Persister {
	tb.Helper()
	p, err := sqlite.Open(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

func openMemorySQLite(tb testing.TB) *backend {
	return newQsessions(tb, "qsessions-memory+sqlite", memory.NewCache(), openSQLitePersister(tb))
}

func openSQLite(tb testing.TB) *backend {
	return newQsessions(tb, "qsessions-sqlite", nil, openSQLitePersister(tb))
}

func openRistrettoSQLite(tb testing.TB) *backend {
	tb.Helper()
	rc, err := ristretto.NewCache(&ristretto.Config{
		NumCounters: 1_000_000, // ten times the entries expected
		MaxCost:     256 << 20, // bytes, with the adapter's default cost
		BufferItems: 64,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(rc.Close)
	c, err := gocache.New(ristrettostore.NewRistretto(rc), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return newQsessions(tb, "qsessions-ristretto+sqlite", c, openSQLitePersister(tb))
}

// needServices returns the Redis address and PostgreSQL DSN, or skips tb
// when they are not set (fails it under QSESSIONS_REQUIRE_SERVICES=1).
func needServices(tb testing.TB) (redisAddr, dsn string) {
	tb.Helper()
	redisAddr, dsn = os.Getenv("QSESSIONS_REDIS_ADDR"), os.Getenv("QSESSIONS_POSTGRES_DSN")
	if redisAddr == "" || dsn == "" {
		msg := "QSESSIONS_REDIS_ADDR and QSESSIONS_POSTGRES_DSN must both be set for Redis + PostgreSQL"
		if os.Getenv("QSESSIONS_REQUIRE_SERVICES") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return redisAddr, dsn
}

// uniqueName returns a name no other run uses, for keys and tables.
func uniqueName() string {
	var b [6]byte
	rand.Read(b[:])
	return "bench_" + hex.EncodeToString(b[:])
}

func openRedisPostgres(tb testing.TB) *backend {
	tb.Helper()
	addr, dsn := needServices(tb)
	ctx := context.Background()
	name := uniqueName()

	// Redis: keys under a prefix of this run's own, deleted at the end.
	client := redis.NewClient(&redis.Options{Addr: addr})
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		tb.Fatalf("redis at %s: %v", addr, err)
	}
	prefix := "qsessions-" + name + ":"
	tb.Cleanup(func() {
		defer client.Close()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			if err := client.Del(ctx, keys[:n]...).Err(); err != nil {
				tb.Errorf("redis cleanup: %v", err)
				return
			}
			keys = keys[n:]
		}
	})
	c, err := gocache.New(redisstore.NewRedis(client), &gocache.Options{Prefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}

	// PostgreSQL: a table of this run's own in the schema qsessions_bench,
	// dropped at the end.
	const schema = "qsessions_bench"
	p, err := postgres.Open(ctx, dsn, &postgres.Options{Schema: schema, Table: name})
	if err != nil {
		tb.Fatalf("postgres: %v", err)
	}
	tb.Cleanup(func() {
		p.Close()
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			tb.Errorf("postgres cleanup: %v", err)
			return
		}
		defer pool.Close()
		_, err = pool.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %[1]s.%[2]s, %[1]s.%[2]s_migrations`, schema, name))
		if err != nil {
			tb.Errorf("postgres cleanup: %v", err)
		}
		pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema) // fails, harmlessly, while another run uses it
	})
	return newQsessions(tb, "qsessions-redis+postgres", c, p)
}

func openMemstore(tb testing.TB) *backend {
	return newSCS("scs-memstore", memstore.NewWithCleanupInterval(0))
}

// scsSchema is the table that scs's sqlite3store README asks for.
const scsSchema = `
CREATE TABLE sessions (
	token TEXT PRIMARY KEY,
	data BLOB NOT NULL,
	expiry REAL NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions(expiry);`

// openSCSDB opens an SQLite file for scs with the settings sqlite.Open uses.
func openSCSDB(tb testing.TB) *sql.DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "scs.db")
	db, err := sql.Open("sqlite", "file://"+filepath.ToSlash(path)+"?"+sqliteParams)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(sqliteConns)
	db.SetMaxIdleConns(sqliteConns)
	if _, err := db.Exec(scsSchema); err != nil {
		tb.Fatal(err)
	}
	return db
}

func openSQLite3Store(tb testing.TB) *backend {
	return newSCS("scs-sqlite3store", sqlite3store.NewWithCleanupInterval(openSCSDB(tb), 0))
}

// recorder is a minimal ResponseWriter that allocates nothing per request
// once warm, so that the benchmarks measure the middleware, not the writer.
type recorder struct {
	h    http.Header
	code int
	buf  [64]byte
	n    int
}

func newRecorder() *recorder { return &recorder{h: http.Header{}} }

func (w *recorder) Header() http.Header { return w.h }
func (w *recorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += copy(w.buf[w.n:], b)
	return len(b), nil
}

func (w *recorder) reset() {
	clear(w.h)
	w.code, w.n = 0, 0
}

// ok reports whether the response is a 200 with okBody.
func (w *recorder) ok() bool {
	return (w.code == http.StatusOK || w.code == 0) && bytes.Equal(w.buf[:w.n], okBody)
}

func (w *recorder) String() string {
	return fmt.Sprintf("%d %q %v", w.code, w.buf[:w.n], w.h)
}

// sessionCookie returns the session token that the response sets, or "".
func (w *recorder) sessionCookie() string {
	for _, v := range w.h["Set-Cookie"] {
		if rest, ok := strings.CutPrefix(v, cookieName+"="); ok {
			token, _, _ := strings.Cut(rest, ";")
			return token
		}
	}
	return ""
}

// newRequest returns a GET request from a browser, with the session cookie
// when token is not empty.
func newRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil) // RemoteAddr 192.0.2.1:1234
	r.Header.Set("User-Agent", userAgent)
	r.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	r.Header.Set("Accept-Language", "en-US,en;q=0.9")
	if token != "" {
		r.Header.Set("Cookie", cookieName+"="+token)
	}
	return r
}

// setCookie makes r carry token as its session cookie.
func setCookie(r *http.Request, token string) {
	r.Header["Cookie"] = []string{cookieName + "=" + token}
}

// The workload handlers: the same logic for every backend.

func fail(w http.ResponseWriter, msg string, err error) {
	http.Error(w, fmt.Sprint(msg, ": ", err), http.StatusInternalServerError)
}

// readOnly reads the user ID.
func readOnly(b *backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := b.userID(r); id != user {
			fail(w, "user", fmt.Errorf("%q, want %q", id, user))
			return
		}
		w.Write(okBody)
	})
}

// write reads the user ID and stores a value that changes on every request.
func write(b *backend) http.Handler {
	n := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := b.userID(r); id != user {
			fail(w, "user", fmt.Errorf("%q, want %q", id, user))
			return
		}
		n++
		if err := b.setInt(r, "n", n); err != nil {
			fail(w, "set", err)
			return
		}
		w.Write(okBody)
	})
}

// login stores the CSRF secret and signs the user in under a new token.
// The user is taken from the "u" query parameter, alice by default.
func login(b *backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := user
		if r.URL.RawQuery != "" {
			u = r.URL.Query().Get("u")
		}
		if err := b.setString(r, "csrf", csrf); err != nil {
			fail(w, "set", err)
			return
		}
		if err := b.login(r, u); err != nil {
			fail(w, "login", err)
			return
		}
		w.Write(okBody)
	})
}

// listSessions lists the current user's sessions, and expects listMine.
func listSessions(b *backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := b.list(r, b.userID(r))
		if err != nil {
			fail(w, "list", err)
			return
		}
		if n != listMine {
			fail(w, "list", fmt.Errorf("%d sessions, want %d", n, listMine))
			return
		}
		w.Write(okBody)
	})
}

// signIn creates a session of userID through the backend's middleware, as
// a browser without a cookie that logs in, and returns its token.
func signIn(tb testing.TB, b *backend, userID string) string {
	tb.Helper()
	h := b.wrap(login(b))
	r := newRequest("")
	if userID != user {
		r.URL.RawQuery = "u=" + userID
	}
	w := newRecorder()
	h.ServeHTTP(w, r)
	token := w.sessionCookie()
	if !w.ok() || token == "" {
		tb.Fatalf("%s: sign in %s: %v", b.name, userID, w)
	}
	return token
}

// populate stores total sessions, mine of them the user's and the others
// spread over other users, mine each; it returns one of the user's tokens.
func populate(tb testing.TB, b *backend, total, mine int) string {
	tb.Helper()
	var token string
	for i := range total {
		u := user
		if i >= mine {
			u = fmt.Sprintf("user%04d", i/mine)
		}
		t := signIn(tb, b, u)
		if u == user {
			token = t
		}
	}
	return token
}
