package django

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/keys"
)

var (
	_ qsessions.Persister = (*Persister)(nil)
	_ keys.Plain          = (*Persister)(nil)
)

// Sentinel errors of this package. Match them with [errors.Is].
var (
	// ErrSchema reports a sessions or user table that lacks a column this
	// package needs, or does not exist. Django owns these tables: New
	// never creates or alters them (run manage.py migrate).
	ErrSchema = errors.New("django: table does not have the columns Django creates")

	// ErrUnknownUser reports a sign-in (a Create or Update of a record
	// with a UserID) of a user that the user table does not hold, who is
	// not active, or whose ID the table's key cannot hold: Django would
	// refuse such a session.
	ErrUnknownUser = errors.New("django: no such active user")

	// ErrCacheInvalidation reports that Django's cache entry of a session
	// could not be deleted. From Delete and DeleteByUser it means that a
	// revocation is not complete: Django may serve the session from its
	// cache until the entry is deleted or times out, so retry.
	ErrCacheInvalidation = errors.New("django: Django's cache entry could not be deleted")
)

// A Table says which of the two session tables a [Persister] shares.
type Table uint8

const (
	// QSessions is django-qsessions' table, qsessions_session, for a site
	// whose SESSION_ENGINE is "qsessions.backends.cached_db" (or
	// "qsessions.backends.db"): the session's user, IP, User-Agent and
	// times are columns, and a user's sessions are found by its user_id
	// index. The default.
	QSessions Table = iota

	// DjangoSessions is Django's own table, django_session, for a site
	// whose SESSION_ENGINE is "django.contrib.sessions.backends.cached_db"
	// (or "...backends.db"). It has only session_key, session_data and
	// expire_date: everything else lives in session_data, so ListByUser
	// and DeleteByUser read and verify every row of the table.
	DjangoSessions
)

func (t Table) String() string {
	switch t {
	case QSessions:
		return "qsessions_session"
	case DjangoSessions:
		return "django_session"
	}
	return "Table(" + strconv.Itoa(int(t)) + ")"
}

// Defaults for the zero [Options].
const (
	// DefaultAuthBackend is the _auth_user_backend that Go's sign-ins
	// record: Django's ModelBackend, which must be listed in the site's
	// AUTHENTICATION_BACKENDS (it is by default).
	DefaultAuthBackend = "django.contrib.auth.backends.ModelBackend"

	// DefaultUserTable is the table of Django's default user model.
	DefaultUserTable = "auth_user"

	// DefaultSessionCookieAge is Django's default SESSION_COOKIE_AGE.
	DefaultSessionCookieAge = 14 * 24 * time.Hour

	// DefaultBatchSize is how many rows one statement of DeleteExpired
	// deletes at most.
	DefaultBatchSize = 500
)

// The cache_key_prefix of the cached_db session stores: django-qsessions'
// and Django's own.
const (
	QSessionsCachePrefix = "qsessions.q_cached_db"
	DjangoCachePrefix    = "django.contrib.sessions.cached_db"
)

// Options configure a [Persister]. A nil *Options is an error (SecretKey
// is required); the zero value of every other field means its default.
type Options struct {
	// SecretKey is the Django site's SECRET_KEY. It signs session_data
	// and the _auth_user_hash. Required.
	SecretKey string

	// SecretKeyFallbacks are earlier SECRET_KEYs (Django 4.1's
	// SECRET_KEY_FALLBACKS): session_data and user hashes signed with one
	// of them are accepted on read. Go always signs with SecretKey.
	// Django 3.2 has no such setting and accepts only SECRET_KEY.
	SecretKeyFallbacks []string

	// Table is the session table the site uses: QSessions (the default)
	// or DjangoSessions.
	Table Table

	// TableName is the table's name when it is not the one Django gives
	// it ("qsessions_session" or "django_session").
	TableName string

	// Schema is the PostgreSQL schema of the session and user tables.
	// Empty means the connection's search_path. SQLite has none: it must
	// be empty there.
	Schema string

	// UserTable is the table of the site's user model, from which a
	// session's user is checked and a Go sign-in's _auth_user_hash is
	// made. Its primary key must be the column id, it must have the
	// column password, and it may have is_active. Default "auth_user".
	UserTable string

	// NoUserTable turns user checks off: a session's _auth_user_id is
	// believed as it is, whatever the user table holds, and Go's
	// sign-ins carry no _auth_user_hash, which Django refuses (it then
	// treats the session as signed out). For a site whose users are not
	// in the database Go reads, and for tests.
	NoUserTable bool

	// AuthBackend is the _auth_user_backend of Go's sign-ins. Default
	// DefaultAuthBackend.
	AuthBackend string

	// Cache is the cache of the site's cached_db session store
	// (CACHES[SESSION_CACHE_ALIAS]). Every write and deletion of a
	// session deletes its entry there, so that Django does not go on
	// serving its cached copy. Nil: the site uses the db engine, or a
	// cache Go cannot reach (see "Django's cache" in the package
	// documentation).
	Cache Cache

	// CacheKeyPrefix is the cache's KEY_PREFIX. Default "".
	CacheKeyPrefix string

	// CacheVersion is the cache's VERSION. Default 1 (a VERSION of 0
	// cannot be expressed).
	CacheVersion int

	// CacheSessionPrefix is the session store's cache_key_prefix:
	// QSessionsCachePrefix for QSessions, DjangoCachePrefix for
	// DjangoSessions, by default.
	CacheSessionPrefix string

	// CacheKey, when set, replaces the cache key function: it returns
	// the cache key of a session key, for a site with a KEY_FUNCTION of
	// its own. CacheKeyPrefix, CacheVersion and CacheSessionPrefix are
	// then unused.
	CacheKey func(sessionKey string) string

	// SessionCookieAge is the site's SESSION_COOKIE_AGE. It tells when
	// Django last wrote a row of django_session, which records no such
	// time: expire_date less the age. Default 14 days.
	SessionCookieAge time.Duration

	// TimeZone is the zone of the naive datetimes that Django stores in
	// SQLite: UTC (the default) for a site with USE_TZ = True, the site's
	// TIME_ZONE otherwise. PostgreSQL stores time zones: it is unused
	// there.
	TimeZone *time.Location

	// SecondEviction is how long after a write or deletion Go deletes
	// Django's cache entry a second time, for a Django request that
	// refilled it meanwhile with what it had read before (see "Django's
	// cache" in the package documentation). Default
	// DefaultSecondEviction; negative: never.
	SecondEviction time.Duration

	// BatchSize is how many rows one statement of DeleteExpired deletes
	// at most. Default DefaultBatchSize.
	BatchSize int

	// Logger receives what the Persister cannot return: a failed cache
	// invalidation after a write that succeeded, a row whose signature
	// fails. Default slog.Default().
	Logger *slog.Logger
}

