package qsessions

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// A Session is one client's session: its values, the user it belongs to,
// and what the Store knows of where it is used. Get it with FromContext in
// a handler behind Store.Middleware, or with Store.Load outside HTTP.
//
// A Session is loaded lazily, on first use, and saved by the middleware (or
// Store.Save) only when something changed. Its methods are safe for use by
// several goroutines of one request. Getters return zero values when the
// session could not be loaded; Err reports why, and the middleware answers
// such a request through the ErrorHandler.
//
// A Session keeps what the request did to it (values set and deleted,
// expiry changes) as a journal. When another request of the same session
// saved first, the save starts again from what that request stored and
// applies the journal to it, so changes to different keys never undo each
// other (see "Concurrent requests" in the package documentation).
type Session struct {
	mu    sync.Mutex
	store *Store
	ctx   context.Context // for the lazy load

	pending tokens // tokens from the request, tried in order until loaded
	loaded  bool
	err     error // sticky load error

	token    string // "" until one is needed
	base     Record // as last read from or written to the backends; a write compares its Version
	meta     meta   // base.Meta decoded, aliasing it, once metaDone
	metaDone bool
	isNew    bool // no record in the Persister: base is a template

	vals   values // base.Data decoded, with the journal applied
	client client // what the request says about the client, recorded at the next save

	accessed   bool       // the handler used the session: the response varies on Cookie
	hadCookie  bool       // the request carried a session cookie
	sendCookie bool       // a token was stored or the expiry changed: the response sets the cookie
	login      loginState // what OnLogin is told once the session is saved
	phase      phase      // whether the response has started
}

// A loginState is what a request's Login left for OnLogin.
type loginState uint8

const (
	noLogin         loginState = iota
	signedIn                   // a Login of a new user
	reauthenticated            // a Login of the session's own user
)

// A phase is where the request is with respect to its response.
type phase uint8

const (
	open      phase = iota
	committed       // the middleware has saved; the response has started
	late            // changed after committed: the change cannot be saved
)

// A client is what the current request says about the client.
type client struct {
	observed bool       // false outside Middleware: the session keeps what it has
	ip       netip.Addr // invalid: none
	ua       string
}

// moved reports whether the request's client differs from what the
// encoded metadata b records. It allocates nothing, and decodes no more of
// b than it needs.
func (c *client) moved(b []byte) bool {
	if !c.observed {
		return false
	}
	ip, ua, ok := clientOf(b)
	return !ok || c.ip != ip || string(ua) != c.ua
}

// changedLocked records a change to the session made by the handler.
func (s *Session) changedLocked() {
	if s.phase == committed {
		s.phase = late
	}
}

// ensureLocked loads the session on first use.
func (s *Session) ensureLocked() error {
	s.accessed = true
	if s.loaded {
		return s.err
	}
	s.loaded = true
	ctx := s.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	now := s.store.clock()
	for _, token := range s.pending.list() {
		found, err := s.store.load(ctx, token, now, &s.base)
		if found {
			s.metaDone = false
		}
		if err != nil {
			s.err = err
			return err
		}
		if found {
			s.token, s.pending = token, tokens{}
			return nil
		}
	}
	s.pending = tokens{}
	s.resetLocked()
	return nil
}

// metaLocked decodes base.Meta on first use.
func (s *Session) metaLocked() error {
	if s.metaDone {
		return nil
	}
	if err := parseMeta(s.base.Meta, &s.meta); err != nil {
		return fmt.Errorf("qsessions: session %s: %w", s.base.ID, err)
	}
	s.metaDone = true
	return nil
}

// maxTokens bounds how many session cookies of one request are tried.
const maxTokens = 4

// tokens are the well-formed session tokens of a request, in the order of
// its cookies, without duplicates.
type tokens struct {
	t [maxTokens]string
	n int
}

// add appends token unless it is there already or the list is full.
func (ts *tokens) add(token string) {
	if ts.n == maxTokens || slices.Contains(ts.t[:ts.n], token) {
		return
	}
	ts.t[ts.n] = token
	ts.n++
}

func (ts *tokens) list() []string { return ts.t[:ts.n] }

