package qsessions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// expiryKey is the reserved key under which a session's own expiry, when it
// has one, is kept in its encoded values: 0 for "at browser close", or an
// RFC 3339 time. Django keeps the same key for the same purpose.
const expiryKey = "_session_expiry"

// reservedPrefix marks keys that qsessions keeps for itself.
const reservedPrefix = "_session_"

var expiryMarker = []byte(`"` + expiryKey + `"`)

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
// saved first, the save reloads the session and applies the journal again,
// so changes to different keys never undo each other (see "Concurrent
// requests" in the package documentation).
type Session struct {
	mu    sync.Mutex
	store *Store
	ctx   context.Context // for the lazy load

	pending tokens // tokens from the request, tried in order until loaded
	loaded  bool
	err     error // sticky load error

	token string // "" until one is needed
	base  Record // as last read from or written to the backends; Update compares its Version
	isNew bool   // no record in the Persister: base is a template

	// values is base.Data decoded, with the journal applied; nil until
	// first needed. browserClose and customExpiry are the session's own
	// expiry, kept under expiryKey in the encoded values.
	values       map[string]json.RawMessage
	browserClose bool
	customExpiry time.Time
	journal      []change // what this request did to the values since base

	// What the request says about the client, recorded at the next save.
	observed   bool
	observedIP netip.Addr // invalid: none
	observedUA string

	sendCookie      bool // a token was stored or the expiry changed: the response sets the cookie
	signedIn        bool // Login succeeded: OnLogin runs once the session is saved
	reauthenticated bool // that Login was of the session's own user: OnLogin says so
	accessed        bool // the handler used the session: the response varies on Cookie
	hadCookie       bool // the request carried a session cookie
	committed       bool // the middleware has saved; the response has started
	late            bool // changed after committed: the change cannot be saved
}

// A change is one entry of a Session's journal.
type change struct {
	op           changeOp
	key          string          // set, delete
	value        json.RawMessage // set
	expiry       time.Time       // expiry: zero for the Store's default
	browserClose bool            // expiry
}

type changeOp uint8

const (
	opSet changeOp = iota
	opDelete
	opClear
	opExpiry
)

// apply makes c's change to s's decoded values and expiry.
func (c *change) apply(s *Session) {
	switch c.op {
	case opSet:
		s.values[c.key] = c.value
	case opDelete:
		delete(s.values, c.key)
	case opClear:
		clear(s.values)
	case opExpiry:
		s.customExpiry, s.browserClose = c.expiry, c.browserClose
	}
}

