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

// sweepChunk is how many rows one statement of DeleteExpired deletes: the
// granularity at which a sweep looks at the clock and at waiting writes,
// so what a waiting write waits for at most (about 1.5 ms on a million
// rows, whose index pages are rarely in SQLite's cache). While writes keep
// coming, its statements delete sweepChunkBusy rows instead (about
// 0.4 ms). Measured with bench/cmd/scale: 16 rows while writes were
// waiting gave them a p99 of 5.1 ms where 4 gave 3.2 ms.
const (
	sweepChunk     = 16
	sweepChunkBusy = 4
)

// sweepCheckpoint is how many rows a sweep that makes way for writes
// deletes between two checkpoints of the write-ahead log: about SQLite's
// default of 1000 pages, a handful per row. Each checkpoint syncs the log
// and the database to disk, so a checkpoint after each of its
// one-statement transactions would cost more than the deletes.
const sweepCheckpoint = 256

// sweepBusyFor is how long after a transaction that made way for a write a
// sweep takes the site for busy: statements of sweepChunkBusy rows, the
// processor yielded between them, and checkpoints every sweepCheckpoint
// rows in its own goroutine (see DeleteExpired). Measured with
// bench/cmd/scale: running so only right after a transaction that made way
// left the writes' p99 where it was (7 ms), running so always made the
// sweep of a quiet database 1.3 times slower.
const sweepBusyFor = time.Second

// sweepPause is how long a sweep pauses after a transaction that made way
// for a waiting write, in multiples of the transaction's length: while
// writes keep coming, the sweep holds the write lock at most a third of
// the time.
const sweepPause = 2

// checkpointEvery is how many writes (a handful of log frames each) a
// Persister that runs its own checkpoints lets go between two of them:
// about SQLite's own default of 1000 frames.
const checkpointEvery = 256

// forceCheckpoint is the size of the write-ahead log, in pages, over which
// the checkpointer makes writes wait for the end of a checkpoint, so that
// the log can start over (see checkpointer): 32 MiB with SQLite's default
// 4 KiB pages. Measured with bench/cmd/scale -big, 32000 pages made such
// waits four times rarer during a sweep under write load but no shorter
// (tens of milliseconds: two syncs to disk), did not change the writes'
// p99, and let a longer log slow the sweep's commits past 20 ms.
const forceCheckpoint = 8000

// forceRest is how many pages of the log, at most, the checkpointer leaves
// to copy while writes wait, when it can (see checkpointer).
const forceRest = 256

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

	budget  time.Duration // how long one sweep transaction runs
	chunk   int           // rows per DELETE statement of a sweep
	waiting atomic.Int32  // writes waiting in lockWrite

	// For a database in WAL mode whose automatic checkpoints are off (as
	// Open sets them), a goroutine of the Persister runs the checkpoints,
	// so that no write waits for one: checkpoints signals it, writes
	// counts the writes since the last signal (under wsem), and
	// checkpointerDone is closed when it has stopped. checkpoints is nil
	// otherwise.
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
		chunk:   sweepChunk,
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
	// A database in WAL mode whose automatic checkpoints are off, as Open
	// sets it, is checkpointed by the Persister, in the background.
	var mode string
	var auto int
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		p.closeStmts()
		return nil, err
	}
	if err := db.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil {
		p.closeStmts()
		return nil, err
	}
	if strings.EqualFold(mode, "wal") && auto <= 0 {
		p.checkpoints = make(chan struct{}, 1)
		p.checkpointerDone = make(chan struct{})
		go p.checkpointer()
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
		load: `SELECT version, user_id, listing, data, data IS NULL FROM ` + t + ` WHERE ` + byID,
		// The index on the ID's prefix is not unique: Create checks that
		// the ID is free, in the statement that inserts it.
		create: `INSERT INTO ` + t + ` (id, version, user_id, updated_at, expires_at, listing, data)
			SELECT ?, ?, ?, ?, ?, ?, ?
			WHERE NOT EXISTS (SELECT 1 FROM ` + t + ` WHERE ` + byID + `)`,
		// touch is update for the usual write, which keeps the user and
		// the expiry: it leaves the expiry index's column alone, so SQLite
		// does not rewrite its entry. The unary + keeps the planner from
		// looking the row up by user or expiry.
		touch: `UPDATE ` + t + ` SET updated_at = ?, listing = ?, data = ?, version = version + 1
			WHERE ` + byID + ` AND version = ? AND +user_id = ? AND +expires_at = ?`,
		update: `UPDATE ` + t + ` SET user_id = ?, updated_at = ?, expires_at = ?, listing = ?, data = ?, version = version + 1
			WHERE ` + byID + ` AND version = ?`,
		exists: `SELECT EXISTS (SELECT 1 FROM ` + t + ` WHERE ` + byID + `)`,
		del:    `DELETE FROM ` + t + ` WHERE ` + byID,
		// One row: the user's listing texts, concatenated from the user
		// index without reading the rows (see listing.go), in the
		// index's order, newest first.
		listByUser: `SELECT group_concat(listing, '') FROM ` + t + ` WHERE user_id = ?`,
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

func (p *Persister) unlockWrite() {
	if p.checkpoints != nil {
		if p.writes++; p.writes >= checkpointEvery {
			p.writes = 0
			p.signalCheckpoint()
		}
	}
	<-p.wsem
}

// checkpointer runs the checkpoints of p's database, one at a time, until p
// is closed. Each copies what it can of the write-ahead log into the
// database without waiting for anyone or blocking any write (PASSIVE);
// a failed one costs only a longer log until the next.
//
// The log starts over from its beginning only when a write begins after a
// checkpoint that copied all of it, which a checkpoint running beside busy
// writes may never do. So when the log holds over forceCheckpoint pages
// after a checkpoint, the checkpointer checkpoints again (up to four times
// in all) until at most forceRest pages are left to copy, then copies the
// rest while this Persister's writes wait, as SQLite's automatic
// checkpoints would have made one of them wait: the pages written
// meanwhile, a fraction of the log.
func (p *Persister) checkpointer() {
	defer close(p.checkpointerDone)
	for {
		select {
		case <-p.closed:
			return
		case <-p.checkpoints:
		}
		// log is the pages in the log, copied or not: over
		// forceCheckpoint, the log has not started over for a while.
		// Copy what can be copied beside the writes until little is
		// left, so that the writes wait only for the rest.
		var busy, log, copied int
		for range 4 {
			err := p.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied)
			if err != nil || log <= p.forceAt || log-copied <= forceRest {
				break
			}
		}
		if log <= p.forceAt {
			continue
		}
		select {
		case p.wsem <- struct{}{}:
		case <-p.closed:
			return
		}
		p.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		<-p.wsem
	}
}

