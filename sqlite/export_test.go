//go:build !js && !wasip1

package sqlite

// SetDeleteBatch sets the most rows p's DeleteExpired removes per
// transaction, so that tests can cross batch boundaries with few rows.
func SetDeleteBatch(p *Persister, n int) { p.batch = n }
