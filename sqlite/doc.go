// Package sqlite provides a [qsessions.Persister] that stores sessions in an
// SQLite database through modernc.org/sqlite, a pure-Go (cgo-free) build of
// SQLite: the default durable store for a program that runs on one machine.
//
// Use [Open] to let the package open and own the database file, or [New] to
// use a *sql.DB that you opened with the "sqlite" driver yourself:
//
//	p, err := sqlite.Open("sessions.db", nil)
//	if err != nil {
//		return err
//	}
//	defer p.Close()
//	st, err := qsessions.New(memory.NewCache(), p, nil)
//
// # Connection settings
//
// Open puts the database in WAL mode with synchronous=NORMAL (readers never
// block the writer and a commit costs no fsync; a power loss can lose the
// last commits but never corrupts the file), sets a busy timeout (5 seconds
// by default, see [Options]), begins transactions with BEGIN IMMEDIATE and
// keeps a small pool of connections. Writes made through one Persister are
// queued in Go rather than in SQLite's busy handler, so concurrent writers in
// one process never see SQLITE_BUSY; the busy timeout covers other
// processes that write to the same file.
//
// Open also turns SQLite's automatic checkpoints off. SQLite runs one in
// the commit of whichever write finds the write-ahead log over 1000 pages,
// so that write pays for copying the log into the database, fsync
// included; instead the Persister counts its writes and, every 256 of them
// and every 256 rows of a sweep, asks a goroutine of its own to checkpoint
// (PASSIVE: it waits for no one and blocks no write). The log starts over
// only after a checkpoint that copied all of it, which busy writes can
// keep from happening; so once the log passes 8000 pages (32 MB) the
// goroutine checkpoints until little is left to copy and copies that while
// the Persister's writes wait, as SQLite would have made one of them wait. Close stops that goroutine;
// closing the database's last connection checkpoints it. Processes that
// open the file with SQLite's defaults keep checkpointing as SQLite does.
//
// The path ":memory:" opens a private in-memory database on a single
// connection, so that every call sees the same database; it vanishes on
// Close. Any other path is a file name (not a URI). To use URI parameters,
// another journal mode or your own pool, open the *sql.DB yourself and call
// New.
//
// Open leaves SQLite's page cache at its default (2 MB per connection) and
// memory-mapped I/O off, as measured on 100,000 sessions: a larger cache
// did not make random users' listings faster (each reads pages that no
// other listing read). Memory-mapped reads
// (?_pragma=mmap_size(1073741824) in the DSN of a *sql.DB passed to New)
// made Load and ListByUser 18% faster (go test -bench 'Load$|ListByUser$'
// ./sqlite/ with QSESSIONS_SQLITE_BENCH_SESSIONS=100000), but an I/O error
// on a mapped page, or the file truncated by another program, is then a
// signal that crashes the process rather than an error: a choice for the
// application, not a default.
//
// A database that Open opened is closed by [Persister.Close]. A *sql.DB
// passed to New belongs to the caller: Close releases the prepared
// statements but leaves the *sql.DB open.
//
// # Schema
//
// The schema is embedded in the package as a list of migrations, one per
// schema version, each taking a table from the previous version in place;
// they run when a Persister is made, inside one IMMEDIATE transaction. The
// version of each sessions table is recorded in the table qsessions_schema
// (columns table_name, version). Opening a database that is already up to
// date writes nothing, so a read-only database can be opened and read;
// opening a table whose recorded version is newer than this package knows
// ([SchemaVersion]) is an error, never a silent downgrade.
//
// The sessions table is named "qsessions" unless [Options].Table says
// otherwise (letters, digits and underscores only). Schema version 5 (the
// table has had this shape since version 3; versions 4 and 5 added the
// authentication and the device binding to its listing text) is:
//
//	CREATE TABLE qsessions (
//		id         TEXT    NOT NULL, -- Record.ID
//		version    INTEGER NOT NULL, -- Record.Version
//		user_id    TEXT    NOT NULL, -- Record.UserID, "" when anonymous
//		updated_at INTEGER NOT NULL, -- Record.UpdatedAt, Unix milliseconds UTC
//		expires_at INTEGER NOT NULL, -- Record.ExpiresAt, Unix milliseconds UTC
//		listing    TEXT    NOT NULL, -- every field but Data and UserID, see below
//		data       BLOB              -- Record.Data; NULL for nil Data
//	) STRICT;
//	CREATE INDEX qsessions_id ON qsessions (substr(id, 1, 8));                     -- Load, Update, Delete
//	CREATE INDEX qsessions_user ON qsessions (user_id, updated_at DESC, listing);  -- ListByUser, DeleteByUser
//	CREATE INDEX qsessions_expires ON qsessions (expires_at);                      -- DeleteExpired
//
// The listing text holds seven decimal integers, each followed by a space
// (Version; CreatedAt, UpdatedAt and ExpiresAt in Unix milliseconds; the
// lengths in bytes of ID, IP and UserAgent), then ID, IP and UserAgent back
// to back; then AuthenticatedAt in Unix milliseconds and the length of
// AuthMethod, each followed by a space, and AuthMethod; then the length of
// Binding in unpadded standard base64, a space, and that base64. Times are
// stored as whole milliseconds (sub-millisecond parts are dropped; the
// Store never produces them) and come back in UTC; the zero time round-
// trips.
//
// The layout is chosen for listing a user's sessions and for deleting
// expired ones by the hundred thousand:
//   - a listing is one statement that concatenates the listing texts of a
//     user from the user index (group_concat), reading no row and
//     returning one value, which the Persister parses: the cost of a
//     listing is mostly one index lookup;
//   - deleting a row writes every index page that holds one of its
//     entries; the rows and the expiry index are in expiry order (rows are
//     appended in creation order, which is expiry order for a fixed
//     lifetime, and version 3's migration copies them in expiry order),
//     the ID and user indexes are not, so the ID index holds only the
//     first 8 bytes of each ID (48 random bits for the IDs the Store
//     makes, a third of the whole ID's size), lookups compare the whole ID
//     in the row, and Create checks uniqueness in the statement that
//     inserts.
//
// Update is a compare-and-swap: it writes only where the stored version is
// the record's, and bumps it.
//
// # Expiry
//
// [Persister.DeleteExpired] deletes expired rows, oldest first, in
// transactions that each hold the write lock for about
// [Options].SweepBudget (5ms by default), in statements of 16 rows. When
// another write of the Persister is waiting, the sweep commits after the
// statement in progress and lets it go first, then pauses twice as long as
// its transaction took and goes on in one-statement transactions while
// writes keep coming: a write waits for at most one statement, and a sweep
// holds the lock at most a third of the time of a busy site. For a second
// after it made way for a write, its statements delete 4 rows and it
// yields the processor between them. The write-ahead log is checkpointed
// outside the write lock, so that no write pays for copying the sweep's
// pages: after each transaction, beside the sweep, while the site is
// quiet; every 256 rows, in the sweep's own goroutine, while it is busy,
// so that the sweep keeps one processor busy, not two. A limit caps the
// total; with no limit one call clears everything that expired.
//
// # Platforms
//
// The package builds wherever modernc.org/sqlite does (linux, darwin,
// windows, freebsd and others, with CGO_ENABLED=0). It does not build for
// WebAssembly (js/wasm, wasip1/wasm): modernc.org/libc has no wasm port.
// There every file but this one is excluded, so the package is empty and
// "go vet ./..." and "go build ./..." of the module still succeed; use the
// postgres package or your own Persister there.
package sqlite
