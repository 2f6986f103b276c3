package django

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/listorder"
)

// queries holds the SQL of a Persister's statements, with $n parameters.
type queries struct {
	load, list, listAll, create, update, del, expired, user string
}

// buildQueries writes the statements for p's table and dialect.
func (p *Persister) buildQueries() queries {
	d, t := p.db, p.table
	param := func(cast string, n int) string { return strings.ReplaceAll(cast, "?", "$"+strconv.Itoa(n)) }
	cols := "session_key, session_data, " + d.selectTime("expire_date")
	if p.flavour == QSessions {
		cols += ", " + d.selectTime("updated_at") + ", " + d.selectText("user_id") + ", " + d.selectIP("ip") +
			", user_agent, " + d.selectTime("created_at")
	}
	q := queries{
		load:    "SELECT " + cols + " FROM " + t + " WHERE session_key = $1",
		listAll: "SELECT " + cols + " FROM " + t,
		del:     "DELETE FROM " + t + " WHERE " + d.inList("session_key", "$1") + " RETURNING session_key",
		expired: "DELETE FROM " + t + " WHERE session_key IN (SELECT session_key FROM " + t +
			" WHERE expire_date < $1 ORDER BY expire_date LIMIT $2" + d.skipLocked() + ") RETURNING session_key",
	}
	if p.flavour == QSessions {
		q.list = "SELECT " + cols + " FROM " + t + " WHERE user_id = " + param(p.userCast, 1)
		ip := param(d.cast("ip", "inet"), 6)
		q.create = "INSERT INTO " + t + " (session_key, session_data, expire_date, updated_at, user_id, ip, user_agent, created_at)" +
			" VALUES ($1, $2, $3, $4, " + param(p.userCast, 5) + ", " + ip + ", $7, $8) ON CONFLICT (session_key) DO NOTHING"
		q.update = "UPDATE " + t + " SET session_data = $2, expire_date = $3, updated_at = $4, user_id = " + param(p.userCast, 5) +
			", ip = " + ip + ", user_agent = $7, created_at = $8" +
			" WHERE session_key = $1 AND session_data = $9 AND expire_date = $10 AND updated_at = $11"
	} else {
		q.list = q.listAll
		q.create = "INSERT INTO " + t + " (session_key, session_data, expire_date) VALUES ($1, $2, $3)" +
			" ON CONFLICT (session_key) DO NOTHING"
		q.update = "UPDATE " + t + " SET session_data = $2, expire_date = $3" +
			" WHERE session_key = $1 AND session_data = $4 AND expire_date = $5"
	}
	if p.users != nil {
		q.user = p.users.query()
	}
	return q
}

// fail wraps err, a failure of op, adding ctx's error when ctx ended
// meanwhile (a driver may report an interrupted call in its own words).
func fail(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("django: %s: %w: %w", op, cerr, err)
	}
	return fmt.Errorf("django: %s: %w", op, err)
}

// landed resolves a write that failed while ctx ended: drivers report the
// context's error when it ends during a statement, even when the statement
// had already committed (modernc.org/sqlite reports any statement that its
// interrupt watcher saw the context end during; pgx, one whose cancel
// request it sent). check reads, on a context of its own, whether the
// write is there: then the write succeeded and landed returns nil, and
// otherwise err.
func landed(ctx context.Context, err error, check func(context.Context) (bool, error)) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), evictTimeout)
	defer cancel()
	if ok, cerr := check(cctx); cerr == nil && ok {
		return nil
	}
	return err
}

// wrote reports whether key's row holds data.
func (p *Persister) wrote(key, data string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		r, found, err := p.readRow(ctx, key)
		return found && r.data == data, err
	}
}

// goneAll reports whether none of keys has a row.
func (p *Persister) goneAll(keys []string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		for _, k := range keys {
			if _, found, err := p.readRow(ctx, k); err != nil || found {
				return false, err
			}
		}
		return true, nil
	}
}

// begin checks that ctx is live before op starts.
func begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("django: %s: %w", op, err)
	}
	return nil
}

