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
// The table has one row per session: id (text, primary key), version
// (bigint, Record.Version), data (bytea), user_id, ip and user_agent (text),
// created_at, updated_at and expires_at (timestamptz), authenticated_at
// (timestamptz), auth_method (text) and binding (bytea, NULL when the
// session is not device-bound). An index on (user_id, updated_at DESC, id)
// that also includes every other column but data serves ListByUser with an
// index-only scan (a listing leaves Data out) and DeleteByUser; one on
// expires_at serves DeleteExpired.
//
// The schema versions, each migrating the previous one in place:
//
//  1. create_sessions: the table, an index on (user_id, updated_at DESC)
//     and one on expires_at.
//  2. record_version: the version column, 1 for existing rows.
//  3. user_listing_index: the covering user index above replaces the
//     version-1 one.
//  4. authentication: authenticated_at and auth_method; existing rows get
//     the zero time (0001-01-01 00:00:00 UTC, read back as the zero
//     time.Time) and the empty string. The user index is rebuilt to
//     include them.
//  5. device_binding: binding, NULL for existing rows; the user index is
//     rebuilt to include it.
//
// The columns of versions 2, 4 and 5 have constant defaults (or none), so
// adding them rewrites no table; but versions 3, 4 and 5 each build the
// user index, and the migration runs in one transaction that holds the
// table's exclusive lock until it commits: on a large table, requests wait
// for it. Servers still
// running an older version keep working against the migrated table until
// they are replaced (rows they insert are unauthenticated and unbound),
// but a restarted old server refuses the newer schema.
//
// Because the user index includes them, a row's ip, user_agent,
// auth_method and binding together must fit in a B-tree index entry,
// whose limit is 2704 bytes after compression: a Create or Update whose
// entry is larger fails with SQLSTATE 54000. The bindings of package dbsc
// (under 700 bytes, RSA-4096 keys included) with the default
// [qsessions.Options.MaxUserAgent] are well within it.
//
// # Behaviour
//
// Times are stored as timestamptz, with microsecond precision, and returned
// in UTC. Update is a compare-and-swap on the version: it writes only where
// the stored version is the record's, and bumps it; another version makes it
// return an error wrapping [qsessions.ErrConflict]. Update never inserts: a
// row that is gone (revoked meanwhile) makes it return an error wrapping
// [qsessions.ErrNotFound]. Create maps a unique
// violation (SQLSTATE 23505) to [qsessions.ErrExists].
//
// DeleteExpired deletes in batches of [Options.BatchSize] rows, each batch
// its own short statement that locks its rows with FOR UPDATE SKIP LOCKED:
// two sweepers running on two machines share the work instead of waiting
// for each other, and neither holds locks for long.
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