// recordLocked appends c to the journal and applies it. Callers hold s.mu
// and have decoded the values.
func (s *Session) recordLocked(c change) {
	c.apply(s)
	s.journal = append(s.journal, c)
	if c.op == opExpiry {
		s.sendCookie = true
	}
	if s.committed {
		s.late = true
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
	s.base = Record{CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(s.store.lifetime)}
	s.isNew = true
	s.values = map[string]json.RawMessage{}
	s.browserClose = s.store.browserClose
	s.customExpiry = time.Time{}
	s.journal = nil
}

// rebaseLocked makes r, just read from the Persister, the session's base,
// and applies the journal to it again.
func (s *Session) rebaseLocked(r Record) error {
	s.base, s.values = r, nil
	s.browserClose, s.customExpiry = false, time.Time{}
	if err := s.decodeLocked(); err != nil {
		return err
	}
	for i := range s.journal {
		s.journal[i].apply(s)
	}
	return nil
}

// observe records what the current request says about the client; it is
// written at the next save.
func (s *Session) observe(ip netip.Addr, ua string) {
	s.observed, s.observedIP, s.observedUA = true, ip, ua
}

// clientLocked returns the IP and User-Agent the next write records, and
// whether they differ from base's.
func (s *Session) clientLocked() (ip, ua string, changed bool) {
	ip, ua = s.base.IP, s.base.UserAgent
	if !s.observed {
		return ip, ua, false
	}
	// Compare addresses, not strings, so that an unchanged IP costs no
	// allocation.
	if !s.observedIP.IsValid() {
		changed = ip != ""
		ip = ""
	} else if cur, err := netip.ParseAddr(ip); err != nil || cur != s.observedIP {
		ip, changed = s.observedIP.String(), true
	}
	if ua != s.observedUA {
		ua, changed = s.observedUA, true
	}
	return ip, ua, changed
}

// ensureTokenLocked gives a new session its token and ID.
func (s *Session) ensureTokenLocked() {
	if s.token == "" {
		s.token = newToken()
		s.base.ID = hashToken(s.token)
	}
}

// decodeLocked decodes base.Data on first access to the values.
func (s *Session) decodeLocked() error {
	if s.values != nil {
		return nil
	}
	values := map[string]json.RawMessage{}
	if len(s.base.Data) > 0 {
		if err := json.Unmarshal(s.base.Data, &values); err != nil {
			return fmt.Errorf("qsessions: session %s: corrupt values: %w", s.base.ID, err)
		}
	}
	if raw, ok := values[expiryKey]; ok {
		delete(values, expiryKey)
		if string(raw) == "0" {
			s.browserClose = true
		} else {
			var t time.Time
			if err := json.Unmarshal(raw, &t); err != nil {
				return fmt.Errorf("qsessions: session %s: corrupt %s: %w", s.base.ID, expiryKey, err)
			}
			s.customExpiry = t.UTC()
		}
	}
	s.values = values
	return nil
}

// expiryMetaLocked makes browserClose and customExpiry known, decoding the
// values only when the encoded data mentions an expiry at all.
func (s *Session) expiryMetaLocked() error {
	if s.values != nil || !bytes.Contains(s.base.Data, expiryMarker) {
		return nil
	}
	return s.decodeLocked()
}

func (s *Session) encodeLocked() ([]byte, error) {
	m := s.values
	if s.browserClose || !s.customExpiry.IsZero() {
		m = make(map[string]json.RawMessage, len(s.values)+1)
		for k, v := range s.values {
			m[k] = v
		}
		if s.browserClose {
			m[expiryKey] = json.RawMessage("0")
		} else {
			b, _ := json.Marshal(s.customExpiry)
			m[expiryKey] = b
		}
	}
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("qsessions: encode session values: %w", err)
	}
	return b, nil
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
// expiry, or its Lifetime after CreatedAt.
func (s *Session) cookieExpiryLocked() time.Time {
	if !s.customExpiry.IsZero() {
		return s.customExpiry
	}
	return s.base.CreatedAt.Add(s.store.lifetime)
}

// maxSaveAttempts bounds how often a save reloads the session and applies
// its journal again after losing a race to another writer.
const maxSaveAttempts = 10

// afterConflict waits before the next attempt of a write that has lost
// attempt races in a row: not at all after the first, then a random while
// of up to 100µs, 200µs... 3.2ms at most, so that two requests that keep
// writing one session cannot stay in lock step, the same one losing each
// time (seen with two requests saving one session ten times each, under
// load). It returns ctx's error if ctx ends first.
func afterConflict(ctx context.Context, attempt int) error {
	if attempt < 2 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	d := time.Duration(rand.Int64N(int64(50*time.Microsecond) << min(attempt-1, 6)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A cookieAction is what a response does with the session cookie.
type cookieAction uint8

const (
	cookieKeep cookieAction = iota
	cookieSet
	cookieDelete
)

// saveLocked writes what the request did to the session, if anything needs
// writing, and returns what the response must do with the cookie. These
// are the save rules, all of them:
//
//   - A new session is created when it holds a user or values; an empty one
//     is not stored (Django does not store them either).
//   - A stored session is written when the journal holds changes, when the
//     client's IP or User-Agent changed, or when TouchInterval has passed
//     since its last write; otherwise nothing is written.
//   - A stored anonymous session whose values were all removed, or whose
//     expiry has passed, is ended: its record is deleted.
//   - A write is a compare-and-swap on the version read. When another
//     request wrote first, the session is reloaded from the Persister and
//     the journal applied again, up to maxSaveAttempts times; a session that
//     was revoked meanwhile stays revoked (ErrNotFound).
//   - The cookie is set when a new token was stored or the expiry changed,
//     and deleted when the request carried one but the session is not
//     stored (it was logged out, ended, revoked or never existed).
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
	for attempt := 1; ; attempt++ {
		now := st.clock()
		op, next, err := s.planLocked(now)
		if err != nil {
			return cookieKeep, err
		}
		if op == writeNothing {
			break
		}
		if detach {
			// Detach only when there is something to write:
			// WithoutCancel allocates, and most requests write nothing.
			ctx, detach = context.WithoutCancel(ctx), false
		}
		switch op {
		case writeCreate:
			s.ensureTokenLocked()
			next.ID, next.Version = s.base.ID, 1
			err = st.create(ctx, next, now)
		case writeUpdate:
			err = st.update(ctx, next)
			next.Version++
		case writeEnd:
			err = st.end(ctx, s.base, now)
		}
		if err == nil {
			if op == writeEnd {
				s.resetLocked()
				break
			}
			if op == writeCreate {
				s.sendCookie = true
			}
			s.base, s.isNew, s.journal = next, false, nil
			break
		}
		if !errors.Is(err, ErrConflict) {
			if errors.Is(err, ErrNotFound) {
				s.resetLocked()
			}
			return cookieKeep, err
		}
		if attempt == maxSaveAttempts {
			return cookieKeep, fmt.Errorf("qsessions: save session: still conflicting after %d attempts: %w", attempt, err)
		}
		if err := afterConflict(ctx, attempt); err != nil {
			return cookieKeep, fmt.Errorf("qsessions: save session: %w", err)
		}
		if err := s.reloadLocked(ctx); err != nil {
			return cookieKeep, err
		}
	}
	switch {
	case !s.isNew && s.sendCookie:
		return cookieSet, nil
	case s.isNew && s.hadCookie:
		return cookieDelete, nil
	}
	return cookieKeep, nil
}

// reloadLocked reads the session again from the Persister after a
// conflict and applies the journal to it. A session that is gone or
// expired meanwhile was revoked: it stays so (ErrNotFound).
func (s *Session) reloadLocked(ctx context.Context) error {
	st := s.store
	r, err := st.persister.Load(ctx, s.base.ID)
	if err == nil && !st.clock().Before(r.ExpiresAt) {
		err = ErrNotFound
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			s.resetLocked()
		}
		return fmt.Errorf("qsessions: save session: reload after a conflict: %w", err)
	}
	return s.rebaseLocked(r)
}

type writeOp uint8

const (
	writeNothing writeOp = iota
	writeCreate
	writeUpdate
	writeEnd
)

// planLocked decides what a save at now writes, and the record it writes.
func (s *Session) planLocked(now time.Time) (writeOp, Record, error) {
	st := s.store
	if !s.isNew && len(s.journal) == 0 && now.Sub(s.base.UpdatedAt) < st.touch && now.Before(s.base.ExpiresAt) {
		// The common read-only request, decided without decoding
		// anything, unless the client moved.
		if _, _, moved := s.clientLocked(); !moved {
			return writeNothing, Record{}, nil
		}
	}
	if err := s.expiryMetaLocked(); err != nil {
		return writeNothing, Record{}, err
	}
	next := s.base
	var moved bool
	next.IP, next.UserAgent, moved = s.clientLocked()
	next.UpdatedAt, next.ExpiresAt = now, s.expiresAtLocked(now)
	if s.isNew {
		if (next.UserID == "" && len(s.values) == 0) || !now.Before(next.ExpiresAt) {
			return writeNothing, Record{}, nil
		}
		data, err := s.encodeLocked()
		next.Data = data
		return writeCreate, next, err
	}
	emptied := len(s.journal) > 0 && len(s.values) == 0 && next.UserID == ""
	if emptied || !now.Before(next.ExpiresAt) {
		return writeEnd, Record{}, nil
	}
	if len(s.journal) == 0 {
		if !moved && now.Sub(s.base.UpdatedAt) < st.touch {
			return writeNothing, Record{}, nil
		}
		// A touch: base.Data is written back as read. Update compares
		// versions, so this cannot undo a concurrent write of the values.
		return writeUpdate, next, nil
	}
	data, err := s.encodeLocked()
	next.Data = data
	return writeUpdate, next, err
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
	return s.meta(func(s *Session) string { return s.base.UserID })
}

// IP returns the client IP of the session: the current request's, as it
// will be recorded.
func (s *Session) IP() string {
	return s.meta(func(s *Session) string { ip, _, _ := s.clientLocked(); return ip })
}

// UserAgent returns the User-Agent of the session: the current request's,
// as it will be recorded.
func (s *Session) UserAgent() string {
	return s.meta(func(s *Session) string { _, ua, _ := s.clientLocked(); return ua })
}

func (s *Session) meta(f func(*Session) string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensureLocked() != nil {
		return ""
	}
	return f(s)
}

// CreatedAt returns when the session was created, or last given a new
// token by Login or Rotate.
func (s *Session) CreatedAt() time.Time { return s.times().CreatedAt }

// UpdatedAt returns when the session was last written: its last recorded
// activity.
func (s *Session) UpdatedAt() time.Time { return s.times().UpdatedAt }

// ExpiresAt returns when the session ends, as of its last write.
func (s *Session) ExpiresAt() time.Time { return s.times().ExpiresAt }

func (s *Session) times() Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensureLocked() != nil {
		return Record{}
	}
	return s.base
}

// Set stores value under key, JSON-encoded. Keys starting with "_session_"
// are reserved.
func (s *Session) Set(key string, value any) error {
	if strings.HasPrefix(key, reservedPrefix) {
		return fmt.Errorf("qsessions: set %q: %w", key, ErrReservedKey)
	}
	b, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("qsessions: set %q: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.valuesLocked(); err != nil {
		return err
	}
	if old, ok := s.values[key]; ok && bytes.Equal(old, b) {
		return nil
	}
	s.recordLocked(change{op: opSet, key: key, value: b})
	return nil
}

func (s *Session) valuesLocked() error {
	if err := s.ensureLocked(); err != nil {
		return err
	}
	return s.decodeLocked()
}

// Get decodes the value stored under key into dst, which must be a
// pointer, and reports whether there was one.
func (s *Session) Get(key string, dst any) (bool, error) {
	s.mu.Lock()
	raw, ok, err := s.rawLocked(key)
	s.mu.Unlock()
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return true, fmt.Errorf("qsessions: get %q: %w", key, err)
	}
	return true, nil
}

