-- A database as version 3 of package postgres left it (schema version 3),
-- for the migration tests: the schema, the released migrations
-- 0001_create_sessions, 0002_record_version and 0003_user_listing_index
-- with the default table name, and the bookkeeping that migrate wrote.
-- {{schema}} is replaced with the test's schema. Never edit: databases like
-- this one exist in the field.
CREATE SCHEMA "{{schema}}";

CREATE TABLE "{{schema}}"."qsessions_migrations" (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE "{{schema}}"."qsessions" (
	id         text COLLATE "C" PRIMARY KEY,   -- SHA-256 of the token, base64url
	data       bytea,                          -- NULL stores a nil Record.Data
	user_id    text COLLATE "C" NOT NULL,      -- '' for an anonymous session
	ip         text NOT NULL,
	user_agent text NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);

-- ListByUser and DeleteByUser: WHERE user_id = $1 ORDER BY updated_at DESC.
CREATE INDEX "qsessions_user_updated_at_idx" ON "{{schema}}"."qsessions" (user_id, updated_at DESC);

-- DeleteExpired: WHERE expires_at < $1 ORDER BY expires_at LIMIT $2.
CREATE INDEX "qsessions_expires_at_idx" ON "{{schema}}"."qsessions" (expires_at);

INSERT INTO "{{schema}}"."qsessions_migrations" (version, name) VALUES (1, '0001_create_sessions');

ALTER TABLE "{{schema}}"."qsessions" ADD COLUMN version bigint NOT NULL DEFAULT 1;
INSERT INTO "{{schema}}"."qsessions_migrations" (version, name) VALUES (2, '0002_record_version');

CREATE INDEX "qsessions_user_listing_idx" ON "{{schema}}"."qsessions" (user_id, updated_at DESC, id)
	INCLUDE (version, ip, user_agent, created_at, expires_at);
DROP INDEX "{{schema}}"."qsessions_user_updated_at_idx";
INSERT INTO "{{schema}}"."qsessions_migrations" (version, name) VALUES (3, '0003_user_listing_index');
