//go:build !js && !wasip1

package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/qsessions/qsessions"
)

var _ qsessions.Persister = (*Persister)(nil)

// Defaults for the zero [Options].
const (
	// DefaultTable is the name of the sessions table when [Options].Table
	// is empty.
	DefaultTable = "qsessions"

	// DefaultSweepBudget is how long one transaction of DeleteExpired
	// runs by default.
	DefaultSweepBudget = 5 * time.Millisecond
)

// DefaultFileMode is the permission bits of a database file that [Open]
// creates when [Options].FileMode is zero: readable by its owner only.
const DefaultFileMode os.FileMode = 0o600

// Options configure a [Persister]. The zero value, and a nil *Options, mean
// the defaults.
type Options struct {
	// Table is the name of the sessions table: ASCII letters, digits and
	// underscores, not starting with a digit nor with "sqlite_", at most 64
	// characters. The default is "qsessions". Several tables (one per
	// application, say) can share a database.
	Table string

	// BusyTimeout is how long a connection opened by Open waits for a lock
	// held by another connection (another process, typically) before
	// failing with SQLITE_BUSY. The default is 5 seconds. New ignores it:
	// set busy_timeout in your DSN.
	BusyTimeout time.Duration

	// MaxOpenConns is the size of the connection pool that Open creates for
	// a file database. The default is 4; readers use them in parallel,
	// writers take turns. New ignores it, and an in-memory database always
	// uses one connection.
	MaxOpenConns int

	// FileMode is the permission bits of the database file that Open
	// creates when none exists at its path, set exactly, whatever the
	// umask. SQLite gives the -wal, -shm and -journal files it creates
	// beside the database the database file's permissions. The default
	// is 0600 ([DefaultFileMode]): sessions hold user IDs, IPs,
	// User-Agents and values, which no other local user should read. An
	// existing file keeps its mode. On Windows only the owner-write bit
	// counts (read-only when clear). New ignores it.
	FileMode os.FileMode

	// SweepBudget bounds the time one transaction of DeleteExpired holds
	// the database's write lock, roughly: a sweep deletes in transactions
	// of about this length, and ends one early when a write of this
	// Persister is waiting for its turn. The default is 5ms.
	SweepBudget time.Duration
}

// A Persister is a [qsessions.Persister] that stores sessions in one table
// of an SQLite database. Make one with [Open] or [New]. It is safe for
// concurrent use; call [Persister.Close] when done.
type Persister struct {
	db     *sql.DB
	ownsDB bool
	table  string

	// wsem serialises this Persister's writes in Go, so that they queue
	// here (honouring ctx) instead of in SQLite's sleeping busy handler.
	wsem chan struct{}

	budget    time.Duration                             // how long one sweep transaction runs
	chunk     int                                       // rows per DELETE statement of a sweep
	waiting   atomic.Int32                              // writes waiting in lockWrite
	sweepHook func(step string, n int, d time.Duration) // tests: see trace

	// For a database in WAL mode whose automatic checkpoints are off (as
	// Open sets them), a goroutine of the Persister runs the checkpoints
	// (see checkpoint.go): checkpoints signals it, writes counts the
	// writes since the last signal (under wsem), and checkpointerDone is
	// closed when it has stopped. checkpoints is nil otherwise.
	checkpoints      chan struct{}
	writes           int
	checkpointerDone chan struct{}
	forceAt          int // forceCheckpoint, or less in tests

	load, create, touch, update, exists, del, listByUser, deleteByUser, deleteExpired *sql.Stmt

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// Open opens (creating it if needed) the SQLite database file at path and
// returns a Persister that owns it: [Persister.Close] closes it. The path
// ":memory:" opens a private in-memory database.
//
// A new database file is created with [Options].FileMode, 0600 by default,
// and SQLite gives its -wal and -shm files the same permissions.
//
// Open sets WAL mode, synchronous=NORMAL, busy_timeout and BEGIN IMMEDIATE
// transactions, turns SQLite's automatic checkpoints off (the Persister
// runs them itself, see the package documentation), and creates or
// migrates the schema. A file that is not an SQLite database, or is
// truncated, is reported as an error and left as it is.
func Open(path string, opts *Options) (*Persister, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("sqlite: open: empty path (use \":memory:\" for an in-memory database)")
	}
	inMemory := path == ":memory:"
	params := "_txlock=immediate&_busy_timeout=" + strconv.FormatInt(max(1, o.BusyTimeout.Milliseconds()), 10)
	var dsn string
	if inMemory {
		dsn = ":memory:?" + params
	} else {
		if err := checkFile(path); err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		if err := createFile(path, o.FileMode); err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		uri, err := fileURI(path)
		if err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		// No automatic checkpoints: the Persister runs them (see
		// checkpointer).
		dsn = uri + "?" + params + "&_synchronous=NORMAL&_pragma=wal_autocheckpoint(0)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if inMemory {
		// Every connection to ":memory:" is a database of its own, and
		// the database lives as long as its connection: keep exactly
		// one, forever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	} else {
		db.SetMaxOpenConns(o.MaxOpenConns)
		db.SetMaxIdleConns(o.MaxOpenConns)
		if err := setWAL(db, o.BusyTimeout); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
	}
	p, err := newPersister(db, o)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	p.ownsDB = true
	return p, nil
}

