package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/mmdbtest"
)

// seedUsers writes alice's two live sessions (the Mac one most recently
// active), her expired one, and bob's, and returns them.
func seedUsers(t testing.TB, db string) (mac, phone, expired, bob qsessions.Record) {
	now := time.Now()
	mac = record(t, "alice", "192.0.2.10", macChrome, now.Add(-5*time.Minute), now.Add(14*24*time.Hour))
	phone = record(t, "alice", "2001:db8::1", iPhoneSafari, now.Add(-3*time.Hour), now.Add(7*24*time.Hour))
	expired = record(t, "alice", "192.0.2.11", winFirefox, now.Add(-72*time.Hour), now.Add(-time.Hour))
	bob = record(t, "bob", "192.0.2.12", androidPhone, now, now.Add(time.Hour))
	seedSQLite(t, db, mac, phone, expired, bob)
	return
}

func TestSessionsList(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "s.db")
	mac, phone, expired, bob := seedUsers(t, db)

	r := cli(t, nil, "sessions", "list", "--user", "alice", "--sqlite", db)
	wantExit(t, r, 0)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and 2 rows\n%s", r)
	}
	header := strings.Fields(lines[0])
	if want := []string{"ID", "DEVICE", "IP", "CREATED", "LAST", "ACTIVE", "EXPIRES"}; !slices.Equal(header, want) {
		t.Errorf("header %q, want %q", header, want)
	}
	// Newest activity first; the expired session and bob's are not listed.
	if !strings.HasPrefix(lines[1], mac.ID+"  ") || !strings.HasPrefix(lines[2], phone.ID+"  ") {
		t.Errorf("rows are not the Mac then the phone session\n%s", r.stdout)
	}
	for _, want := range []string{"Chrome on macOS", "192.0.2.10", "5 minutes ago", "in 14 days", "Safari on iOS", "2001:db8::1", "3 hours ago", "in 7 days"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the table lacks %q\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, expired.ID) || strings.Contains(r.stdout, bob.ID) {
		t.Errorf("the table lists the expired session or bob's\n%s", r.stdout)
	}
	// The columns line up: every row has the IP at the header's offset.
	col := strings.Index(lines[0], "IP")
	if strings.Index(lines[1], "192.0.2.10") != col || strings.Index(lines[2], "2001:db8::1") != col {
		t.Errorf("the IP column is not aligned\n%s", r.stdout)
	}

	r = cli(t, nil, "sessions", "list", "--user", "alice", "--sqlite", db, "--json")
	wantExit(t, r, 0)
	var got []sessionJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if len(got) != 2 || got[0].ID != mac.ID || got[1].ID != phone.ID {
		t.Fatalf("--json lists %+v", got)
	}
	g := got[0]
	if g.UserID != "alice" || g.IP != metaOf(t, mac).IP || g.UserAgent != macChrome || g.Device != "Chrome on macOS" ||
		!g.CreatedAt.Equal(metaOf(t, mac).CreatedAt) || !g.UpdatedAt.Equal(mac.UpdatedAt) || !g.ExpiresAt.Equal(mac.ExpiresAt) ||
		g.Location != "unknown (no GeoIP database)" {
		t.Errorf("--json entry %+v does not match the record %+v", g, mac)
	}

	// With a GeoIP database, a LOCATION column.
	mmdb := filepath.Join(t.TempDir(), "City.mmdb")
	os.WriteFile(mmdb, testCityDB(t), 0o644)
	r = cli(t, nil, "sessions", "list", "--user", "alice", "--sqlite", db, "--geoip", mmdb)
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, "LOCATION") || !strings.Contains(r.stdout, "Berlin, Germany") || !strings.Contains(r.stdout, "Tokyo, Japan") {
		t.Errorf("--geoip: no locations\n%s", r.stdout)
	}

	// A user without sessions.
	r = cli(t, nil, "sessions", "list", "--user", "carol", "--sqlite", db)
	wantExit(t, r, 0)
	if r.stdout != "user \"carol\" has no live sessions\n" {
		t.Errorf("no sessions: %q", r.stdout)
	}
	r = cli(t, nil, "sessions", "list", "--user", "carol", "--sqlite", db, "--json")
	wantExit(t, r, 0)
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("no sessions, --json: %q, want []", r.stdout)
	}
}

