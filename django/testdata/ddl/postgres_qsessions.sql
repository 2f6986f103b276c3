CREATE TABLE "qsessions_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL, "user_agent" varchar(300) NULL, "updated_at" timestamp with time zone NOT NULL, "ip" inet NULL, "user_id" integer NULL);
ALTER TABLE "qsessions_session" ADD CONSTRAINT "qsessions_session_user_id_d0e2d3af_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "qsessions_session_session_key_a560c6f7_like" ON "qsessions_session" ("session_key" varchar_pattern_ops);
CREATE INDEX "qsessions_session_expire_date_5044859f" ON "qsessions_session" ("expire_date");
CREATE INDEX "qsessions_session_user_id_d0e2d3af" ON "qsessions_session" ("user_id");
ALTER TABLE "qsessions_session" ADD COLUMN "created_at" timestamp with time zone NULL;
