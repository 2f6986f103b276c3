//go:build !js && !wasip1

package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/binding"
)

// schemaTable records the schema version of each sessions table, one row
// per table: (table_name, version). It has had this shape since version 1.
const schemaTable = "qsessions_schema"

// SchemaVersion is the version of the schema this package creates and
// expects, as recorded in the qsessions_schema table.
const SchemaVersion = len(migrations)

// A migration takes a sessions table from one schema version to the next.
// Its SQL may hold several statements; in it {{table}} stands for the
// table's quoted name and {{name}} for its bare name, from which index
// names are derived. A migration that needs Go runs copy after sql and then
// the SQL of then, all in the same transaction.
type migration struct {
	name string // what it does, in a word or three
	sql  string
	copy func(ctx context.Context, conn *sql.Conn, table string) error
	then string
}

// migrations[i] takes a sessions table from version i to version i+1, all of
// them in one transaction. Append; never edit a released entry, since
// databases in the field were made by it.
var migrations = [...]migration{
	{name: "create_sessions", sql: `CREATE TABLE {{table}} (
		id         TEXT    NOT NULL PRIMARY KEY,
		data       BLOB,
		user_id    TEXT    NOT NULL,
		ip         TEXT    NOT NULL,
		user_agent TEXT    NOT NULL,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	) STRICT;
	CREATE INDEX "{{name}}_user_updated" ON {{table}} (user_id, updated_at DESC, id);
	CREATE INDEX "{{name}}_expires" ON {{table}} (expires_at);`},

	// Version 2: Record.Version, for Update's compare-and-swap. Rows
	// written before it are version 1.
	{name: "record_version", sql: `ALTER TABLE {{table}} ADD COLUMN version INTEGER NOT NULL DEFAULT 1;`},

	// Version 3: the scale layout. Deleting a row costs a write to every
	// index page that holds one of its entries, so the indexes that are in
	// no order of expiry are kept narrow or earn their width:
	//   - the primary key on the 43-byte id gives way to an index on its
	//     first 8 bytes (48 random bits for the Store's IDs), a third of
	//     the size; the lookups compare the whole id in the row, and
	//     Create checks uniqueness itself;
	//   - what a listing returns of a session (all but its values) is kept
	//     as one text, listing, in the user index, after updated_at (the
	//     listing's order), which a listing reads and concatenates in one
	//     step, reading no row (see v5Listing for its format).
	// The rows are copied in expiry order, so that the rows a sweep
	// deletes together sit together; new rows are appended in creation
	// order, which is expiry order for a fixed lifetime.
	{name: "scale_layout", sql: `CREATE TABLE "{{name}}_v3" (
		id         TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		user_id    TEXT    NOT NULL,
		updated_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		listing    TEXT    NOT NULL,
		data       BLOB
	) STRICT;
	INSERT INTO "{{name}}_v3" (id, version, user_id, updated_at, expires_at, listing, data)
		SELECT id, version, user_id, updated_at, expires_at,
			printf('%d %d %d %d %d %d %d ', version, created_at, updated_at, expires_at,
				octet_length(id), octet_length(ip), octet_length(user_agent)) || id || ip || user_agent,
			data
		FROM {{table}} ORDER BY expires_at, id;
	DROP TABLE {{table}};
	ALTER TABLE "{{name}}_v3" RENAME TO "{{name}}";
	CREATE INDEX "{{name}}_id" ON {{table}} (substr(id, 1, 8));
	CREATE INDEX "{{name}}_user" ON {{table}} (user_id, updated_at DESC, listing);
	CREATE INDEX "{{name}}_expires" ON {{table}} (expires_at);`},

	// Version 4: authentication metadata, appended to the listing text:
	// sessions stored before it were never authenticated as far as the
	// record knows, so the zero time (-62135596800000 ms) and no method.
	{name: "auth_metadata", sql: `UPDATE {{table}} SET listing = listing || '-62135596800000 0 ';`},

	// Version 5: device binding, appended to the listing text, in base64:
	// sessions stored before it are unbound.
	{name: "device_binding", sql: `UPDATE {{table}} SET listing = listing || '0 ';`},

	// Version 6: the narrow Record. What the Store keeps beyond the
	// indexed fields is one opaque blob, Record.Meta, column meta, which
	// the root package encodes: copyV5 encodes each row's IP, User-Agent,
	// creation and authentication times, method and binding, read from
	// its listing text, into it. The user index holds each row's listing,
	// which SQLite computes from the row when it writes it (an index on
	// an expression, listingSQL), so that a listing still reads no row
	// and computes nothing. The rows are copied in expiry order, as
	// version 3 did.
	{name: "meta_blob", sql: `CREATE TABLE "{{name}}_v6" (
		id         TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		user_id    TEXT    NOT NULL,
		updated_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		meta       BLOB    NOT NULL,
		data       BLOB
	) STRICT;`,
		copy: copyV5,
		then: `DROP TABLE {{table}};
	ALTER TABLE "{{name}}_v6" RENAME TO "{{name}}";
	CREATE INDEX "{{name}}_id" ON {{table}} (substr(id, 1, 8));
	CREATE INDEX "{{name}}_user" ON {{table}} (user_id, updated_at DESC,
		(printf('%d %d %d %d %d ', version, updated_at, expires_at, octet_length(id), octet_length(meta)) || id || meta));
	CREATE INDEX "{{name}}_expires" ON {{table}} (expires_at);`},
}