func TestSessionsRevoke(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "s.db")
	mac, phone, _, bob := seedUsers(t, db)
	now := time.Now()
	tablet := record(t, "alice", "192.0.2.13", androidPhone, now.Add(-time.Minute), now.Add(time.Hour))
	laptop2 := record(t, "alice", "192.0.2.14", winFirefox, now.Add(-2*time.Minute), now.Add(time.Hour))
	seedSQLite(t, db, tablet, laptop2)
	alice := func() []string { return ids(sqliteRows(t, db, "alice")) }

	// One session by ID (flags after the argument work too).
	r := cli(t, nil, "sessions", "revoke", phone.ID, "--sqlite", db)
	wantExit(t, r, 0)
	if r.stdout != "revoked session "+phone.ID+" of user \"alice\"\n" {
		t.Errorf("revoke ID: %q", r.stdout)
	}
	if slices.Contains(alice(), phone.ID) || len(alice()) != 4 {
		t.Errorf("after revoking the phone, alice has %v", alice())
	}

	// Again: it is gone.
	r = cli(t, nil, "sessions", "revoke", phone.ID, "--sqlite", db)
	wantExit(t, r, 1, "no session with ID "+phone.ID)

	// --user and an ID of another user's session: refused, kept.
	r = cli(t, nil, "sessions", "revoke", "--user", "bob", mac.ID, "--sqlite", db, "--json")
	wantExit(t, r, 1, `no session of user "bob" with ID `+mac.ID)
	var out struct {
		Revoked int      `json:"revoked"`
		Missing []string `json:"missing"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Revoked != 0 || !slices.Equal(out.Missing, []string{mac.ID}) {
		t.Errorf("--json: %v %+v\n%s", err, out, r)
	}
	if !slices.Contains(alice(), mac.ID) {
		t.Fatal("bob's revoke removed alice's session")
	}

	// --user and the user's own session.
	r = cli(t, nil, "sessions", "revoke", "--user", "alice", tablet.ID, "--sqlite", db)
	wantExit(t, r, 0)
	if slices.Contains(alice(), tablet.ID) {
		t.Error("revoke --user alice ID left the session")
	}

	// Everywhere else: all of alice's but the Mac, the laptop and the
	// expired one (whose row was still there).
	r = cli(t, nil, "sessions", "revoke", "--user", "alice", "--except", mac.ID, "--sqlite", db, "--json")
	wantExit(t, r, 0)
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Revoked != 2 || len(out.Missing) != 0 {
		t.Errorf("--except --json: %v %+v", err, out)
	}
	if got := alice(); !slices.Equal(got, []string{mac.ID}) {
		t.Errorf("after revoke --except mac, alice has %v", got)
	}
	if got := ids(sqliteRows(t, db, "bob")); !slices.Equal(got, []string{bob.ID}) {
		t.Errorf("bob's sessions changed: %v", got)
	}

	// Everywhere.
	r = cli(t, nil, "sessions", "revoke", "--user", "alice", "--sqlite", db)
	wantExit(t, r, 0)
	if r.stdout != "revoked 1 session of user \"alice\"\n" || len(alice()) != 0 {
		t.Errorf("revoke --user alice: %q, left %v", r.stdout, alice())
	}
}

func TestSessionsUsage(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "s.db")
	seedUsers(t, db)
	id := newID(t)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"sessions"}, "missing subcommand: list or revoke"},
		{[]string{"sessions", "purge"}, `unknown subcommand "purge"`},
		{[]string{"sessions", "list", "--sqlite", db}, "missing --user"},
		{[]string{"sessions", "list", "--user", "a", "--sqlite", db, "extra"}, `unexpected argument "extra"`},
		{[]string{"sessions", "list", "--user", "a", "--sqlite", db, "--json=maybe"}, "invalid boolean value"},
		{[]string{"sessions", "revoke", "--sqlite", db}, "nothing to revoke"},
		{[]string{"sessions", "revoke", "not-an-id", "--sqlite", db}, `"not-an-id" is not a session ID`},
		{[]string{"sessions", "revoke", "--except", id, "--sqlite", db}, "--except needs --user"},
		{[]string{"sessions", "revoke", "--user", "a", "--except", "bad", "--sqlite", db}, `"bad" is not a session ID`},
		{[]string{"sessions", "revoke", "--user", "a", id, "--except", id, "--sqlite", db}, "--except applies to --user without session IDs"},
		{[]string{"sessions", "revoke", "--user", "a", "--key-prefix", "", "--sqlite", db}, "--key-prefix must not be empty"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			wantExit(t, cli(t, nil, c.args...), 2, c.msg)
		})
	}
	// An unreachable Redis fails before anything is deleted.
	before := ids(sqliteRows(t, db, "alice"))
	r := cli(t, nil, "sessions", "revoke", "--user", "alice", "--sqlite", db, "--redis", "127.0.0.1:1")
	wantExit(t, r, 1, "redis at 127.0.0.1:1")
	if after := ids(sqliteRows(t, db, "alice")); !slices.Equal(before, after) {
		t.Errorf("a failed revoke deleted sessions: %v, then %v", before, after)
	}
	r = cli(t, nil, "sessions", "revoke", "--user", "alice", "--sqlite", db, "--redis", "redis://:hunter2@127.0.0.1:1/nonsense")
	wantExit(t, r, 1, "invalid URL")
	if strings.Contains(r.stderr, "hunter2") {
		t.Error("the Redis password is printed")
	}
}

// TestSessionsListAttribution: with a DB-IP database, whose licence asks
// for credit wherever its locations are shown, the table ends with DB-IP's
// credit line and every JSON entry carries it; with a GeoLite2 database,
// and without locations, neither.
func TestSessionsListAttribution(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	mac, phone, _, _ := seedUsers(t, db)
	dbip := filepath.Join(dir, "dbip-city-lite.mmdb")
	if err := os.WriteFile(dbip, mmdbtest.Build(t, "DBIP-City-Lite", 6, mmdbtest.Places), 0o644); err != nil {
		t.Fatal(err)
	}
	maxmind := filepath.Join(dir, "GeoLite2-City.mmdb")
	if err := os.WriteFile(maxmind, testCityDB(t), 0o644); err != nil {
		t.Fatal(err)
	}
	const credit = "Locations: IP Geolocation by DB-IP (https://db-ip.com)\n"

	r := cli(t, nil, "sessions", "list", "--user", "alice", "--sqlite", db, "--geoip", dbip)
	wantExit(t, r, 0)
	lines := strings.SplitAfter(r.stdout, "\n")
	if len(lines) != 5 || lines[3] != credit || !strings.Contains(r.stdout, "Berlin, Germany") {
		t.Errorf("--geoip with DB-IP: want a header, 2 rows and the credit line %q\n%s", credit, r.stdout)
	}

	r = cli(t, nil, "sessions", "list", "--user", "alice", "--sqlite", db, "--geoip", dbip, "--json")
	wantExit(t, r, 0)
	var got []sessionJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 2 {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	for _, s := range got {
		if s.GeoCredit != "IP Geolocation by DB-IP" || s.GeoCreditURL != "https://db-ip.com" {
			t.Errorf("--json entry %s credits %q, %q; want DB-IP", s.ID, s.GeoCredit, s.GeoCreditURL)
		}
	}
	if got[0].ID != mac.ID || got[1].ID != phone.ID || got[0].Location != "Berlin, Germany" {
		t.Errorf("--json with DB-IP: %+v", got)
	}

	for _, args := range [][]string{{"--geoip", maxmind}, {}} {
		r := cli(t, nil, append([]string{"sessions", "list", "--user", "alice", "--sqlite", db}, args...)...)
		wantExit(t, r, 0)
		if strings.Contains(r.stdout, "DB-IP") || strings.Count(r.stdout, "\n") != 3 {
			t.Errorf("sessions list %s: a credit line, or not 3 lines\n%s", args, r.stdout)
		}
		r = cli(t, nil, append([]string{"sessions", "list", "--user", "alice", "--sqlite", db, "--json"}, args...)...)
		wantExit(t, r, 0)
		if strings.Contains(r.stdout, "geoip_attribution") {
			t.Errorf("sessions list --json %s credits a database that asks for no credit\n%s", args, r.stdout)
		}
		// How each session was authenticated, and whether it is bound,
		// are always there.
		for _, key := range []string{`"auth_method": `, `"device_bound": false`} {
			if strings.Count(r.stdout, key) != 2 {
				t.Errorf("sessions list --json %s: %q is not in every entry\n%s", args, key, r.stdout)
			}
		}
	}
}
