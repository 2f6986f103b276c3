package django

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A dialect is what differs between the two databases: the driver, how
// parameters, datetimes and lists travel, and how the catalog is read.
// Queries are written with PostgreSQL's $n parameters; the SQLite dialect
// turns them into ?n, which SQLite reads the same way.
type dialect interface {
	query(ctx context.Context, q string, args ...any) (rowsIter, error)
	exec(ctx context.Context, q string, args ...any) (int64, error)

	// qualify quotes a table name, in schema when there is one.
	qualify(schema, table string) string
	// columns returns the columns of a table and their types; none when
	// the table does not exist.
	columns(ctx context.Context, schema, table string) (map[string]string, error)
	// cast returns the SQL that gives the parameter "?" to a column of
	// type typ, which may need a cast from text.
	cast(column, typ string) string

	// timeArg is a datetime as a parameter; newTime a scan target for a
	// nullable datetime column, which scanTime reads: the time, in UTC,
	// the value as the database returned it (to compare with later),
	// and whether it was not NULL.
	timeArg(t time.Time) any
	newTime() any
	scanTime(v any) (t time.Time, raw any, ok bool, err error)

	// inList is the SQL condition "column is one of the parameter", and
	// listArg that parameter.
	inList(column, param string) string
	listArg(ids []string) any

	// badValue reports an error of a value that the column cannot hold,
	// such as a user ID that is not a number for an integer key, or that
	// its foreign key does not find.
	badValue(err error) bool

	// selectTime and selectText are how a query reads a datetime column
	// and a column as text.
	selectTime(column string) string
	selectText(column string) string
	selectIP(column string) string
	skipLocked() string
}

type rowsIter interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// sqliteDialect runs on a *sql.DB of modernc.org/sqlite. Django stores a
// datetime in SQLite as text, "YYYY-MM-DD HH:MM:SS[.ffffff]", naive, in
// UTC when USE_TZ is True (else in TIME_ZONE): loc.
type sqliteDialect struct {
	db  *sql.DB
	loc *time.Location
}

func sqliteParams(q string) string { return strings.ReplaceAll(q, "$", "?") }

func (d sqliteDialect) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
	return d.db.QueryContext(ctx, sqliteParams(q), args...)
}

func (d sqliteDialect) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := d.db.ExecContext(ctx, sqliteParams(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (sqliteDialect) qualify(_, table string) string { return `"` + table + `"` }

func (d sqliteDialect) columns(ctx context.Context, _, table string) (map[string]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	return collectColumns(rows)
}

func collectColumns(rows rowsIter) (map[string]string, error) {
	defer rows.Close()
	cols := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		cols[strings.ToLower(name)] = strings.ToLower(typ)
	}
	return cols, rows.Err()
}

// cast: SQLite converts a text parameter to the column's affinity itself.
func (sqliteDialect) cast(string, string) string { return "?" }

// The format of Python's str(datetime): microseconds only when not zero.
const (
	djangoTime  = "2006-01-02 15:04:05"
	djangoMicro = ".000000"
)

func (d sqliteDialect) timeArg(t time.Time) any { return formatSQLiteTime(t, d.loc) }

func formatSQLiteTime(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	s := t.Format(djangoTime)
	if t.Nanosecond()/1000 != 0 {
		s += t.Format(djangoMicro)
	}
	return s
}

func (sqliteDialect) newTime() any { return new(sql.NullString) }

// sqliteTimes are the layouts of the datetimes Django's SQLite backend
// reads (django.utils.dateparse.parse_datetime, which also takes a "T" and
// an offset).
var sqliteTimes = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
}

func (d sqliteDialect) scanTime(v any) (time.Time, any, bool, error) {
	s := v.(*sql.NullString)
	if !s.Valid {
		return time.Time{}, nil, false, nil
	}
	for _, layout := range sqliteTimes {
		if t, err := time.ParseInLocation(layout, s.String, d.loc); err == nil {
			return t.UTC(), s.String, true, nil
		}
	}
	return time.Time{}, nil, false, fmt.Errorf("django: unreadable datetime %q", s.String)
}

func (sqliteDialect) inList(column, param string) string {
	return column + " IN (SELECT value FROM json_each(" + param + "))"
}

