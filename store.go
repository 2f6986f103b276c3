package qsessions

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A Store is the portable session store that application code uses. It
// puts a Cache in front of a Persister with Django's cached_db semantics and
// owns every policy: expiry, idle timeout, when to write, revocation.
//
// A Store is safe for concurrent use. Several Stores, in one process or in
// many, may share the same backends.
type Store struct {
	cache     Cache
	persister Persister

	lifetime     time.Duration
	idle         time.Duration
	touch        time.Duration
	browserClose bool
	cookie       CookieOptions
	trusted      []netip.Prefix
	ipHeader     clientIPHeader
	recordIP     bool
	recordUA     bool
	maxUA        int
	locator      Locator
	parser       DeviceParser
	prefix       string
	log          *slog.Logger
	now          func() time.Time
	onError      func(http.ResponseWriter, *http.Request, error)

	maxPerUser int
	onLogin    func(context.Context, LoginEvent) error
	hooks      sync.WaitGroup   // OnLogin calls in flight
	cond       ConditionalCache // cache, when it writes conditionally
	stale      staleSet         // cache keys whose eviction failed
}

// maxStale bounds the staleSet.
const maxStale = 100_000

// A staleSet remembers sessions whose cache entry could not be evicted
// during a cache fault, so that this Store neither reads nor trusts those
// entries once the cache answers again, and retries the eviction.
type staleSet struct {
	n   atomic.Int64 // fast path: len(ids)
	mu  sync.Mutex
	ids map[string]struct{}
}

func (s *staleSet) add(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[string]struct{})
	}
	for _, id := range ids {
		if len(s.ids) >= maxStale {
			break
		}
		s.ids[id] = struct{}{}
	}
	s.n.Store(int64(len(s.ids)))
}

