package conformance

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/qsessions/qsessions"
)

// fakePersister is a small map-based Persister that keeps the contract when
// bug is "", and breaks one sentence of it otherwise. The suite's self-test
// checks that each bug is caught by the subtests it names.
type fakePersister struct {
	bug  string
	stop chan struct{} // closed when the test ends; releases hung calls

	mu   sync.Mutex
	rows map[string]qsessions.Record
	// For StaleExpiryIndex and StaleUserIndex: index entries that Update
	// adds but never removes, as a hand-made index that forgets to.
	expiryIndex map[string][]time.Time
	userIndex   map[string][]string
}

func newFakePersister(bug string, stop chan struct{}) *fakePersister {
	return &fakePersister{bug: bug, stop: stop, rows: map[string]qsessions.Record{},
		expiryIndex: map[string][]time.Time{}, userIndex: map[string][]string{}}
}

var _ qsessions.Persister = (*fakePersister)(nil)

func (p *fakePersister) ctxErr(ctx context.Context) error {
	switch p.bug {
	case "IgnoresCtx", "WritesDespiteCanceled":
		return nil
	case "CtxErrorNotWrapped":
		if err := ctx.Err(); err != nil {
			return errors.New("persister: " + err.Error())
		}
		return nil
	}
	return ctx.Err()
}

// afterWrite returns ctx's error after a write, for "WritesDespiteCanceled"
// and "ChecksCtxAfterWrite".
func (p *fakePersister) afterWrite(ctx context.Context) error {
	if p.bug == "WritesDespiteCanceled" || p.bug == "ChecksCtxAfterWrite" {
		return ctx.Err()
	}
	return nil
}

// in stores a copy of r, as broken as the bug makes it.
func (p *fakePersister) in(r qsessions.Record) qsessions.Record {
	if p.bug != "RetainsInputData" {
		r = r.Clone()
	}
	switch p.bug {
	case "SecondPrecision":
		r.CreatedAt = r.CreatedAt.Truncate(time.Second)
		r.UpdatedAt = r.UpdatedAt.Truncate(time.Second)
		r.ExpiresAt = r.ExpiresAt.Truncate(time.Second)
	case "NotBinarySafe":
		r.Data = []byte(strings.ToValidUTF8(string(r.Data), "\uFFFD"))
	case "StopsAtNUL":
		if i := slices.Index(r.Data, 0); i >= 0 {
			r.Data = r.Data[:i]
		}
	case "CapsData":
		if len(r.Data) > 64<<10 {
			r.Data = r.Data[:64<<10]
		}
	case "ASCIIOnly":
		r.UserID, r.UserAgent = asciiOnly(r.UserID), asciiOnly(r.UserAgent)
	case "TruncatesUserAgent":
		for len(r.UserAgent) > 255 {
			_, n := utf8.DecodeLastRuneInString(r.UserAgent)
			r.UserAgent = r.UserAgent[:len(r.UserAgent)-n]
		}
	case "DropsAuth":
		r.AuthenticatedAt, r.AuthMethod = time.Time{}, ""
	case "DefaultsEmptyIP":
		if r.IP == "" {
			r.IP = "0.0.0.0"
		}
	}
	return r
}

func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= utf8.RuneSelf {
			return '?'
		}
		return r
	}, s)
}

// out returns a copy of a stored record, as broken as the bug makes it.
func (p *fakePersister) out(r qsessions.Record, shared bool) qsessions.Record {
	if !shared {
		r = r.Clone()
	}
	if p.bug == "LocalTime" {
		zone := time.FixedZone("UTC+2", 2*60*60)
		r.CreatedAt, r.UpdatedAt, r.ExpiresAt = r.CreatedAt.In(zone), r.UpdatedAt.In(zone), r.ExpiresAt.In(zone)
	}
	return r
}

