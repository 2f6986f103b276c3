-- A database as version 5 of package postgres (commit 4ebd4d4) left it,
-- for the migration tests: pg_dump of a schema that the package and the
-- Store of that version created and then wrote six sessions into, through
-- the middleware (testdata/mkschema5, which says how), with every field
-- set: two signed-in devices of alice, one of them device-bound, one
-- without IP or User-Agent, bob with a User-Agent cut to the maximum, an
-- anonymous session, an expired one.
-- Session-level settings and psql commands of the dump are left out, and
-- {{schema}} is replaced with the test's schema. Never edit: databases like
-- this one exist in the field.

--
-- Name: {{schema}}; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA "{{schema}}";

--
-- Name: qsessions; Type: TABLE; Schema: {{schema}}; Owner: -
--

CREATE TABLE "{{schema}}".qsessions (
    id text NOT NULL COLLATE pg_catalog."C",
    data bytea,
    user_id text NOT NULL COLLATE pg_catalog."C",
    ip text NOT NULL,
    user_agent text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    version bigint DEFAULT 1 NOT NULL,
    authenticated_at timestamp with time zone DEFAULT '0001-01-01 00:00:00+00'::timestamp with time zone NOT NULL,
    auth_method text DEFAULT ''::text NOT NULL,
    binding bytea
);

--
-- Name: qsessions_migrations; Type: TABLE; Schema: {{schema}}; Owner: -
--

CREATE TABLE "{{schema}}".qsessions_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Data for Name: qsessions; Type: TABLE DATA; Schema: {{schema}}; Owner: -
--

INSERT INTO "{{schema}}".qsessions VALUES ('Ij7M3rXrdeFl6boYhCPaxIaqt3Di-Wxr8tUsU4wbL3I', '\x7b2263617274223a5b22626f6f6b222c2270656e225d2c227468656d65223a226461726b227d', 'alice', '203.0.113.8', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0', '2025-06-01 09:00:00+00', '2025-06-01 09:07:00+00', '2045-05-27 09:00:00+00', 3, '2025-06-01 09:00:00+00', 'password', '\x030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a5158');
INSERT INTO "{{schema}}".qsessions VALUES ('yuzZpO4yZMyKscq_-64asQHS9wuqWMzfQ5HO2acaFGI', '\x7b226e223a34337d', 'alice', '2001:db8::7', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1 ✓ ünïcödé 用户', '2025-06-01 10:10:00+00', '2025-06-01 10:10:00+00', '2045-05-27 10:10:00+00', 2, '2025-06-01 10:10:00+00', 'passkey', NULL);
INSERT INTO "{{schema}}".qsessions VALUES ('SdHITStztfoZWISqCphWarTDP5W2lrEU9-UN7mR1Q2w', '\x7b226e223a317d', 'alice', '', '', '2025-06-01 10:10:00+00', '2025-06-01 10:10:00+00', '2045-05-27 10:10:00+00', 1, '2025-06-01 10:10:00+00', '', NULL);
INSERT INTO "{{schema}}".qsessions VALUES ('Z14tgCCj2up_tOC_9NZAgEYDpmQoyQ2JIje_mtHOR8Y', '\x7b226e223a377d', 'bob', '198.51.100.23', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Extension/1.0 Extension/1.0 Extension/1.0 Extension/1.0 Extension/1.0 Extension/1.0 Extension/1.0 Extension/1.0 Extension/1.0 Extension/1.0 Extension/1.0 Extension/1.0 Extension/1.0 Extens', '2025-06-01 10:11:00+00', '2025-06-01 10:11:00+00', '2045-05-27 10:11:00+00', 1, '2025-06-01 10:11:00+00', 'oauth:github', NULL);
INSERT INTO "{{schema}}".qsessions VALUES ('-46-Kr8EPzzraC5igUP7mbOS6y9WKKNi5ug80gy0THg', '\x7b22766973697473223a337d', '', '198.51.100.20', 'curl/8.5.0', '2025-06-01 10:12:00+00', '2025-06-01 10:12:00+00', '2045-05-27 10:12:00+00', 1, '0001-01-01 00:00:00+00', '', NULL);
INSERT INTO "{{schema}}".qsessions VALUES ('ZBDxyWrH3tqcAOG_LA_J8H1OcUGYfFDVupEIAdYdKbs', '\x7b226e223a357d', 'carol', '203.0.113.99', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0', '2025-06-01 10:13:00+00', '2025-06-01 10:13:00+00', '2025-06-01 11:13:00+00', 1, '2025-06-01 10:13:00+00', 'password', NULL);

--
-- Data for Name: qsessions_migrations; Type: TABLE DATA; Schema: {{schema}}; Owner: -
--

INSERT INTO "{{schema}}".qsessions_migrations VALUES (1, '0001_create_sessions', '2026-12-07 14:03:17.673682+00');
INSERT INTO "{{schema}}".qsessions_migrations VALUES (2, '0002_record_version', '2026-12-07 14:03:17.673682+00');
INSERT INTO "{{schema}}".qsessions_migrations VALUES (3, '0003_user_listing_index', '2026-12-07 14:03:17.673682+00');
INSERT INTO "{{schema}}".qsessions_migrations VALUES (4, '0004_authentication', '2026-12-07 14:03:17.673682+00');
INSERT INTO "{{schema}}".qsessions_migrations VALUES (5, '0005_device_binding', '2026-12-07 14:03:17.673682+00');

--
-- Name: qsessions_migrations qsessions_migrations_pkey; Type: CONSTRAINT; Schema: {{schema}}; Owner: -
--

ALTER TABLE ONLY "{{schema}}".qsessions_migrations
    ADD CONSTRAINT qsessions_migrations_pkey PRIMARY KEY (version);

--
-- Name: qsessions qsessions_pkey; Type: CONSTRAINT; Schema: {{schema}}; Owner: -
--

ALTER TABLE ONLY "{{schema}}".qsessions
    ADD CONSTRAINT qsessions_pkey PRIMARY KEY (id);

--
-- Name: qsessions_expires_at_idx; Type: INDEX; Schema: {{schema}}; Owner: -
--

CREATE INDEX qsessions_expires_at_idx ON "{{schema}}".qsessions USING btree (expires_at);

--
-- Name: qsessions_user_listing_idx; Type: INDEX; Schema: {{schema}}; Owner: -
--

CREATE INDEX qsessions_user_listing_idx ON "{{schema}}".qsessions USING btree (user_id, updated_at DESC, id) INCLUDE (version, ip, user_agent, created_at, expires_at, authenticated_at, auth_method, binding);
