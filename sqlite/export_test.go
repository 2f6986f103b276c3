//go:build !js && !wasip1

package sqlite

import (
	"database/sql"
	"testing"
	"time"

	"github.com/qsessions/qsessions/internal/binding"
)

// SetSweepChunk sets how many rows one statement of p's DeleteExpired
// deletes, so that tests can cross statement and transaction boundaries
// with few rows.
func SetSweepChunk(p *Persister, n int) { p.chunk = n }

// SetSweepHook sets the function to which p's sweeps report their steps:
// "statement" with the rows it deleted, under the write lock; "checkpoint"
// with the rows deleted since the last one, before it runs; "pause" with
// its length, before it begins.
func SetSweepHook(p *Persister, f func(step string, n int, d time.Duration)) { p.sweepHook = f }

// WaitingWrites returns how many of p's writes are waiting for the write
// lock.
func WaitingWrites(p *Persister) int { return int(p.waiting.Load()) }

// TryLockWrite takes p's write lock if it is free and reports whether it
// did; UnlockWrite gives it back.
func TryLockWrite(p *Persister) bool {
	select {
	case p.wsem <- struct{}{}:
		return true
	default:
		return false
	}
}

func UnlockWrite(p *Persister) { <-p.wsem }

// Queries returns the SQL of the statements on table, by name.
func Queries(table string) map[string]string {
	q := queries(table)
	return map[string]string{
		"Load": q.load, "Create": q.create, "Touch": q.touch, "Update": q.update, "Exists": q.exists, "Delete": q.del,
		"ListByUser": q.listByUser, "DeleteByUser": q.deleteByUser, "DeleteExpired": q.deleteExpired,
	}
}

// SetForceCheckpoint sets the size of the write-ahead log, in pages, over
// which p's checkpointer makes writes wait for a checkpoint to finish.
func SetForceCheckpoint(p *Persister, pages int) { p.forceAt = pages }

// Checkpoint runs one of the checkpoints that p's checkpointer runs, in
// the caller's goroutine.
func Checkpoint(p *Persister) { p.checkpoint() }

// DB returns p's database.
func DB(p *Persister) *sql.DB { return p.db }

// BindingInMeta returns the device-binding state held in a Record's Meta.
func BindingInMeta(meta []byte) ([]byte, error) { return binding.InMeta(meta) }

func testBinding(t *testing.T, meta []byte) []byte {
	t.Helper()
	b, err := binding.InMeta(meta)
	if err != nil {
		t.Fatalf("binding of Meta %q: %v", meta, err)
	}
	return b
}

// SetSweepBudget sets how long one transaction of p's sweeps runs.
func SetSweepBudget(p *Persister, d time.Duration) { p.budget = d }
