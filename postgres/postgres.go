package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qsessions/qsessions"
)

var _ qsessions.Persister = (*Persister)(nil)

// Defaults for the zero [Options].
const (
	DefaultSchema    = "public"
	DefaultTable     = "qsessions"
	DefaultBatchSize = 1000
)

// Options configure a [Persister]. A nil *Options and the zero value of
// every field mean the defaults.
type Options struct {
	// Schema is the PostgreSQL schema that holds the table; it is created
	// when missing. Default "public".
	Schema string

	// Table is the name of the sessions table. The migrations table is
	// named Table + "_migrations". Default "qsessions"; at most 40 bytes,
	// so that the names derived from it fit PostgreSQL's 63-byte limit.
	Table string

	// BatchSize is how many rows one DELETE statement of DeleteExpired
	// removes at most. Default 1000.
	BatchSize int
}

// maxTableLen leaves room for the longest derived name,
// table + "_user_updated_at_idx" (20 bytes, an index of schema versions 1
// and 2), within PostgreSQL's 63.
const maxTableLen = 40

// maxIdentLen is PostgreSQL's NAMEDATALEN - 1.
const maxIdentLen = 63

// A Persister is a [qsessions.Persister] backed by a PostgreSQL table.
// It is safe for concurrent use by multiple goroutines and by many
// processes sharing one database. Create it with [New] or [Open].
type Persister struct {
	pool      *pgxpool.Pool
	ownsPool  bool
	batchSize int
	table     string // schema-qualified, quoted

	qLoad, qCreate, qUpdate, qExists, qDelete string
	qList, qDeleteByUser, qDeleteBefore       string
}

// columns are the table's columns in the order of recordArgs.
const columns = "id, version, data, user_id, updated_at, expires_at, meta, meta_overflow"

// loadColumns are what Load reads, in the order of scanRecord: Meta is in
// meta or in meta_overflow (see splitMeta).
const loadColumns = "id, version, data, user_id, updated_at, expires_at, coalesce(meta, meta_overflow)"

// maxListedMeta is the longest Meta kept in the meta column, which the user
// index includes, so that a listing reads it without visiting the table.
// Every Meta a Store writes with its default options is shorter (a
// User-Agent of 300 bytes and the largest dbsc binding, about 650 bytes,
// come to about 1 KiB); a longer one is kept in meta_overflow, out of the
// index, whose B-tree entries cannot exceed 2704 bytes.
const maxListedMeta = 2000

// splitMeta returns the values of the meta and meta_overflow columns that
// store m: one of them holds m and the other is NULL (both are NULL for a
// nil m).
func splitMeta(m []byte) (listed, overflow []byte) {
	if len(m) > maxListedMeta {
		return nil, m
	}
	return m, nil
}

// New returns a Persister that stores sessions through pool, after
// migrating the schema (see the package documentation). The pool remains
// the caller's: [Persister.Close] does not close it. ctx bounds the
// migration only.
func New(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Persister, error) {
	if pool == nil {
		return nil, errors.New("postgres: nil pool")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: new: %w", err)
	}
	if err := migrate(ctx, pool, o.Schema, o.Table); err != nil {
		return nil, err
	}
	t := pgx.Identifier{o.Schema, o.Table}.Sanitize()
	return &Persister{
		pool:      pool,
		batchSize: o.BatchSize,
		table:     t,
		qLoad:     "SELECT " + loadColumns + " FROM " + t + " WHERE id = $1",
		qCreate:   "INSERT INTO " + t + " (" + columns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		qUpdate: "UPDATE " + t + " SET data = $3, user_id = $4, updated_at = $5, expires_at = $6," +
			" meta = $7, meta_overflow = $8, version = version + 1 WHERE id = $1 AND version = $2",
		qExists: "SELECT EXISTS (SELECT 1 FROM " + t + " WHERE id = $1)",
		qDelete: "DELETE FROM " + t + " WHERE id = ANY($1)",
		// Index-only: the user index holds every column listed but
		// meta_overflow, which the table gives for the rows that use it.
		qList: "SELECT s.id, s.version, s.updated_at, s.expires_at," +
			" coalesce(s.meta, (SELECT o.meta_overflow FROM " + t + " AS o WHERE o.id = s.id))" +
			" FROM " + t + " AS s WHERE s.user_id = $1 ORDER BY s.updated_at DESC, s.id",
		qDeleteByUser: "DELETE FROM " + t + " WHERE user_id = $1 AND id <> ALL($2) RETURNING id",
		qDeleteBefore: "DELETE FROM " + t + " WHERE id IN (SELECT id FROM " + t +
			" WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
	}, nil
}

