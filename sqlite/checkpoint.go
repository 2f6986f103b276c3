//go:build !js && !wasip1

package sqlite

import (
	"context"
	"strings"
)

// checkpointEvery is how many writes (a handful of log frames each) a
// Persister that runs its own checkpoints lets go between two of them:
// about SQLite's own default of 1000 frames.
const checkpointEvery = 256

// forceCheckpoint is the size of the write-ahead log, in pages, over which
// the checkpointer makes writes wait for the end of a checkpoint, so that
// the log can start over (see checkpointer): 32 MiB with SQLite's default
// 4 KiB pages. Measured with bench/cmd/scale -big, 32000 pages made such
// waits four times rarer during a sweep under write load but no shorter
// (tens of milliseconds: two syncs to disk), did not change the writes'
// p99, and let a longer log slow the sweep's commits past 20 ms.
const forceCheckpoint = 8000

// startCheckpointer starts p's checkpointer when p's database is in WAL
// mode with its automatic checkpoints off, as Open sets it. SQLite would
// run a checkpoint in the commit of whichever write finds the log over
// 1000 pages, so that write, and the writes queued behind it, would wait
// for it, syncs to disk included.
func (p *Persister) startCheckpointer(ctx context.Context) error {
	var mode string
	var auto int
	if err := p.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if err := p.db.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil {
		return err
	}
	if strings.EqualFold(mode, "wal") && auto <= 0 {
		p.checkpoints = make(chan struct{}, 1)
		p.checkpointerDone = make(chan struct{})
		go p.checkpointer()
	}
	return nil
}

// unlockWrite ends a write that lockWrite began, and signals the
// checkpointer every checkpointEvery writes.
func (p *Persister) unlockWrite() {
	if p.checkpoints != nil {
		if p.writes++; p.writes >= checkpointEvery {
			p.writes = 0
			p.signalCheckpoint()
		}
	}
	<-p.wsem
}

// checkpointer runs the checkpoints of p's database, one at a time, until p
// is closed. Each copies what it can of the write-ahead log into the
// database without waiting for anyone or blocking any write (PASSIVE);
// a failed one costs only a longer log until the next.
//
// The log starts over from its beginning only when a write begins after a
// checkpoint that copied all of it, which a checkpoint running beside busy
// writes may never do. So when the log holds over forceCheckpoint pages
// after a checkpoint, the checkpointer copies the rest, the pages written
// meanwhile, while this Persister's writes wait, as SQLite's automatic
// checkpoints would have made one of them wait.
func (p *Persister) checkpointer() {
	defer close(p.checkpointerDone)
	for {
		select {
		case <-p.closed:
			return
		case <-p.checkpoints:
		}
		p.checkpoint()
	}
}

// checkpoint runs one of the checkpointer's checkpoints.
func (p *Persister) checkpoint() {
	// log is the pages in the log, copied or not.
	var busy, log, copied int
	err := p.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied)
	if err != nil || log <= p.forceAt {
		return
	}
	select {
	case p.wsem <- struct{}{}:
	case <-p.closed:
		return
	}
	p.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
	<-p.wsem
}

// signalCheckpoint asks the checkpointer for a checkpoint, unless one is
// already asked for.
func (p *Persister) signalCheckpoint() {
	select {
	case p.checkpoints <- struct{}{}:
	default:
	}
}