func (s *staleSet) has(id string) bool {
	if s.n.Load() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

func (s *staleSet) remove(id string) {
	if s.n.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
	s.n.Store(int64(len(s.ids)))
}

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
	st := &Store{
		cache:        cache,
		persister:    persister,
		lifetime:     o.Lifetime,
		idle:         o.IdleTimeout,
		touch:        o.TouchInterval,
		browserClose: o.ExpireAtBrowserClose,
		cookie:       o.Cookie,
		trusted:      append([]netip.Prefix(nil), o.TrustedProxies...),
		recordIP:     o.RecordIP.or(true),
		recordUA:     o.RecordUserAgent.or(true),
		maxUA:        o.MaxUserAgent,
		locator:      o.Locator,
		parser:       o.DeviceParser,
		prefix:       o.KeyPrefix,
		log:          o.Logger,
		now:          o.Clock,
		onError:      o.ErrorHandler,
		maxPerUser:   o.MaxSessionsPerUser,
		onLogin:      o.OnLogin,
	}
	if st.lifetime == 0 {
		st.lifetime = DefaultLifetime
	}
	if st.touch == 0 {
		st.touch = DefaultTouchInterval
	}
	if st.idle > 0 && st.touch > st.idle/2 {
		st.touch = st.idle / 2
	}
	if st.maxUA == 0 {
		st.maxUA = DefaultMaxUserAgent
	}
	if st.prefix == "" {
		st.prefix = DefaultKeyPrefix
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
	if cc, ok := cache.(ConditionalCache); ok && cc.Conditional() {
		st.cond = cc
	}
	switch {
	case cache == nil:
	case st.cond != nil:
		st.log.Debug("qsessions: the cache writes conditionally: no stale copy and no revoked session can enter it")
	default:
		st.log.Info("qsessions: the cache has no conditional writes: a cache refill racing a write or a revocation " +
			"may expose the old copy for one Persister read (see ConditionalCache)")
	}
	for i, p := range st.trusted {
		if !p.IsValid() {
			return nil, fmt.Errorf("qsessions: New: invalid trusted proxy prefix at index %d", i)
		}
		st.trusted[i] = p.Masked()
	}
	ipHeader, err := newClientIPHeader(o.ClientIPHeader)
	if err != nil {
		return nil, err
	}
	st.ipHeader = ipHeader
	c := &st.cookie
	if c.Name == "" {
		c.Name = DefaultCookieName
	}
	if !isToken(c.Name) {
		return nil, fmt.Errorf("qsessions: New: invalid cookie name %q", c.Name)
	}
	if c.Path == "" {
		c.Path = "/"
	}
	// Browsers refuse cookies whose prefix promises what their
	// attributes do not keep (RFC 6265bis, section 4.1.3), and match the
	// prefixes regardless of case.
	switch lower := strings.ToLower(c.Name); {
	case strings.HasPrefix(lower, "__host-"):
		if c.Secure == SwitchOff || c.Domain != "" || c.Path != "/" {
			return nil, fmt.Errorf("qsessions: New: cookie %q: a __Host- cookie must be Secure, have Path \"/\" and no Domain", c.Name)
		}
		c.Secure = SwitchOn
	case strings.HasPrefix(lower, "__secure-"):
		if c.Secure == SwitchOff {
			return nil, fmt.Errorf("qsessions: New: cookie %q: a __Secure- cookie must be Secure", c.Name)
		}
		c.Secure = SwitchOn
	}
	if c.SameSite == 0 {
		c.SameSite = http.SameSiteLaxMode
	}
	return st, nil
}

// clock returns the current time as the Store records it: UTC, truncated to
// the millisecond, without a monotonic reading.
func (st *Store) clock() time.Time {
	return st.now().UTC().Truncate(time.Millisecond)
}

func (st *Store) key(id string) string { return st.prefix + id }

// idAndKey returns the session ID of a token and its cache key, in one
// allocation (the ID is the key's tail); ok is false for a token of the
// wrong shape.
func (st *Store) idAndKey(token string) (id, key string, ok bool) {
	raw, ok := decodeToken(token)
	if !ok {
		return "", "", false
	}
	var enc [TokenLen]byte
	hashRawTo(enc[:], raw)
	var b strings.Builder
	b.Grow(len(st.prefix) + TokenLen)
	b.WriteString(st.prefix)
	b.Write(enc[:])
	key = b.String()
	return key[len(st.prefix):], key, true
}

// Load returns the session for a token, as found in a cookie. A token that
// is empty, malformed, unknown, revoked or expired yields a new, empty
// session under a fresh token (never under the token given), and a nil
// error. An error means a backend failed: it is never a silent logout.
//
// Middleware calls Load for you; use it directly outside HTTP.
func (st *Store) Load(ctx context.Context, token string) (*Session, error) {
	s := st.newSession(ctx, token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

// newSession returns a session that loads token lazily, on first use.
func (st *Store) newSession(ctx context.Context, token string) *Session {
	s := &Session{store: st, ctx: ctx}
	s.pending.add(token)
	return s
}

// load reads the record for a token through the cache into *dst, which it
// overwrites. found is false when there is no live session for it.
func (st *Store) load(ctx context.Context, token string, now time.Time, dst *Record) (found bool, err error) {
	id, key, ok := st.idAndKey(token)
	if !ok {
		return false, nil
	}
	var lease []byte
	if st.cache != nil {
		if st.cacheGet(ctx, id, key, dst) {
			return now.Before(dst.ExpiresAt), nil
		}
		lease = st.takeLease(ctx, key)
	}
	r, err := st.persister.Load(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("qsessions: load session: %w", err)
	}
	if r.ID != id {
		return false, fmt.Errorf("qsessions: load session: persister returned record %q for %q", r.ID, id)
	}
	if !now.Before(r.ExpiresAt) {
		return false, nil
	}
	if st.cache != nil && !st.fill(ctx, key, r, lease, now) {
		return false, nil
	}
	*dst = r
	return true, nil
}

// cacheGet reads and decodes a cache entry into *dst. Every failure is a
// miss; faults are logged and corrupt entries removed. A lease is a miss
// too.
func (st *Store) cacheGet(ctx context.Context, id, key string, dst *Record) bool {
	if st.stale.has(id) {
		if st.cache.Delete(ctx, key) == nil {
			st.stale.remove(id)
		}
		return false
	}
	b, err := st.cache.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, ErrCacheMiss) && ctx.Err() == nil {
			st.log.LogAttrs(ctx, slog.LevelWarn, "qsessions: cache get failed; reading the persister", slog.Any("error", err))
		}
		return false
	}
	if isLease(b) {
		return false // another request is filling the entry
	}
	err = decodeRecordTo(dst, b)
	if err == nil && dst.ID != id {
		err = errCorrupt
	}
	if err != nil {
		st.log.LogAttrs(ctx, slog.LevelWarn, "qsessions: corrupt cache entry removed", slog.String("key", key))
		st.cacheDelete(ctx, id)
		return false
	}
	return true
}

// A lease marks a cache entry that one request is filling. It is never a
// record: records begin with codecVersion, leases with 0.
const (
	leaseTTL   = 5 * time.Second
	leaseBytes = 1 + 16
)

func isLease(b []byte) bool { return len(b) == leaseBytes && b[0] == 0 }

// takeLease adds a lease under key when the cache can write conditionally,
// and returns it, or nil when there is none: then no request fills the
// entry, or another one is filling it.
func (st *Store) takeLease(ctx context.Context, key string) []byte {
	if st.cond == nil {
		return nil
	}
	lease := make([]byte, leaseBytes)
	rand.Read(lease[1:])
	ok, err := st.cond.Add(ctx, key, lease, leaseTTL)
	if err != nil {
		if ctx.Err() == nil {
			st.log.LogAttrs(ctx, slog.LevelWarn, "qsessions: cache add failed", slog.String("key", key), slog.Any("error", err))
		}
		return nil
	}
	if !ok {
		return nil
	}
	return lease
}

// fill puts a record just read from the Persister into the cache, and
// reports whether the session still exists.
//
// With a ConditionalCache, the record replaces the request's lease only if
// the lease is still there: a write or a revocation that landed after the
// read deleted the key, lease and all, and the stale record is dropped.
//
// With a plain Cache, the record is written and the row read again: when
// it is gone or has moved on, the entry is removed. A revocation or a
// write racing the fill can then expose the stale copy until that re-read
// returns.
func (st *Store) fill(ctx context.Context, key string, r Record, lease []byte, now time.Time) bool {
	if st.cond != nil {
		if lease == nil {
			return true
		}
		if _, err := st.cond.CompareAndSwap(ctx, key, lease, encodeRecord(r), r.ExpiresAt.Sub(now)); err != nil {
			st.cacheFault(ctx, "compare and swap", r.ID, err)
		}
		return true
	}
	if err := st.cache.Set(ctx, key, encodeRecord(r), r.ExpiresAt.Sub(now)); err != nil {
		st.cacheFault(ctx, "set", r.ID, err)
		return true
	}
	st.stale.remove(r.ID)
	again, err := st.persister.Load(ctx, r.ID)
	if err == nil && again.Version == r.Version {
		return true
	}
	st.cacheDelete(ctx, r.ID)
	return !errors.Is(err, ErrNotFound)
}

// cacheFault logs a failed cache write and removes the key, which may now be
// stale, where the cache still allows it.
func (st *Store) cacheFault(ctx context.Context, op, id string, err error) {
	if ctx.Err() != nil {
		return
	}
	st.log.LogAttrs(ctx, slog.LevelWarn, "qsessions: cache "+op+" failed", slog.String("key", st.key(id)), slog.Any("error", err))
	st.cacheDelete(ctx, id)
}

// cacheDelete evicts ids, logging a failure.
func (st *Store) cacheDelete(ctx context.Context, ids ...string) error {
	if st.cache == nil || len(ids) == 0 {
		return nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = st.key(id)
	}
	if err := st.cache.Delete(context.WithoutCancel(ctx), keys...); err != nil {
		st.log.LogAttrs(ctx, slog.LevelError, "qsessions: cache delete failed; retrying when the cache answers again",
			slog.Int("keys", len(keys)), slog.Any("error", err))
		st.stale.add(ids)
		return err
	}
	return nil
}

// create stores a new session. It is written to the cache first and then
// created in the Persister (and evicted again if that fails): no
// revocation can name it before its row exists, and one that deletes the
// row afterwards evicts the entry after it was written.
func (st *Store) create(ctx context.Context, r Record, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("qsessions: save session: %w", err)
	}
	cached := false
	if st.cache != nil {
		if err := st.cache.Set(ctx, st.key(r.ID), encodeRecord(r), r.ExpiresAt.Sub(now)); err != nil {
			st.cacheFault(ctx, "set", r.ID, err)
		} else {
			cached = true
			st.stale.remove(r.ID)
		}
	}
	if err := st.persister.Create(ctx, r); err != nil {
		if cached {
			st.cacheDelete(ctx, r.ID)
		}
		return fmt.Errorf("qsessions: save session: %w", err)
	}
	return nil
}

