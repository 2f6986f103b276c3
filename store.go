package qsessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/qsessions/qsessions/clientip"
	"github.com/qsessions/qsessions/internal/keys"
)

// A Store is the portable session store that application code uses. It
// puts a Cache in front of a Persister with Django's cached_db semantics and
// decides expiry, idle timeout, when to write, and revocation; the Cache
// and the Persister only store what they are given.
//
// A Store is safe for concurrent use. Several Stores, in one process or in
// many, may share the same backends.
type Store struct {
	cache     cacheLayer
	persister Persister
	plainKeys keys.Plain // the Persister's, when it stores cookies' keys as they are
	locks     writeLocks
	stats     stats

	lifetime     time.Duration
	idle         time.Duration
	touch        time.Duration
	browserClose bool
	cookie       CookieOptions
	ip           *clientip.Resolver
	recordIP     bool
	recordUA     bool
	maxUA        int
	locator      Locator
	parser       DeviceParser
	log          *slog.Logger
	now          func() time.Time
	onError      func(http.ResponseWriter, *http.Request, error)

	maxPerUser int
	onLogin    func(context.Context, LoginEvent) error
	hooks      sync.WaitGroup // OnLogin calls in flight
}

// Defaults for the zero Options.
const (
	defaultLifetime      = 14 * 24 * time.Hour // Django's SESSION_COOKIE_AGE
	defaultTouchInterval = time.Minute
	defaultMaxUserAgent  = 300
	defaultKeyPrefix     = "qsessions:"
	defaultCookieName    = "sessionid"
)

