package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/sqlite"
)

// sqliteParams are the connection settings that sqlite.Open sets; the
// sweeps run over a *sql.DB opened with them through a driver that times
// transactions (sqlite.New), so they must stay the same.
const sqliteParams = "_txlock=immediate&_busy_timeout=5000&_synchronous=NORMAL&_pragma=wal_autocheckpoint(0)"

const sqliteConns = 4 // sqlite.Open's default pool

// seedSQLite writes the scenario into a new database file at path, through
// Persister.Create in the scenario's order, as an application would have
// created the sessions, and leaves it with an empty write-ahead log, ready
// to be copied.
func seedSQLite(path string, s scenario) error {
	p, err := sqlite.Open(path, nil)
	if err != nil {
		return err
	}
	ctx := context.Background()
	err = s.rows(func(r qsessions.Record) error { return p.Create(ctx, r) })
	if err := errors.Join(err, p.Close()); err != nil {
		return err
	}
	// Closing the last connection checkpointed the log; make sure.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// seeded returns the path of a database file holding scenario s: a new one
// in the run's directory, or with -seeds one kept from an earlier run with
// the same schema and scenario (its live sessions live for two weeks).
func seeded(c config, s scenario) (string, error) {
	order := "expired-first"
	if s.random {
		order = "random"
	}
	name := fmt.Sprintf("scale-schema%d-%dx%d-%s.db", sqlite.SchemaVersion, s.users, s.perUser, order)
	if c.seeds == "" {
		path := filepath.Join(c.dir, name)
		start := time.Now()
		if err := seedSQLite(path, s); err != nil {
			return "", fmt.Errorf("seed: %w", err)
		}
		progress("  seeded %d rows in %v", s.users*s.perUser, time.Since(start).Round(time.Millisecond))
		return path, nil
	}
	path := filepath.Join(c.seeds, name)
	if _, err := os.Stat(path); err == nil {
		progress("  reusing %s", path)
		return path, nil
	}
	tmp := path + ".seeding"
	os.Remove(tmp)
	start := time.Now()
	if err := seedSQLite(tmp, s); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("seed: %w", err)
	}
	progress("  seeded %d rows in %v into %s", s.users*s.perUser, time.Since(start).Round(time.Millisecond), path)
	return path, os.Rename(tmp, path)
}

// openTimed opens the database at path with sqlite.Open's settings, through
// a driver that records how long each transaction holds the write lock, and
// makes a Persister over it.
func openTimed(path string, budget time.Duration) (*sqlite.Persister, *sql.DB, *txTimes, error) {
	times := &txTimes{}
	db := sql.OpenDB(timedConnector{dsn: "file:" + path + "?" + sqliteParams, d: &msqlite.Driver{}, times: times})
	db.SetMaxOpenConns(sqliteConns)
	db.SetMaxIdleConns(sqliteConns)
	if _, err := db.Exec(`PRAGMA journal_mode = WAL`); err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	p, err := sqlite.New(db, &sqlite.Options{SweepBudget: budget})
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return p, db, times, nil
}

func sqliteScale(ctx context.Context, c config) (*scaleResult, error) {
	s := newScenario(c.users, c.perUser, c.random)
	seed, err := seeded(c, s)
	if err != nil {
		return nil, err
	}
	res := &scaleResult{rows: c.users * c.perUser, expired: s.expired()}

	// Listing, through sqlite.Open as an application opens it.
	work := filepath.Join(c.dir, "work.db")
	if err := copyDB(work, seed); err != nil {
		return nil, err
	}
	p, err := sqlite.Open(work, nil)
	if err != nil {
		return nil, err
	}
	st, err := newStore(p)
	if err != nil {
		return nil, err
	}
	res.listMedian, res.listP90, err = timeListings(ctx, st, c)
	p.Close()
	if err != nil {
		return nil, err
	}
	progress("  Store.Sessions: median %v", res.listMedian)

	// The sweeps, each on a fresh copy.
	for _, v := range []struct {
		out *sweepResult
	}{{&res.sweepOne}} {
		if err := copyDB(work, seed); err != nil {
			return nil, err
		}
		p, db, times, err := openTimed(work, c.budget)
		if err != nil {
			return nil, err
		}
		st, err := newStore(p)
		if err != nil {
			return nil, err
		}
		times.start()
		t0, c0 := time.Now(), cpuTime()
		n, err := onThread(func() (int, error) { return st.DeleteExpired(ctx) })
		d, cpu := time.Since(t0), cpuTime()-c0
		txns, longest := times.stop()
		p.Close()
		db.Close()
		if err != nil {
			return nil, err
		}
		if n != res.expired {
			return nil, fmt.Errorf("DeleteExpired removed %d rows, want %d", n, res.expired)
		}
		*v.out = sweepResult{d: d, rows: n, longest: longest, txns: txns}
		progress("  Store.DeleteExpired: %v (CPU %v), %d transactions, longest %v", d.Round(time.Millisecond), cpu.Round(time.Millisecond), txns, longest)
	}

	// One plain DELETE, on a fresh copy opened as sqlite.Open opens it.
	if err := copyDB(work, seed); err != nil {
		return nil, err
	}
	p, db, _, err := openTimed(work, 0)
	if err != nil {
		return nil, err
	}
	t0, c0 := time.Now(), cpuTime()
	r, err := db.ExecContext(ctx, `DELETE FROM "`+sqlite.DefaultTable+`" WHERE expires_at < ?`, time.Now().UnixMilli())
	res.plainDelete = time.Since(t0)
	cpu := cpuTime() - c0
	p.Close()
	db.Close()
	if err != nil {
		return nil, err
	}
	n, _ := r.RowsAffected()
	res.plainRows = int(n)
	progress("  one DELETE: %v (CPU %v)", res.plainDelete.Round(time.Millisecond), cpu.Round(time.Millisecond))
	return res, nil
}