// copyV5 copies the rows of a version 5 table into the version 6 table, in
// expiry order, each with its listing text turned into Meta.
func copyV5(ctx context.Context, conn *sql.Conn, table string) error {
	rows, err := conn.QueryContext(ctx, `SELECT id, version, user_id, updated_at, expires_at, listing, data, data IS NULL
		FROM "`+table+`" ORDER BY expires_at, rowid`)
	if err != nil {
		return err
	}
	defer rows.Close()
	insert, err := conn.PrepareContext(ctx, `INSERT INTO "`+table+`_v6" (id, version, user_id, updated_at, expires_at, meta, data)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer insert.Close()
	for rows.Next() {
		var (
			id, userID, listing string
			version, up, exp    int64
			data                []byte
			dataNull            bool
		)
		if err := rows.Scan(&id, &version, &userID, &up, &exp, &listing, &data, &dataNull); err != nil {
			return err
		}
		meta, err := v5Meta(listing)
		if err != nil {
			return fmt.Errorf("session %q: %w", id, err)
		}
		if data == nil && !dataNull {
			data = []byte{} // the driver reads a zero-length BLOB as nil
		}
		if _, err := insert.ExecContext(ctx, id, version, userID, up, exp, meta, data); err != nil {
			return err
		}
	}
	return rows.Err()
}

// v5Meta returns the Meta of the session whose version 5 listing text is s:
//
//	version created updated expires len(id) len(ip) len(ua) SP id ip ua
//	authenticated len(method) SP method len(binding) SP binding
//
// decimal integers (times in Unix milliseconds, lengths in bytes), each
// followed by a space, the strings back to back after their lengths, and
// the binding in unpadded standard base64. Version, ID and the other times
// are columns of their own.
func v5Meta(s string) ([]byte, error) {
	var v [7]int64
	s, err := parseInts(s, v[:])
	if err != nil {
		return nil, err
	}
	lid, lip, lua := v[4], v[5], v[6]
	if lid < 0 || lip < 0 || lua < 0 || lid+lip+lua > int64(len(s)) {
		return nil, errListing
	}
	info := qsessions.SessionInfo{CreatedAt: fromMS(v[1])}
	s = s[lid:]
	info.IP, s = s[:lip], s[lip:]
	info.UserAgent, s = s[:lua], s[lua:]
	var auth [2]int64
	if s, err = parseInts(s, auth[:]); err != nil {
		return nil, err
	}
	if auth[1] < 0 || auth[1] > int64(len(s)) {
		return nil, errListing
	}
	info.AuthenticatedAt = fromMS(auth[0])
	info.AuthMethod, s = s[:auth[1]], s[auth[1]:]
	var lb [1]int64
	if s, err = parseInts(s, lb[:]); err != nil {
		return nil, err
	}
	if lb[0] < 0 || lb[0] != int64(len(s)) {
		return nil, errListing
	}
	bound, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, errListing
	}
	meta := qsessions.EncodeMeta(info)
	if len(bound) > 0 {
		return binding.SetInMeta(meta, bound)
	}
	return meta, nil
}

// migrate brings table to SchemaVersion. A database that is up to date is
// only read, so read-only databases can be opened.
func migrate(ctx context.Context, db *sql.DB, table string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()

	v, err := schemaVersion(ctx, conn, table)
	if err != nil {
		return err
	}
	if v == SchemaVersion {
		return nil
	}
	if v > SchemaVersion {
		return newerSchemaError(table, v)
	}

	// BEGIN IMMEDIATE takes the write lock before reading the version
	// again, so that two processes opening an old database at once do not
	// both migrate it.
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+schemaTable+` (
		table_name TEXT    NOT NULL PRIMARY KEY,
		version    INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if v, err = schemaVersion(ctx, conn, table); err != nil {
		return err
	}
	if v > SchemaVersion {
		return newerSchemaError(table, v)
	}
	placeholders := strings.NewReplacer("{{table}}", `"`+table+`"`, "{{name}}", table)
	for ; v < SchemaVersion; v++ {
		m := migrations[v]
		_, err := conn.ExecContext(ctx, placeholders.Replace(m.sql))
		if err == nil && m.copy != nil {
			err = m.copy(ctx, conn, table)
		}
		if err == nil && m.then != "" {
			_, err = conn.ExecContext(ctx, placeholders.Replace(m.then))
		}
		if err != nil {
			return fmt.Errorf("migrate table %q to schema version %d (%s): %w", table, v+1, m.name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO `+schemaTable+` (table_name, version) VALUES (?, ?)
		ON CONFLICT (table_name) DO UPDATE SET version = excluded.version`, table, SchemaVersion); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	committed = true
	return nil
}

// schemaVersion returns the recorded schema version of table, 0 when there
// is none.
func schemaVersion(ctx context.Context, conn *sql.Conn, table string) (int, error) {
	var n int
	err := conn.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, schemaTable).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read schema: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	err = conn.QueryRowContext(ctx, `SELECT version FROM `+schemaTable+` WHERE table_name = ?`, table).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func newerSchemaError(table string, v int) error {
	return fmt.Errorf("table %q has schema version %d, newer than version %d that this version of qsessions/sqlite knows; upgrade the package",
		table, v, SchemaVersion)
}

// sqliteMagic opens every SQLite 3 database file.
const sqliteMagic = "SQLite format 3\x00"

// checkFile looks at the header of the database file at path, if there is
// one, and reports a file that is not an SQLite database or that is shorter
// than its header says. SQLite itself would notice the first only on the
// first query and the second only when it reads a missing page.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a new database
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if fi.Size() == 0 {
		return nil // SQLite treats an empty file as an empty database
	}
	var h [100]byte
	n, err := io.ReadFull(f, h[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	if n < len(sqliteMagic) || string(h[:len(sqliteMagic)]) != sqliteMagic {
		return errors.New("not an SQLite database")
	}
	if n < len(h) {
		return fmt.Errorf("truncated SQLite database: %d bytes, shorter than its 100-byte header", n)
	}
	pageSize := int64(binary.BigEndian.Uint16(h[16:]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("corrupt SQLite database header: page size %d", pageSize)
	}
	// The page count at offset 28 is valid when the change counter at 24
	// equals the version-valid-for number at 92. A pending WAL or rollback
	// journal may legitimately disagree with the file; SQLite replays or
	// rolls it back, so only a file without one is checked.
	pages := int64(binary.BigEndian.Uint32(h[28:]))
	valid := binary.BigEndian.Uint32(h[24:]) == binary.BigEndian.Uint32(h[92:])
	if pages == 0 || !valid || nonEmpty(path+"-wal") || nonEmpty(path+"-journal") {
		return nil
	}
	if want := pages * pageSize; fi.Size() < want {
		return fmt.Errorf("truncated SQLite database: %d bytes, but its header says %d pages of %d bytes (%d bytes)",
			fi.Size(), pages, pageSize, want)
	}
	return nil
}

func nonEmpty(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Size() > 0
}