// update writes r over the stored version r.Version, then evicts the
// session's cache entry; the next request fills it again. (Writing the new
// record into the cache instead could race another write or a revocation
// and leave an older copy there; eviction can only remove.)
func (st *Store) update(ctx context.Context, r Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("qsessions: save session: %w", err)
	}
	if err := st.persister.Update(ctx, r); err != nil {
		return fmt.Errorf("qsessions: save session: %w", err)
	}
	st.cacheDelete(ctx, r.ID) // a failure is logged and retried
	return nil
}

// sealedAt is the expiry of a sealed record: long past, so that every
// Store refuses it and DeleteExpired removes it first.
var sealedAt = time.UnixMilli(0).UTC()

// end ends the stored session r: a compare-and-swap on r.Version seals the
// record (no values, expired), its cache entry is evicted, and the row is
// deleted. The seal makes the end exact: a concurrent write either landed
// before it (and the seal fails with ErrConflict, so that the caller can
// merge it) or fails after it. A failure to delete the sealed row is only
// logged: DeleteExpired removes it.
func (st *Store) end(ctx context.Context, r Record, now time.Time) error {
	sealed := r
	sealed.Data, sealed.UpdatedAt, sealed.ExpiresAt = nil, now, sealedAt
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("qsessions: end session: %w", err)
	}
	if err := st.persister.Update(ctx, sealed); err != nil {
		return fmt.Errorf("qsessions: end session: %w", err)
	}
	evicted := st.cacheDelete(ctx, r.ID)
	if err := st.persister.Delete(ctx, r.ID); err != nil {
		st.log.LogAttrs(ctx, slog.LevelWarn, "qsessions: a sealed session could not be deleted; DeleteExpired will remove it",
			slog.Any("error", err))
	}
	if evicted != nil {
		return &evictError{evicted}
	}
	return nil
}

