-- Version 1: the sessions table and the indexes that serve the Persister.
--
-- {{table}}, {{user_index}} and {{expires_index}} are replaced with quoted
-- identifiers before the script runs; the table name is schema-qualified.

CREATE TABLE {{table}} (
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
CREATE INDEX {{user_index}} ON {{table}} (user_id, updated_at DESC);

-- DeleteExpired: WHERE expires_at < $1 ORDER BY expires_at LIMIT $2.
CREATE INDEX {{expires_index}} ON {{table}} (expires_at);