// Open connects to the PostgreSQL server at dsn (a URL or key=value
// connection string, as [pgxpool.ParseConfig] accepts) and returns a
// Persister on a new pool, migrated as by [New]. [Persister.Close] closes
// that pool.
func Open(ctx context.Context, dsn string, opts *Options) (*Persister, error) {
	if _, err := opts.withDefaults(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// ParseConfig errors may echo the DSN, password included; say
		// only what kind of error it was.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			return nil, errors.New("postgres: open: invalid DSN")
		}
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	p, err := New(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	p.ownsPool = true
	return p, nil
}

// Close closes the pool if [Open] created it, waiting for connections in
// use to be returned; a pool passed to [New] is left open. Close always
// returns nil; it exists so that a Persister is an io.Closer.
func (p *Persister) Close() error {
	if p.ownsPool {
		p.pool.Close()
	}
	return nil
}

// Load returns the record with the given ID, or an error wrapping
// [qsessions.ErrNotFound].
func (p *Persister) Load(ctx context.Context, id string) (qsessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return qsessions.Record{}, fmt.Errorf("postgres: load: %w", err)
	}
	r, err := scanRecord(p.pool.QueryRow(ctx, p.qLoad, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return qsessions.Record{}, fmt.Errorf("postgres: load %q: %w", id, qsessions.ErrNotFound)
	}
	if err != nil {
		return qsessions.Record{}, fmt.Errorf("postgres: load: %w", err)
	}
	return r, nil
}

// Create inserts r, or returns an error wrapping [qsessions.ErrExists] when
// its ID is taken.
func (p *Persister) Create(ctx context.Context, r qsessions.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: create: %w", err)
	}
	if r.ID == "" {
		return errors.New("postgres: create: empty record ID")
	}
	_, err := p.pool.Exec(ctx, p.qCreate, recordArgs(r)...)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
			return fmt.Errorf("postgres: create %q: %w", r.ID, qsessions.ErrExists)
		}
		return fmt.Errorf("postgres: create: %w", err)
	}
	return nil
}

// Update replaces every field of the record with r's ID and stores it as
// version r.Version+1, when the stored version is r.Version. Otherwise it
// writes nothing and returns an error wrapping [qsessions.ErrConflict] when
// the record exists, or [qsessions.ErrNotFound] when it does not: Update
// never inserts.
func (p *Persister) Update(ctx context.Context, r qsessions.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: update: %w", err)
	}
	tag, err := p.pool.Exec(ctx, p.qUpdate, recordArgs(r)...)
	if err != nil {
		return fmt.Errorf("postgres: update: %w", err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	// Nothing matched. IDs are never reused, so a row that is there has
	// another version.
	var exists bool
	if err := p.pool.QueryRow(ctx, p.qExists, r.ID).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: update: %w", err)
	}
	if exists {
		return fmt.Errorf("postgres: update %q: stored version is not %d: %w", r.ID, r.Version, qsessions.ErrConflict)
	}
	return fmt.Errorf("postgres: update %q: %w", r.ID, qsessions.ErrNotFound)
}

// Delete removes the records with the given IDs; missing IDs are ignored.
func (p *Persister) Delete(ctx context.Context, ids ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: delete: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := p.pool.Exec(ctx, p.qDelete, ids); err != nil {
		return fmt.Errorf("postgres: delete: %w", err)
	}
	return nil
}

// ListByUser returns userID's records, newest UpdatedAt first (ties by ID),
// or an empty slice when there are none. It leaves Data out (nil) and
// returns every other field, Meta included: the listing is an index-only
// scan of the user index, which visits the table only for a Meta longer
// than the index keeps.
func (p *Persister) ListByUser(ctx context.Context, userID string) ([]qsessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list by user: %w", err)
	}
	rows, err := p.pool.Query(ctx, p.qList, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list by user: %w", err)
	}
	out := []qsessions.Record{}
	for rows.Next() {
		r := qsessions.Record{UserID: userID}
		if err := rows.Scan(&r.ID, &r.Version, &r.UpdatedAt, &r.ExpiresAt, &r.Meta); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: list by user: %w", err)
		}
		inUTC(&r)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list by user: %w", err)
	}
	return out, nil
}