// destroy deletes a session's row and cache entry.
func (st *Store) destroy(ctx context.Context, id string) error {
	if err := st.persister.Delete(ctx, id); err != nil {
		return fmt.Errorf("qsessions: delete session: %w", err)
	}
	if err := st.cacheDelete(ctx, id); err != nil {
		return &evictError{err}
	}
	return nil
}

// An evictError reports a session whose row is deleted but whose cache
// entry could not be evicted: other processes may still serve it from the
// cache until the eviction is retried.
type evictError struct{ err error }

func (e *evictError) Error() string {
	return "qsessions: session deleted, but its cache entry could not be evicted (other processes may still serve it; retry): " + e.err.Error()
}

func (e *evictError) Unwrap() error { return e.err }

// Revoke ends the session with the given ID (a Session's ID, or a
// SessionInfo's), in every process sharing the backends: its row is deleted,
// then its cache entry, so its next request is refused. Revoking a session
// that does not exist is not an error. When the row is deleted but the
// cache entry cannot be evicted, Revoke returns an error: other processes
// may still serve the session from the cache, so retry until it succeeds.
//
// Revoke does not check who owns the session: when a user picks a session
// to sign out, look it up among Sessions(ctx, thatUser) first, or use
// RevokeUserSession.
func (st *Store) Revoke(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("qsessions: revoke %q: %w", id, ErrInvalidID)
	}
	return st.destroy(ctx, id)
}

