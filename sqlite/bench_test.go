//go:build !js && !wasip1

package sqlite_test

// The benchmarks run on a database of 1,000,000 sessions of 100,000 users
// (10 each), half of them expired. Seeding it takes several seconds, so it
// happens only when a benchmark runs (go test -bench), once, and the file is
// kept in os.TempDir() under a name that holds the schema version, the seed
// layout and the size, for the next run. Delete it to seed again. The environment variable
// QSESSIONS_SQLITE_BENCH_SESSIONS overrides the number of sessions (users
// are a tenth of it), for a quick run:
//
//	go test -run '^$' -bench . -benchtime 2s ./sqlite/
//	go test -run '^$' -bench DeleteExpired -benchtime 1x ./sqlite/

import (
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/sqlite"
)

// benchSeedVersion names the layout of the seeded data in the cached
// file's name; bump it when benchRecord or seed change.
const benchSeedVersion = 2

var benchNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func benchSize(b *testing.B) (sessions, users int) {
	sessions = 1_000_000
	if v := os.Getenv("QSESSIONS_SQLITE_BENCH_SESSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			b.Fatalf("QSESSIONS_SQLITE_BENCH_SESSIONS=%q: want a number >= 10", v)
		}
		sessions = n
	}
	return sessions, sessions / 10
}

// benchID returns the ID of session i: shaped like the Store's, the
// base64url SHA-256 of something.
func benchID(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func benchUser(i, users int) string { return fmt.Sprintf("user-%07d", i%users) }

var benchAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
}

// benchRecord returns session i of n, as the released schema version 2
// stored it. Sessions are created in order over the 28 days before
// benchNow and expire 14 days after creation, as with a fixed Lifetime, so
// the older half has expired; each was last used up to an hour after
// creation and holds 128 bytes of data.
func benchRecord(i, n, users int) oldRecord {
	data := make([]byte, 128)
	for j := range data {
		data[j] = byte(i + j*31)
	}
	const lifetime = 14 * 24 * time.Hour
	created := benchNow.Add(-2*lifetime + time.Duration(i)*(2*lifetime/time.Duration(n))).Truncate(time.Millisecond)
	return oldRecord{
		ID:        benchID(i),
		Data:      data,
		UserID:    benchUser(i, users),
		IP:        fmt.Sprintf("203.0.%d.%d", i/256%256, i%256),
		UserAgent: benchAgents[i%len(benchAgents)],
		CreatedAt: created,
		UpdatedAt: created.Add(time.Duration(i%3600) * time.Second),
		ExpiresAt: created.Add(lifetime),
	}
}

var (
	benchOnce sync.Once
	benchPath string
	benchErr  error
)