// resetLocked turns s into a new, empty session with no token yet.
func (s *Session) resetLocked() {
	now := s.store.clock()
	s.token = ""
	s.base = Record{UpdatedAt: now, ExpiresAt: now.Add(s.store.lifetime)}
	s.meta, s.metaDone = meta{createdAt: now}, true
	s.isNew = true
	s.vals.reset(s.store.browserClose)
}

// rebaseLocked makes the session's base, which a write replaced with a
// newer record, current: it decodes it and applies the journal again.
func (s *Session) rebaseLocked() error {
	s.metaDone = false
	if err := s.metaLocked(); err != nil {
		return err
	}
	return s.vals.rebase(s.base)
}

// observe records what the current request says about the client; it is
// written at the next save.
func (s *Session) observe(ip netip.Addr, ua string) {
	s.client = client{observed: true, ip: ip, ua: ua}
}

// ensureTokenLocked gives a new session its token and ID.
func (s *Session) ensureTokenLocked() {
	if s.token == "" {
		s.token, s.base.ID = s.store.newToken()
	}
}

// expiresAtLocked returns when the session ends if it is written at now.
func (s *Session) expiresAtLocked(now time.Time) time.Time {
	exp := s.cookieExpiryLocked()
	if s.store.idle > 0 {
		if idle := now.Add(s.store.idle); idle.Before(exp) {
			exp = idle
		}
	}
	return exp
}

// cookieExpiryLocked returns the absolute end of the session: its own
// expiry, or its Lifetime after it was created. A stored session whose
// creation is not known (a record written by another application, with no
// CreatedAt in its Meta) keeps the end it has.
func (s *Session) cookieExpiryLocked() time.Time {
	s.metaLocked() // a corrupt Meta fails the save before any cookie
	switch {
	case !s.vals.expiry.IsZero():
		return s.vals.expiry
	case s.meta.createdAt.IsZero() && !s.isNew:
		return s.base.ExpiresAt
	}
	return s.meta.createdAt.Add(s.store.lifetime)
}

// A cookieAction is what a response does with the session cookie.
type cookieAction uint8

const (
	cookieKeep cookieAction = iota
	cookieSet
	cookieDelete
)

// saveLocked writes what the request did to the session, if anything needs
// writing (planLocked has the rules), and returns what the response must
// do with the cookie: set it when a new token was stored or the expiry
// changed, delete it when the request carried one but the session is not
// stored (it was logged out, ended, revoked or never existed).
//
// With detach, the writes ignore ctx's cancellation (the middleware saves
// work that a handler has done even if the client went away).
func (s *Session) saveLocked(ctx context.Context, detach bool) (cookieAction, error) {
	if !s.loaded {
		return cookieKeep, nil // never used: nothing to write
	}
	if s.err != nil {
		return cookieKeep, s.err
	}
	st := s.store
	op, next, err := s.planLocked(st.clock())
	if err != nil {
		return cookieKeep, err
	}
	if op != writeNothing && detach {
		// Detach only when there is something to write: WithoutCancel
		// allocates, and most requests write nothing.
		ctx = context.WithoutCancel(ctx)
	}
	switch op {
	case writeCreate:
		// A new token: no other request knows it, so nothing can race.
		s.ensureTokenLocked()
		next.ID = s.base.ID
		if err = st.apply(ctx, writeCreate, &s.base, &next, st.clock()); err != nil {
			return cookieKeep, fmt.Errorf("qsessions: save session: %w", err)
		}
		s.sendCookie = true
	case writeUpdate, writeSeal:
		op, err = st.readModifyWrite(ctx, "save session", &s.base, op, next, savePlan{s})
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				s.resetLocked() // revoked meanwhile: it stays so
			}
			return cookieKeep, err
		}
	}
	switch op {
	case writeCreate, writeUpdate:
		s.isNew, s.metaDone = false, false
		s.vals.journal = nil
	case writeSeal:
		s.resetLocked()
	}
	switch {
	case !s.isNew && s.sendCookie:
		return cookieSet, nil
	case s.isNew && s.hadCookie:
		return cookieDelete, nil
	}
	return cookieKeep, nil
}

// savePlan plans a save again after the session's base changed under it.
type savePlan struct{ s *Session }

