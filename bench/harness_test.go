package bench_test

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// These tests check that every backend does, through the workload
// handlers, what the benchmarks claim to measure; they run in well under a
// second without -bench (Redis + PostgreSQL only when configured).

func TestWorkloads(t *testing.T) {
	for _, f := range factories {
		t.Run(f.name, func(t *testing.T) {
			be := f.open(t)
			token := signIn(t, be, user)
			w := newRecorder()

			// ReadOnly: served, and no new cookie.
			r := newRequest(token)
			for range 3 {
				w.reset()
				be.wrap(readOnly(be)).ServeHTTP(w, r)
				if !w.ok() {
					t.Fatalf("read-only request: %v", w)
				}
				if c := w.sessionCookie(); c != "" {
					t.Fatalf("read-only request set a session cookie: %v", w)
				}
			}

			// Write: the last value written is what the next request reads.
			wh := be.wrap(write(be))
			for range 5 {
				w.reset()
				wh.ServeHTTP(w, r)
				if !w.ok() {
					t.Fatalf("write request: %v", w)
				}
			}
			var got int
			var found bool
			w.reset()
			be.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var err error
				got, found, err = be.getInt(r, "n")
				if err != nil {
					t.Error(err)
				}
			})).ServeHTTP(w, r)
			if !found || got != 5 {
				t.Fatalf("after 5 writes, n = %d (found %v), want 5", got, found)
			}

			// Login: a new token each time; the old one is signed out.
			lh := be.wrap(login(be))
			old := token
			for range 3 {
				w.reset()
				lh.ServeHTTP(w, newRequest(old))
				next := w.sessionCookie()
				if !w.ok() || next == "" || next == old {
					t.Fatalf("login: old token %q, response %v", old, w)
				}
				w.reset()
				be.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if id := be.userID(r); id != "" {
						t.Errorf("old token after rotation: user %q, want none", id)
					}
				})).ServeHTTP(w, newRequest(old))
				w.reset()
				be.wrap(readOnly(be)).ServeHTTP(w, newRequest(next))
				if !w.ok() {
					t.Fatalf("new token after rotation: %v", w)
				}
				old = next
			}
		})
	}
}

func TestListSessions(t *testing.T) {
	for _, f := range factories {
		t.Run(f.name, func(t *testing.T) {
			be := f.open(t)
			const total = 4 * listMine
			token := populate(t, be, total, listMine)
			w := newRecorder()
			be.wrap(listSessions(be)).ServeHTTP(w, newRequest(token))
			if !w.ok() {
				t.Fatalf("listing %d sessions among %d: %v", listMine, total, w)
			}
			// One more session of the user: the handler now finds 11 and
			// fails, so it does count.
			signIn(t, be, user)
			w.reset()
			be.wrap(listSessions(be)).ServeHTTP(w, newRequest(token))
			if w.ok() || !strings.Contains(string(w.buf[:w.n]), "11 sessions") {
				t.Fatalf("listing %d sessions: %v", listMine+1, w)
			}
		})
	}
}

// TestSQLiteSettings checks that both libraries' SQLite databases run with
// the same settings: WAL, and synchronous=NORMAL on scs's connections
// (sqlite.Open's own are set by the same DSN parameters).
func TestSQLiteSettings(t *testing.T) {
	db := openSCSDB(t)
	var mode string
	var sync int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 1 {
		t.Errorf("scs database: journal_mode %q, synchronous %d; want wal, 1 (NORMAL)", mode, sync)
	}

	// The journal mode is stored in the file: read qsessions' from outside.
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	openSQLitePersisterAt(t, path)
	other, err := sql.Open("sqlite", "file://"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("qsessions database: journal_mode %q, want wal", mode)
	}
}