// New returns a Store over cache and persister. A nil cache means no cache:
// every request reads the Persister (Django's db backend). persister must
// not be nil. opts may be nil.
func New(cache Cache, persister Persister, opts *Options) (*Store, error) {
	if persister == nil {
		return nil, errors.New("qsessions: New: nil Persister")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Lifetime < 0 || o.IdleTimeout < 0 || o.MaxUserAgent < 0 || o.MaxSessionsPerUser < 0 {
		return nil, errors.New("qsessions: New: negative Lifetime, IdleTimeout, MaxUserAgent or MaxSessionsPerUser")
	}
	ip, err := clientip.New(o.TrustedProxies, o.ClientIPHeader)
	if err != nil {
		return nil, fmt.Errorf("qsessions: New: TrustedProxies or ClientIPHeader: %w", err)
	}
	st := &Store{
		persister:    persister,
		lifetime:     cmpOr(o.Lifetime, defaultLifetime),
		idle:         o.IdleTimeout,
		touch:        cmpOr(o.TouchInterval, defaultTouchInterval),
		browserClose: o.ExpireAtBrowserClose,
		cookie:       o.Cookie,
		ip:           ip,
		recordIP:     o.RecordIP.or(true),
		recordUA:     o.RecordUserAgent.or(true),
		maxUA:        cmpOr(o.MaxUserAgent, defaultMaxUserAgent),
		locator:      o.Locator,
		parser:       o.DeviceParser,
		log:          o.Logger,
		now:          o.Clock,
		onError:      o.ErrorHandler,
		maxPerUser:   o.MaxSessionsPerUser,
		onLogin:      o.OnLogin,
	}
	if st.idle > 0 && st.touch > st.idle/2 {
		st.touch = st.idle / 2
	}
	if st.log == nil {
		st.log = slog.Default()
	}
	if st.now == nil {
		st.now = time.Now
	}
	if st.onError == nil {
		st.onError = st.defaultErrorHandler
	}
	st.plainKeys, _ = persister.(keys.Plain)
	st.locks.init()
	st.cache = cacheLayer{c: cache, prefix: cmpOr(o.KeyPrefix, defaultKeyPrefix), log: st.log, load: persister.Load}
	if cc, ok := cache.(ConditionalCache); ok && cc.Conditional() {
		st.cache.cond = cc
	}
	switch {
	case cache == nil:
	case st.cache.cond != nil:
		st.log.Debug("qsessions: the cache writes conditionally: no stale copy and no revoked session can enter it")
	default:
		st.log.Warn("qsessions: the cache has no conditional writes: a cache refill racing a write or a revocation " +
			"may expose the old copy for one Persister read, in every process sharing the cache; over Redis, " +
			"use gocache.NewRedis rather than gocache.New (see ConditionalCache)")
	}
	if err := st.checkCookie(); err != nil {
		return nil, err
	}
	return st, nil
}

// cmpOr returns v, or def when v is zero.
func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// checkCookie validates the cookie options and fills in their defaults.
func (st *Store) checkCookie() error {
	c := &st.cookie
	c.Name = cmpOr(c.Name, defaultCookieName)
	if err := (&http.Cookie{Name: c.Name, Value: "v"}).Valid(); err != nil {
		return fmt.Errorf("qsessions: New: invalid cookie name %q", c.Name)
	}
	c.Path = cmpOr(c.Path, "/")
	// Browsers refuse cookies whose prefix promises what their
	// attributes do not keep (RFC 6265bis, section 4.1.3), and match the
	// prefixes regardless of case.
	switch lower := strings.ToLower(c.Name); {
	case strings.HasPrefix(lower, "__host-"):
		if c.Secure == SwitchOff || c.Domain != "" || c.Path != "/" {
			return fmt.Errorf("qsessions: New: cookie %q: a __Host- cookie must be Secure, have Path \"/\" and no Domain", c.Name)
		}
		c.Secure = SwitchOn
	case strings.HasPrefix(lower, "__secure-"):
		if c.Secure == SwitchOff {
			return fmt.Errorf("qsessions: New: cookie %q: a __Secure- cookie must be Secure", c.Name)
		}
		c.Secure = SwitchOn
	}
	c.SameSite = cmpOr(c.SameSite, http.SameSiteLaxMode)
	return nil
}

// clock returns the current time as the Store records it: UTC, truncated to
// the millisecond, without a monotonic reading.
func (st *Store) clock() time.Time {
	return st.now().UTC().Truncate(time.Millisecond)
}

// idAndKey returns the session ID of a token and its cache key, in one
// allocation (the ID is the key's tail); ok is false for a token of the
// wrong shape.
func (st *Store) idAndKey(token string) (id, key string, ok bool) {
	prefix := st.cache.prefix
	if st.plainKeys != nil {
		if !st.plainKeys.ValidKey(token) {
			return "", "", false
		}
		key = prefix + token
		return key[len(prefix):], key, true
	}
	raw, ok := decodeToken(token)
	if !ok {
		return "", "", false
	}
	var enc [tokenLen]byte
	hashRawTo(enc[:], raw)
	var b strings.Builder
	b.Grow(len(prefix) + tokenLen)
	b.WriteString(prefix)
	b.Write(enc[:])
	key = b.String()
	return key[len(prefix):], key, true
}

// validToken reports whether a cookie's value has the shape of a token.
func (st *Store) validToken(s string) bool {
	if st.plainKeys != nil {
		return st.plainKeys.ValidKey(s)
	}
	return ValidToken(s)
}

// newToken returns a fresh token and its session ID.
func (st *Store) newToken() (token, id string) {
	if st.plainKeys != nil {
		token = st.plainKeys.NewKey()
		return token, token
	}
	token = newToken()
	return token, hashToken(token)
}

// Load returns the session for a token, as found in a cookie. A token that
// is empty, malformed, unknown, revoked or expired yields a new, empty
// session under a fresh token (never under the token given), and a nil
// error. An error means a backend failed: it is never a silent logout.
//
// Load is for use outside HTTP; Middleware loads a request's session itself,
// lazily, on the handler's first use of it.
func (st *Store) Load(ctx context.Context, token string) (*Session, error) {
	s := &Session{store: st, ctx: ctx}
	s.pending.add(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads the live record for a token into *dst, which it overwrites:
// from the cache, else from the Persister (filling the cache), then checks
// its expiry. found is false when there is no live session for the token.
func (st *Store) load(ctx context.Context, token string, now time.Time, dst *Record) (found bool, err error) {
	id, key, ok := st.idAndKey(token)
	if !ok {
		return false, nil
	}
	hit, lease := st.cache.get(ctx, id, key, dst)
	if !hit {
		r, err := st.persister.Load(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("qsessions: load session: %w", err)
		case r.ID != id:
			return false, fmt.Errorf("qsessions: load session: persister returned record %q for %q", r.ID, id)
		case !now.Before(r.ExpiresAt) || !st.cache.fill(ctx, key, &r, lease, now):
			return false, nil
		}
		*dst = r
	}
	return now.Before(dst.ExpiresAt), nil
}

// revoke ends the sessions ids everywhere, in the one order that makes a
// revocation exact and safe to retry: their cache entries are evicted
// first (if that fails, nothing is revoked, and a retry finds the same
// sessions), then their rows are deleted by del (Persister.Delete of ids
// when del is nil), which returns the IDs it deleted, and then those
// entries are evicted again, for fills that raced the deletion. It returns
// the IDs deleted.
func (st *Store) revoke(ctx context.Context, what string, ids []string, del func() ([]string, error)) error {
	_, err := st.revokeIDs(ctx, what, ids, del)
	return err
}

func (st *Store) revokeIDs(ctx context.Context, what string, ids []string, del func() ([]string, error)) ([]string, error) {
	if err := st.cache.evict(ctx, ids...); err != nil {
		return nil, fmt.Errorf("qsessions: %s: cache entries could not be evicted, nothing revoked: %w", what, err)
	}
	if del == nil {
		del = func() ([]string, error) { return ids, st.persister.Delete(ctx, ids...) }
	}
	deleted, err := del()
	if err != nil {
		return nil, fmt.Errorf("qsessions: %s: %w", what, err)
	}
	if err := st.cache.evict(ctx, deleted...); err != nil {
		return deleted, fmt.Errorf("qsessions: %s: %w", what, &evictError{err})
	}
	return deleted, nil
}

// Revoke ends the session with the given ID (a Session's ID, or a
// SessionInfo's), in every process sharing the backends, so that its next
// request is refused. Revoking a session that does not exist is not an
// error. When a cache entry cannot be evicted, Revoke returns an error:
// other processes may still serve the session from the cache, so retry
// until it succeeds.
//
// Revoke does not check who owns the session: when a user picks a session
// to sign out, use RevokeUserSession, or look it up among
// Sessions(ctx, thatUser) first.
func (st *Store) Revoke(ctx context.Context, id string) error {
	if !st.validToken(id) {
		return fmt.Errorf("qsessions: revoke %q: %w", id, ErrInvalidID)
	}
	return st.revoke(ctx, "revoke", []string{id}, nil)
}

// RevokeUserSession ends the session id only if it belongs to userID, and
// reports whether it did. It is what a "sign out that device" button needs.
func (st *Store) RevokeUserSession(ctx context.Context, userID, id string) (bool, error) {
	if userID == "" {
		return false, ErrNoUser
	}
	if !st.validToken(id) {
		return false, fmt.Errorf("qsessions: revoke %q: %w", id, ErrInvalidID)
	}
	r, err := st.persister.Load(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && r.UserID != userID) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("qsessions: revoke: %w", err)
	}
	if err := st.revoke(ctx, "revoke", []string{id}, nil); err != nil {
		return false, err
	}
	return true, nil
}

// RevokeUser ends every session of userID except those whose IDs are listed
// in except, and returns how many it ended. RevokeUser(ctx, u, s.ID()) is
// "sign out everywhere else"; RevokeUser(ctx, u) signs out everywhere, as
// after a password change. When the cache cannot be reached it revokes
// nothing and returns an error, so that a retry finds the same sessions.
func (st *Store) RevokeUser(ctx context.Context, userID string, except ...string) (int, error) {
	if userID == "" {
		return 0, ErrNoUser
	}
	var ids []string
	if st.cache.c != nil {
		recs, err := st.persister.ListByUser(ctx, userID)
		if err != nil {
			return 0, fmt.Errorf("qsessions: revoke user sessions: %w", err)
		}
		for _, r := range recs {
			if !slices.Contains(except, r.ID) {
				ids = append(ids, r.ID)
			}
		}
	}
	deleted, err := st.revokeIDs(ctx, "revoke user sessions", ids, func() ([]string, error) {
		return st.persister.DeleteByUser(ctx, userID, except...)
	})
	return len(deleted), err
}

// Sessions returns the live sessions of userID, most recently active first:
// the "where you're signed in" list. It reads the Persister, the source of
// truth.
func (st *Store) Sessions(ctx context.Context, userID string) ([]SessionInfo, error) {
	if userID == "" {
		return nil, ErrNoUser
	}
	recs, err := st.persister.ListByUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("qsessions: list sessions: %w", err)
	}
	now := st.clock()
	infos := make([]SessionInfo, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		if !now.Before(r.ExpiresAt) || r.UserID != userID {
			continue
		}
		var m meta
		if err := parseMeta(r.Meta, &m); err != nil {
			st.log.LogAttrs(ctx, slog.LevelWarn, "qsessions: a listed session has corrupt metadata; listing it without",
				slog.String("user", userID), slog.Any("error", err))
		}
		infos = append(infos, st.infoOf(r, &m))
	}
	return infos, nil
}

// infoOf describes the session r, whose metadata m is, for listing.
func (st *Store) infoOf(r *Record, m *meta) SessionInfo {
	i := SessionInfo{
		ID:        r.ID,
		UserID:    r.UserID,
		UpdatedAt: r.UpdatedAt,
		ExpiresAt: r.ExpiresAt,
		locator:   st.locator,
		parser:    st.parser,
	}
	i.setMeta(m)
	i.binding = append([]byte(nil), m.binding...)
	return i
}

// DeleteExpired removes every expired session from the Persister and returns
// how many it removed: the job Django calls clearsessions. The Persister
// deletes in steps that suit its database (short transactions, so that
// other writes do not wait for long). Schedule it (hourly, say); the Store
// does not. Cache entries expire on their own. On error, a cancelled ctx
// included, it returns the count removed so far.
func (st *Store) DeleteExpired(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("qsessions: delete expired: %w", err)
	}
	n, err := st.persister.DeleteExpired(ctx, st.clock())
	if err != nil {
		return n, fmt.Errorf("qsessions: delete expired: %w", err)
	}
	return n, nil
}