func (p savePlan) replan(*Record) (writeOp, Record, error) {
	if err := p.s.rebaseLocked(); err != nil {
		return writeNothing, Record{}, err
	}
	return p.s.planLocked(p.s.store.clock())
}

// planLocked decides what a save at now writes, and the record it writes.
// These are the save rules, all of them:
//
//   - A new session is created when it holds a user or values; an empty one
//     is not stored (Django does not store them either).
//   - A stored session is written when the journal holds changes, when the
//     client's IP or User-Agent changed, or when TouchInterval has passed
//     since its last write; otherwise nothing is written.
//   - A stored anonymous session whose values were all removed, or whose
//     expiry has passed, is ended: its record is sealed and deleted.
//   - A write is a compare-and-swap on the version read (see
//     readModifyWrite for what happens when it loses).
func (s *Session) planLocked(now time.Time) (writeOp, Record, error) {
	st := s.store
	moved := !s.isNew && s.client.moved(s.base.Meta)
	touchDue := now.Sub(s.base.UpdatedAt) >= st.touch
	if !s.isNew && len(s.vals.journal) == 0 && !touchDue && !moved && now.Before(s.base.ExpiresAt) {
		return writeNothing, Record{}, nil // the common read-only request, decided without decoding anything
	}
	if err := s.metaLocked(); err != nil {
		return writeNothing, Record{}, err
	}
	if err := s.vals.decodeExpiry(s.base); err != nil {
		return writeNothing, Record{}, err
	}
	next := s.base
	next.UpdatedAt, next.ExpiresAt = now, s.expiresAtLocked(now)
	if moved || s.isNew {
		next.Meta = s.nextMetaLocked()
	}
	if s.isNew {
		if (next.UserID == "" && len(s.vals.m) == 0) || !now.Before(next.ExpiresAt) {
			return writeNothing, Record{}, nil
		}
		data, err := s.vals.encode()
		next.Data = data
		return writeCreate, next, err
	}
	emptied := len(s.vals.journal) > 0 && len(s.vals.m) == 0 && next.UserID == ""
	if emptied || !now.Before(next.ExpiresAt) {
		return writeSeal, Record{}, nil
	}
	if len(s.vals.journal) == 0 {
		if !moved && !touchDue {
			return writeNothing, Record{}, nil
		}
		// A touch: base.Data is written back as read. The write compares
		// versions, so this cannot undo a concurrent write of the values.
		return writeUpdate, next, nil
	}
	data, err := s.vals.encode()
	next.Data = data
	return writeUpdate, next, err
}

// nextMetaLocked returns the metadata the next write records: base's, with
// the request's client.
func (s *Session) nextMetaLocked() []byte {
	m := s.meta
	if s.client.observed {
		m.ip = s.client.ip
		return m.encodeWith(s.client.ua)
	}
	return m.encodeWith(string(m.userAgent))
}

// Err returns the error that prevented the session from loading, if any.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// ID returns the session's ID: the SHA-256 of its token, which is what
// backends store and what SessionInfo.ID and Store.Revoke use. A new
// session gets its token, and so its ID, on first call.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensureLocked() != nil {
		return ""
	}
	s.ensureTokenLocked()
	return s.base.ID
}

// Token returns the secret token that the cookie carries, or "" for a
// session that has not been stored. Treat it like a password.
func (s *Session) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensureLocked() != nil || s.isNew {
		return ""
	}
	return s.token
}

// IsNew reports whether the session is not (yet) stored: it had no valid
// cookie, or was logged out, and nothing has been saved since.
func (s *Session) IsNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureLocked()
	return s.isNew
}

// UserID returns the ID of the user the session belongs to, or "" for an
// anonymous session.
func (s *Session) UserID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensureLocked() != nil {
		return ""
	}
	return s.base.UserID
}

// Info describes the session as Store.Sessions lists it: its user, when it
// was created, last written and signed in, and when it expires as of its
// last write, with the IP and User-Agent of the current request, as the
// next write records them. It is the zero SessionInfo when the session
// could not be loaded; a new session's ID is "" until it has one.
func (s *Session) Info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensureLocked() != nil || s.metaLocked() != nil {
		return SessionInfo{}
	}
	i := s.store.infoOf(&s.base, &s.meta)
	if s.client.observed {
		i.IP, i.UserAgent = "", s.client.ua
		if s.client.ip.IsValid() {
			i.IP = s.client.ip.String()
		}
	}
	return i
}

