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
// so that write, and the writes queued behind it, pay for copying the log
// into the database, syncs to disk included; instead the Persister counts
// its writes and, every 256 of them, asks a goroutine of its own to
// checkpoint (PASSIVE: it waits for no one and blocks no write); a sweep
// checkpoints for itself (see Expiry). The log starts over only after a
// checkpoint that copied all of it, which busy writes can keep from
// happening; so once the log passes 8000 pages (32 MB) the goroutine
// copies what it can beside the writes, then the rest while the
// Persister's writes wait, as SQLite would have made one of them wait.
// Close stops that goroutine; closing the database's last connection
// checkpoints it. Processes that open the file with SQLite's defaults keep
// checkpointing as SQLite does.
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
// they run when a Persister is made, inside one IMMEDIATE transaction, so
// that a migration that fails partway leaves the table as it was. The
// version of each sessions table is recorded in the table qsessions_schema
// (columns table_name, version). Opening a database that is already up to
// date writes nothing, so a read-only database can be opened and read;
// opening a table whose recorded version is newer than this package knows
// ([SchemaVersion]) is an error, never a silent downgrade.
//
// The sessions table is named "qsessions" unless [Options].Table says
// otherwise (letters, digits and underscores only). Schema version 6 holds
// the fields of a [qsessions.Record], each in a column of its own:
//
//	CREATE TABLE qsessions (
//		id         TEXT    NOT NULL, -- Record.ID
//		version    INTEGER NOT NULL, -- Record.Version
//		user_id    TEXT    NOT NULL, -- Record.UserID, "" when anonymous
//		updated_at INTEGER NOT NULL, -- Record.UpdatedAt, Unix milliseconds UTC
//		expires_at INTEGER NOT NULL, -- Record.ExpiresAt, Unix milliseconds UTC
//		meta       BLOB    NOT NULL, -- Record.Meta, as the Store encoded it; empty for nil
//		data       BLOB              -- Record.Data; NULL for nil Data
//	) STRICT;
//	CREATE INDEX qsessions_id ON qsessions (substr(id, 1, 8));                -- Load, Update, Delete
//	CREATE INDEX qsessions_user ON qsessions (user_id, updated_at DESC,       -- ListByUser, DeleteByUser
//		(printf('%d %d %d %d %d ', version, updated_at, expires_at, octet_length(id), octet_length(meta)) || id || meta));
//	CREATE INDEX qsessions_expires ON qsessions (expires_at);                 -- DeleteExpired
//
// Everything the Store keeps about a session beyond those fields (its IP,
// User-Agent, creation time, authentication time and method, device
// binding, and whatever later versions add) is in meta, which the
// Persister stores and returns as it is; [qsessions.DecodeMeta] reads it,
// in Go. A new Store feature therefore needs no new schema version.
// Version 6 migrated the columns and the listing text of earlier versions
// into meta. Times are stored as whole milliseconds (sub-millisecond parts
// are dropped; the Store never produces them) and come back in UTC; the
// zero time round-trips.
//
// The layout is chosen for listing a user's sessions and for deleting
// expired ones by the hundred thousand:
//   - a listing is one statement that reads the user index alone, no row:
//     the index holds, for each session, every field a listing returns as
//     one text (five integers, then the ID and Meta), which SQLite
//     computes when it writes the row; the statement concatenates them
//     (group_concat), returning one value that the Persister parses. The
//     cost of a listing is mostly one index lookup;
//   - deleting a row writes every index page that holds one of its
//     entries; the rows and the expiry index are in expiry order (rows are
//     appended in creation order, which is expiry order for a fixed
//     lifetime, and the migrations that rebuilt the table, to versions 3
//     and 6, copied them in expiry order), the ID and user indexes are
//     not, so the ID index holds only the first 8 bytes of each ID (48
//     random bits for the IDs the Store makes, a third of the whole ID's
//     size), lookups compare the whole ID in the row, and Create checks
//     uniqueness in the statement that inserts.
//
// Update is a compare-and-swap: it writes only where the stored version is
// the record's, and bumps it.
//
// # Expiry
//
// [Persister.DeleteExpired] deletes every expired row, oldest first, in
// transactions that each hold the write lock for about
// [Options].SweepBudget (5ms by default), in statements of 16 rows, and
// yields the processor between statements. When another write of the
// Persister is waiting, the sweep commits after the statement in progress
// and lets it go first, then pauses three times as long as its transaction
// took: a write waits for at most one statement, and a sweep holds the lock
// at most a quarter of the time of a busy site. Every 256 rows the write-ahead
// log is checkpointed outside the write lock, so that no write pays for
// copying the sweep's pages: by the Persister's goroutine, beside the
// sweep, while the site is quiet; once the sweep has made way for a write,
// by the sweep itself, which from then on deletes 4 rows per statement,
// so that the sweep and its checkpoints keep one processor busy, not two.
// Over a *sql.DB with SQLite's automatic checkpoints on (see New), the
// sweep checkpoints itself all along, and SQLite may still run one in a
// commit.
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
