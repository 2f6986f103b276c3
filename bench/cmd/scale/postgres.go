package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/postgres"
)

// pgApp is the application_name of the pool the Persister uses, by which
// the lock-wait monitor finds its backends.
const pgApp = "qsessions-scale"

func newPool(ctx context.Context, dsn, app string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	return pgxpool.NewWithConfig(ctx, cfg)
}

// pgScenario is the scenario in a schema of its own, qs_scale_<hex>,
// dropped by drop.
type pgScenario struct {
	admin  *pgxpool.Pool
	schema string
}

func newPGScenario(ctx context.Context, dsn string) (*pgScenario, error) {
	admin, err := newPool(ctx, dsn, "qsessions-scale-admin")
	if err != nil {
		return nil, err
	}
	var b [6]byte
	rand.Read(b[:])
	return &pgScenario{admin: admin, schema: "qs_scale_" + hex.EncodeToString(b[:])}, nil
}

func (g *pgScenario) drop(ctx context.Context) {
	g.admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{g.schema}.Sanitize()+" CASCADE")
	g.admin.Close()
}

// seed empties the table (creating it, through postgres.New, the first
// time), copies the scenario into it and vacuums it, as autovacuum would
// after a bulk load, so that listings can be index-only scans.
func (g *pgScenario) seed(ctx context.Context, s scenario) error {
	if _, err := postgres.New(ctx, g.admin, &postgres.Options{Schema: g.schema}); err != nil {
		return err
	}
	tbl := pgx.Identifier{g.schema, postgres.DefaultTable}
	if _, err := g.admin.Exec(ctx, "TRUNCATE "+tbl.Sanitize()); err != nil {
		return err
	}
	var rows [][]any
	s.rows(func(r qsessions.Record) error {
		rows = append(rows, []any{r.ID, r.Version, r.Data, r.UserID, r.UpdatedAt, r.ExpiresAt, r.Meta})
		return nil
	})
	cols := []string{"id", "version", "data", "user_id", "updated_at", "expires_at", "meta"}
	if _, err := g.admin.CopyFrom(ctx, tbl, cols, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	_, err := g.admin.Exec(ctx, "VACUUM ANALYZE "+tbl.Sanitize())
	return err
}

// persister returns a Persister over a pool of its own, closed by close.
func (g *pgScenario) persister(ctx context.Context, dsn string) (p *postgres.Persister, close func(), err error) {
	pool, err := newPool(ctx, dsn, pgApp)
	if err != nil {
		return nil, nil, err
	}
	p, err = postgres.New(ctx, pool, &postgres.Options{Schema: g.schema})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return p, pool.Close, nil
}

func postgresScale(ctx context.Context, c config) (*scaleResult, error) {
	g, err := newPGScenario(ctx, c.dsn)
	if err != nil {
		return nil, err
	}
	defer g.drop(ctx)
	s := newScenario(c.users, c.perUser, c.random)
	res := &scaleResult{rows: c.users * c.perUser, expired: s.expired()}
	if err := g.seed(ctx, s); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	p, closePool, err := g.persister(ctx, c.dsn)
	if err != nil {
		return nil, err
	}
	defer closePool()
	st, err := newStore(p)
	if err != nil {
		return nil, err
	}
	if res.listMedian, res.listP90, err = timeListings(ctx, st, c); err != nil {
		return nil, err
	}
	progress("  Store.Sessions: median %v", res.listMedian)

	for _, v := range []struct {
		out *sweepResult
	}{{&res.sweepOne}} {
		if err := g.seed(ctx, s); err != nil {
			return nil, err
		}
		st, err := newStore(p)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		n, err := st.DeleteExpired(ctx)
		d := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if n != res.expired {
			return nil, fmt.Errorf("DeleteExpired removed %d rows, want %d", n, res.expired)
		}
		*v.out = sweepResult{d: d, rows: n}
		progress("  Store.DeleteExpired: %v", d.Round(time.Millisecond))
	}

	if err := g.seed(ctx, s); err != nil {
		return nil, err
	}
	t0 := time.Now()
	tag, err := g.admin.Exec(ctx, "DELETE FROM "+pgx.Identifier{g.schema, postgres.DefaultTable}.Sanitize()+" WHERE expires_at < now()")
	res.plainDelete = time.Since(t0)
	if err != nil {
		return nil, err
	}
	res.plainRows = int(tag.RowsAffected())
	progress("  one DELETE: %v", res.plainDelete.Round(time.Millisecond))
	return res, nil
}

func postgresBig(ctx context.Context, c config) (*bigResult, error) {
	g, err := newPGScenario(ctx, c.dsn)
	if err != nil {
		return nil, err
	}
	defer g.drop(ctx)
	s := newScenario(c.bigUsers, c.perUser, c.random)
	start := time.Now()
	if err := g.seed(ctx, s); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	progress("  seeded %d rows in %v", c.bigUsers*c.perUser, time.Since(start).Round(time.Millisecond))
	p, closePool, err := g.persister(ctx, c.dsn)
	if err != nil {
		return nil, err
	}
	defer closePool()
	res := &bigResult{rows: c.bigUsers * c.perUser, expired: s.expired()}
	res.without, res.with, res.sweep, err = underLoad(ctx, p, c.writeFor, func(st sweeper) (sweepResult, error) {
		mon := g.watchLocks(ctx)
		t0 := time.Now()
		n, err := st.DeleteExpired(ctx)
		d := time.Since(t0)
		res.lockWaits = mon()
		return sweepResult{d: d, rows: n}, err
	})
	if err != nil {
		return nil, err
	}
	if res.sweep.rows != res.expired {
		return nil, fmt.Errorf("DeleteExpired removed %d rows, want %d", res.sweep.rows, res.expired)
	}
	return res, nil
}

// watchLocks samples, every millisecond until the returned function is
// called, the Persister's backends (the write requests' statements and the
// sweep's DELETEs) that wait for a lock, and returns what it saw: how many
// samples found one, and what waited for what.
func (g *pgScenario) watchLocks(ctx context.Context) func() string {
	stop := make(chan struct{})
	var (
		wg               sync.WaitGroup
		samples, waiting int
		seen             = map[string]int{} // "UPDATE waits for transactionid": samples
	)
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			rows, err := g.admin.Query(ctx, `SELECT wait_event, split_part(ltrim(query), ' ', 1) FROM pg_stat_activity
				WHERE application_name = $1 AND wait_event_type = 'Lock'`, pgApp)
			if err != nil {
				continue
			}
			found := false
			for rows.Next() {
				var event, verb string
				if rows.Scan(&event, &verb) == nil {
					seen[verb+" waits for "+event]++
					found = true
				}
			}
			rows.Close()
			samples++
			if found {
				waiting++
			}
		}
	})
	return func() string {
		close(stop)
		wg.Wait()
		var what []string
		for k, n := range seen {
			what = append(what, fmt.Sprintf("%s (%d)", k, n))
		}
		slices.Sort(what)
		if len(what) == 0 {
			what = []string{"none"}
		}
		return fmt.Sprintf("%d of %d samples (1 ms apart) found one waiting: %s", waiting, samples, strings.Join(what, ", "))
	}
}
