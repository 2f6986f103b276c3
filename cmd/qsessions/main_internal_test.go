package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHelp(t *testing.T) {
	t.Parallel()
	r := cli(t, nil, "help")
	wantExit(t, r, 0)
	for _, c := range commands() {
		if !strings.Contains(r.stdout, "\t"+c.name+" ") {
			t.Errorf("'qsessions help' does not list %s\n%s", c.name, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "go run ./cmd/qsessions demo") {
		t.Error("'qsessions help' does not show how to start")
	}
	for _, args := range [][]string{{"--help"}, {"-h"}} {
		if r2 := cli(t, nil, args...); r2.code != 0 || r2.stdout != r.stdout {
			t.Errorf("qsessions %s differs from qsessions help\n%s", args[0], r2)
		}
	}

	// No command, an unknown one: usage errors.
	r = cli(t, nil)
	if r.code != 2 || !strings.Contains(r.stderr, "Commands:") || r.stdout != "" {
		t.Errorf("no command:\n%s", r)
	}
	r = cli(t, nil, "frobnicate")
	wantExit(t, r, 2, `unknown command "frobnicate"`, "qsessions help")

	// Every command's --help: exit 0, usage and flags on stdout.
	for _, c := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"demo", "--help"}, []string{"Usage: qsessions demo", "--addr host:port", "127.0.0.1:8080", "--sqlite file", "--geoip file", "no password",
			"--max-sessions N", "--reauth-after duration", `(default "5m0s")`, "new sign-in", "confirm it's you", "--dbsc", "Device Bound Session Credentials"}},
		{[]string{"help", "demo"}, []string{"Usage: qsessions demo", "--addr"}},
		{[]string{"clear-expired", "--help"}, []string{"Usage: qsessions clear-expired", "--sqlite file", "--postgres DSN", "clearsessions"}},
		{[]string{"download-geoip", "-h"}, []string{"Usage: qsessions download-geoip", "--account-id ID", "--license-key key", "MAXMIND_ACCOUNT_ID", "MAXMIND_LICENSE_KEY", "--edition", "GeoLite2-City", "--dir directory", "--base-url"}},
		{[]string{"sessions", "--help"}, []string{"qsessions sessions list --user ID", "qsessions sessions revoke"}},
		{[]string{"sessions", "list", "--help"}, []string{"Usage: qsessions sessions list", "--user ID", "--json"}},
		{[]string{"sessions", "revoke", "--help"}, []string{"Usage: qsessions sessions revoke", "--except SESSION-ID", "--redis ADDR", "--key-prefix", "NOT evicted"}},
	} {
		r := cli(t, nil, c.args...)
		wantExit(t, r, 0)
		for _, w := range c.wants {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("qsessions %s: no %q\n%s", strings.Join(c.args, " "), w, r.stdout)
			}
		}
		if r.stderr != "" {
			t.Errorf("qsessions %s wrote to stderr: %q", strings.Join(c.args, " "), r.stderr)
		}
	}
}

// TestRunInProcess covers run's dispatch without the binary.
func TestRunInProcess(t *testing.T) {
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	if code := run(context.Background(), e, []string{"download-geoip", "--dir", t.TempDir()}); code != exitUsage {
		t.Errorf("download-geoip without credentials: exit %d, want 2", code)
	}
	if !strings.HasPrefix(errOut.String(), "qsessions: download-geoip: no MaxMind account ID") {
		t.Errorf("stderr %q", errOut.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q", out.String())
	}
}

// dashID is a session ID that begins with "-".
const dashID = "-a0PuXksDNoda0viRIC-YQaqaWSF7JgdByp9STJgg8A"

func TestParseInterspersed(t *testing.T) {
	for _, c := range []struct {
		args []string
		pos  []string
		user string
	}{
		{[]string{"a", "--user", "u", "b"}, []string{"a", "b"}, "u"},
		{[]string{"--user", "u", "a"}, []string{"a"}, "u"},
		{[]string{"a", "--", "--user", "x"}, []string{"a", "--user", "x"}, ""},
		{[]string{"--user=u"}, nil, "u"},
		{nil, nil, ""},
		// Session IDs may begin with "-": positional, not flags; as a
		// flag's value they stay its value.
		{[]string{dashID, "--user", "u"}, []string{dashID}, "u"},
		{[]string{"--user", "u", dashID, "--json"}, []string{dashID}, "u"},
		{[]string{"--user", dashID}, nil, dashID},
		{[]string{"--json", dashID}, []string{dashID}, ""},
	} {
		fs := newFlagSet("t", "t", "")
		user := fs.String("user", "", "")
		fs.Bool("json", false, "")
		pos, err := fs.parse(&env{}, c.args)
		if err != nil || !slices.Equal(pos, c.pos) || *user != c.user {
			t.Errorf("parse(%q) = %q, user %q, %v; want %q, user %q", c.args, pos, *user, err, c.pos, c.user)
		}
	}
}

func TestRelTime(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration // t = now - d
		want string
	}{
		{0, "just now"},
		{59 * time.Second, "just now"},
		{time.Minute, "a minute ago"},
		{5*time.Minute + 30*time.Second, "5 minutes ago"},
		{time.Hour, "an hour ago"},
		{3 * time.Hour, "3 hours ago"},
		{24 * time.Hour, "a day ago"},
		{10 * 24 * time.Hour, "10 days ago"},
		{40 * 24 * time.Hour, "on 22 Mar 2026"},
		{-20 * time.Second, "in under a minute"},
		{-90 * time.Second, "in 2 minutes"},
		{-(14*24*time.Hour - time.Millisecond), "in 14 days"},
		{-(13*24*time.Hour + 2*time.Hour), "in 13 days"},
		{-(5*time.Hour + 10*time.Minute), "in 5 hours"},
	} {
		if got := relTime(now.Add(-c.d), now); got != c.want {
			t.Errorf("relTime(now - %v) = %q, want %q", c.d, got, c.want)
		}
	}
	if got := relTime(time.Time{}, now); got != "never" {
		t.Errorf("relTime(zero) = %q", got)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"alice", "Zoë Åström", "bob@example.com", "李小龙", strings.Repeat("x", 64), "a b"} {
		if p := checkName(ok); p != "" {
			t.Errorf("checkName(%q) = %q, want ok", ok, p)
		}
	}
	for _, bad := range []string{"", "a\nb", "a\tb", "\x00", "\xff", strings.Repeat("x", 65), "a\u200bb"} {
		if checkName(bad) == "" {
			t.Errorf("checkName(%q) accepted it", bad)
		}
	}
}

func TestTableCell(t *testing.T) {
	if got := tableCell("a\tb\nc\x1bd"); got != "a b c d" {
		t.Errorf("tableCell = %q", got)
	}
}