// A SessionInfo describes one of a user's sessions, for listing.
type SessionInfo struct {
	ID        string // pass to Store.Revoke; compare with Session.ID to mark "this device"
	UserID    string
	IP        string // the last client IP, "" when unknown or not recorded
	UserAgent string // the last User-Agent, truncated to Options.MaxUserAgent
	CreatedAt time.Time
	UpdatedAt time.Time // last recorded activity
	ExpiresAt time.Time

	AuthenticatedAt time.Time // when the user last signed in or re-authenticated on it
	AuthMethod      string    // how, as given to LoginWith: "password", "passkey"...; "" when not told

	binding []byte // device-binding state (package dbsc)
	unknown []byte // metadata of later versions, encoded
	locator Locator
	parser  DeviceParser
}

// Location returns where the session's IP is, through the Store's Locator.
// It returns the zero Location and no error when no Locator is configured,
// no IP was recorded, or the IP is unknown to the database.
func (i SessionInfo) Location() (Location, error) {
	if i.locator == nil || i.IP == "" {
		return Location{}, nil
	}
	ip, err := netip.ParseAddr(i.IP)
	if err != nil {
		return Location{}, nil
	}
	return i.locator.Locate(ip.Unmap())
}

// Device returns what the session's User-Agent says about its browser, OS
// and hardware, through the Store's DeviceParser. It returns the zero
// Device when no DeviceParser is configured or no User-Agent was recorded.
func (i SessionInfo) Device() Device {
	if i.parser == nil || i.UserAgent == "" {
		return Device{}
	}
	return i.parser.Parse(i.UserAgent)
}

// DeviceBound reports whether the session is bound to a device key
// (package dbsc): its long-lived cookie alone does not sign it in.
func (i SessionInfo) DeviceBound() bool { return len(i.binding) > 0 }
