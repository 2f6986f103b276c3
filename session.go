package qsessions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
type Session struct {
	mu    sync.Mutex
	store *Store
	ctx   context.Context // for the lazy load

	pending string // token from the request, until loaded
	loaded  bool
	err     error // sticky load error

	token string // "" until one is needed
	rec   Record // as stored, or as it will be stored for a new session
	isNew bool   // not in the Persister

	values       map[string]json.RawMessage // nil until decoded
	browserClose bool
	customExpiry time.Time // zero: CreatedAt + Lifetime

	observed   bool
	observedIP netip.Addr // invalid: none
	observedUA string

	dataChanged   bool // values or expiry changed: Data must be re-encoded
	changed       bool // something the Persister holds changed
	expiryChanged bool // the cookie must be sent again
	issued        bool // a new token was stored: the cookie must be sent
	ended         bool // the stored session is gone (logged out, revoked, emptied)
	accessed      bool
	hadCookie     bool
	committed     bool // the middleware has saved; the response has started
	late          bool // changed after committed: the change cannot be saved
}

// modifiedLocked records a change to something the Persister holds.
func (s *Session) modifiedLocked() {
	s.dataChanged, s.changed = true, true
	if s.committed {
		s.late = true
	}
}

// ensure loads the session on first use. Callers hold s.mu.
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
	r, found, err := s.store.load(ctx, s.pending, s.store.clock())
	if err != nil {
		s.err = err
		return err
	}
	if found {
		s.token, s.rec = s.pending, r
	} else {
		s.resetLocked()
	}
	s.pending = ""
	if s.observed {
		s.applyObservationLocked()
	}
	return nil
}

// resetLocked turns s into a new, empty session with no token yet.
func (s *Session) resetLocked() {
	now := s.store.clock()
	s.token = ""
	s.rec = Record{CreatedAt: now, UpdatedAt: now}
	s.rec.ExpiresAt = now.Add(s.store.lifetime)
	s.isNew = true
	s.values = map[string]json.RawMessage{}
	s.browserClose = s.store.browserClose
	s.customExpiry = time.Time{}
	s.changed, s.dataChanged = false, false
}

// observe records what the current request says about the client; it is
// applied when the session loads.
func (s *Session) observe(ip netip.Addr, ua string) {
	s.observed, s.observedIP, s.observedUA = true, ip, ua
}

func (s *Session) applyObservationLocked() {
	// Compare addresses, not strings, so that an unchanged IP costs no
	// allocation.
	if !s.observedIP.IsValid() {
		if s.rec.IP != "" {
			s.rec.IP = ""
			s.changed = true
		}
	} else if cur, err := netip.ParseAddr(s.rec.IP); err != nil || cur != s.observedIP {
		s.rec.IP = s.observedIP.String()
		s.changed = true
	}
	if s.rec.UserAgent != s.observedUA {
		s.rec.UserAgent = s.observedUA
		s.changed = true
	}
}

// ensureToken gives a new session its token and ID.
func (s *Session) ensureTokenLocked() {
	if s.token == "" {
		s.token = newToken()
		s.rec.ID = hashToken(s.token)
	}
}