// A Persister is a [qsessions.Persister] over a Django site's session
// table, on SQLite or PostgreSQL. Make one with [NewSQLite] or
// [NewPostgres], and give it to [qsessions.New] with a nil Cache. It is
// safe for concurrent use.
type Persister struct {
	db       dialect
	sign     signer
	flavour  Table
	table    string // quoted, qualified
	users    *userTable
	backend  string
	cache    Cache
	cacheKey func(string) string
	age      time.Duration
	batch    int
	log      *slog.Logger
	q        queries
	again    reEvictor

	userCast string // how the user_id column takes a text value: "$n" or "CAST($n AS type)"
}

// options validates o and fills in the defaults.
func (o *Options) withDefaults() (Options, error) {
	if o == nil {
		return Options{}, errors.New("django: nil Options: SecretKey is required")
	}
	v := *o
	if v.SecretKey == "" {
		return v, errors.New("django: Options.SecretKey is required")
	}
	for _, k := range v.SecretKeyFallbacks {
		if k == "" {
			return v, errors.New("django: empty SecretKeyFallbacks entry")
		}
	}
	switch v.Table {
	case QSessions, DjangoSessions:
	default:
		return v, fmt.Errorf("django: unknown Table %d", v.Table)
	}
	if v.TableName == "" {
		v.TableName = v.Table.String()
	}
	if v.UserTable == "" {
		v.UserTable = DefaultUserTable
	}
	for _, n := range []struct{ what, name string }{{"TableName", v.TableName}, {"UserTable", v.UserTable}, {"Schema", v.Schema}} {
		if n.name != "" && !validIdent(n.name) {
			return v, fmt.Errorf("django: Options.%s %q: use ASCII letters, digits and underscores, not starting with a digit", n.what, n.name)
		}
	}
	if v.AuthBackend == "" {
		v.AuthBackend = DefaultAuthBackend
	}
	if v.CacheVersion == 0 {
		v.CacheVersion = 1
	}
	if v.CacheSessionPrefix == "" {
		v.CacheSessionPrefix = QSessionsCachePrefix
		if v.Table == DjangoSessions {
			v.CacheSessionPrefix = DjangoCachePrefix
		}
	}
	if v.SessionCookieAge < 0 || v.BatchSize < 0 {
		return v, errors.New("django: negative SessionCookieAge or BatchSize")
	}
	if v.SessionCookieAge == 0 {
		v.SessionCookieAge = DefaultSessionCookieAge
	}
	if v.BatchSize == 0 {
		v.BatchSize = DefaultBatchSize
	}
	if v.TimeZone == nil {
		v.TimeZone = time.UTC
	}
	if v.Logger == nil {
		v.Logger = slog.Default()
	}
	return v, nil
}

