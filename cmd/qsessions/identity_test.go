package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDemoPrivateDatabase: the demo's default database is in the user's
// cache directory, in a directory only the user can open, and the
// database and its -wal and -shm files are readable by the user only.
func TestDemoPrivateDatabase(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the user cache directory is $XDG_CACHE_HOME on Linux only")
	}
	t.Parallel()
	cache := t.TempDir()
	env := cliEnv("XDG_CACHE_HOME=" + cache)
	db := filepath.Join(cache, "qsessions", "demo.db")
	r := cli(t, env, "demo", "--help")
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, `(default "`+db+`")`) {
		t.Errorf("demo --help does not give %s as the default database\n%s", db, r.stdout)
	}
	if strings.Contains(r.stdout, "qsessions-demo.db") {
		t.Errorf("demo --help names the old database in the shared temporary directory\n%s", r.stdout)
	}

	// The default itself, named: startDemo gives every demo a database.
	d := startDemo(t, env, "--sqlite", db)
	if out := d.stdoutText(); !strings.Contains(out, "sessions in the SQLite database "+db) {
		t.Errorf("the demo does not say where its database is\n%s", out)
	}
	signIn(t, newBrowser(t, macChrome), d.url, "alice") // a write: -wal and -shm exist
	for name, want := range map[string]os.FileMode{
		filepath.Dir(db): 0o700 | os.ModeDir,
		db:               0o600,
		db + "-wal":      0o600,
		db + "-shm":      0o600,
	} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (os.ModeDir | os.ModePerm); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
	d.stop()

	wantExit(t, cli(t, cliEnv("XDG_CACHE_HOME=", "HOME="), "demo", "--addr", "127.0.0.1:0"), 2,
		"--sqlite must name a file", "no user cache directory")
}

// TestDemoClientIPHeader: behind a trusted proxy, the demo believes the
// header --client-ip-header names, and no other.
func TestDemoClientIPHeader(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil, "--trust-proxy", "127.0.0.1/32,::1/128", "--client-ip-header", "cf-connecting-ip")
	b := newBrowser(t, macChrome)
	b.hdr.Set("CF-Connecting-IP", "192.0.2.7")
	b.hdr.Set("X-Forwarded-For", "198.51.100.1")
	b.hdr.Set("Forwarded", "for=198.51.100.2")
	id := signIn(t, b, d.url, "alice")
	if _, v := b.sessions(d.url); find(t, v, id).IP != "192.0.2.7" {
		t.Errorf("session IP %q, want 192.0.2.7 from CF-Connecting-IP", find(t, v, id).IP)
	}
	d.stop()

	wantExit(t, cli(t, nil, "demo", "--client-ip-header", "X Real IP", "--addr", "127.0.0.1:0"), 2,
		`--client-ip-header: "X Real IP" is not a header name`)
}