// decodeLocked decodes the values on first access to them.
func (s *Session) decodeLocked() error {
	if s.values != nil {
		return nil
	}
	values := map[string]json.RawMessage{}
	if len(s.rec.Data) > 0 {
		if err := json.Unmarshal(s.rec.Data, &values); err != nil {
			return fmt.Errorf("qsessions: session %s: corrupt values: %w", s.rec.ID, err)
		}
	}
	if raw, ok := values[expiryKey]; ok {
		delete(values, expiryKey)
		if string(raw) == "0" {
			s.browserClose = true
		} else {
			var t time.Time
			if err := json.Unmarshal(raw, &t); err != nil {
				return fmt.Errorf("qsessions: session %s: corrupt %s: %w", s.rec.ID, expiryKey, err)
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
	if s.values != nil || !bytes.Contains(s.rec.Data, expiryMarker) {
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
	exp := s.rec.CreatedAt.Add(s.store.lifetime)
	if !s.customExpiry.IsZero() {
		exp = s.customExpiry
	}
	if s.store.idle > 0 {
		if idle := now.Add(s.store.idle); idle.Before(exp) {
			exp = idle
		}
	}
	return exp
}

// save writes the session if it needs writing. With detach, the writes
// ignore ctx's cancellation (the middleware saves work that a handler has
// done even if the client went away). Callers hold s.mu.
func (s *Session) saveLocked(ctx context.Context, detach bool) error {
	if !s.loaded {
		return nil // never used: nothing to write
	}
	if s.err != nil {
		return s.err
	}
	st := s.store
	now := st.clock()
	if !s.isNew && !s.changed && now.Sub(s.rec.UpdatedAt) < st.touch && now.Before(s.rec.ExpiresAt) {
		return nil // the common read-only request: nothing to write
	}
	if detach {
		ctx = context.WithoutCancel(ctx)
	}
	if err := s.expiryMetaLocked(); err != nil {
		return err
	}
	exp := s.expiresAtLocked(now)
	if s.isNew {
		if s.rec.UserID == "" && len(s.values) == 0 {
			return nil // Django does not store empty sessions either
		}
		if !now.Before(exp) {
			return nil
		}
	} else {
		emptied := s.dataChanged && s.values != nil && len(s.values) == 0 && s.rec.UserID == ""
		if emptied || !now.Before(exp) {
			if err := st.destroy(ctx, s.rec.ID); err != nil {
				return err
			}
			s.endLocked()
			return nil
		}
		if !s.changed && now.Sub(s.rec.UpdatedAt) < st.touch {
			return nil
		}
	}
	r := s.rec
	r.UpdatedAt, r.ExpiresAt = now, exp
	if s.dataChanged || s.isNew {
		data, err := s.encodeLocked()
		if err != nil {
			return err
		}
		r.Data = data
	}
	if s.isNew {
		s.ensureTokenLocked()
		r.ID = s.rec.ID
	}
	if err := st.write(ctx, r, s.isNew, now); err != nil {
		if errors.Is(err, ErrNotFound) {
			s.endLocked()
		}
		return err
	}
	if s.isNew {
		s.issued = true
	} else {
		r.Version++
	}
	s.rec, s.isNew = r, false
	s.changed, s.dataChanged = false, false
	return nil
}

// endLocked records that the stored session is gone and starts over empty.
func (s *Session) endLocked() {
	s.resetLocked()
	s.ended = true
	s.issued, s.expiryChanged = false, false
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
	return s.rec.ID
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
	return s.meta(func(r *Record) string { return r.UserID })
}

// IP returns the client IP last recorded for the session.
func (s *Session) IP() string { return s.meta(func(r *Record) string { return r.IP }) }

// UserAgent returns the User-Agent last recorded for the session.
func (s *Session) UserAgent() string {
	return s.meta(func(r *Record) string { return r.UserAgent })
}

func (s *Session) meta(f func(*Record) string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensureLocked() != nil {
		return ""
	}
	return f(&s.rec)
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
	return s.rec
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
	s.values[key] = b
	s.modifiedLocked()
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
		delete(s.values, key)
		s.modifiedLocked()
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
// session.
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.valuesLocked(); err != nil {
		return err
	}
	if len(s.values) > 0 {
		clear(s.values)
		s.modifiedLocked()
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
	s.customExpiry = t.UTC().Truncate(time.Millisecond)
	s.browserClose = false
	s.expiryChanged = true
	s.modifiedLocked()
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
		s.browserClose = on
		if on {
			s.customExpiry = time.Time{}
		}
		s.expiryChanged = true
		s.modifiedLocked()
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
// once. The old token's record is deleted first, so a token planted before
// login (session fixation) is worthless after it. Values are kept, unless
// the session belonged to another user: then they are cleared, so that
// nothing of one user's session leaks into another's.
func (s *Session) Login(ctx context.Context, userID string) error {
	if userID == "" {
		return fmt.Errorf("qsessions: login: %w", ErrNoUser)
	}
	return s.rotate(ctx, func() error {
		if s.rec.UserID != "" && s.rec.UserID != userID {
			clear(s.values)
		}
		s.rec.UserID = userID
		return nil
	})
}

// Rotate gives the session a new token, keeping its values and user, and
// deletes the record stored under the old one. Call it when privileges
// change; Login does it for you.
func (s *Session) Rotate(ctx context.Context) error {
	return s.rotate(ctx, func() error { return nil })
}

func (s *Session) rotate(ctx context.Context, change func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.valuesLocked(); err != nil {
		return err
	}
	if !s.isNew {
		// A stale cache copy of an anonymous session binds no user, so
		// failing to evict it must not block a sign-in; the Store retries
		// the eviction. A copy that carries a user must go, or the
		// rotation is not done.
		var evict *evictError
		if err := s.store.destroy(ctx, s.rec.ID); err != nil && !(errors.As(err, &evict) && s.rec.UserID == "") {
			return err
		}
	}
	if err := change(); err != nil {
		return err
	}
	now := s.store.clock()
	s.token = ""
	s.ensureTokenLocked()
	s.isNew, s.ended = true, false
	s.rec.CreatedAt = now
	s.modifiedLocked()
	if s.rec.UserID == "" && len(s.values) == 0 {
		return nil // an empty session has nothing to store yet
	}
	return s.saveLocked(ctx, false)
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
		if err := s.store.destroy(ctx, s.rec.ID); err != nil {
			return err
		}
	}
	ip, ua := s.rec.IP, s.rec.UserAgent
	s.endLocked()
	if s.committed {
		s.late = true
	}
	s.rec.IP, s.rec.UserAgent = ip, ua
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
	return s.saveLocked(ctx, false)
}