// scanRows reads the rows of a select of the Persister's columns, calling
// f for each.
func (p *Persister) scanRows(rows rowsIter, f func(*row) error) error {
	defer rows.Close()
	qs := p.flavour == QSessions
	expire, updated, created := p.db.newTime(), p.db.newTime(), p.db.newTime()
	for rows.Next() {
		var r row
		dest := []any{&r.key, &r.data, expire}
		if qs {
			dest = append(dest, updated, &r.userCol, &r.ip, &r.ua, created)
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		var ok bool
		var err error
		if r.expire, r.expireRaw, _, err = p.db.scanTime(expire); err != nil {
			return err
		}
		if qs {
			if r.updated, r.updatedRaw, r.hasUpdated, err = p.db.scanTime(updated); err != nil {
				return err
			}
			if r.created, _, ok, err = p.db.scanTime(created); err == nil {
				r.hasCr = ok
			}
		}
		if err := f(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// readRow reads the row of key; found is false when there is none.
func (p *Persister) readRow(ctx context.Context, key string) (r row, found bool, err error) {
	rows, err := p.db.query(ctx, p.q.load, key)
	if err != nil {
		return row{}, false, err
	}
	err = p.scanRows(rows, func(got *row) error {
		r, found = *got, true
		return nil
	})
	return r, found, err
}

// Load returns the session stored under key (a session key), or an error
// wrapping [qsessions.ErrNotFound] when there is none, or when its row is
// no session Django would serve: session_data not validly signed, or (with
// a user table) its user gone, inactive or with another password than the
// one its _auth_user_hash signs. Expired sessions are returned like any
// other.
func (p *Persister) Load(ctx context.Context, key string) (qsessions.Record, error) {
	if err := begin(ctx, "load"); err != nil {
		return qsessions.Record{}, err
	}
	d, _, err := p.loadDecoded(ctx, "load", key)
	if err != nil {
		return qsessions.Record{}, err
	}
	return d.rec, nil
}

// loadDecoded reads and checks the session stored under key, and returns
// it with its row as read.
func (p *Persister) loadDecoded(ctx context.Context, op, key string) (*decoded, *row, error) {
	r, found, err := p.readRow(ctx, key)
	if err != nil {
		return nil, nil, fail(ctx, op, err)
	}
	if !found {
		return nil, nil, fmt.Errorf("django: %s: %w", op, qsessions.ErrNotFound)
	}
	d, err := p.decodeRow(&r)
	if err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "django: a session row that is no session: Django and Go treat it as an empty one",
			slog.String("table", p.table), slog.Any("error", err))
		return nil, nil, fmt.Errorf("django: %s: the row is no session (%w): %w", op, err, qsessions.ErrNotFound)
	}
	c := userChecker{p: p}
	if err := c.check(ctx, &d); errors.Is(err, errUserCheck) {
		return nil, nil, fmt.Errorf("django: %s: %w: %w", op, err, qsessions.ErrNotFound)
	} else if err != nil {
		return nil, nil, fail(ctx, op, err)
	}
	return &d, &r, nil
}

// Create stores r under r.ID, or returns an error wrapping
// [qsessions.ErrExists] and changes nothing when that key is taken. A
// record with a UserID signs that user in as Django's login() would: with
// the user table, the user must exist and be active (else the error wraps
// [ErrUnknownUser]), and _auth_user_hash signs their password field. Data
// that is a JSON object holding one of the keys Django keeps for itself
// (_auth_user_id, _auth_user_backend, _auth_user_hash, _qsessions_ip,
// _qsessions_user_agent, _qsessions_go) is refused with an error wrapping
// [qsessions.ErrReservedKey]. Django's cache entry for the key is deleted
// afterwards.
func (p *Persister) Create(ctx context.Context, r qsessions.Record) error {
	if err := begin(ctx, "create"); err != nil {
		return err
	}
	if r.ID == "" {
		return errors.New("django: create: empty session key")
	}
	w, err := p.encodeRow(ctx, &r, r.Version, nil, time.Now())
	if err != nil {
		return fail(ctx, "create", err)
	}
	args := []any{r.ID, w.data, p.db.timeArg(w.expire)}
	if p.flavour == QSessions {
		args = append(args, p.db.timeArg(w.updated), w.userID, w.ip, w.ua, w.created)
	}
	n, err := p.db.exec(ctx, p.q.create, args...)
	if err != nil {
		if landed(ctx, err, p.wrote(r.ID, w.data)) != nil {
			return p.writeFailed(ctx, "create", err)
		}
		n = 1
	}
	if n == 0 {
		return fmt.Errorf("django: create: %w", qsessions.ErrExists)
	}
	p.evictLogged(ctx, "create", r.ID)
	return nil
}

// writeFailed wraps the error of a write, which is ErrUnknownUser's when
// the user_id column could not hold the user ID.
func (p *Persister) writeFailed(ctx context.Context, op string, err error) error {
	if p.db.badValue(err) {
		return fmt.Errorf("django: %s: %w: %w", op, ErrUnknownUser, err)
	}
	return fail(ctx, op, err)
}

// maxUpdateRounds bounds the reads of one Update whose write found the
// row changed since it read it: the next read then sees another version,
// so a second round ends in a conflict but for a change that undid itself.
const maxUpdateRounds = 3

// Update replaces the session r.ID with r and stores it as version
// r.Version+1, when its version is still r.Version; otherwise it writes
// nothing and returns an error wrapping [qsessions.ErrConflict], or
// [qsessions.ErrNotFound] when there is no such session (as Load sees it):
// Update never inserts.
//
// Django's table has no version column. The version is Go's count, kept
// in session_data, as long as the row is as Go wrote it, and otherwise a
// hash of the row: a write of Django's changes it. Update reads the row,
// compares versions, and writes with an UPDATE that also compares
// session_data, expire_date and updated_at with what it read, so that a
// write of Django's between the two is never overwritten: the UPDATE then
// matches nothing, and the next read finds another version.
func (p *Persister) Update(ctx context.Context, r qsessions.Record) error {
	if err := begin(ctx, "update"); err != nil {
		return err
	}
	for round := 1; ; round++ {
		prev, old, err := p.loadDecoded(ctx, "update", r.ID)
		if err != nil {
			return err
		}
		if prev.rec.Version != r.Version {
			return fmt.Errorf("django: update: stored version is not %d: %w", r.Version, qsessions.ErrConflict)
		}
		w, err := p.encodeRow(ctx, &r, r.Version+1, prev, time.Now())
		if err != nil {
			return fail(ctx, "update", err)
		}
		args := []any{r.ID, w.data, p.db.timeArg(w.expire)}
		if p.flavour == QSessions {
			args = append(args, p.db.timeArg(w.updated), w.userID, w.ip, w.ua, w.created,
				old.data, old.expireRaw, old.updatedRaw)
		} else {
			args = append(args, old.data, old.expireRaw)
		}
		n, err := p.db.exec(ctx, p.q.update, args...)
		if err != nil {
			if landed(ctx, err, p.wrote(r.ID, w.data)) != nil {
				return p.writeFailed(ctx, "update", err)
			}
			n = 1
		}
		if n > 0 {
			p.evictLogged(ctx, "update", r.ID)
			return nil
		}
		if round == maxUpdateRounds {
			return fmt.Errorf("django: update: the row keeps changing: %w", qsessions.ErrConflict)
		}
	}
}

// Delete removes the sessions with the given keys, and their entries in
// Django's cache; missing keys are not an error. The cache entries are
// deleted first (when that fails, nothing is deleted and the error wraps
// [ErrCacheInvalidation]), then the rows, then the entries again, for a
// Django request that filled the cache from a row in between (when that
// fails, the rows are gone but Django may serve its cached copy until the
// entry times out: the error wraps ErrCacheInvalidation; retry).
func (p *Persister) Delete(ctx context.Context, keys ...string) error {
	if err := begin(ctx, "delete"); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	_, err := p.deleteKeys(ctx, "delete", keys)
	return err
}

// deleteKeys is the removal sequence of Delete and DeleteByUser: it
// returns the keys whose rows it deleted.
func (p *Persister) deleteKeys(ctx context.Context, op string, keys []string) ([]string, error) {
	if err := p.evict(ctx, false, keys...); err != nil {
		return nil, fail(ctx, op+" (nothing deleted)", err)
	}
	rows, err := p.db.query(ctx, p.q.del, p.db.listArg(keys))
	var deleted []string
	if err == nil {
		deleted, err = collectKeys(rows)
	}
	if err != nil {
		if landed(ctx, err, p.goneAll(keys)) != nil {
			return nil, fail(ctx, op, err)
		}
		deleted = keys // which of them had rows is unknown: all are gone
	}
	p.again.later(deleted...)
	if err := p.evict(ctx, true, deleted...); err != nil {
		return deleted, fmt.Errorf("django: %s: the sessions are deleted, but %w", op, err)
	}
	return deleted, nil
}

func collectKeys(rows rowsIter) ([]string, error) {
	defer rows.Close()
	keys := []string{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// userSessions returns the sessions whose _auth_user_id is userID, as
// decoded from their signed session_data (rows that are no session are
// left out). From qsessions_session it reads the rows of the user_id
// index; from django_session, every row.
func (p *Persister) userSessions(ctx context.Context, userID string) ([]decoded, error) {
	var args []any
	if p.flavour == QSessions {
		args = append(args, userID)
	}
	var out []decoded
	rows, err := p.db.query(ctx, p.q.list, args...)
	if err == nil {
		err = p.scanRows(rows, func(r *row) error {
			// The user first: over django_session, most rows are other
			// users'.
			dict, err := p.verifiedDict(r)
			if err != nil || userOf(dict) != userID {
				return nil
			}
			if d, err := p.mapRow(r, dict); err == nil {
				out = append(out, d)
			}
			return nil
		})
	}
	if err != nil && p.db.badValue(err) {
		return nil, nil // an ID the user_id column cannot hold: nobody's
	}
	return out, err
}

// ListByUser returns the sessions of userID (as Load would return them,
// but without Data), most recently updated first, ties in ascending key
// order. Over django_session, which has no user column, it reads and
// verifies every row of the table.
func (p *Persister) ListByUser(ctx context.Context, userID string) ([]qsessions.Record, error) {
	if err := begin(ctx, "list by user"); err != nil {
		return nil, err
	}
	ds, err := p.userSessions(ctx, userID)
	if err != nil {
		return nil, fail(ctx, "list by user", err)
	}
	c := userChecker{p: p}
	out := make([]qsessions.Record, 0, len(ds))
	for i := range ds {
		if err := c.check(ctx, &ds[i]); errors.Is(err, errUserCheck) {
			continue
		} else if err != nil {
			return nil, fail(ctx, "list by user", err)
		}
		r := ds[i].rec
		r.Data = nil
		out = append(out, r)
	}
	slices.SortFunc(out, listorder.Compare)
	return out, nil
}

// DeleteByUser removes every session of userID except those listed in
// except (its sessions that Django would no longer accept included), with
// Django's cache entries, as Delete does, and returns the keys it removed.
func (p *Persister) DeleteByUser(ctx context.Context, userID string, except ...string) ([]string, error) {
	if err := begin(ctx, "delete by user"); err != nil {
		return nil, err
	}
	ds, err := p.userSessions(ctx, userID)
	if err != nil {
		return nil, fail(ctx, "delete by user", err)
	}
	var keys []string
	for _, d := range ds {
		if !slices.Contains(except, d.rec.ID) {
			keys = append(keys, d.rec.ID)
		}
	}
	if len(keys) == 0 {
		return []string{}, nil
	}
	return p.deleteKeys(ctx, "delete by user", keys)
}

// DeleteExpired removes every session whose expire_date is before before,
// as Django's clearsessions does, in statements of at most
// Options.BatchSize rows, and deletes their entries in Django's cache. It
// returns how many it removed; if ctx ends partway, the count so far with
// an error wrapping ctx.Err().
func (p *Persister) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	// Stored datetimes have microsecond precision: a stored E is before
	// `before` exactly when it is before `before` rounded up to the next
	// microsecond.
	if t := before.Truncate(time.Microsecond); t.Before(before) {
		before = t.Add(time.Microsecond)
	}
	total := 0
	for {
		if err := begin(ctx, "delete expired"); err != nil {
			return total, err
		}
		rows, err := p.db.query(ctx, p.q.expired, p.db.timeArg(before), p.batch)
		if err != nil {
			return total, fail(ctx, "delete expired", err)
		}
		keys, err := collectKeys(rows)
		if err != nil {
			return total, fail(ctx, "delete expired", err)
		}
		total += len(keys)
		if err := p.evict(ctx, true, keys...); err != nil {
			p.log.LogAttrs(ctx, slog.LevelWarn, "django: expired sessions deleted, but not their entries in Django's cache, which time out with them",
				slog.Int("sessions", len(keys)), slog.Any("error", err))
		}
		if len(keys) < p.batch {
			return total, nil
		}
	}
}