// signalCheckpoint asks the checkpointer for a checkpoint, unless one is
// already asked for.
func (p *Persister) signalCheckpoint() {
	select {
	case p.checkpoints <- struct{}{}:
	default:
	}
}

// checkpoint checkpoints the write-ahead log after a sweep's transaction,
// outside the write lock: in the background when p runs its own
// checkpoints and here is false, or else here (PASSIVE; a failure costs
// only a longer log).
func (p *Persister) checkpoint(ctx context.Context, here bool) {
	if p.checkpoints != nil && !here {
		p.signalCheckpoint()
		return
	}
	p.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
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
		listing(r, r.Version), r.Data, r.ID, r.ID)
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
	text := listing(r, r.Version+1)
	res, err := p.touch.ExecContext(ctx, ms(r.UpdatedAt), text, r.Data, r.ID, r.ID, r.Version, r.UserID, ms(r.ExpiresAt))
	if err != nil {
		return fail(ctx, "update", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fail(ctx, "update", err)
	} else if n > 0 {
		return nil
	}
	// Another user or expiry, another version, or no row.
	res, err = p.update.ExecContext(ctx, r.UserID, ms(r.UpdatedAt), ms(r.ExpiresAt), text, r.Data, r.ID, r.ID, r.Version)
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
// the listing is read from the user index alone, in one row.
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

// DeleteExpired removes at most limit records whose ExpiresAt is before
// before, oldest ExpiresAt first, and returns how many it removed; a limit of
// zero or less means no limit.
//
// It deletes in transactions, so that it never holds the write lock for
// long, and it makes way for the other writes of this Persister:
//   - a transaction lasts about [Options].SweepBudget, and ends after the
//     statement in progress (16 rows) when a write is waiting, which then
//     goes first;
//   - after such a transaction the sweep pauses twice as long as the
//     transaction took, and its next transaction is one statement long, so
//     that while writes keep coming it holds the lock at most a third of
//     the time, in small steps;
//   - for a second after such a transaction it takes the site for busy:
//     its statements delete 4 rows, and between two of them it lets other
//     goroutines run (runtime.Gosched), so that on a small machine the
//     requests that will write get to the point of asking;
//   - it never makes a write pay for a checkpoint of the pages it deleted:
//     it checkpoints the write-ahead log outside the write lock. On a
//     quiet site, after each transaction, in the background when the
//     Persister runs its own checkpoints (as it does for a database that
//     Open opened), beside the sweep; on a busy one, every 256 rows (a
//     thousand pages or so of the log) and at the end, in the sweep's own
//     goroutine, before its pause, so that the sweep and its checkpoints
//     keep one processor busy at a time and leave the others to the
//     requests.
//
// When ctx ends between transactions, it returns the count removed so far
// with an error wrapping ctx.Err().
func (p *Persister) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	const op = "delete expired"
	if err := p.begin(ctx, op); err != nil {
		return 0, err
	}
	cutoff := ms(before)
	total := 0
	unchecked := 0 // rows deleted since the last checkpoint
	yielded := false
	var lastYield time.Time // when a transaction last made way for a write
	for limit <= 0 || total < limit {
		if total > 0 {
			if err := p.begin(ctx, op); err != nil {
				return total, err
			}
		}
		left := 0
		if limit > 0 {
			left = limit - total
		}
		start := time.Now()
		busy := !lastYield.IsZero() && start.Sub(lastYield) < sweepBusyFor
		n, done, y, err := p.sweep(ctx, cutoff, left, yielded, busy)
		yielded = y
		took := time.Since(start)
		if yielded {
			lastYield, busy = time.Now(), true
		}
		total += n
		if err != nil {
			return total, err
		}
		// While writes keep coming, checkpoint every sweepCheckpoint
		// rows, here; otherwise after each transaction, beside the
		// sweep.
		if unchecked += n; unchecked > 0 && (!busy || unchecked >= sweepCheckpoint || done) {
			p.checkpoint(ctx, busy)
			unchecked = 0
		}
		if done {
			break
		}
		if yielded {
			// Writes are coming in: leave them twice as much time as
			// the transaction took, so that the next ones need not
			// wait for the sweep either.
			select {
			case <-time.After(sweepPause * took):
			case <-ctx.Done():
			}
		}
	}
	return total, nil
}

