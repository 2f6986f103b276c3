//go:build !js && !wasip1

package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/sqlite"
)

// Open a database file owned by the Persister, store two sessions of one
// user and sign the user out everywhere but on the current device.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "qsessions-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	p, err := sqlite.Open(filepath.Join(dir, "sessions.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close() // closes the database too

	ctx := context.Background()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i, ua := range []string{"Firefox on Linux", "Safari on iOS"} {
		err := p.Create(ctx, qsessions.Record{
			ID:        fmt.Sprint("session-", i),
			UserID:    "alice",
			UpdatedAt: now.Add(time.Duration(i) * time.Minute),
			ExpiresAt: now.Add(14 * 24 * time.Hour),
			Meta:      qsessions.EncodeMeta(qsessions.SessionInfo{UserAgent: ua, CreatedAt: now}),
		})
		if err != nil {
			log.Fatal(err)
		}
	}

	sessions, err := p.ListByUser(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range sessions {
		info, err := qsessions.DecodeMeta(s.Meta)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(s.ID, info.UserAgent, s.UpdatedAt.Format(time.Kitchen))
	}

	revoked, err := p.DeleteByUser(ctx, "alice", "session-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("revoked:", revoked)
	// Output:
	// session-1 Safari on iOS 12:01PM
	// session-0 Firefox on Linux 12:00PM
	// revoked: [session-0]
}

// Use a *sql.DB of your own, here an in-memory database shared with the rest
// of the application, and a table name of your choice. The Persister does
// not close it.
func ExampleNew() {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: one in-memory database

	p, err := sqlite.New(db, &sqlite.Options{Table: "web_sessions"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	var version int
	err = db.QueryRow(`SELECT version FROM qsessions_schema WHERE table_name = 'web_sessions'`).Scan(&version)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("schema up to date:", version == sqlite.SchemaVersion)

	ctx := context.Background()
	expired := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		p.Create(ctx, qsessions.Record{ID: fmt.Sprint("old-", i), ExpiresAt: expired})
	}
	n, err := p.DeleteExpired(ctx, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deleted", n, "expired sessions")
	// Output:
	// schema up to date: true
	// deleted 3 expired sessions
}