// createFile creates an empty database file at path with exactly mode,
// unless something is there already. Left to itself SQLite would create
// it 0644 less the umask; it opens an empty file as an empty database, and
// gives the -wal and -shm files it creates the database file's mode.
func createFile(path string, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if runtime.GOOS != "windows" {
		err = f.Chmod(mode) // the umask may have cleared bits
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// New returns a Persister that stores sessions in db, which must have been
// opened with the "sqlite" driver of modernc.org/sqlite, and creates or
// migrates the schema. The db stays the caller's: [Persister.Close] does not
// close it.
//
// New changes no connection setting. For concurrent use, open a file
// database with WAL mode and a busy timeout, for example
// "file:sessions.db?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_txlock=immediate";
// for an in-memory database, limit db to one connection. When db is in WAL
// mode with automatic checkpoints off (wal_autocheckpoint=0, as Open sets
// it), the Persister runs the checkpoints itself, as it does for Open;
// otherwise SQLite's automatic checkpoints do.
func New(db *sql.DB, opts *Options) (*Persister, error) {
	if db == nil {
		return nil, errors.New("sqlite: new: nil *sql.DB")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p, err := newPersister(db, o)
	if err != nil {
		return nil, fmt.Errorf("sqlite: new: %w", err)
	}
	return p, nil
}

// setWAL puts the database in WAL mode, a setting stored in the file. The
// switch needs an exclusive lock, and SQLite reports SQLITE_BUSY at once,
// without its busy handler, when another connection (another process
// opening the same new file, say) is in the way; so retry until timeout.
// A read-only file that is not in WAL mode stays as it is: reads work, and
// writes fail with a read-only error.
func setWAL(db *sql.DB, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		var mode string
		err := db.QueryRow(`PRAGMA journal_mode = WAL`).Scan(&mode)
		if err == nil {
			return nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return fmt.Errorf("set WAL mode: %w", err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED, with
// any extended code.
func isBusy(err error) bool {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	const busy, locked = 5, 6
	return e.Code()&0xff == busy || e.Code()&0xff == locked
}

func (o *Options) withDefaults() (Options, error) {
	var out Options
	if o != nil {
		out = *o
	}
	if out.Table == "" {
		out.Table = DefaultTable
	}
	if err := validTable(out.Table); err != nil {
		return out, err
	}
	if out.BusyTimeout < 0 {
		return out, fmt.Errorf("sqlite: negative BusyTimeout %v", out.BusyTimeout)
	}
	if out.BusyTimeout == 0 {
		out.BusyTimeout = 5 * time.Second
	}
	if out.MaxOpenConns < 0 {
		return out, fmt.Errorf("sqlite: negative MaxOpenConns %d", out.MaxOpenConns)
	}
	if out.MaxOpenConns == 0 {
		out.MaxOpenConns = 4
	}
	if out.FileMode&^os.ModePerm != 0 {
		return out, fmt.Errorf("sqlite: FileMode %v has bits other than permissions", out.FileMode)
	}
	if out.FileMode == 0 {
		out.FileMode = DefaultFileMode
	}
	if out.SweepBudget < 0 {
		return out, fmt.Errorf("sqlite: negative SweepBudget %v", out.SweepBudget)
	}
	if out.SweepBudget == 0 {
		out.SweepBudget = DefaultSweepBudget
	}
	return out, nil
}

// validTable reports whether name can be used, unquoted or quoted, as the
// sessions table's name and as the prefix of its indexes' names.
func validTable(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("sqlite: invalid table name %q: %s", name, why)
	}
	if len(name) > 64 {
		return bad("longer than 64 characters")
	}
	for i, c := range []byte(name) {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9':
			if i == 0 {
				return bad("starts with a digit")
			}
		default:
			return bad("only ASCII letters, digits and underscores are allowed")
		}
	}
	if strings.HasPrefix(strings.ToLower(name), "sqlite_") {
		return bad(`names starting with "sqlite_" are reserved by SQLite`)
	}
	if strings.EqualFold(name, schemaTable) {
		return bad("the name is used by the schema version table")
	}
	return nil
}

func newPersister(db *sql.DB, o Options) (*Persister, error) {
	ctx := context.Background()
	if err := migrate(ctx, db, o.Table); err != nil {
		return nil, err
	}
	p := &Persister{
		db:      db,
		table:   o.Table,
		budget:  o.SweepBudget,
		chunk:   sweepRows,
		forceAt: forceCheckpoint,
		wsem:    make(chan struct{}, 1),
		closed:  make(chan struct{}),
	}
	q := queries(o.Table)
	stmts := []struct {
		s   **sql.Stmt
		sql string
	}{
		{&p.load, q.load}, {&p.create, q.create}, {&p.touch, q.touch}, {&p.update, q.update}, {&p.exists, q.exists},
		{&p.del, q.del}, {&p.listByUser, q.listByUser}, {&p.deleteByUser, q.deleteByUser},
		{&p.deleteExpired, q.deleteExpired},
	}
	for _, s := range stmts {
		st, err := db.PrepareContext(ctx, s.sql)
		if err != nil {
			p.closeStmts()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		*s.s = st
	}
	if err := p.startCheckpointer(ctx); err != nil {
		p.closeStmts()
		return nil, err
	}
	return p, nil
}

// queryText holds the SQL of a Persister's statements.
type queryText struct {
	load, create, touch, update, exists, del, listByUser, deleteByUser, deleteExpired string
}

// queries returns the SQL of the statements on table. Their parameters are
// anonymous (?), which the driver binds without looking up their names.
func queries(table string) queryText {
	t := `"` + table + `"`
	// The id index holds the first 8 bytes of each ID, a third of the whole
	// ID's size; byID finds a row through it and compares the whole ID. It
	// takes the ID twice.
	const byID = `substr(id, 1, 8) = substr(?, 1, 8) AND id = ?`
	return queryText{
		// The fields but Data as a listing: one value, one allocation.
		load: `SELECT user_id, ` + listingSQL + `, data, data IS NULL FROM ` + t + ` WHERE ` + byID,
		// The index on the ID's prefix is not unique: Create checks that
		// the ID is free, in the statement that inserts it.
		create: `INSERT INTO ` + t + ` (id, version, user_id, updated_at, expires_at, meta, data)
			SELECT ?, ?, ?, ?, ?, ?, ?
			WHERE NOT EXISTS (SELECT 1 FROM ` + t + ` WHERE ` + byID + `)`,
		// touch is update for the usual write, which keeps the user and
		// the expiry: it leaves the expiry index's column alone, so SQLite
		// does not rewrite its entry. The unary + keeps the planner from
		// looking the row up by user or expiry.
		touch: `UPDATE ` + t + ` SET updated_at = ?, meta = ?, data = ?, version = version + 1
			WHERE ` + byID + ` AND version = ? AND +user_id = ? AND +expires_at = ?`,
		update: `UPDATE ` + t + ` SET user_id = ?, updated_at = ?, expires_at = ?, meta = ?, data = ?, version = version + 1
			WHERE ` + byID + ` AND version = ?`,
		exists: `SELECT EXISTS (SELECT 1 FROM ` + t + ` WHERE ` + byID + `)`,
		del:    `DELETE FROM ` + t + ` WHERE ` + byID,
		// One row: the user's listings, written and concatenated from the
		// user index without reading the rows (see listing.go), in the
		// index's order, newest first.
		listByUser: `SELECT group_concat(` + listingSQL + `, '') FROM ` + t + ` WHERE user_id = ?`,
		// The except list travels as one JSON array of hex-encoded IDs, so
		// the statement is prepared once and any byte string is matched
		// exactly.
		deleteByUser: `DELETE FROM ` + t + ` WHERE user_id = ?
			AND id NOT IN (SELECT CAST(unhex(value) AS TEXT) FROM json_each(?)) RETURNING id`,
		deleteExpired: `DELETE FROM ` + t + ` WHERE rowid IN
			(SELECT rowid FROM ` + t + ` WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
	}
}

// Close releases the prepared statements and, when the Persister was made by
// [Open], closes the database. A *sql.DB passed to [New] is left open.
// Calling Close again does nothing; other methods fail after Close.
func (p *Persister) Close() error {
	p.closeOnce.Do(func() {
		close(p.closed)
		// Wait for a write in progress and for the checkpointer, so that
		// Close does not pull the database from under them. Closing the
		// database's last connection checkpoints it.
		p.wsem <- struct{}{}
		if p.checkpointerDone != nil {
			<-p.checkpointerDone
		}
		p.closeErr = p.closeStmts()
		if p.ownsDB {
			if err := p.db.Close(); err != nil && p.closeErr == nil {
				p.closeErr = fmt.Errorf("sqlite: close: %w", err)
			}
		}
	})
	return p.closeErr
}

func (p *Persister) closeStmts() error {
	var errs []error
	for _, s := range []*sql.Stmt{p.load, p.create, p.touch, p.update, p.exists, p.del, p.listByUser, p.deleteByUser, p.deleteExpired} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

var errClosed = errors.New("persister is closed")

// begin checks that the call may proceed: ctx is live and p is open.
func (p *Persister) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	select {
	case <-p.closed:
		return fmt.Errorf("sqlite: %s: %w", op, errClosed)
	default:
		return nil
	}
}

// lockWrite waits for this Persister's turn to write. It returns an error
// when ctx ends or p is closed first; otherwise the caller must unlockWrite.
func (p *Persister) lockWrite(ctx context.Context, op string) error {
	select {
	case p.wsem <- struct{}{}:
	default:
		// Someone is writing: say so, so that a sweep makes way.
		p.waiting.Add(1)
		select {
		case p.wsem <- struct{}{}:
			p.waiting.Add(-1)
		case <-ctx.Done():
			p.waiting.Add(-1)
			return fmt.Errorf("sqlite: %s: %w", op, ctx.Err())
		case <-p.closed:
			p.waiting.Add(-1)
			return fmt.Errorf("sqlite: %s: %w", op, errClosed)
		}
	}
	select {
	case <-p.closed: // Close is waiting for the semaphore: give it back.
		<-p.wsem
		return fmt.Errorf("sqlite: %s: %w", op, errClosed)
	default:
		return nil
	}
}

// fail wraps err, a failure of op, adding ctx's error when ctx ended
// meanwhile (SQLite reports an interrupted call as "interrupted").
func fail(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, cerr, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// Load returns the record with the given ID, or an error wrapping
// [qsessions.ErrNotFound]. Expired records are returned like any other.
func (p *Persister) Load(ctx context.Context, id string) (qsessions.Record, error) {
	if err := p.begin(ctx, "load"); err != nil {
		return qsessions.Record{}, err
	}
	r := qsessions.Record{ID: id}
	err := scanRecord(p.load.QueryRowContext(ctx, id, id), &r)
	if errors.Is(err, sql.ErrNoRows) {
		return qsessions.Record{}, fmt.Errorf("sqlite: load %q: %w", id, qsessions.ErrNotFound)
	}
	if err != nil {
		return qsessions.Record{}, fail(ctx, "load", err)
	}
	return r, nil
}

// Create stores r, or returns an error wrapping [qsessions.ErrExists] and
// changes nothing when its ID is taken. An empty ID is an error.
func (p *Persister) Create(ctx context.Context, r qsessions.Record) error {
	if err := p.begin(ctx, "create"); err != nil {
		return err
	}
	if r.ID == "" {
		return errors.New("sqlite: create: empty record ID")
	}
	if err := p.lockWrite(ctx, "create"); err != nil {
		return err
	}
	defer p.unlockWrite()
	res, err := p.create.ExecContext(ctx, r.ID, r.Version, r.UserID, ms(r.UpdatedAt), ms(r.ExpiresAt),
		notNull(r.Meta), r.Data, r.ID, r.ID)
	if err != nil {
		return fail(ctx, "create", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fail(ctx, "create", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create %q: %w", r.ID, qsessions.ErrExists)
	}
	return nil
}

// Update replaces every field of the record with r's ID and stores it as
// version r.Version+1, when the stored version is r.Version. Otherwise it
// writes nothing and returns an error wrapping [qsessions.ErrConflict] when
// the record exists, or [qsessions.ErrNotFound] when it does not: Update
// never inserts.
func (p *Persister) Update(ctx context.Context, r qsessions.Record) error {
	if err := p.begin(ctx, "update"); err != nil {
		return err
	}
	if err := p.lockWrite(ctx, "update"); err != nil {
		return err
	}
	defer p.unlockWrite()
	meta := notNull(r.Meta)
	res, err := p.touch.ExecContext(ctx, ms(r.UpdatedAt), meta, r.Data, r.ID, r.ID, r.Version, r.UserID, ms(r.ExpiresAt))
	if err != nil {
		return fail(ctx, "update", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fail(ctx, "update", err)
	} else if n > 0 {
		return nil
	}
	// Another user or expiry, another version, or no row.
	res, err = p.update.ExecContext(ctx, r.UserID, ms(r.UpdatedAt), ms(r.ExpiresAt), meta, r.Data, r.ID, r.ID, r.Version)
	if err != nil {
		return fail(ctx, "update", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fail(ctx, "update", err)
	} else if n > 0 {
		return nil
	}
	// Nothing matched. IDs are never reused, so a row that is there has
	// another version.
	var exists bool
	if err := p.exists.QueryRowContext(ctx, r.ID, r.ID).Scan(&exists); err != nil {
		return fail(ctx, "update", err)
	}
	if exists {
		return fmt.Errorf("sqlite: update %q: stored version is not %d: %w", r.ID, r.Version, qsessions.ErrConflict)
	}
	return fmt.Errorf("sqlite: update %q: %w", r.ID, qsessions.ErrNotFound)
}

// Delete removes the records with the given IDs, all in one transaction;
// missing IDs are not an error.
func (p *Persister) Delete(ctx context.Context, ids ...string) error {
	if err := p.begin(ctx, "delete"); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	if err := p.lockWrite(ctx, "delete"); err != nil {
		return err
	}
	defer p.unlockWrite()
	if len(ids) == 1 {
		if _, err := p.del.ExecContext(ctx, ids[0], ids[0]); err != nil {
			return fail(ctx, "delete", err)
		}
		return nil
	}
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(ctx, "delete", err)
	}
	defer tx.Rollback()
	del := tx.StmtContext(ctx, p.del)
	for _, id := range ids {
		if _, err := del.ExecContext(ctx, id, id); err != nil {
			return fail(ctx, "delete", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(ctx, "delete", err)
	}
	return nil
}

// ListByUser returns userID's records, newest UpdatedAt first (ties broken
// by ID), or an empty slice when there are none. It leaves Data out (nil):
// the listing is read from the user index alone, in one value.
func (p *Persister) ListByUser(ctx context.Context, userID string) ([]qsessions.Record, error) {
	if err := p.begin(ctx, "list by user"); err != nil {
		return nil, err
	}
	var all sql.NullString
	if err := p.listByUser.QueryRowContext(ctx, userID).Scan(&all); err != nil {
		return nil, fail(ctx, "list by user", err)
	}
	out, err := parseListings(all.String, userID)
	if err != nil {
		return nil, fail(ctx, "list by user", err)
	}
	return out, nil
}

// DeleteByUser removes, in one transaction, every record of userID except
// those whose ID is listed in except, and returns the removed IDs in
// ascending order.
func (p *Persister) DeleteByUser(ctx context.Context, userID string, except ...string) ([]string, error) {
	if err := p.begin(ctx, "delete by user"); err != nil {
		return nil, err
	}
	if err := p.lockWrite(ctx, "delete by user"); err != nil {
		return nil, err
	}
	defer p.unlockWrite()
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fail(ctx, "delete by user", err)
	}
	defer tx.Rollback()
	rows, err := tx.StmtContext(ctx, p.deleteByUser).QueryContext(ctx, userID, hexJSON(except))
	if err != nil {
		return nil, fail(ctx, "delete by user", err)
	}
	deleted := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fail(ctx, "delete by user", err)
		}
		deleted = append(deleted, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fail(ctx, "delete by user", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fail(ctx, "delete by user", err)
	}
	slices.Sort(deleted)
	return deleted, nil
}

// scanRecord scans the row of the load statement into r, whose ID is set.
func scanRecord(row *sql.Row, r *qsessions.Record) error {
	var (
		text     string
		dataNull bool
	)
	if err := row.Scan(&r.UserID, &text, &r.Data, &dataNull); err != nil {
		return err
	}
	id := r.ID
	if _, err := parseListing(text, []byte(text), 0, r); err != nil {
		return err
	}
	r.ID = id
	// The driver returns a zero-length BLOB as nil; tell it from NULL.
	if r.Data == nil && !dataNull {
		r.Data = []byte{}
	}
	return nil
}

// notNull returns b, or an empty slice for nil, which the driver would
// store as NULL: the meta column holds no NULL.
func notNull(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// ms returns t as Unix milliseconds, the way times are stored.
func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// hexJSON encodes ids as a JSON array of hex strings, for json_each and
// unhex in SQL. Hex digits need no escaping in JSON.
func hexJSON(ids []string) string {
	size := 2
	for _, id := range ids {
		size += 2*len(id) + 3
	}
	b := make([]byte, 0, size)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = hex.AppendEncode(b, []byte(id))
		b = append(b, '"')
	}
	b = append(b, ']')
	return string(b)
}

// fileURI turns a file name into an SQLite URI, so that no character of the
// name (such as '?') is taken for the start of DSN parameters.
func fileURI(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/x on Windows
	}
	var b strings.Builder
	b.WriteString("file://")
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '?' || c == '#' || c == '%' || c < 0x21 || c == 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}