func (s *Session) rawLocked(key string) (json.RawMessage, bool, error) {
	if err := s.valuesLocked(); err != nil {
		return nil, false, err
	}
	raw, ok := s.values[key]
	return raw, ok, nil
}

// Has reports whether a value is stored under key.
func (s *Session) Has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok, _ := s.rawLocked(key)
	return ok
}

// Delete removes the value stored under key, if any.
func (s *Session) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.valuesLocked(); err != nil {
		return err
	}
	if _, ok := s.values[key]; ok {
		s.recordLocked(change{op: opDelete, key: key})
	}
	return nil
}

// Keys returns the keys of the stored values, sorted.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.valuesLocked() != nil {
		return nil
	}
	keys := make([]string, 0, len(s.values))
	for k := range s.values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Clear removes every value. The user binding stays; use Logout to end the
// session. Values that another request sets concurrently survive a Clear
// that saves first, as changes to different keys do.
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.valuesLocked(); err != nil {
		return err
	}
	if len(s.values) > 0 {
		s.recordLocked(change{op: opClear})
	}
	return nil
}

// SetMaxAge makes the session end d from now instead of after the Store's
// Lifetime, and its cookie persist across browser restarts. A d of zero or
// less ends the session when it is next saved.
func (s *Session) SetMaxAge(d time.Duration) error {
	return s.SetExpiresAt(s.store.clock().Add(d))
}