// Set stores value under key, JSON-encoded. Keys starting with "_session_"
// are reserved.
func (s *Session) Set(key string, value any) error {
	c, err := setChange(key, value)
	if err != nil {
		return err
	}
	return s.change(func(v *values) bool { return v.set(c) })
}

// change applies f to the decoded values; f reports whether it recorded a
// change.
func (s *Session) change(f func(*values) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.valuesLocked(); err != nil {
		return err
	}
	if f(&s.vals) {
		s.changedLocked()
		if s.vals.journal[len(s.vals.journal)-1].op == opExpiry {
			s.sendCookie = true
		}
	}
	return nil
}

func (s *Session) valuesLocked() error {
	if err := s.ensureLocked(); err != nil {
		return err
	}
	return s.vals.decode(s.base)
}

// Get decodes the value stored under key into dst, which must be a
// pointer, and reports whether there was one.
func (s *Session) Get(key string, dst any) (bool, error) {
	s.mu.Lock()
	err := s.valuesLocked()
	raw, ok := s.vals.m[key]
	s.mu.Unlock()
	if err != nil || !ok {
		return false, err
	}
	return true, decodeValue(key, raw, dst)
}

// Delete removes the value stored under key, if any.
func (s *Session) Delete(key string) error {
	return s.change(func(v *values) bool { return v.remove(key) })
}

// Keys returns the keys of the stored values, sorted.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.valuesLocked() != nil {
		return nil
	}
	return s.vals.keys()
}

// Clear removes every value. The user binding stays; use Logout to end the
// session. Values that another request sets concurrently survive a Clear
// that saves first, as changes to different keys do.
func (s *Session) Clear() error {
	return s.change(func(v *values) bool { return v.clearAll() })
}

// SetMaxAge makes the session end d from now instead of after the Store's
// Lifetime, and its cookie persist across browser restarts; a d of zero or
// less ends the session when it is next saved. It replaces an expiry set
// before, and undoes SetExpireAtBrowserClose.
func (s *Session) SetMaxAge(d time.Duration) error {
	t := s.store.clock().Add(d)
	return s.change(func(v *values) bool { return v.setExpiry(t, false) })
}

// SetExpireAtBrowserClose sets whether the session's cookie is dropped when
// the browser closes (it then has no Max-Age). The server still ends the
// session after its lifetime.
func (s *Session) SetExpireAtBrowserClose(on bool) error {
	return s.change(func(v *values) bool {
		if v.browserClose == on {
			return false
		}
		if on {
			return v.setExpiry(time.Time{}, true)
		}
		return v.setExpiry(v.expiry, false)
	})
}

// Login binds the session to userID under a new token, and stores it at
// once. The record under the old token is ended first, so a token planted
// before login (session fixation) is worthless after it. Values are kept,
// unless the session belonged to another user: then they are cleared, so
// that nothing of one user's session leaks into another's.
//
// Login records the time of the authentication (see AuthenticatedWithin);
// LoginWith records how it was made as well. With Options.MaxSessionsPerUser
// set, the user's least recently active sessions beyond the cap are
// revoked first; Options.OnLogin is called once the response is saved.
func (s *Session) Login(ctx context.Context, userID string) error {
	return s.LoginWith(ctx, userID, "")
}

// LoginWith is Login recording how the user authenticated: "password",
// "passkey", "oauth:github", "impersonation"... (free text, at most 64
// bytes of UTF-8 without control characters). The method is shown in the
// session list (SessionInfo.AuthMethod).
func (s *Session) LoginWith(ctx context.Context, userID, method string) error {
	if userID == "" {
		return fmt.Errorf("qsessions: login: %w", ErrNoUser)
	}
	if err := checkAuthMethod(method); err != nil {
		return err
	}
	return s.rotate(ctx, true, func() error {
		s.login = signedIn
		if s.base.UserID == userID {
			s.login = reauthenticated
		} else {
			// Nothing of one user's session leaks into another's: not
			// its values (an anonymous session's are kept), not its
			// device binding.
			if s.base.UserID != "" {
				s.vals.clearAll()
			}
			s.meta.binding = nil
		}
		if err := s.store.enforceCap(ctx, userID); err != nil {
			s.login = noLogin
			return err
		}
		s.base.UserID = userID
		s.meta.authAt, s.meta.authMethod = s.store.clock(), []byte(method)
		return nil
	})
}

