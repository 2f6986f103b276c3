package qsessions

import (
	"context"
	"errors"
	"fmt"
)

// Binding returns the device-binding state of the session with the given
// ID (package dbsc keeps it there), read from the Persister: nil when the
// session is not bound, an error wrapping ErrNotFound when it does not
// exist, was revoked or has expired.
func (st *Store) Binding(ctx context.Context, id string) ([]byte, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("qsessions: binding of %q: %w", id, ErrInvalidID)
	}
	r, err := st.persister.Load(ctx, id)
	if err == nil && !st.clock().Before(r.ExpiresAt) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("qsessions: binding: %w", err)
	}
	return r.Binding, nil
}

// UpdateBinding replaces the device-binding state of the session id with
// f(current). It is a compare-and-swap on the session's record, retried
// after a reload when another write lands first, so f may run more than
// once and must not have side effects; an error from f aborts the update
// and is returned wrapped. Concurrent writes of the session's values keep
// the new binding, and the session's cache entry is evicted before
// UpdateBinding returns, so that no process reads the old state. It returns
// an error wrapping ErrNotFound when the session does not exist, was
// revoked or has expired.
func (st *Store) UpdateBinding(ctx context.Context, id string, f func(cur []byte) ([]byte, error)) error {
	if !ValidID(id) {
		return fmt.Errorf("qsessions: update binding of %q: %w", id, ErrInvalidID)
	}
	for attempt := 1; ; attempt++ {
		r, err := st.persister.Load(ctx, id)
		if err == nil && !st.clock().Before(r.ExpiresAt) {
			err = ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("qsessions: update binding: %w", err)
		}
		next, err := f(r.Binding)
		if err != nil {
			return fmt.Errorf("qsessions: update binding: %w", err)
		}
		r.Binding = next
		err = st.update(ctx, r)
		if !errors.Is(err, ErrConflict) {
			return err
		}
		if attempt == maxSaveAttempts {
			return fmt.Errorf("qsessions: update binding: still conflicting after %d attempts: %w", attempt, err)
		}
		if err := afterConflict(ctx, attempt); err != nil {
			return fmt.Errorf("qsessions: update binding: %w", err)
		}
	}
}

// Binding returns the session's device-binding state (package dbsc keeps
// it there), or nil. Reading it does not count as using the session: it
// alone neither saves the session nor touches it, nor adds Vary: Cookie,
// so that a request refused for its binding records nothing.
func (s *Session) Binding() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	accessed := s.accessed
	err := s.ensureLocked()
	s.accessed = accessed
	if err != nil || s.isNew {
		return nil
	}
	return s.base.Binding
}

// Drop makes s, for the rest of the request, a new, empty, anonymous
// session, as if its record had been revoked, without writing anything:
// package dbsc uses it to serve a request whose device binding it could
// not verify as signed out. The stored session is untouched; the response
// deletes the cookie only if the handler then stores nothing new.
func (s *Session) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	accessed := s.accessed
	if s.ensureLocked() != nil {
		s.accessed = accessed
		return
	}
	s.accessed = accessed
	s.resetLocked()
	s.signedIn = false
}

// DeviceBound reports whether the session is bound to a device key
// (package dbsc): its long-lived cookie alone does not sign it in.
func (i SessionInfo) DeviceBound() bool { return len(i.binding) > 0 }
