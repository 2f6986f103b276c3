//go:build !js && !wasip1

package sqlite

import "database/sql"

// SetSweepChunk sets how many rows one statement of p's DeleteExpired
// deletes, so that tests can cross statement and transaction boundaries
// with few rows.
func SetSweepChunk(p *Persister, n int) { p.chunk = n }

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

// DB returns p's database.
func DB(p *Persister) *sql.DB { return p.db }
