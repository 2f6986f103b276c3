// Package postgres provides a [qsessions.Persister] on PostgreSQL through
// github.com/jackc/pgx/v5: the durable store for deployments in which
// several app servers share their sessions.
//
// Use [Open] to connect with a DSN, or [New] to use a [pgxpool.Pool] that the
// application already owns:
//
//	p, err := postgres.Open(ctx, "postgres://app@db.internal/app", nil)
//	if err != nil { ... }
//	defer p.Close()
//	st, err := qsessions.New(cache, p, nil)
//
// # Schema and migrations
//
// The schema is embedded in the package as a list of migrations, one per
// schema version, each taking the table from the previous version in place.
// New creates the PostgreSQL schema (when missing), the sessions table and
// its indexes, and records every migration it applies, with its version, in
// a companion table named "<table>_migrations". When the table is already
// current, New only reads the version and runs no DDL and takes no lock, so
// the database role of a running app server needs no CREATE privilege once
// the first deployment has migrated. Otherwise the migrations run in one
// transaction that first takes pg_advisory_xact_lock on a key derived from
// the schema and table names, so any number of app servers may start at
// once: exactly one of them migrates and the others wait for it, then find
// the schema up to date. A database migrated by a newer version of this
// package ([SchemaVersion]) is refused rather than silently misused.
//
// [Options] choose the schema (default "public") and table (default
// "qsessions"). Names must be plain SQL identifiers (ASCII letters, digits
// and underscores, not starting with a digit); they are always quoted, so
// they are case-sensitive.
//
// The table has one row per session, with the fields of a
// [qsessions.Record] that this package indexes or orders by as columns: id
// (text, primary key), version (bigint, Record.Version), user_id (text),
// updated_at and expires_at (timestamptz); and the two blobs it stores as
// they are: data (bytea, the session's values) and Record.Meta, everything
// else the Store keeps about a session (client IP, User-Agent, creation
// time, how and when its user signed in, its device binding, and whatever
// later versions of the Store add), which package qsessions encodes and
// [qsessions.DecodeMeta] decodes. Meta is in the meta column (bytea) when
// it is at most 2,000 bytes long, as every Meta a Store writes with its
// default options is (a 300-byte User-Agent and the largest binding of
// package dbsc, about 650 bytes, come to about 1 KiB), and in
// meta_overflow otherwise; the other of the two is NULL. An index on
// (user_id, updated_at DESC, id) that also includes version, expires_at and
// meta serves ListByUser with an index-only scan (a listing leaves Data
// out; it reads the table only for the rows whose Meta is in
// meta_overflow) and DeleteByUser; one on expires_at serves DeleteExpired.
// A new field of the Store changes neither this package nor its schema.
//
// The table keeps no column of its own for the client IP, since none of
// this package's queries needs one: a program that looks sessions up by IP
// reads meta (or meta_overflow) and decodes it with [qsessions.DecodeMeta],
// and [qsessions.Store.Sessions] lists a user's sessions with their IPs.
//
// The schema versions, each migrating the previous one in place:
//
//  1. create_sessions: the table, with ip, user_agent and created_at
//     columns, an index on (user_id, updated_at DESC) and one on
//     expires_at.
//  2. record_version: the version column, 1 for existing rows.
//  3. user_listing_index: a user index on (user_id, updated_at DESC, id)
//     including every column a listing returns replaces the version-1
//     one.
//  4. authentication: authenticated_at and auth_method; existing rows get
//     the zero time (0001-01-01 00:00:00 UTC) and the empty string. The
//     user index is rebuilt to include them.
//  5. device_binding: binding, NULL for existing rows; the user index is
//     rebuilt to include it.
//  6. narrow_record: meta and meta_overflow replace ip, user_agent,
//     created_at, authenticated_at, auth_method and binding. Each row's
//     values of those columns are encoded, as [qsessions.EncodeMeta] and the
//     Store do, into its Meta (times to the millisecond, the precision Meta
//     keeps and the Store always wrote; an ip that is not an address is
//     left out); the columns are dropped and the user index is rebuilt to
//     include meta.
//
// The columns of versions 2, 4 and 5 have constant defaults (or none), so
// adding them rewrites no table; but versions 3 to 6 each build the user
// index, version 6 rewrites every row (in batches of 1,000; 200,000 rows
// took 16 seconds on a busy 2-core machine, and the table takes about
// twice its space until autovacuum reclaims the old rows), and the
// migration runs in one transaction that holds the table's exclusive lock
// until it commits: on a large table, requests wait for it. A migration
// that fails or whose context ends leaves the table as it was, at its old
// version. Up to version 5, servers still running an older version kept
// working against the migrated table until they were replaced (rows they
// inserted were unauthenticated and unbound). From version 6 they cannot:
// their statements name the dropped columns and fail, so that none of them
// writes a session that newer servers would read without its metadata, or
// serves one without its device binding. Replace every server of a version
// before 6 at once (or accept that their requests fail until they are
// replaced); a restarted old server refuses the newer schema.
//
// Because the user index includes them, a row's user_id and meta together
// must fit in a B-tree index entry, whose limit is 2704 bytes: with Meta of
// at most 2,000 bytes in it, user IDs of up to about 600 bytes fit; a
// Create or Update whose entry is larger fails with SQLSTATE 54000.
//
// # Behaviour
//
// Times are stored as timestamptz, with microsecond precision, and returned
// in UTC (the zero time as the zero time). A nil Data or Meta is stored as
// NULL and an empty one as an empty bytea, and each comes back as it was
// given. Update is a compare-and-swap on the version: it writes only where
// the stored version is the record's, and bumps it; another version makes
// it return an error wrapping [qsessions.ErrConflict]. Update never
// inserts: a row that is gone (revoked meanwhile) makes it return an error
// wrapping [qsessions.ErrNotFound]. Create maps a unique violation
// (SQLSTATE 23505) to [qsessions.ErrExists].
//
// DeleteExpired removes every expired row, oldest first, in batches of
// [Options.BatchSize] rows, each batch its own short statement (and so its
// own transaction) that locks its rows with FOR UPDATE SKIP LOCKED: two
// sweepers running on two machines share the work instead of waiting for
// each other, neither holds locks for long, and a sweep whose context ends
// keeps the batches it finished.
//
// Every method honours its context: a context that is already cancelled
// returns an error wrapping ctx.Err() before anything is sent to the server.
// Connection failures surface as errors and the pool replaces broken
// connections, so a restarted or failed-over server costs the requests in
// flight, not the process.
//
// # Connection pools
//
// A pool passed to New belongs to the caller, who closes it; [Persister.Close]
// closes only a pool that [Open] created. By default pgx prepares and caches
// statements on each connection; behind a transaction-pooling proxy such as
// PgBouncer, set default_query_exec_mode=exec (or simple_protocol) in the
// DSN.
package postgres