// benchDB returns the path of the seeded benchmark database, seeding it on
// first use.
func benchDB(b *testing.B) string {
	sessions, users := benchSize(b)
	benchOnce.Do(func() {
		benchPath = filepath.Join(os.TempDir(),
			fmt.Sprintf("qsessions-sqlite-bench-schema%d-seed%d-%d.db", sqlite.SchemaVersion, benchSeedVersion, sessions))
		if _, err := os.Stat(benchPath); err == nil {
			return
		}
		start := time.Now()
		benchErr = seed(b, benchPath, sessions, users)
		b.Logf("seeded %d sessions of %d users in %v into %s", sessions, users, time.Since(start).Round(time.Millisecond), benchPath)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchPath
}

// seed writes the benchmark database to a temporary file and renames it
// into place, so that a seed cut short leaves nothing behind. It writes a
// version-2 table, as the released package did (testdata/schema2.sql), in
// one transaction with the indexes built after the rows, and lets Open
// migrate it to the current version, which is quicker than a million
// Creates and times the migration on the way.
func seed(b *testing.B, path string, sessions, users int) error {
	tmp := path + ".seeding"
	os.Remove(tmp)
	defer os.Remove(tmp)
	fixture, err := os.ReadFile(filepath.Join("testdata", "schema2.sql"))
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+tmp+"?_journal_mode=OFF&_synchronous=OFF&_pragma=cache_size(-262144)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The schema without its indexes, then the rows in creation order, as
	// they arrive in production, then the indexes: SQLite sorts once
	// instead of inserting at random.
	var indexes []string
	for _, stmt := range strings.Split(string(fixture), ";") {
		if strings.Contains(stmt, "CREATE INDEX") {
			indexes = append(indexes, stmt)
			continue
		}
		if _, err := tx.Exec(stmt); err != nil {
			return err
		}
	}
	st, err := tx.Prepare(`INSERT INTO qsessions (id, version, data, user_id, ip, user_agent, created_at, updated_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	for i := range sessions {
		r := benchRecord(i, sessions, users)
		if _, err := st.Exec(r.ID, 1, r.Data, r.UserID, r.IP, r.UserAgent,
			r.CreatedAt.UnixMilli(), r.UpdatedAt.UnixMilli(), r.ExpiresAt.UnixMilli()); err != nil {
			return err
		}
	}
	for _, q := range indexes {
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	start := time.Now()
	p, err := sqlite.Open(tmp, nil)
	if err != nil {
		return err
	}
	b.Logf("migrated %d sessions from schema version 2 to %d in %v", sessions, sqlite.SchemaVersion, time.Since(start).Round(time.Millisecond))
	if err := p.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// openBench opens the seeded database, or a copy of it when the benchmark
// would damage it.
func openBench(b *testing.B, copyFile bool) *sqlite.Persister {
	path := benchDB(b)
	if copyFile {
		dst := filepath.Join(b.TempDir(), "bench.db")
		if err := copyTo(dst, path); err != nil {
			b.Fatal(err)
		}
		path = dst
	}
	p, err := sqlite.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

func copyTo(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	// Sync, so that the first checkpoint of the benchmark does not pay
	// for writing the copy back.
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// sample returns n random session numbers.
func sample(b *testing.B, n int) []int {
	sessions, _ := benchSize(b)
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]int, n)
	for i := range out {
		out[i] = rng.IntN(sessions)
	}
	return out
}

func BenchmarkLoad(b *testing.B) {
	p := openBench(b, false)
	var ids []string
	for _, i := range sample(b, 1<<16) {
		ids = append(ids, benchID(i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := p.Load(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkLoadParallel(b *testing.B) {
	p := openBench(b, false)
	var ids []string
	for _, i := range sample(b, 1<<16) {
		ids = append(ids, benchID(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	var next sync.Mutex
	k := 0
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		i := k * 7919
		k++
		next.Unlock()
		for pb.Next() {
			if _, err := p.Load(ctx, ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkUpdate rewrites sessions with a new UpdatedAt and Data, as the
// Store does on a write, each over the version it last wrote; users and
// expiry times are left as seeded. It works on a copy of the database.
func BenchmarkUpdate(b *testing.B) {
	p := openBench(b, true)
	var rs []qsessions.Record
	seen := map[int]bool{}
	for _, i := range sample(b, 1<<14) {
		if seen[i] {
			continue
		}
		seen[i] = true
		r, err := p.Load(ctx, benchID(i))
		if err != nil {
			b.Fatal(err)
		}
		rs = append(rs, r)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := &rs[i%len(rs)]
		r.UpdatedAt = r.UpdatedAt.Add(time.Millisecond)
		r.Data[0]++
		if err := p.Update(ctx, *r); err != nil {
			b.Fatal(err)
		}
		r.Version++
		i++
	}
}

func BenchmarkListByUser(b *testing.B) {
	p := openBench(b, false)
	_, users := benchSize(b)
	var names []string
	for _, i := range sample(b, 1<<14) {
		names = append(names, benchUser(i, users))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rs, err := p.ListByUser(ctx, names[i%len(names)])
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != 10 {
			b.Fatalf("ListByUser(%s) returned %d records, want 10", names[i%len(names)], len(rs))
		}
		i++
	}
}

// BenchmarkListByUserFloor measures what a listing costs before it reads
// a row: a statement that reads no table (SELECT 1, the driver and
// database/sql), a listing of a user with no sessions (the same, plus
// SQLite's read transaction, whose locks on the write-ahead log's index
// are system calls, and one index lookup), and the listing of one user
// over and over (its index pages in SQLite's cache), beside
// BenchmarkListByUser's random users.
func BenchmarkListByUserFloor(b *testing.B) {
	p := openBench(b, false)
	_, users := benchSize(b)
	b.Run("select1", func(b *testing.B) {
		st, err := sqlite.DB(p).Prepare("SELECT 1")
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		for b.Loop() {
			var n int
			if err := st.QueryRow().Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nobody", func(b *testing.B) {
		for b.Loop() {
			if rs, err := p.ListByUser(ctx, "nobody"); err != nil || len(rs) != 0 {
				b.Fatal(rs, err)
			}
		}
	})
	b.Run("same-user", func(b *testing.B) {
		u := benchUser(77, users)
		for b.Loop() {
			if rs, err := p.ListByUser(ctx, u); err != nil || len(rs) != 10 {
				b.Fatal(len(rs), err)
			}
		}
	})
}

// BenchmarkDeleteExpired sweeps the 500,000 expired sessions (of 1,000,000)
// of a fresh copy of the database the way the Store does, in one call, and
// reports the time and the rows deleted a second. Run it with -benchtime 1x.
func BenchmarkDeleteExpired(b *testing.B) {
	sessions, _ := benchSize(b)
	var total time.Duration
	for range b.N {
		b.StopTimer()
		p := openBench(b, true)
		b.StartTimer()
		start := time.Now()
		deleted, err := p.DeleteExpired(ctx, benchNow)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		if want := sessions / 2; deleted != want {
			b.Fatalf("deleted %d sessions, want %d", deleted, want)
		}
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/sweep")
	b.ReportMetric(float64(sessions/2)*float64(b.N)/total.Seconds(), "rows/s")
}