// RevokeUserSession ends the session id only if it belongs to userID, and
// reports whether it did. It is what a "sign out that device" button needs.
func (st *Store) RevokeUserSession(ctx context.Context, userID, id string) (bool, error) {
	if userID == "" {
		return false, ErrNoUser
	}
	if !ValidID(id) {
		return false, fmt.Errorf("qsessions: revoke %q: %w", id, ErrInvalidID)
	}
	r, err := st.persister.Load(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && r.UserID != userID) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("qsessions: revoke: %w", err)
	}
	if err := st.destroy(ctx, id); err != nil {
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
	if st.cache != nil {
		// Evict first: if that fails, nothing is revoked and a retry finds
		// the same sessions. (Evicting only after DeleteByUser would leave
		// sessions whose rows are gone but whose cache entries live on in
		// other processes, and that a retry could no longer find.)
		recs, err := st.persister.ListByUser(ctx, userID)
		if err != nil {
			return 0, fmt.Errorf("qsessions: revoke user sessions: %w", err)
		}
		var ids []string
		for _, r := range recs {
			if !slices.Contains(except, r.ID) {
				ids = append(ids, r.ID)
			}
		}
		if err := st.cacheDelete(ctx, ids...); err != nil {
			return 0, fmt.Errorf("qsessions: revoke user sessions: cache entries could not be evicted, nothing revoked: %w", err)
		}
	}
	ids, err := st.persister.DeleteByUser(ctx, userID, except...)
	if err != nil {
		return 0, fmt.Errorf("qsessions: revoke user sessions: %w", err)
	}
	if err := st.cacheDelete(ctx, ids...); err != nil {
		return len(ids), fmt.Errorf("qsessions: sessions deleted, but their cache entries could not be evicted (other processes may still serve them; retry): %w", err)
	}
	return len(ids), nil
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
	for _, r := range recs {
		if !now.Before(r.ExpiresAt) || r.UserID != userID {
			continue
		}
		infos = append(infos, st.info(r))
	}
	return infos, nil
}

// info describes r for listing.
func (st *Store) info(r Record) SessionInfo {
	return SessionInfo{
		ID:              r.ID,
		UserID:          r.UserID,
		IP:              r.IP,
		UserAgent:       r.UserAgent,
		CreatedAt:       r.CreatedAt,
		UpdatedAt:       r.UpdatedAt,
		ExpiresAt:       r.ExpiresAt,
		AuthenticatedAt: r.AuthenticatedAt,
		AuthMethod:      r.AuthMethod,
		binding:         r.Binding,
		locator:         st.locator,
		parser:          st.parser,
	}
}

// DeleteExpired removes every expired session from the Persister and returns
// how many it removed: the job Django calls clearsessions. It makes one
// Persister.DeleteExpired call without a limit, and the Persister deletes in
// steps that suit its database (short transactions, so that other writes do
// not wait for long). Schedule it (hourly, say); the Store starts no
// goroutines. Cache entries expire on their own. On error, a cancelled ctx
// included, it returns the count removed so far.
func (st *Store) DeleteExpired(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("qsessions: delete expired: %w", err)
	}
	n, err := st.persister.DeleteExpired(ctx, st.clock(), 0)
	if err != nil {
		return n, fmt.Errorf("qsessions: delete expired: %w", err)
	}
	return n, nil
}

// A SessionInfo describes one of a user's sessions, for listing.
type SessionInfo struct {
	ID        string // pass to Store.Revoke; compare with Session.ID to mark "this device"
	UserID    string
	IP        string
	UserAgent string
	CreatedAt time.Time
	UpdatedAt time.Time // last recorded activity
	ExpiresAt time.Time

	AuthenticatedAt time.Time // when the user last signed in or re-authenticated on it
	AuthMethod      string    // how, as given to LoginWith: "password", "passkey"...; "" when not told

	binding []byte
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
