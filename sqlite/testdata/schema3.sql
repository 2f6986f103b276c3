-- A database as schema version 3 of package sqlite left it, for the
-- migration tests: the migrations 1 to 3 with "{{table}}" and "{{name}}"
-- replaced for the table "qsessions", and the bookkeeping that migrate
-- wrote. Never edit once released.
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
CREATE TABLE "qsessions_v3" (
		id         TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		user_id    TEXT    NOT NULL,
		updated_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		listing    TEXT    NOT NULL,
		data       BLOB
	) STRICT;
	INSERT INTO "qsessions_v3" (id, version, user_id, updated_at, expires_at, listing, data)
		SELECT id, version, user_id, updated_at, expires_at,
			printf('%d %d %d %d %d %d %d ', version, created_at, updated_at, expires_at,
				octet_length(id), octet_length(ip), octet_length(user_agent)) || id || ip || user_agent,
			data
		FROM "qsessions" ORDER BY expires_at, id;
	DROP TABLE "qsessions";
	ALTER TABLE "qsessions_v3" RENAME TO "qsessions";
	CREATE INDEX "qsessions_id" ON "qsessions" (substr(id, 1, 8));
	CREATE INDEX "qsessions_user" ON "qsessions" (user_id, updated_at DESC, listing);
	CREATE INDEX "qsessions_expires" ON "qsessions" (expires_at);
INSERT INTO qsessions_schema (table_name, version) VALUES ('qsessions', 3)
		ON CONFLICT (table_name) DO UPDATE SET version = excluded.version;
