package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
)

// TestRun runs the whole command on a small scenario, SQLite only, beside
// made-up Django figures, so that it keeps working between the runs that
// matter.
func TestRun(t *testing.T) {
	dj := filepath.Join(t.TempDir(), "django.json")
	err := os.WriteFile(dj, []byte(`{"meta": {"django": "3.2.25", "qsessions": "v1.1.4 abc", "sqlite": "3.40.1",
		"journal_mode": "wal", "synchronous": "NORMAL"},
		"E": {"rows_total": 1000, "rows_expired": 500, "list_by_user_median_us": 700, "list_by_user_p90_us": 900,
		"clearsessions_s": 3.25, "plain_delete_s": 0.67}}`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := config{users: 100, perUser: 10, lookups: 20, django: dj, sqlite: true, writeFor: time.Second, dir: t.TempDir()}
	if err := run(&out, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Scale: 100 users × 10 sessions = 1000 rows, 500 expired",
		"| list one user's sessions, `Store.Sessions` (median) | 700.0 µs |",
		"| the same rows, one plain `DELETE … WHERE expires_at < now` | 0.670 s |",
		"Goal, SQLite: listing faster than django-qsessions:",
		"Django 3.2.25, journal wal, synchronous NORMAL",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestScenario(t *testing.T) {
	for _, random := range []bool{false, true} {
		s := newScenario(7, 4, random)
		var n, expired int
		seen := map[string]bool{}
		firstLive := -1
		s.rows(func(r qsessions.Record) error {
			if seen[r.ID] {
				t.Fatalf("ID %s twice", r.ID)
			}
			seen[r.ID] = true
			if r.ExpiresAt.Before(s.now) {
				expired++
				if !random && firstLive >= 0 {
					t.Fatalf("expired row %d after live row %d", n, firstLive)
				}
			} else if firstLive < 0 {
				firstLive = n
			}
			n++
			return nil
		})
		if n != 28 || expired != 14 || s.expired() != 14 {
			t.Fatalf("random=%v: %d rows, %d expired (expired() = %d); want 28, 14", random, n, expired, s.expired())
		}
	}
}
