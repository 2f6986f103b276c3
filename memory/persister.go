package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/listorder"
)

var _ qsessions.Persister = (*Persister)(nil)

// A Persister is an in-memory [qsessions.Persister], indexed by ID and by
// user. The zero Persister is not usable; call [NewPersister].
type Persister struct {
	mu     sync.RWMutex
	byID   map[string]qsessions.Record
	byUser map[string]map[string]struct{}
}

// NewPersister returns an empty Persister.
func NewPersister() *Persister {
	return &Persister{
		byID:   make(map[string]qsessions.Record),
		byUser: make(map[string]map[string]struct{}),
	}
}

// Load returns a copy of the record with the given ID, or an error wrapping
// [qsessions.ErrNotFound].
func (p *Persister) Load(ctx context.Context, id string) (qsessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return qsessions.Record{}, fmt.Errorf("memory: load: %w", err)
	}
	p.mu.RLock()
	r, ok := p.byID[id]
	p.mu.RUnlock()
	if !ok {
		return qsessions.Record{}, fmt.Errorf("memory: load %q: %w", id, qsessions.ErrNotFound)
	}
	return clone(r), nil
}

// Create stores a copy of r, or returns an error wrapping
// [qsessions.ErrExists] when its ID is taken.
func (p *Persister) Create(ctx context.Context, r qsessions.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: create: %w", err)
	}
	if r.ID == "" {
		return fmt.Errorf("memory: create: empty record ID")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.byID[r.ID]; ok {
		return fmt.Errorf("memory: create %q: %w", r.ID, qsessions.ErrExists)
	}
	p.put(normalize(r))
	return nil
}

// Update replaces the record with r's ID when its version is r.Version, and
// stores it as version r.Version+1. It returns an error wrapping
// [qsessions.ErrConflict] when the stored version differs, or
// [qsessions.ErrNotFound] when there is no such record, and then stores
// nothing.
func (p *Persister) Update(ctx context.Context, r qsessions.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: update: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.byID[r.ID]
	if !ok {
		return fmt.Errorf("memory: update %q: %w", r.ID, qsessions.ErrNotFound)
	}
	if old.Version != r.Version {
		return fmt.Errorf("memory: update %q: stored version %d, not %d: %w", r.ID, old.Version, r.Version, qsessions.ErrConflict)
	}
	p.unindex(old)
	r = normalize(r)
	r.Version++
	p.put(r)
	return nil
}

// Delete removes the records with the given IDs; missing IDs are ignored.
func (p *Persister) Delete(ctx context.Context, ids ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: delete: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		if r, ok := p.byID[id]; ok {
			p.remove(r)
		}
	}
	return nil
}

// ListByUser returns copies of userID's records, newest UpdatedAt first.
func (p *Persister) ListByUser(ctx context.Context, userID string) ([]qsessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: list: %w", err)
	}
	p.mu.RLock()
	out := make([]qsessions.Record, 0, len(p.byUser[userID]))
	for id := range p.byUser[userID] {
		out = append(out, clone(p.byID[id]))
	}
	p.mu.RUnlock()
	slices.SortFunc(out, listorder.Compare)
	return out, nil
}

// DeleteByUser removes userID's records except those listed in except and
// returns the removed IDs.
func (p *Persister) DeleteByUser(ctx context.Context, userID string, except ...string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: delete by user: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	deleted := []string{}
	for id := range p.byUser[userID] {
		if slices.Contains(except, id) {
			continue
		}
		deleted = append(deleted, id)
	}
	for _, id := range deleted {
		p.remove(p.byID[id])
	}
	slices.Sort(deleted)
	return deleted, nil
}

// DeleteExpired removes the records whose ExpiresAt is before before.
func (p *Persister) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: delete expired: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.byID {
		if r.ExpiresAt.Before(before) {
			p.remove(r)
			n++
		}
	}
	return n, nil
}

// Len returns the number of records held. It is meant for tests.
func (p *Persister) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.byID)
}

func (p *Persister) put(r qsessions.Record) {
	p.byID[r.ID] = r
	ids := p.byUser[r.UserID]
	if ids == nil {
		ids = make(map[string]struct{})
		p.byUser[r.UserID] = ids
	}
	ids[r.ID] = struct{}{}
}

func (p *Persister) remove(r qsessions.Record) {
	delete(p.byID, r.ID)
	p.unindex(r)
}

func (p *Persister) unindex(r qsessions.Record) {
	ids := p.byUser[r.UserID]
	delete(ids, r.ID)
	if len(ids) == 0 {
		delete(p.byUser, r.UserID)
	}
}

// clone returns a copy of r that shares no memory with it: Data and Meta
// in one allocation, each with its own capacity.
func clone(r qsessions.Record) qsessions.Record {
	if r.Data == nil && r.Meta == nil {
		return r
	}
	n := len(r.Data)
	buf := make([]byte, n+len(r.Meta))
	copy(buf, r.Data)
	copy(buf[n:], r.Meta)
	if r.Data != nil {
		r.Data = buf[:n:n]
	}
	if r.Meta != nil {
		r.Meta = buf[n:]
	}
	return r
}

// normalize copies r and stores its times in UTC without monotonic readings,
// as a database would.
func normalize(r qsessions.Record) qsessions.Record {
	r = clone(r)
	r.UpdatedAt = r.UpdatedAt.UTC().Round(0)
	r.ExpiresAt = r.ExpiresAt.UTC().Round(0)
	return r
}