func (p *fakePersister) Load(ctx context.Context, id string) (qsessions.Record, error) {
	if err := p.ctxErr(ctx); err != nil {
		return qsessions.Record{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.rows[id]
	if ok && p.bug == "LoadSkipsExpired" && r.ExpiresAt.Before(time.Now()) {
		ok = false
	}
	if !ok {
		switch p.bug {
		case "LoadMissingNoError":
			return qsessions.Record{}, nil
		case "LoadPanics":
			panic("persister: no row " + id)
		}
		return qsessions.Record{}, qsessions.ErrNotFound
	}
	return p.out(r, p.bug == "SharesLoadData"), nil
}

func (p *fakePersister) Create(ctx context.Context, r qsessions.Record) error {
	if err := p.ctxErr(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.rows[r.ID]; ok {
		switch p.bug {
		case "CreateOverwrites":
			p.rows[r.ID] = p.in(r)
			return nil
		case "CreateOverwritesReportsExists":
			p.rows[r.ID] = p.in(r)
		case "CreateWrongError":
			return errors.New("persister: duplicate key")
		}
		return qsessions.ErrExists
	}
	if p.bug == "RacyCreate" {
		p.mu.Unlock()
		time.Sleep(5 * time.Millisecond) // long enough for the racers to overlap on a loaded machine
		p.mu.Lock()
	}
	r = p.in(r)
	if p.bug == "CreateIgnoresVersion" {
		r.Version = 1
	}
	p.rows[r.ID] = r
	p.index(r)
	return p.afterWrite(ctx)
}

func (p *fakePersister) Update(ctx context.Context, r qsessions.Record) error {
	if err := p.ctxErr(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.rows[r.ID]
	if !ok {
		switch p.bug {
		case "UpdateInserts":
			p.rows[r.ID] = p.in(r)
			return nil
		case "UpdateMissingNoError":
			return nil
		}
		return qsessions.ErrNotFound
	}
	if p.bug == "RacyUpdate" {
		p.mu.Unlock()
		time.Sleep(5 * time.Millisecond) // long enough for the racers to overlap on a loaded machine
		p.mu.Lock()
	}
	if old.Version != r.Version && p.bug != "UpdateIgnoresVersion" {
		switch p.bug {
		case "UpdateConflictBumps":
			old.Version++
			p.rows[r.ID] = old
		case "UpdateConflictWrongError":
			return errors.New("persister: version mismatch")
		case "UpdateConflictWrites":
			next := p.in(r)
			next.Version = old.Version + 1
			p.rows[r.ID] = next
		}
		return qsessions.ErrConflict
	}
	next := p.in(r)
	next.Version = old.Version + 1
	switch p.bug {
	case "UpdateKeepsUserID":
		next.UserID = old.UserID
	case "UpdateKeepsMetadata":
		next.IP, next.UserAgent, next.CreatedAt = old.IP, old.UserAgent, old.CreatedAt
	case "UpdateKeepsVersion":
		next.Version = old.Version
	case "UpdateKeepsAuth":
		next.AuthenticatedAt, next.AuthMethod, next.Binding = old.AuthenticatedAt, old.AuthMethod, old.Binding
	case "UpdateIgnoresVersion":
		next.Version = r.Version + 1
	}
	p.rows[r.ID] = next
	p.index(next)
	return p.afterWrite(ctx)
}

// index adds r's entries to the stale indexes; p.mu is held.
func (p *fakePersister) index(r qsessions.Record) {
	p.expiryIndex[r.ID] = append(p.expiryIndex[r.ID], r.ExpiresAt)
	p.userIndex[r.ID] = append(p.userIndex[r.ID], r.UserID)
}

// expiredByIndex reports whether r is expired before before, as the stale
// index sees it: by any expiry r ever had.
func (p *fakePersister) expiredByIndex(r qsessions.Record, before time.Time) bool {
	if p.bug != "StaleExpiryIndex" {
		return r.ExpiresAt.Before(before)
	}
	return slices.ContainsFunc(p.expiryIndex[r.ID], func(t time.Time) bool { return t.Before(before) })
}

// userByIndex reports whether r belongs to userID, as the stale index sees
// it: by any user r ever had.
func (p *fakePersister) userByIndex(r qsessions.Record, userID string) bool {
	if p.bug != "StaleUserIndex" {
		return r.UserID == userID
	}
	return slices.Contains(p.userIndex[r.ID], userID)
}

func (p *fakePersister) Delete(ctx context.Context, ids ...string) error {
	if err := p.ctxErr(ctx); err != nil {
		return err
	}
	if p.bug == "DeleteFirstIDOnly" {
		ids = ids[:min(len(ids), 1)]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var missing bool
	for _, id := range ids {
		if _, ok := p.rows[id]; !ok {
			missing = true
		}
		delete(p.rows, id)
	}
	if missing && p.bug == "DeleteMissingErrors" {
		return qsessions.ErrNotFound
	}
	return p.afterWrite(ctx)
}

func (p *fakePersister) ListByUser(ctx context.Context, userID string) ([]qsessions.Record, error) {
	if err := p.ctxErr(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []qsessions.Record{}
	for _, r := range p.rows {
		match := p.userByIndex(r, userID)
		switch p.bug {
		case "ListPrefixMatch":
			match = strings.HasPrefix(r.UserID, userID)
		case "ListCaseInsensitive":
			match = strings.EqualFold(r.UserID, userID)
		}
		if match {
			out = append(out, p.out(r, p.bug == "SharesListData"))
		}
	}
	if len(out) == 0 && p.bug == "ListEmptyNotFound" {
		return nil, qsessions.ErrNotFound
	}
	slices.SortFunc(out, func(a, b qsessions.Record) int {
		switch p.bug {
		case "ListOldestFirst":
			return a.UpdatedAt.Compare(b.UpdatedAt)
		case "ListByCreatedAt":
			return b.CreatedAt.Compare(a.CreatedAt)
		case "ListSecondPrecision":
			return b.UpdatedAt.Truncate(time.Second).Compare(a.UpdatedAt.Truncate(time.Second))
		}
		if p.bug == "ListTiesDescending" {
			return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), cmp.Compare(b.ID, a.ID))
		}
		return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (p *fakePersister) DeleteByUser(ctx context.Context, userID string, except ...string) ([]string, error) {
	if err := p.ctxErr(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	deleted := []string{}
	var kept []string
	for id, r := range p.rows {
		match := p.userByIndex(r, userID)
		if p.bug == "DeleteByUserPrefixMatch" {
			match = strings.HasPrefix(r.UserID, userID)
		}
		if !match {
			continue
		}
		if slices.Contains(except, id) && p.bug != "DeleteByUserIgnoresExcept" {
			kept = append(kept, id)
			continue
		}
		delete(p.rows, id)
		deleted = append(deleted, id)
	}
	switch p.bug {
	case "DeleteByUserReturnsNothing":
		return nil, p.afterWrite(ctx)
	case "DeleteByUserReturnsKept":
		deleted = append(deleted, kept...)
	}
	return deleted, p.afterWrite(ctx)
}

func (p *fakePersister) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := p.ctxErr(ctx); err != nil {
		return 0, err
	}
	if p.bug == "DeleteExpiredHangs" {
		<-p.stop
		return 0, errors.New("persister: released")
	}
	switch p.bug {
	case "DeleteExpiredIgnoresLimit":
		limit = 0
	case "DeleteExpiredUsesNow":
		before = time.Now()
	case "DeleteExpiredZeroLimitDeletesNone":
		if limit <= 0 {
			return 0, nil
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var expired []qsessions.Record
	for _, r := range p.rows {
		if p.expiredByIndex(r, before) || (p.bug == "DeleteExpiredInclusive" && r.ExpiresAt.Equal(before)) {
			expired = append(expired, r)
		}
	}
	slices.SortFunc(expired, func(a, b qsessions.Record) int {
		if p.bug == "DeleteExpiredNewestFirst" {
			return b.ExpiresAt.Compare(a.ExpiresAt)
		}
		return a.ExpiresAt.Compare(b.ExpiresAt)
	})
	found := len(expired)
	if limit > 0 && len(expired) > limit {
		expired = expired[:limit]
	}
	for _, r := range expired {
		delete(p.rows, r.ID)
	}
	if p.bug == "DeleteExpiredCountsFound" {
		return found, p.afterWrite(ctx)
	}
	return len(expired), p.afterWrite(ctx)
}