func sqliteBig(ctx context.Context, c config) (*bigResult, error) {
	s := newScenario(c.bigUsers, c.perUser, c.random)
	seed, err := seeded(c, s)
	if err != nil {
		return nil, err
	}
	work := filepath.Join(c.dir, "bigwork.db")
	if err := copyDB(work, seed); err != nil {
		return nil, err
	}
	defer os.Remove(work)
	p, db, times, err := openTimed(work, c.budget)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	defer p.Close()
	res := &bigResult{rows: c.bigUsers * c.perUser, expired: s.expired()}
	res.without, res.with, res.sweep, err = underLoad(ctx, p, c.writeFor, func(st sweeper) (sweepResult, error) {
		times.start()
		t0 := time.Now()
		n, err := st.DeleteExpired(ctx)
		d := time.Since(t0)
		txns, longest := times.stop()
		return sweepResult{d: d, rows: n, longest: longest, txns: txns}, err
	})
	if err != nil {
		return nil, err
	}
	if res.sweep.rows != res.expired {
		return nil, fmt.Errorf("DeleteExpired removed %d rows, want %d", res.sweep.rows, res.expired)
	}
	return res, nil
}

func copyDB(dst, src string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(dst + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	// Synced, so that the first checkpoint does not pay for the copy.
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// txTimes records how long the transactions begun while it is started hold
// the write lock: from BEGIN IMMEDIATE to the end of COMMIT or ROLLBACK.
// Every write of this process is serialised in the Persister, so BEGIN does
// not wait for the lock.
type txTimes struct {
	mu  sync.Mutex
	on  bool
	d   []time.Duration
	cpu []time.Duration // CPU time of the thread, when the sweep's goroutine is locked to it
}

func (t *txTimes) start() {
	t.mu.Lock()
	t.on, t.d, t.cpu = true, nil, nil
	t.mu.Unlock()
}

// stop stops recording and returns the transactions' count and the
// longest.
func (t *txTimes) stop() (n int, longest time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.on = false
	if len(t.d) == 0 {
		return 0, 0
	}
	l := summarize(t.d)
	progress("  transactions: %s; CPU of their thread: %s", l, summarize(t.cpu))
	return l.n, l.max
}

func (t *txTimes) add(d, cpu time.Duration) {
	t.mu.Lock()
	if t.on {
		t.d = append(t.d, d)
		t.cpu = append(t.cpu, cpu)
	}
	t.mu.Unlock()
}

// timedConnector opens connections of driver d whose transactions are
// timed into times.
type timedConnector struct {
	dsn   string
	d     driver.Driver
	times *txTimes
}

func (c timedConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.d.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	full, ok := conn.(fullConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("driver connection %T lacks a method the timing wrapper passes through", conn)
	}
	return &timedConn{full, c.times}, nil
}

func (c timedConnector) Driver() driver.Driver { return c.d }

// fullConn is what database/sql uses of a modernc.org/sqlite connection.
type fullConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type timedConn struct {
	fullConn
	times *txTimes
}

func (c *timedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	start, cpu := time.Now(), threadCPU()
	tx, err := c.fullConn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &timedTx{tx, start, cpu, c.times}, nil
}

type timedTx struct {
	driver.Tx
	start time.Time
	cpu   time.Duration
	times *txTimes
}

func (t *timedTx) Commit() error {
	err := t.Tx.Commit()
	t.times.add(time.Since(t.start), threadCPU()-t.cpu)
	return err
}

func (t *timedTx) Rollback() error {
	err := t.Tx.Rollback()
	t.times.add(time.Since(t.start), threadCPU()-t.cpu)
	return err
}