// sweep runs one transaction of DeleteExpired: it deletes expired rows, in
// statements of p.chunk rows (at most sweepChunkBusy when busy), until
// none is left or left rows are deleted (left > 0): done; until a write is
// waiting: yielded; or until p.budget has passed, or after one statement
// when short.
func (p *Persister) sweep(ctx context.Context, cutoff int64, left int, short, busy bool) (n int, done, yielded bool, err error) {
	const op = "delete expired"
	if err := p.lockWrite(ctx, op); err != nil {
		return 0, false, false, err
	}
	defer p.unlockWrite()
	start := time.Now()
	// The connection is taken under the write lock, as every write does,
	// so that a pool of one connection cannot deadlock.
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return 0, false, false, fail(ctx, op, err)
	}
	defer conn.Close()
	// No automatic checkpoint inside this commit: DeleteExpired runs one
	// after it, outside the write lock.
	var auto int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil {
		return 0, false, false, fail(ctx, op, err)
	}
	if auto > 0 {
		if _, err := conn.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
			return 0, false, false, fail(ctx, op, err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA wal_autocheckpoint = `+strconv.Itoa(auto))
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, false, fail(ctx, op, err)
	}
	defer tx.Rollback()
	del := tx.StmtContext(ctx, p.deleteExpired)
	for {
		chunk := p.chunk
		if busy {
			chunk = min(chunk, sweepChunkBusy)
		}
		if left > 0 {
			chunk = min(chunk, left-n)
		}
		res, err := del.ExecContext(ctx, cutoff, chunk)
		if err != nil {
			return 0, false, false, fail(ctx, op, err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, false, false, fail(ctx, op, err)
		}
		n += int(k)
		if int(k) < chunk || (left > 0 && n >= left) {
			done = true
			break
		}
		if p.waiting.Load() > 0 {
			yielded = true
			break
		}
		if busy {
			// Writes keep coming: let the goroutines that are ready
			// run, the requests that will ask for the lock among
			// them, which on a machine with few processors may wait
			// for one.
			runtime.Gosched()
		}
		if short || time.Since(start) >= p.budget {
			break
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, false, false, fail(ctx, op, err)
	}
	return n, done, yielded, nil
}

// scanRecord scans the row of the load statement into r.
func scanRecord(row *sql.Row, r *qsessions.Record) error {
	var (
		version  int64
		text     string
		dataNull bool
	)
	if err := row.Scan(&version, &r.UserID, &text, &r.Data, &dataNull); err != nil {
		return err
	}
	id := r.ID
	if _, err := parseListing(text, r); err != nil {
		return err
	}
	r.ID, r.Version = id, version
	// The driver returns a zero-length BLOB as nil; tell it from NULL.
	if r.Data == nil && !dataNull {
		r.Data = []byte{}
	}
	return nil
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
