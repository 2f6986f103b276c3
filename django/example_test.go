package django_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/django"
)

// djangoSchema is what Django's migrate creates on SQLite, as far as this
// example needs it: django-qsessions' table and a user table with the
// columns sessions read.
const djangoSchema = `
CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "is_active" bool NOT NULL);
CREATE TABLE "qsessions_session" ("created_at" datetime NULL, "session_key" varchar(40) NOT NULL PRIMARY KEY,
	"session_data" text NOT NULL, "expire_date" datetime NOT NULL, "user_agent" varchar(300) NULL,
	"updated_at" datetime NOT NULL, "ip" char(39) NULL,
	"user_id" integer NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED);
INSERT INTO auth_user (id, password, is_active) VALUES (1, 'md5$example$0123456789abcdef0123456789abcdef', 1);`

// A session that Django's login() made (testdata/vectors.json, "example"),
// as django-qsessions stores it.
const (
	djangoKey  = "k3t6y0x2v9n8m7l6j5h4g3f2d1s0a9q8"
	djangoData = ".eJxVkEFPhDAQhf8K6UmTTbdDS6G7Nw96ce8mxpAWhqWC7dqCIRr_u4XswU3mMu-9-V4yP6TW89TXc8RQ25YcCJDdf83oZkC3Gu27dmdPG--mYA1dI_TqRnryLY4P1-wNoNexT9eskAJaLCRvUEmdlxWIzigAxlUFMimiZFJUEru8KYQxqNocjEZedlyVG_QzYozWu1jbS0LmjFNGAThVt-7Wq8_oppQ6-W87jnpfUJbdvQAcs2fr5iVbKllLcczC1wEEo-w-e8Jm8PucAUsD2aMN2Pllv7mpoNEh8V6J8X5I6wUdeduRqccPXL-jw0B-_wAEAGf6:1vb66i:-81iVlG5P8Tt0lEEbiBc7aCn0tjul-okLB5z5g2eceU"
)

// A Go Store and a Django site share the site's SQLite database: Go reads
// the session that Django signed in, with its user and values, writes to
// it, and signs a Django user in itself.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "qsessions-django-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "db.sqlite3")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	// What Django's migrate and login() would have left in the database.
	if _, err := db.Exec(djangoSchema); err != nil {
		log.Fatal(err)
	}
	expires := time.Now().UTC().Add(14 * 24 * time.Hour).Format("2006-01-02 15:04:05.000000")
	if _, err := db.Exec(`INSERT INTO qsessions_session (session_key, session_data, expire_date, updated_at, user_id, ip, user_agent, created_at)
		VALUES (?, ?, ?, datetime('now'), 1, '203.0.113.9', 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0', datetime('now'))`,
		djangoKey, djangoData, expires); err != nil {
		log.Fatal(err)
	}

	p, err := django.NewSQLite(ctx, db, &django.Options{
		SecretKey: "django-insecure-vector-secret-#1", // the site's SECRET_KEY
		// Cache: django.NewRedisCache(client), for the site's CACHES.
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	st, err := qsessions.New(nil, p, nil) // no Go cache: Django's writes would not reach it
	if err != nil {
		log.Fatal(err)
	}

	// The request carries Django's sessionid cookie.
	s, err := st.Load(ctx, djangoKey)
	if err != nil {
		log.Fatal(err)
	}
	var cart []string
	s.Get("cart", &cart)
	fmt.Println("user:", s.UserID(), "cart:", cart, "keys:", s.Keys())
	s.Set("theme", "light") // Django reads it on its next request
	if err := st.Save(ctx, s); err != nil {
		log.Fatal(err)
	}

	sessions, err := st.Sessions(ctx, "1")
	if err != nil {
		log.Fatal(err)
	}
	for _, i := range sessions {
		fmt.Println("signed in from", i.IP, "with", i.UserAgent[:11])
	}

	// Go signs user 1 in on a new session, with the _auth_user_hash
	// that Django's get_user checks.
	n, _ := st.Load(ctx, "")
	if err := n.Login(ctx, "1"); err != nil {
		log.Fatal(err)
	}
	var rows int
	db.QueryRow(`SELECT count(*) FROM qsessions_session WHERE user_id = 1`).Scan(&rows)
	fmt.Println("Django's key:", len(n.Token()), "characters; sessions of user 1:", rows)

	// Sign out everywhere: Django refuses them on its next request.
	ended, _ := st.RevokeUser(ctx, "1")
	fmt.Println("revoked:", ended)
	// Output:
	// user: 1 cart: [book pen] keys: [cart theme]
	// signed in from 203.0.113.9 with Mozilla/5.0
	// Django's key: 32 characters; sessions of user 1: 2
	// revoked: 2
}
