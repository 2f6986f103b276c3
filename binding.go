package qsessions

import (
	"context"
	"fmt"

	"github.com/qsessions/qsessions/internal/binding"
)

// Package dbsc keeps a session's device-binding state in its metadata,
// through the functions of package internal/binding.
func init() {
	binding.Load = func(st any, ctx context.Context, id string) ([]byte, error) {
		return st.(*Store).loadBinding(ctx, id)
	}
	binding.Update = func(st any, ctx context.Context, id string, f func([]byte) ([]byte, error)) error {
		return st.(*Store).updateBinding(ctx, id, f)
	}
	binding.Of = func(s any) []byte { return s.(*Session).binding() }
	binding.Drop = func(s any) { s.(*Session).drop() }
	binding.InMeta = func(b []byte) ([]byte, error) {
		var m meta
		err := parseMeta(b, &m)
		return m.binding, err
	}
	binding.SetInMeta = func(b, bind []byte) ([]byte, error) {
		var m meta
		if err := parseMeta(b, &m); err != nil {
			return nil, err
		}
		m.binding = bind
		return m.encode(), nil
	}
}

// loadLive reads the live record id from the Persister.
func (st *Store) loadLive(ctx context.Context, id string) (Record, error) {
	if !st.validToken(id) {
		return Record{}, ErrInvalidID
	}
	r, err := st.persister.Load(ctx, id)
	if err == nil && !st.clock().Before(r.ExpiresAt) {
		err = ErrNotFound
	}
	return r, err
}

func (st *Store) loadBinding(ctx context.Context, id string) ([]byte, error) {
	r, err := st.loadLive(ctx, id)
	var m meta
	if err == nil {
		err = parseMeta(r.Meta, &m)
	}
	if err != nil {
		return nil, fmt.Errorf("qsessions: binding of %.8s: %w", id, err)
	}
	return m.binding, nil
}

func (st *Store) updateBinding(ctx context.Context, id string, f func([]byte) ([]byte, error)) error {
	r, err := st.loadLive(ctx, id)
	if err != nil {
		return fmt.Errorf("qsessions: update binding of %.8s: %w", id, err)
	}
	plan := planFunc(func(cur *Record) (writeOp, Record, error) {
		var m meta
		if err := parseMeta(cur.Meta, &m); err != nil {
			return writeNothing, Record{}, err
		}
		b, err := f(append([]byte(nil), m.binding...))
		if err != nil {
			return writeNothing, Record{}, err
		}
		m.binding = b
		next := *cur
		next.Meta = m.encode()
		return writeUpdate, next, nil
	})
	op, next, err := plan(&r)
	if err != nil {
		return fmt.Errorf("qsessions: update binding: %w", err)
	}
	_, err = st.readModifyWrite(ctx, "update binding", &r, op, next, plan)
	return err
}

// binding returns the session's device-binding state, or nil, without
// counting as a use of the session.
func (s *Session) binding() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	accessed := s.accessed
	err := s.ensureLocked()
	s.accessed = accessed
	if err != nil || s.isNew || s.metaLocked() != nil {
		return nil
	}
	return s.meta.binding
}

// drop makes s, for the rest of the request, a new, empty, anonymous
// session, as if its record had been revoked, without writing anything:
// package dbsc serves a request whose device binding it could not verify
// as signed out. The stored session is untouched; the response deletes the
// cookie only if the handler then stores nothing new.
func (s *Session) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	accessed := s.accessed
	err := s.ensureLocked()
	s.accessed = accessed
	if err != nil {
		return
	}
	s.resetLocked()
	s.login = noLogin
}