// Rotate gives the session a new token, keeping its values and user, and
// ends the record stored under the old one. Call it when privileges
// change; Login does it for you. Rotating a session that was revoked while
// the request ran fails with ErrNotFound and stores nothing.
func (s *Session) Rotate(ctx context.Context) error {
	return s.rotate(ctx, false, func() error { return nil })
}

// rotate seals the stored record under the current token, merging the
// journal into what it held, applies change, and stores the result under
// a new token. With login, a session revoked meanwhile is no obstacle: the
// sign-in starts a new one.
func (s *Session) rotate(ctx context.Context, login bool, change func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.valuesLocked(); err != nil {
		return err
	}
	if err := s.metaLocked(); err != nil {
		return err
	}
	st := s.store
	if !s.isNew {
		if err := s.sealLocked(ctx); err != nil {
			if !login || !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	if err := change(); err != nil {
		return err
	}
	s.token = ""
	s.ensureTokenLocked()
	s.isNew, s.vals.journal = true, nil
	s.base.Version = 0
	s.meta.createdAt = st.clock()
	s.changedLocked()
	if s.base.UserID == "" && len(s.vals.m) == 0 {
		return nil // an empty session has nothing to store yet
	}
	if _, err := s.saveLocked(ctx, false); err != nil {
		// The old record is ended and the new one not stored: leave
		// nothing that a later save could store as signed in.
		s.resetLocked()
		s.login = noLogin
		return err
	}
	return nil
}

// sealLocked ends the stored record for a rotation: a compare-and-swap,
// retried after a reload, so that a change another request saved meanwhile
// is carried into the new record rather than lost. The old record is then
// deleted; its cache entry is evicted before the seal returns.
func (s *Session) sealLocked(ctx context.Context) error {
	_, err := s.store.readModifyWrite(ctx, "rotate session", &s.base, writeSeal, Record{}, sealPlan{s})
	var evict *evictError
	switch {
	case err == nil:
	case errors.As(err, &evict) && s.base.UserID == "":
		// A stale cache copy of an anonymous session binds no user, so
		// failing to evict it must not block a sign-in; the Store
		// retries the eviction. A copy that carries a user must go, or
		// the rotation is not done.
	case errors.Is(err, ErrNotFound):
		vals := s.vals
		s.resetLocked()
		s.vals = vals
		return err
	default:
		return err
	}
	return nil
}

// sealPlan merges what another request stored into the session before the
// seal is tried again.
type sealPlan struct{ s *Session }

func (p sealPlan) replan(*Record) (writeOp, Record, error) {
	return writeSeal, Record{}, p.s.rebaseLocked()
}

// Logout revokes the stored session and leaves s a new, empty, anonymous
// session; the middleware deletes the cookie unless something is stored in
// it before the response.
func (s *Session) Logout(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureLocked(); err != nil {
		return err
	}
	if !s.isNew {
		if err := s.store.revoke(ctx, "logout", []string{s.base.ID}, nil); err != nil {
			return err
		}
	}
	s.resetLocked()
	s.sendCookie = false
	s.changedLocked()
	return nil
}

// Save writes s if it changed, or if its last activity is older than the
// TouchInterval. Middleware saves a request's session itself; Save is for
// sessions from Store.Load.
func (st *Store) Save(ctx context.Context, s *Session) error {
	if s == nil || s.store != st {
		return errors.New("qsessions: Save: session is nil or belongs to another Store")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.saveLocked(ctx, false)
	if err == nil {
		s.afterSaveLocked(ctx)
	}
	return err
}

// afterSaveLocked runs what waits for the session to be saved: the OnLogin
// hook of a sign-in.
func (s *Session) afterSaveLocked(ctx context.Context) {
	if s.login != noLogin && !s.isNew && s.metaLocked() == nil {
		info := s.store.infoOf(&s.base, &s.meta)
		s.store.afterLogin(ctx, info, s.login == reauthenticated)
		s.login = noLogin
	}
}