func (sqliteDialect) listArg(ids []string) any {
	b, _ := json.Marshal(ids)
	return string(b)
}

func (sqliteDialect) badValue(error) bool { return false }

func (sqliteDialect) selectTime(c string) string { return "CAST(" + c + " AS TEXT)" }
func (sqliteDialect) selectText(c string) string { return "CAST(" + c + " AS TEXT)" }
func (sqliteDialect) selectIP(c string) string   { return c }
func (sqliteDialect) skipLocked() string         { return "" }

// postgresDialect runs on a pgx pool.
type postgresDialect struct{ pool *pgxpool.Pool }

func (d postgresDialect) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgRows{rows}, nil
}

func (d postgresDialect) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := d.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// pgRows gives pgx.Rows the Close of database/sql's.
type pgRows struct{ pgx.Rows }

func (r pgRows) Close() error {
	r.Rows.Close()
	return r.Rows.Err()
}

func (postgresDialect) qualify(schema, table string) string {
	if schema == "" {
		return pgx.Identifier{table}.Sanitize()
	}
	return pgx.Identifier{schema, table}.Sanitize()
}

func (d postgresDialect) columns(ctx context.Context, schema, table string) (map[string]string, error) {
	rows, err := d.query(ctx, `SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, d.qualify(schema, table))
	if err != nil {
		return nil, err
	}
	return collectColumns(rows)
}

// cast: a text parameter given to a column of another type (integer,
// bigint, uuid, inet) is cast to it by name.
func (postgresDialect) cast(_, typ string) string {
	if typ == "" || typ == "text" || strings.HasPrefix(typ, "character") {
		return "?"
	}
	return "CAST(? AS " + typ + ")"
}

func (postgresDialect) timeArg(t time.Time) any { return t }
func (postgresDialect) newTime() any            { return new(sql.NullTime) }

func (postgresDialect) scanTime(v any) (time.Time, any, bool, error) {
	t := v.(*sql.NullTime)
	if !t.Valid {
		return time.Time{}, nil, false, nil
	}
	return t.Time.UTC(), t.Time, true, nil
}

func (postgresDialect) inList(column, param string) string { return column + " = ANY(" + param + ")" }

func (postgresDialect) listArg(ids []string) any {
	if ids == nil {
		return []string{}
	}
	return ids
}

func (postgresDialect) badValue(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "22P02", "22003", "23503": // invalid_text_representation, numeric_value_out_of_range, foreign_key_violation
		return true
	}
	return false
}

func (postgresDialect) selectTime(c string) string { return c }
func (postgresDialect) selectText(c string) string { return c + "::text" }
func (postgresDialect) selectIP(c string) string   { return "host(" + c + ")" }
func (postgresDialect) skipLocked() string         { return " FOR UPDATE SKIP LOCKED" }

// NewSQLite returns a Persister over the Django site's session table in
// db, an SQLite database opened with the "sqlite" driver of
// modernc.org/sqlite (cgo-free), after checking that the table (and,
// unless Options.NoUserTable, the user table) has the columns it needs.
// It never creates or alters a table. The db stays the caller's.
//
// Django and Go then write to one file from several processes: open db
// with a busy timeout, for example
// "file:db.sqlite3?_pragma=busy_timeout(5000)", as Django's own
// connections wait 5 seconds. ctx bounds the checks only.
func NewSQLite(ctx context.Context, db *sql.DB, opts *Options) (*Persister, error) {
	if db == nil {
		return nil, errors.New("django: NewSQLite: nil *sql.DB")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Schema != "" {
		return nil, errors.New("django: NewSQLite: Options.Schema is for PostgreSQL")
	}
	return newPersister(ctx, sqliteDialect{db: db, loc: o.TimeZone}, o)
}

// NewPostgres returns a Persister over the Django site's session table in
// the PostgreSQL database of pool, after checking that the table (and,
// unless Options.NoUserTable, the user table) has the columns it needs.
// It never creates or alters a table. The pool stays the caller's. ctx
// bounds the checks only.
func NewPostgres(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Persister, error) {
	if pool == nil {
		return nil, errors.New("django: NewPostgres: nil pool")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return newPersister(ctx, postgresDialect{pool: pool}, o)
}