// cmpOr returns v, or def when v is zero.
func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// validIdent accepts plain SQL identifiers of at most 63 bytes.
func validIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// newPersister checks the tables through db and returns the Persister.
func newPersister(ctx context.Context, db dialect, o Options) (*Persister, error) {
	keys := append([]string{o.SecretKey}, o.SecretKeyFallbacks...)
	p := &Persister{
		db:      db,
		sign:    newSigner(keys),
		flavour: o.Table,
		table:   db.qualify(o.Schema, o.TableName),
		backend: o.AuthBackend,
		cache:   o.Cache,
		age:     o.SessionCookieAge,
		batch:   o.BatchSize,
		log:     o.Logger,
	}
	p.again.init(p, cmpOr(o.SecondEviction, DefaultSecondEviction))
	p.cacheKey = o.CacheKey
	if p.cacheKey == nil {
		prefix := o.CacheKeyPrefix + ":" + strconv.Itoa(o.CacheVersion) + ":" + o.CacheSessionPrefix
		p.cacheKey = func(key string) string { return prefix + key }
	}
	cols, err := db.columns(ctx, o.Schema, o.TableName)
	if err != nil {
		return nil, fmt.Errorf("django: read the columns of %s: %w", o.TableName, err)
	}
	need := []string{"session_key", "session_data", "expire_date"}
	if o.Table == QSessions {
		need = append(need, "user_id", "user_agent", "created_at", "updated_at", "ip")
	}
	if err := checkColumns(o.TableName, cols, need); err != nil {
		return nil, err
	}
	p.userCast = db.cast("user_id", cols["user_id"])
	if !o.NoUserTable {
		ucols, err := db.columns(ctx, o.Schema, o.UserTable)
		if err != nil {
			return nil, fmt.Errorf("django: read the columns of %s: %w", o.UserTable, err)
		}
		if err := checkColumns(o.UserTable, ucols, []string{"id", "password"}); err != nil {
			return nil, fmt.Errorf("%w (or set Options.NoUserTable)", err)
		}
		_, active := ucols["is_active"]
		p.users = &userTable{
			table:  db.qualify(o.Schema, o.UserTable),
			active: active,
			idCast: db.cast("id", ucols["id"]),
		}
	}
	p.q = p.buildQueries()
	return p, nil
}

// checkColumns reports the columns of need that cols lacks.
func checkColumns(table string, cols map[string]string, need []string) error {
	if len(cols) == 0 {
		return fmt.Errorf("%w: table %s does not exist (run manage.py migrate)", ErrSchema, table)
	}
	var missing []string
	for _, c := range need {
		if _, ok := cols[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: table %s lacks the column(s) %s", ErrSchema, table, strings.Join(missing, ", "))
	}
	return nil
}

// Key shape: what Django's SessionBase._get_new_session_key makes,
// get_random_string(32, VALID_KEY_CHARS).
const (
	keyLen   = 32
	keyChars = "abcdefghijklmnopqrstuvwxyz0123456789" // VALID_KEY_CHARS
)

// ValidKey reports whether s has the shape of the keys Django makes: 32
// characters of lowercase ASCII letters and digits. Django itself accepts
// any cookie value of 8 characters or more and looks it up; this is
// stricter, so that no value Django could not have made reaches the
// database, and loses nothing, since every key Django (and Go) creates has
// this shape.
func (p *Persister) ValidKey(s string) bool {
	if len(s) != keyLen {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// NewKey returns a new session key as Django makes one: 32 characters drawn
// uniformly from lowercase ASCII letters and digits by crypto/rand, about
// 165 bits.
func (p *Persister) NewKey() string {
	var b [keyLen]byte
	var buf [64]byte
	n := 0
	for n < keyLen {
		rand.Read(buf[:])
		for _, c := range buf {
			// 252 = 7*36: rejecting what lies above keeps every
			// character equally likely.
			if c < 252 && n < keyLen {
				b[n] = keyChars[c%36]
				n++
			}
		}
	}
	return string(b[:])
}

// Close deletes the Django cache entries whose second deletion is still
// due (see Options.SecondEviction) and stops the goroutine that runs
// them. The database stays open: it is the caller's. Close is safe to call
// more than once; writes after Close make no second deletion.
func (p *Persister) Close() error {
	p.again.close()
	return nil
}

// cacheKeys returns the Django cache keys of the sessions ids.
func (p *Persister) cacheKeys(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = p.cacheKey(id)
	}
	return out
}

// evictTimeout bounds an invalidation that runs after a write succeeded,
// when the caller's context may be gone.
const evictTimeout = 5 * time.Second

// evict deletes the Django cache entries of ids. With after, the write
// they follow is done: the deletion runs even if ctx has ended.
func (p *Persister) evict(ctx context.Context, after bool, ids ...string) error {
	if p.cache == nil || len(ids) == 0 {
		return nil
	}
	if after {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), evictTimeout)
		defer cancel()
	}
	if err := p.cache.Delete(ctx, p.cacheKeys(ids)...); err != nil {
		return fmt.Errorf("%w: %w", ErrCacheInvalidation, err)
	}
	return nil
}

// evictLogged is evict after a write that the caller reports as done:
// a failure is logged, not returned. The second deletion is queued.
func (p *Persister) evictLogged(ctx context.Context, op string, ids ...string) {
	p.again.later(ids...)
	if err := p.evict(ctx, true, ids...); err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "django: "+op+" succeeded, but Django may serve its cached copy of the session until the cache entry times out",
			slog.Int("sessions", len(ids)), slog.Any("error", err))
	}
}
