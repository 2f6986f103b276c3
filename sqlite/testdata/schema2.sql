-- A database as version 2 of package sqlite left it (schema version 2), for
-- the migration tests: the released migrations 1 and 2 with "{{table}}" and
-- "{{name}}" replaced for the table "qsessions", and the bookkeeping that
-- migrate wrote. Never edit: databases like this one exist in the field.
CREATE TABLE IF NOT EXISTS qsessions_schema (
		table_name TEXT    NOT NULL PRIMARY KEY,
		version    INTEGER NOT NULL
	) STRICT;
CREATE TABLE "qsessions" (
		id         TEXT    NOT NULL PRIMARY KEY,
		data       BLOB,
		user_id    TEXT    NOT NULL,
		ip         TEXT    NOT NULL,
		user_agent TEXT    NOT NULL,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	) STRICT;
	CREATE INDEX "qsessions_user_updated" ON "qsessions" (user_id, updated_at DESC, id);
	CREATE INDEX "qsessions_expires" ON "qsessions" (expires_at);
ALTER TABLE "qsessions" ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
INSERT INTO qsessions_schema (table_name, version) VALUES ('qsessions', 2)
		ON CONFLICT (table_name) DO UPDATE SET version = excluded.version;