// DeleteByUser removes userID's records except those listed in except, in
// one statement, and returns the removed IDs in ascending order.
func (p *Persister) DeleteByUser(ctx context.Context, userID string, except ...string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: delete by user: %w", err)
	}
	if except == nil {
		except = []string{} // a nil slice is sent as NULL, and "id <> ALL(NULL)" is never true
	}
	rows, err := p.pool.Query(ctx, p.qDeleteByUser, userID, except)
	if err != nil {
		return nil, fmt.Errorf("postgres: delete by user: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: delete by user: %w", err)
	}
	if ids == nil {
		ids = []string{}
	}
	slices.Sort(ids)
	return ids, nil
}

// DeleteExpired removes every record whose ExpiresAt is before before,
// oldest first, and returns how many it removed. It deletes in batches of
// at most Options.BatchSize rows, each one statement and so a short
// transaction of its own, skipping rows that another transaction holds
// locked: another sweeper's, which deletes them, or a write in flight. If
// ctx ends partway, DeleteExpired returns the count removed so far with an
// error wrapping ctx.Err(); the batch in flight is rolled back.
func (p *Persister) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	// Stored times have microsecond precision. A stored time E (a whole
	// number of microseconds) is before `before` exactly when it is before
	// `before` rounded up to the next microsecond; pgx would round down.
	if t := before.Truncate(time.Microsecond); t.Before(before) {
		before = t.Add(time.Microsecond)
	}
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("postgres: delete expired: %w", err)
		}
		tag, err := p.pool.Exec(ctx, p.qDeleteBefore, before, p.batchSize)
		if err != nil {
			return total, fmt.Errorf("postgres: delete expired: %w", err)
		}
		got := int(tag.RowsAffected())
		total += got
		if got < p.batchSize {
			// Nothing left, or the rest is locked (see above).
			return total, nil
		}
	}
}

// recordArgs returns r's fields in the order of columns. A nil Data or
// Meta is sent as NULL, an empty one as an empty bytea. A zero time is
// stored as it is, 0001-01-01 00:00:00 UTC, and comes back as the zero
// time.
func recordArgs(r qsessions.Record) []any {
	listed, overflow := splitMeta(r.Meta)
	return []any{r.ID, r.Version, r.Data, r.UserID, r.UpdatedAt, r.ExpiresAt, listed, overflow}
}

func scanRecord(row pgx.Row) (qsessions.Record, error) {
	var r qsessions.Record
	if err := row.Scan(&r.ID, &r.Version, &r.Data, &r.UserID, &r.UpdatedAt, &r.ExpiresAt, &r.Meta); err != nil {
		return qsessions.Record{}, err
	}
	inUTC(&r)
	return r, nil
}

// inUTC puts r's times in UTC; pgx returns them in the local time zone.
func inUTC(r *qsessions.Record) {
	r.UpdatedAt = r.UpdatedAt.UTC()
	r.ExpiresAt = r.ExpiresAt.UTC()
}

func (o *Options) withDefaults() (Options, error) {
	var v Options
	if o != nil {
		v = *o
	}
	if v.Schema == "" {
		v.Schema = DefaultSchema
	}
	if v.Table == "" {
		v.Table = DefaultTable
	}
	if v.BatchSize == 0 {
		v.BatchSize = DefaultBatchSize
	}
	if err := checkIdent("schema", v.Schema, maxIdentLen); err != nil {
		return Options{}, err
	}
	if strings.HasPrefix(v.Schema, "pg_") {
		return Options{}, fmt.Errorf("postgres: schema name %q: the pg_ prefix is reserved for system schemas", v.Schema)
	}
	if err := checkIdent("table", v.Table, maxTableLen); err != nil {
		return Options{}, err
	}
	if v.BatchSize < 0 {
		return Options{}, fmt.Errorf("postgres: negative BatchSize %d", v.BatchSize)
	}
	return v, nil
}

// checkIdent accepts plain SQL identifiers: ASCII letters, digits and
// underscores, not starting with a digit, at most max bytes.
func checkIdent(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("postgres: %s name %q is longer than %d bytes", what, s, max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return fmt.Errorf("postgres: invalid %s name %q: use ASCII letters, digits and underscores, not starting with a digit", what, s)
		}
	}
	return nil
}
