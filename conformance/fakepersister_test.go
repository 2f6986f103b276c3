package conformance

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	seq  map[string]int64 // for ListNewestCreatedFirst: the order of Creates
	next int64

	sweeps atomic.Int64 // for DeleteExpiredCountsFound: sweeps that found their records
	// For StaleExpiryIndex and StaleUserIndex: index entries that Update
	// adds but never removes, as a hand-made index that forgets to.
	expiryIndex map[string][]time.Time
	userIndex   map[string][]string
}

// fakeBatch is how many records the fake's batching DeleteExpired bugs
// remove per batch: fewer than the self-test's DeleteExpired subtests
// sweep.
const fakeBatch = 16

func newFakePersister(bug string, stop chan struct{}) *fakePersister {
	return &fakePersister{bug: bug, stop: stop, rows: map[string]qsessions.Record{}, seq: map[string]int64{},
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
		r.Data = bytes.Clone(r.Data)
	}
	if p.bug != "RetainsInputMeta" {
		r.Meta = bytes.Clone(r.Meta)
	}
	switch p.bug {
	case "SecondPrecision":
		r.UpdatedAt = r.UpdatedAt.Truncate(time.Second)
		r.ExpiresAt = r.ExpiresAt.Truncate(time.Second)
	case "ZeroTimeAsEpoch":
		for _, t := range recordTimes(&r) {
			if t.IsZero() {
				*t = time.UnixMilli(0).UTC()
			}
		}
	case "NotBinarySafe":
		r.Data = []byte(strings.ToValidUTF8(string(r.Data), "\uFFFD"))
	case "MetaAsText":
		r.Meta = []byte(strings.ToValidUTF8(string(r.Meta), "\uFFFD"))
	case "StopsAtNUL":
		if i := bytes.IndexByte(r.Data, 0); i >= 0 {
			r.Data = r.Data[:i]
		}
	case "CapsData":
		if len(r.Data) > 64<<10 {
			r.Data = r.Data[:64<<10]
		}
	case "CapsMeta":
		if len(r.Meta) > 255 {
			r.Meta = r.Meta[:255]
		}
	case "DropsMeta":
		r.Meta = nil
	case "DefaultsEmptyMeta":
		if len(r.Meta) == 0 {
			r.Meta = qsessions.EncodeMeta(qsessions.SessionInfo{})
		}
	case "MetaAsColumns":
		// Keeps the metadata it knows as columns, and builds Meta from
		// them again: what it cannot decode, or does not know, is lost.
		m := r.Meta
		r.Meta = nil
		if i, err := qsessions.DecodeMeta(m); err == nil {
			r.Meta = qsessions.EncodeMeta(qsessions.SessionInfo{IP: i.IP, UserAgent: i.UserAgent,
				CreatedAt: i.CreatedAt, AuthenticatedAt: i.AuthenticatedAt, AuthMethod: i.AuthMethod})
		}
	case "ASCIIOnly":
		r.UserID = asciiOnly(r.UserID)
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

// out returns a copy of a stored record, as broken as the bug makes it,
// sharing its Data or its Meta with the stored one when told to.
func (p *fakePersister) out(r qsessions.Record, shareData, shareMeta bool) qsessions.Record {
	if !shareData {
		r.Data = bytes.Clone(r.Data)
	}
	if !shareMeta {
		r.Meta = bytes.Clone(r.Meta)
	}
	if p.bug == "LocalTime" {
		zone := time.FixedZone("UTC+2", 2*60*60)
		r.UpdatedAt, r.ExpiresAt = r.UpdatedAt.In(zone), r.ExpiresAt.In(zone)
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
	return p.out(r, p.bug == "SharesLoadData", p.bug == "SharesMeta"), nil
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
	p.next++
	p.seq[r.ID] = p.next
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
	case "UpdateKeepsMeta":
		next.Meta = old.Meta
	case "UpdateOverlaysMeta":
		// Writes the new Meta over the old one in place, keeping the old
		// one's tail when the new one is shorter.
		if len(next.Meta) < len(old.Meta) {
			m := bytes.Clone(old.Meta)
			copy(m, next.Meta)
			next.Meta = m
		}
	case "TouchKeepsMeta":
		// The usual write, which keeps the user and the expiry, takes a
		// faster path that forgets Meta.
		if next.UserID == old.UserID && next.ExpiresAt.Equal(old.ExpiresAt) {
			next.Meta = old.Meta
		}
	case "UpdateKeepsVersion":
		next.Version = old.Version
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
			r = p.out(r, p.bug == "SharesListData", p.bug == "SharesMeta")
			if p.bug == "ListOmitsMeta" {
				r.Meta = nil
			}
			out = append(out, r)
		}
	}
	if len(out) == 0 && p.bug == "ListEmptyNotFound" {
		return nil, qsessions.ErrNotFound
	}
	slices.SortFunc(out, func(a, b qsessions.Record) int {
		switch p.bug {
		case "ListOldestFirst":
			return a.UpdatedAt.Compare(b.UpdatedAt)
		case "ListByExpiresAt":
			return b.ExpiresAt.Compare(a.ExpiresAt)
		case "ListNewestCreatedFirst":
			return cmp.Compare(p.seq[b.ID], p.seq[a.ID])
		case "ListSecondPrecision":
			return b.UpdatedAt.Truncate(time.Second).Compare(a.UpdatedAt.Truncate(time.Second))
		case "ListTiesDescending":
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

func (p *fakePersister) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	if err := p.ctxErr(ctx); err != nil {
		return 0, err
	}
	switch p.bug {
	case "DeleteExpiredHangs":
		<-p.stop
		return 0, errors.New("persister: released")
	case "DeleteExpiredUsesNow":
		before = time.Now()
	case "DeleteExpiredOneBatch", "DeleteExpiredSkipsTies", "DeleteExpiredLosesCount":
		return p.deleteExpiredInBatches(ctx, before)
	}
	p.mu.Lock()
	expired := p.expiredLocked(before)
	if p.bug == "DeleteExpiredCountsFound" {
		// Finds the expired records and deletes them in two steps, and
		// counts what it found: racing sweeps count the same records. The
		// first one waits a while for another to find them too, so that the
		// race happens whenever sweeps run concurrently.
		p.mu.Unlock()
		p.sweeps.Add(1)
		for deadline := time.Now().Add(200 * time.Millisecond); p.sweeps.Load() < 2 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		p.mu.Lock()
	}
	for _, r := range expired {
		delete(p.rows, r.ID)
	}
	p.mu.Unlock()
	return len(expired), p.afterWrite(ctx)
}

// expiredLocked returns the records that expired before before, oldest
// first; p.mu is held.
func (p *fakePersister) expiredLocked(before time.Time) []qsessions.Record {
	var expired []qsessions.Record
	for _, r := range p.rows {
		if p.expiredByIndex(r, before) || (p.bug == "DeleteExpiredInclusive" && r.ExpiresAt.Equal(before)) {
			expired = append(expired, r)
		}
	}
	slices.SortFunc(expired, func(a, b qsessions.Record) int {
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), cmp.Compare(a.ID, b.ID))
	})
	return expired
}

// deleteExpiredInBatches deletes fakeBatch expired records at a time, each
// batch under the lock, checking ctx between batches, as broken as the bug
// makes it.
func (p *fakePersister) deleteExpiredInBatches(ctx context.Context, before time.Time) (int, error) {
	total := 0
	var after time.Time // for DeleteExpiredSkipsTies: the last batch's latest expiry
	for {
		if total > 0 {
			if err := ctx.Err(); err != nil {
				if p.bug == "DeleteExpiredLosesCount" {
					return 0, err
				}
				return total, err
			}
		}
		p.mu.Lock()
		expired := p.expiredLocked(before)
		if p.bug == "DeleteExpiredSkipsTies" && !after.IsZero() {
			// Pages by expiry, as if the rows before the last batch's
			// end were all gone: its ties are skipped.
			expired = slices.DeleteFunc(expired, func(r qsessions.Record) bool { return !r.ExpiresAt.After(after) })
		}
		expired = expired[:min(len(expired), fakeBatch)]
		for _, r := range expired {
			delete(p.rows, r.ID)
		}
		p.mu.Unlock()
		total += len(expired)
		if len(expired) < fakeBatch || p.bug == "DeleteExpiredOneBatch" {
			return total, nil
		}
		after = expired[len(expired)-1].ExpiresAt
	}
}