// SetExpiresAt makes the session end at t instead of after the Store's
// Lifetime; the zero t restores the default. A t in the past ends the
// session when it is next saved.
func (s *Session) SetExpiresAt(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.valuesLocked(); err != nil {
		return err
	}
	s.recordLocked(change{op: opExpiry, expiry: t.UTC().Truncate(time.Millisecond)})
	return nil
}

// SetExpireAtBrowserClose sets whether the session's cookie is dropped when
// the browser closes (it then has no Max-Age). The server still ends the
// session after its lifetime.
func (s *Session) SetExpireAtBrowserClose(on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.valuesLocked(); err != nil {
		return err
	}
	if s.browserClose != on {
		c := change{op: opExpiry, browserClose: on}
		if !on {
			c.expiry = s.customExpiry
		}
		s.recordLocked(c)
	}
	return nil
}

// ExpiresAtBrowserClose reports whether the session's cookie is dropped
// when the browser closes.
func (s *Session) ExpiresAtBrowserClose() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensureLocked() != nil || s.expiryMetaLocked() != nil {
		return false
	}
	return s.browserClose
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
// "passkey", "oauth:github", "impersonation"... (free text, at most
// MaxAuthMethod bytes of UTF-8 without control characters). The method is
// shown in the session list (SessionInfo.AuthMethod).
func (s *Session) LoginWith(ctx context.Context, userID, method string) error {
	if userID == "" {
		return fmt.Errorf("qsessions: login: %w", ErrNoUser)
	}
	if err := checkAuthMethod(method); err != nil {
		return err
	}
	return s.rotate(ctx, true, func() error {
		s.reauthenticated = s.base.UserID == userID
		if s.base.UserID != userID {
			// Nothing of one user's session leaks into another's: not
			// its values (an anonymous session's are kept), not its
			// device binding.
			if s.base.UserID != "" {
				clear(s.values)
			}
			s.base.Binding = nil
		}
		if err := s.store.enforceCap(ctx, userID); err != nil {
			return err
		}
		s.base.UserID = userID
		s.base.AuthenticatedAt, s.base.AuthMethod = s.store.clock(), method
		s.signedIn = true
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

// rotate ends the stored record under the current token, merging the
// journal into what it held, applies change, and stores the result under
// a new token. With login, a session revoked meanwhile is no obstacle: the
// sign-in starts a new one.
func (s *Session) rotate(ctx context.Context, login bool, change func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.valuesLocked(); err != nil {
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
	now := st.clock()
	s.token = ""
	s.ensureTokenLocked()
	s.isNew, s.journal = true, nil
	s.base.CreatedAt, s.base.Version = now, 0
	if s.committed {
		s.late = true
	}
	if s.base.UserID == "" && len(s.values) == 0 {
		return nil // an empty session has nothing to store yet
	}
	if _, err := s.saveLocked(ctx, false); err != nil {
		// The old record is ended and the new one not stored: leave
		// nothing that a later save could store as signed in.
		s.resetLocked()
		s.signedIn = false
		return err
	}
	return nil
}

// sealLocked ends the stored record for a rotation. The end is a
// compare-and-swap, retried after a reload, so that a change another
// request saved meanwhile is carried into the new record rather than lost.
// The old record is then deleted; its cache entry is evicted before the
// seal returns.
func (s *Session) sealLocked(ctx context.Context) error {
	st := s.store
	for attempt := 1; ; attempt++ {
		err := st.end(ctx, s.base, st.clock())
		var evict *evictError
		if err == nil || (errors.As(err, &evict) && s.base.UserID == "") {
			// A stale cache copy of an anonymous session binds no
			// user, so failing to evict it must not block a sign-in;
			// the Store retries the eviction. A copy that carries a
			// user must go, or the rotation is not done.
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			if errors.Is(err, ErrNotFound) {
				vals := s.values
				s.resetLocked()
				s.values = vals
			}
			return err
		}
		if attempt == maxSaveAttempts {
			return fmt.Errorf("qsessions: rotate session: still conflicting after %d attempts: %w", attempt, err)
		}
		if err := afterConflict(ctx, attempt); err != nil {
			return fmt.Errorf("qsessions: rotate session: %w", err)
		}
		if err := s.reloadLocked(ctx); err != nil {
			return err
		}
	}
}

// Logout deletes the stored session and leaves s a new, empty, anonymous
// session; the middleware deletes the cookie unless something is stored in
// it before the response.
func (s *Session) Logout(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureLocked(); err != nil {
		return err
	}
	if !s.isNew {
		if err := s.store.destroy(ctx, s.base.ID); err != nil {
			return err
		}
	}
	s.resetLocked()
	s.sendCookie = false
	if s.committed {
		s.late = true
	}
	return nil
}

// Save writes s if it changed, or if its last activity is older than the
// TouchInterval. Middleware calls it for you.
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
	if s.signedIn && !s.isNew {
		s.signedIn = false
		s.store.afterLogin(ctx, s.base, s.reauthenticated)
	}
}
