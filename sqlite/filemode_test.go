//go:build !js && !wasip1

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/sqlite"
)

// wantModes checks the permission bits of the database file and of its
// -wal and -shm files, which exist while the Persister is open and has
// written.
func wantModes(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(name), got, want)
		}
	}
}

// writeOne stores a session, so that SQLite creates the -wal and -shm files.
func writeOne(t *testing.T, p *sqlite.Persister) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := qsessions.Record{ID: "filemode", Data: []byte("{}"), UserID: "alice", UpdatedAt: now, ExpiresAt: now.Add(time.Hour),
		Meta: qsessions.EncodeMeta(qsessions.SessionInfo{IP: "192.0.2.1", CreatedAt: now})}
	if err := p.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permission bits")
	}
	for _, c := range []struct {
		name string
		mode os.FileMode
		want os.FileMode
	}{
		{"default", 0, 0o600},
		{"group-readable", 0o640, 0o640},
		{"world-readable, whatever the umask", 0o666, 0o666},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessions.db")
			p, err := sqlite.Open(path, &sqlite.Options{FileMode: c.mode})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			writeOne(t, p)
			wantModes(t, path, c.want)
		})
	}
}

func TestOpenExistingFileKeepsMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permission bits")
	}
	path := filepath.Join(t.TempDir(), "sessions.db")
	p, err := sqlite.Open(path, &sqlite.Options{FileMode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	for _, mode := range []os.FileMode{0o644, 0o604} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		p, err := sqlite.Open(path, nil) // default 0600: for new files only
		if err != nil {
			t.Fatal(err)
		}
		writeOne(t, p)
		wantModes(t, path, mode)
		if err := p.Delete(context.Background(), "filemode"); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	// An empty file someone created is a database to SQLite, and keeps
	// its mode too.
	empty := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(empty, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(empty, 0o640); err != nil {
		t.Fatal(err)
	}
	p, err = sqlite.Open(empty, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	writeOne(t, p)
	wantModes(t, empty, 0o640)
}

func TestOpenBadFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	for _, mode := range []os.FileMode{os.ModeDir | 0o600, os.ModeSetuid | 0o600, os.ModeSticky | 0o600} {
		if p, err := sqlite.Open(path, &sqlite.Options{FileMode: mode}); err == nil {
			p.Close()
			t.Errorf("FileMode %v: Open succeeded", mode)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a refused Open left a file behind: %v", err)
	}
}
