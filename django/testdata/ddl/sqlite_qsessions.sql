CREATE TABLE "qsessions_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL, "user_agent" varchar(300) NULL, "updated_at" datetime NOT NULL, "ip" char(39) NULL, "user_id" integer NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX "qsessions_session_expire_date_5044859f" ON "qsessions_session" ("expire_date");
CREATE INDEX "qsessions_session_user_id_d0e2d3af" ON "qsessions_session" ("user_id");
CREATE TABLE "new__qsessions_session" ("created_at" datetime NULL, "session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL, "user_agent" varchar(300) NULL, "updated_at" datetime NOT NULL, "ip" char(39) NULL, "user_id" integer NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED);
INSERT INTO "new__qsessions_session" ("session_key", "session_data", "expire_date", "user_agent", "updated_at", "ip", "user_id", "created_at") SELECT "session_key", "session_data", "expire_date", "user_agent", "updated_at", "ip", "user_id", NULL FROM "qsessions_session";
DROP TABLE "qsessions_session";
ALTER TABLE "new__qsessions_session" RENAME TO "qsessions_session";
CREATE INDEX "qsessions_session_expire_date_5044859f" ON "qsessions_session" ("expire_date");
CREATE INDEX "qsessions_session_user_id_d0e2d3af" ON "qsessions_session" ("user_id");
