// Command mkschema5 writes testdata/schema5.db, a database that the sqlite
// package wrote at schema version 5, and testdata/schema5.json, the records
// it stored there. Run it from a checkout of the last commit at version 5
// (4ebd4d4), from the root of the module, after copying this directory to
// cmd/mkschema5 there (under testdata it is not part of the build):
//
//	go run ./cmd/mkschema5 DIR
//
// The migration tests of later versions open a copy of the database and
// compare what they read with the JSON.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/sqlite"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: mkschema5 DIR")
	}
	dir := os.Args[1]
	path := filepath.Join(dir, "schema5.db")
	os.Remove(path)
	p, err := sqlite.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	base := time.Date(2026, 11, 30, 9, 26, 53, 589_000_000, time.UTC)
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	safari := "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	var rs []qsessions.Record
	add := func(r qsessions.Record) { rs = append(rs, r) }
	// Every field set, and its edge cases: signed in with a method, bound,
	// IPv4 and IPv6, no IP, long, binary and Unicode User-Agents, nil,
	// empty and binary values, an anonymous and an expired session, two
	// sessions last used at the same time, versions above 1.
	add(qsessions.Record{ID: "s01-alice-chrome", Version: 1, UserID: "alice", IP: "198.51.100.23", UserAgent: chrome,
		CreatedAt: base.Add(-72 * time.Hour), UpdatedAt: base.Add(-time.Minute), ExpiresAt: base.Add(13 * 24 * time.Hour),
		AuthenticatedAt: base.Add(-72 * time.Hour), AuthMethod: "password", Data: []byte(`{"cart":[1,2,3]}`)})
	add(qsessions.Record{ID: "s02-alice-bound", Version: 1, UserID: "alice", IP: "2001:db8::42", UserAgent: safari,
		CreatedAt: base.Add(-48 * time.Hour), UpdatedAt: base.Add(-time.Hour), ExpiresAt: base.Add(12 * 24 * time.Hour),
		AuthenticatedAt: base.Add(-2 * time.Hour), AuthMethod: "passkey", Binding: []byte{0, 1, 0x7f, 0x80, 0xfe, 0xff, '{', '}'},
		Data: []byte{0, 0xff, 0, 0x80}})
	add(qsessions.Record{ID: "s03-alice-tie-a", Version: 1, UserID: "alice", IP: "203.0.113.7", UserAgent: "curl/8.11.0",
		CreatedAt: base.Add(-30 * time.Hour), UpdatedAt: base.Add(-3 * time.Hour), ExpiresAt: base.Add(24 * time.Hour),
		AuthenticatedAt: base.Add(-30 * time.Hour), AuthMethod: "oauth:github", Data: []byte{}})
	add(qsessions.Record{ID: "s04-alice-tie-b", Version: 1, UserID: "alice", UserAgent: "ünïcødé 🍪 日本語 \u2028 \"quoted\" 1 2 ",
		CreatedAt: base.Add(-29 * time.Hour), UpdatedAt: base.Add(-3 * time.Hour), ExpiresAt: base.Add(25 * time.Hour),
		AuthenticatedAt: base.Add(-29 * time.Hour), AuthMethod: "totp 2 3 ", Data: nil})
	add(qsessions.Record{ID: "s05-alice-expired", Version: 1, UserID: "alice", IP: "192.0.2.1", UserAgent: chrome,
		CreatedAt: base.Add(-20 * 24 * time.Hour), UpdatedAt: base.Add(-6 * 24 * time.Hour), ExpiresAt: base.Add(-6 * time.Hour),
		AuthenticatedAt: base.Add(-20 * 24 * time.Hour), AuthMethod: "password", Data: []byte("expired")})
	add(qsessions.Record{ID: "s06-bob", Version: 1, UserID: "bob@example.com", IP: "10.1.2.3", UserAgent: strings.Repeat("Long/1.0 ", 60),
		CreatedAt: base.Add(-5 * time.Hour), UpdatedAt: base.Add(-4 * time.Hour), ExpiresAt: base.Add(10 * 24 * time.Hour),
		AuthenticatedAt: base.Add(-90 * time.Minute), AuthMethod: "password", Binding: []byte("dbsc-state"), Data: []byte("bob")})
	add(qsessions.Record{ID: "s07-bob-plain", Version: 1, UserID: "bob@example.com", IP: "::1",
		CreatedAt: base.Add(-time.Hour), UpdatedAt: base.Add(-30 * time.Minute), ExpiresAt: base.Add(2 * time.Hour),
		Data: []byte("signed in, no method recorded")})
	add(qsessions.Record{ID: "s08-anonymous", Version: 1, IP: "198.51.100.99", UserAgent: "Firefox/133.0",
		CreatedAt: base.Add(-10 * time.Minute), UpdatedAt: base.Add(-10 * time.Minute), ExpiresAt: base.Add(14 * 24 * time.Hour),
		Data: []byte(`{"theme":"dark"}`)})
	add(qsessions.Record{ID: "s09-bare", Version: 1, UserID: "carol",
		UpdatedAt: base.Add(-2 * time.Minute), ExpiresAt: base.Add(time.Hour)})
	for _, r := range rs {
		if err := p.Create(ctx, r); err != nil {
			log.Fatal(err)
		}
	}
	// Versions above 1, through Update as the Store writes them.
	for _, i := range []int{0, 0, 1, 5, 5, 5} {
		rs[i].Data = append(rs[i].Data, '+')
		if err := p.Update(ctx, rs[i]); err != nil {
			log.Fatal(err)
		}
		rs[i].Version++
	}
	for i, r := range rs {
		got, err := p.Load(ctx, r.ID)
		if err != nil {
			log.Fatal(err)
		}
		rs[i] = got // as stored
	}
	if err := p.Close(); err != nil {
		log.Fatal(err)
	}
	js, err := json.MarshalIndent(rs, "", "\t")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "schema5.json"), append(js, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %d sessions at schema version %d into %s\n", len(rs), sqlite.SchemaVersion, path)
}
