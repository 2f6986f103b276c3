//go:build !js && !wasip1

package sqlite_test

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/sqlite"
)

// seededFile returns the path of a closed database file holding n records.
func seededFile(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seed.db")
	p, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r := record(fmt.Sprint("r", i), fmt.Sprint("u", i%10), base)
		r.Data = bytes.Repeat([]byte{byte(i)}, 200)
		mustCreate(t, p, r)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantOpenError checks that Open(path) fails with an error containing want
// and leaves the file's bytes as they were.
func wantOpenError(t *testing.T, path, want string) {
	t.Helper()
	before, _ := os.ReadFile(path)
	p, err := sqlite.Open(path, nil)
	if err == nil {
		p.Close()
		t.Fatalf("Open(%s) succeeded, want an error containing %q", filepath.Base(path), want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("Open(%s): %v, want an error containing %q", filepath.Base(path), err, want)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatalf("Open(%s) failed but changed the file", filepath.Base(path))
	}
}

func write(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenNotSQLite(t *testing.T) {
	dir := t.TempDir()
	text := bytes.Repeat([]byte("this is a text file, not a database\n"), 200)
	wantOpenError(t, write(t, filepath.Join(dir, "text.db"), text), "not an SQLite database")
	wantOpenError(t, write(t, filepath.Join(dir, "tiny.db"), []byte("x")), "not an SQLite database")
	wantOpenError(t, dir, "is a directory")
	if p, err := sqlite.Open(filepath.Join(dir, "missing", "s.db"), nil); err == nil {
		p.Close()
		t.Fatal("Open in a missing directory succeeded")
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open in a missing directory: %v", err)
	}

	// New has no file to look at; SQLite's own check reports the file.
	path := write(t, filepath.Join(dir, "text2.db"), text)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := sqlite.New(db, nil); err == nil || !strings.Contains(err.Error(), "not a database") {
		t.Fatalf("New over a text file: %v, want an error saying it is not a database", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, text) {
		t.Fatal("New changed the text file")
	}
}

func TestOpenTruncated(t *testing.T) {
	seed := seededFile(t, 300)
	full, err := os.ReadFile(seed)
	if err != nil {
		t.Fatal(err)
	}
	if len(full) < 16*4096 {
		t.Fatalf("seed file is only %d bytes", len(full))
	}
	dir := t.TempDir()
	for _, c := range []struct {
		size int
		want string
	}{
		{len(full) / 2, "truncated"},
		{len(full) - 1, "truncated"},
		{4096, "truncated"},
		{99, "truncated"},
		{50, "truncated"},
		{10, "not an SQLite database"},
	} {
		wantOpenError(t, write(t, filepath.Join(dir, fmt.Sprint("cut", c.size, ".db")), full[:c.size]), c.want)
	}
}

// TestCorrupt overwrites parts of a valid database with garbage and checks
// that Open and every method return errors or results, never panic.
func TestCorrupt(t *testing.T) {
	seed := seededFile(t, 300)
	full, err := os.ReadFile(seed)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, off := range []int{100, 4096, 3 * 4096, len(full) / 2, len(full) - 4096} {
		b := bytes.Clone(full)
		for j := off; j < min(off+4096, len(b)); j++ {
			b[j] = byte(j*131 + 7)
		}
		path := write(t, filepath.Join(dir, fmt.Sprint("corrupt", i, ".db")), b)
		p, err := sqlite.Open(path, nil)
		if err != nil {
			if !strings.Contains(err.Error(), "malformed") {
				t.Errorf("corrupt at %d: Open: %v, want an error saying the database is malformed", off, err)
			}
			continue
		}
		var errs []error
		for k := range 20 {
			_, err := p.Load(ctx, fmt.Sprint("r", k*15))
			errs = append(errs, err)
		}
		_, err = p.ListByUser(ctx, "u3")
		errs = append(errs, err)
		errs = append(errs, p.Update(ctx, record("r7", "u7", base)))
		errs = append(errs, p.Create(ctx, record("new", "u7", base)))
		_, err = p.DeleteByUser(ctx, "u5")
		errs = append(errs, err)
		_, err = p.DeleteExpired(ctx, base.Add(100*24*time.Hour))
		errs = append(errs, err)
		// The damage must be reported, not papered over.
		if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("corrupt at %d: no call reported a malformed database: %v", off, err)
		}
		p.Close()
	}
}

func TestReadOnly(t *testing.T) {
	path := seededFile(t, 10)
	before, _ := os.ReadFile(path)

	// A database opened read-only can be read; writes fail clearly and
	// change nothing.
	db := openDB(t, path, "&mode=ro")
	p, err := sqlite.New(db, nil)
	if err != nil {
		t.Fatalf("New over a read-only database: %v", err)
	}
	defer p.Close()
	want := record("r3", "u3", base)
	want.Data = bytes.Repeat([]byte{3}, 200)
	wantLoad(t, p, want)
	checkWriteFails := func(op string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Errorf("%s on a read-only database: %v, want an error saying it is read-only", op, err)
		}
		if errors.Is(err, qsessions.ErrNotFound) || errors.Is(err, qsessions.ErrExists) {
			t.Errorf("%s on a read-only database: %v wraps a session sentinel", op, err)
		}
	}
	checkWriteFails("Create", p.Create(ctx, record("new", "u", base)))
	checkWriteFails("Update", p.Update(ctx, record("r3", "u3", base)))
	checkWriteFails("Delete", p.Delete(ctx, "r1"))
	checkWriteFails("Delete many", p.Delete(ctx, "r1", "r2"))
	_, err = p.DeleteByUser(ctx, "u1")
	checkWriteFails("DeleteByUser", err)
	_, err = p.DeleteExpired(ctx, base.Add(100*24*time.Hour))
	checkWriteFails("DeleteExpired", err)
	wantLoad(t, p, want)
	p.Close()
	db.Close()
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the read-only database file changed")
	}

	// A read-only database without the schema cannot be migrated.
	empty := filepath.Join(t.TempDir(), "empty.db")
	db2 := openDB(t, empty, "")
	if _, err := db2.Exec(`CREATE TABLE other (x)`); err != nil {
		t.Fatal(err)
	}
	db2.Close()
	db3 := openDB(t, empty, "&mode=ro")
	if _, err := sqlite.New(db3, nil); err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("New over a read-only database without the schema: %v, want a read-only error", err)
	}
}

// TestReadOnlyFile makes the file itself read-only. Root ignores file
// permissions, so it is skipped when running as root.
func TestReadOnlyFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, which ignores file permissions; TestReadOnly covers mode=ro")
	}
	path := seededFile(t, 10)
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	p, err := sqlite.Open(path, nil)
	if err != nil {
		// Refusing to open is a clear error too, as long as it is one.
		t.Logf("Open of a read-only file: %v", err)
		return
	}
	defer p.Close()
	if _, err := p.Load(ctx, "r3"); err != nil {
		t.Fatalf("Load from a read-only file: %v", err)
	}
	if err := p.Create(ctx, record("new", "u", base)); err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("Create on a read-only file: %v, want a read-only error", err)
	}
}
