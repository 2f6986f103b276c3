//go:build !js && !wasip1

package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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
// names are derived.
type migration struct {
	name string // what it does, in a word or three
	sql  string
}

// migrations[i] takes a sessions table from version i to version i+1, all of
// them in one transaction. Append; never edit a released entry, since
// databases in the field were made by it.
var migrations = [...]migration{
	{"create_sessions", `CREATE TABLE {{table}} (
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
	{"record_version", `ALTER TABLE {{table}} ADD COLUMN version INTEGER NOT NULL DEFAULT 1;`},

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
	//     step, reading no row: see listing.go for its format, which the
	//     SELECT below writes too.
	// The rows are copied in expiry order, so that the rows a sweep
	// deletes together sit together; new rows are appended in creation
	// order, which is expiry order for a fixed lifetime.
	{"scale_layout", `CREATE TABLE "{{name}}_v3" (
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

	// Version 4: authentication metadata, Record.AuthenticatedAt and
	// AuthMethod, appended to the listing text (see listing.go): sessions
	// stored before it were never authenticated as far as the record
	// knows, so the zero time (-62135596800000 ms) and no method.
	{"auth_metadata", `UPDATE {{table}} SET listing = listing || '-62135596800000 0 ';`},

	// Version 5: device binding, Record.Binding, appended to the listing
	// text, in base64: sessions stored before it are unbound.
	{"device_binding", `UPDATE {{table}} SET listing = listing || '0 ';`},
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
		if _, err := conn.ExecContext(ctx, placeholders.Replace(m.sql)); err != nil {
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
