// Command scale measures the persisters at scale, on django-qsessions' own
// scenario: 10,000 users with 10 sessions each, half of them
// expired, the expired rows inserted first. It lists one user's sessions
// through Store.Sessions, clears the expired rows through
// Store.DeleteExpired and with one plain DELETE, on SQLite and, when
// QSESSIONS_POSTGRES_DSN is set, on PostgreSQL, and prints the figures
// beside Django's from the same run, with their ratios.
//
// Run from the bench directory; run.sh runs Django's side too:
//
//	./run.sh scale                              # Django, then this command
//	go run ./cmd/scale                          # qsessions only
//	go run ./cmd/scale -django djbench-results.json
//	go run ./cmd/scale -big                     # also 1,000,000 rows under write load
//
// -django reads the JSON that ../shared/anchors/django-bench/bench.py
// --only E --json FILE writes (relative to the repository). -big adds the
// million-row runs: 500,000 expired rows swept while write requests run,
// reporting the longest transaction of the sweep, the p99 of the write
// requests with and without a sweep, and on PostgreSQL the lock waits of
// the writers. Files go to the temporary directory and are removed.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

type config struct {
	users, perUser int    // the scenario: users × perUser sessions, half expired
	lookups        int    // listings timed, after a tenth as many to warm up
	random         bool   // insert the rows in random order rather than expired first
	django         string // Django's results (bench.py --json), or ""
	dsn            string // PostgreSQL, or "" for SQLite only
	big            bool   // the million-row runs too
	bigUsers       int    // users of the million-row runs (× perUser sessions)
	writeFor       time.Duration
	budget         time.Duration // sqlite.Options.SweepBudget; 0 is the default
	dir            string
	seeds          string // where seeded SQLite files are kept for the next run, or ""
	sqlite         bool   // run the SQLite side
}

func main() {
	var c config
	flag.IntVar(&c.users, "users", 10_000, "users in the scenario")
	flag.IntVar(&c.perUser, "per-user", 10, "sessions per user, half of them expired")
	flag.IntVar(&c.lookups, "lookups", 1000, "listings to time")
	flag.BoolVar(&c.random, "random", false, "insert the rows in random order, not the expired ones first")
	flag.StringVar(&c.django, "django", "", "Django's results: the JSON file of bench.py --only E --json FILE")
	flag.StringVar(&c.dsn, "postgres", os.Getenv("QSESSIONS_POSTGRES_DSN"), "PostgreSQL DSN (default $QSESSIONS_POSTGRES_DSN); empty: SQLite only")
	flag.BoolVar(&c.big, "big", false, "also run the million-row sweeps under write load")
	flag.IntVar(&c.bigUsers, "big-users", 100_000, "users of the million-row runs")
	flag.DurationVar(&c.writeFor, "write-for", 10*time.Second, "how long the write load runs without a sweep")
	flag.DurationVar(&c.budget, "budget", 0, "sqlite SweepBudget (0: the package default)")
	flag.BoolVar(&c.sqlite, "sqlite", true, "run the SQLite side (-sqlite=false: PostgreSQL only)")
	flag.StringVar(&c.seeds, "seeds", "", "keep the seeded SQLite files in this directory and reuse them on the next run")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(w io.Writer, c config) error {
	if c.users < 1 || c.perUser < 2 || c.lookups < 10 {
		return errors.New("want -users >= 1, -per-user >= 2, -lookups >= 10")
	}
	var dj *djangoE
	if c.django != "" {
		var err error
		if dj, err = readDjango(c.django); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp(c.dir, "qsessions-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c.dir = dir
	ctx := context.Background()
	loadBefore := loadavg()

	var lite, pg *scaleResult
	if c.sqlite {
		progress("SQLite: %d users × %d sessions", c.users, c.perUser)
		if lite, err = sqliteScale(ctx, c); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	if c.dsn != "" {
		progress("PostgreSQL: %d users × %d sessions", c.users, c.perUser)
		if pg, err = postgresScale(ctx, c); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	var bigLite, bigPG *bigResult
	if c.big {
		if c.sqlite {
			progress("SQLite: %d users × %d sessions under write load", c.bigUsers, c.perUser)
			if bigLite, err = sqliteBig(ctx, c); err != nil {
				return fmt.Errorf("sqlite, big: %w", err)
			}
		}
		if c.dsn != "" {
			progress("PostgreSQL: %d users × %d sessions under write load", c.bigUsers, c.perUser)
			if bigPG, err = postgresBig(ctx, c); err != nil {
				return fmt.Errorf("postgres, big: %w", err)
			}
		}
	}
	report(w, c, dj, lite, pg, bigLite, bigPG, loadBefore, loadavg())
	return nil
}

// A scaleResult holds the figures of one backend on the scenario.
type scaleResult struct {
	rows, expired int
	listMedian    time.Duration // Store.Sessions, median
	listP90       time.Duration
	sweepOne      sweepResult // Store.DeleteExpired: one Persister call, which batches for itself
	plainDelete   time.Duration
	plainRows     int
}

type sweepResult struct {
	d       time.Duration
	rows    int
	longest time.Duration // longest transaction, where known
	txns    int
}

// A bigResult holds the figures of the million-row run of one backend.
type bigResult struct {
	rows, expired int
	sweep         sweepResult
	without, with latencies // write requests without and during the sweep
	lockWaits     string    // PostgreSQL: the writers' lock waits during the sweep
}

// The scenario's clock: expired sessions expired a day ago and live ones
// expire in two weeks, as in Django's scenario.
type scenario struct {
	now                time.Time
	users, perUser     int
	random             bool
	data               []byte
	userAgent          string
	expiredAt, liveFor time.Time
}

const djangoUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"

func newScenario(users, perUser int, random bool) scenario {
	now := time.Now().UTC().Truncate(time.Millisecond)
	// What the Store stores for a signed-in session with a CSRF secret,
	// about the size of Django's encoded session.
	data := []byte(`{"_auth_user_id":"4931","_auth_user_backend":"django.contrib.auth.backends.ModelBackend",` +
		`"_auth_user_hash":"0b1c4f1d2e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c","csrf":"dXJ3b3FvZW5vZmNhbWVzaG91bGRub3RiZWd1ZXNzZWQ"}`)
	return scenario{
		now: now, users: users, perUser: perUser, random: random, data: data, userAgent: djangoUA,
		expiredAt: now.Add(-24 * time.Hour), liveFor: now.Add(14 * 24 * time.Hour),
	}
}

// rows calls f for every session of the scenario, in insertion order: the
// expired ones first, as Django's scenario inserts them, or shuffled.
func (s scenario) rows(f func(r qsessions.Record) error) error {
	n := s.users * s.perUser
	order := make([]int, 0, n)
	if s.random {
		for k := range n {
			order = append(order, k)
		}
		rng := newRand(42)
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	} else {
		// Every user's expired sessions, then every user's live ones.
		for _, expired := range []bool{true, false} {
			for u := range s.users {
				for j := range s.perUser {
					if (j%2 == 0) == expired {
						order = append(order, u*s.perUser+j)
					}
				}
			}
		}
	}
	for _, k := range order {
		if err := f(s.record(k)); err != nil {
			return err
		}
	}
	return nil
}

// record returns session k: user k/perUser, expired when k%perUser is even.
func (s scenario) record(k int) qsessions.Record {
	u, j := k/s.perUser, k%s.perUser
	exp := s.liveFor
	if j%2 == 0 {
		exp = s.expiredAt
	}
	return qsessions.Record{
		ID:        sessionID(k),
		Version:   1,
		Data:      s.data,
		UserID:    userID(u),
		UpdatedAt: s.now.Add(-time.Duration(k%3600) * time.Second),
		ExpiresAt: exp,
		Meta: qsessions.EncodeMeta(qsessions.SessionInfo{
			IP:        fmt.Sprintf("10.0.%d.%d", j, u&255),
			UserAgent: s.userAgent,
			CreatedAt: s.now.Add(-time.Hour),
		}),
	}
}

func (s scenario) expired() int { return s.users * ((s.perUser + 1) / 2) }

func userID(u int) string { return fmt.Sprint(u + 1) }

// sessionID returns the ID of session k, shaped like the Store's: the
// unpadded base64url of 32 bytes (random-looking, and the same every run).
func sessionID(k int) string {
	sum := sha256.Sum256([]byte("qsessions scale " + strconv.Itoa(k)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// timeListings times Store.Sessions for lookups random users, after a
// tenth as many to warm up, as Django's scenario does.
func timeListings(ctx context.Context, st *qsessions.Store, c config) (median, p90 time.Duration, err error) {
	rng := newRand(7)
	live := (c.perUser) / 2
	var lat []time.Duration
	var c0 time.Duration
	defer func() {
		progress("  Store.Sessions: CPU %v per listing", (cpuTime()-c0)/time.Duration(c.lookups))
	}()
	for i := range c.lookups + c.lookups/10 {
		if i == c.lookups/10 {
			c0 = cpuTime()
		}
		u := userID(rng.IntN(c.users))
		start := time.Now()
		infos, err := st.Sessions(ctx, u)
		d := time.Since(start)
		if err != nil {
			return 0, 0, err
		}
		if len(infos) != live {
			return 0, 0, fmt.Errorf("Sessions(%s) returned %d sessions, want %d", u, len(infos), live)
		}
		if i >= c.lookups/10 {
			lat = append(lat, d)
		}
	}
	return percentile(lat, 0.5), percentile(lat, 0.9), nil
}

// newStore returns a Store over a memory cache, as the default setup is.
func newStore(p qsessions.Persister) (*qsessions.Store, error) {
	o := &qsessions.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return qsessions.New(memory.NewCache(), p, o)
}

// progress reports what runs, on stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scale: "+format+"\n", args...)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// djangoE is what Django's scenario E reports.
type djangoE struct {
	Meta struct {
		Django    string `json:"django"`
		Qsessions string `json:"qsessions"`
		SQLite    string `json:"sqlite"`
		Journal   string `json:"journal_mode"`
		Sync      string `json:"synchronous"`
	} `json:"meta"`
	E djangoFigures `json:"E"`
}

type djangoFigures struct {
	Rows           int     `json:"rows_total"`
	Expired        int     `json:"rows_expired"`
	ListMedianUS   float64 `json:"list_by_user_median_us"`
	ListP90US      float64 `json:"list_by_user_p90_us"`
	ClearSessionsS float64 `json:"clearsessions_s"`
	PlainDeleteS   float64 `json:"plain_delete_s"`
}

func readDjango(path string) (*djangoE, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d djangoE
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if d.E.Rows == 0 {
		return nil, fmt.Errorf("%s holds no scenario E results (run bench.py --only E)", path)
	}
	return &d, nil
}

func report(w io.Writer, c config, dj *djangoE, lite, pg *scaleResult, bigLite, bigPG *bigResult, loadBefore, loadAfter string) {
	us := func(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1e3) }
	sec := func(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }
	ratio := func(djangoSecs float64, d time.Duration) string {
		if dj == nil || d <= 0 {
			return ""
		}
		return fmt.Sprintf(" (%.1f×)", djangoSecs/d.Seconds())
	}
	order := "the expired rows inserted first"
	if c.random {
		order = "rows inserted in random order"
	}
	type column struct {
		name string
		r    *scaleResult
	}
	var cols []column
	if lite != nil {
		cols = append(cols, column{"qsessions sqlite/", lite})
	}
	if pg != nil {
		cols = append(cols, column{"qsessions postgres/", pg})
	}
	if len(cols) > 0 {
		first := cols[0].r
		fmt.Fprintf(w, "## Scale: %d users × %d sessions = %d rows, %d expired, %s\n\n",
			c.users, c.perUser, first.rows, first.expired, order)
		head, sep := "| |", "|---|"
		if dj != nil {
			head += fmt.Sprintf(" django-qsessions %s (C SQLite %s) |", strings.Fields(dj.Meta.Qsessions + " ?")[0], dj.Meta.SQLite)
			sep += "--:|"
		}
		for _, col := range cols {
			head += " " + col.name + " |"
			sep += "--:|"
		}
		fmt.Fprintln(w, head)
		fmt.Fprintln(w, sep)
		row := func(name, django string, f func(r *scaleResult) string) {
			line := "| " + name + " |"
			if dj != nil {
				line += " " + django + " |"
			}
			for _, col := range cols {
				line += " " + f(col.r) + " |"
			}
			fmt.Fprintln(w, line)
		}
		fig := dj.figures()
		djCell := func(format string, v float64) string {
			if dj == nil {
				return ""
			}
			return fmt.Sprintf(format, v)
		}
		row("list one user's sessions, `Store.Sessions` (median)", djCell("%.1f µs", fig.ListMedianUS), func(r *scaleResult) string {
			if dj == nil {
				return us(r.listMedian)
			}
			return us(r.listMedian) + fmt.Sprintf(" (%.1f×)", fig.ListMedianUS*1e3/float64(r.listMedian.Nanoseconds()))
		})
		row("the same, p90", djCell("%.1f µs", fig.ListP90US), func(r *scaleResult) string { return us(r.listP90) })
		row(fmt.Sprintf("clear the %d expired rows: `clearsessions`; `Store.DeleteExpired`, one Persister call", first.expired),
			djCell("%.3f s", fig.ClearSessionsS), func(r *scaleResult) string {
				return sec(r.sweepOne.d) + ratio(fig.ClearSessionsS, r.sweepOne.d) + longest(r.sweepOne)
			})
		row("the same rows, one plain `DELETE … WHERE expires_at < now`", djCell("%.3f s", fig.PlainDeleteS), func(r *scaleResult) string {
			return sec(r.plainDelete) + ratio(fig.PlainDeleteS, r.plainDelete)
		})
		fmt.Fprintln(w)
		if dj != nil {
			fmt.Fprintln(w, "In parentheses: Django's figure on the row divided by ours (above 1: qsessions is faster).")
		}
	}
	if dj != nil && lite != nil {
		// The clearing goals (10× clearsessions, faster than one DELETE)
		// were withdrawn: what a sweep costs live writes is what counts,
		// and the million-row run below measures it.
		fig := dj.figures()
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Goal, SQLite: listing faster than django-qsessions: %.1f×, want > 1×: %s\n",
			fig.ListMedianUS*1e3/float64(lite.listMedian.Nanoseconds()),
			verdict(fig.ListMedianUS*1e3 > float64(lite.listMedian.Nanoseconds())))
	}
	for _, b := range []struct {
		name string
		r    *bigResult
	}{{"sqlite/", bigLite}, {"postgres/", bigPG}} {
		if b.r == nil {
			continue
		}
		r := b.r
		fmt.Fprintf(w, "\n## %s: %d rows, %d expired, swept while write requests run\n\n", b.name, r.rows, r.expired)
		fmt.Fprintln(w, "| | |")
		fmt.Fprintln(w, "|---|--:|")
		fmt.Fprintf(w, "| sweep, `Store.DeleteExpired` (one call) | %s, %d rows |\n", sec(r.sweep.d), r.sweep.rows)
		if r.sweep.txns > 0 {
			fmt.Fprintf(w, "| sweep transactions | %d, longest %s |\n", r.sweep.txns, ms(r.sweep.longest))
		}
		fmt.Fprintf(w, "| write requests without a sweep | %s |\n", r.without)
		fmt.Fprintf(w, "| write requests during the sweep | %s |\n", r.with)
		fmt.Fprintf(w, "| p99 during ÷ p99 without | %.2f× |\n", float64(r.with.p99)/float64(r.without.p99))
		if r.lockWaits != "" {
			fmt.Fprintf(w, "| writers' lock waits during the sweep | %s |\n", r.lockWaits)
		}
		if b.name == "sqlite/" {
			fmt.Fprintf(w, "\nGoals: longest transaction ≤ 20 ms: %s; p99 during ≤ 4× p99 without: %s\n",
				verdict(r.sweep.longest <= 20*time.Millisecond), verdict(r.with.p99 <= 4*r.without.p99))
		}
	}
	fmt.Fprintf(w, "\n%s, %s/%s, %d CPUs, load average %s before, %s after; Go %s",
		cpuModel(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), loadBefore, loadAfter, runtime.Version())
	if dj != nil {
		fmt.Fprintf(w, "; Django %s, journal %s, synchronous %s", dj.Meta.Django, dj.Meta.Journal, dj.Meta.Sync)
	}
	fmt.Fprintln(w)
}

// figures returns Django's figures, zero when there are none.
func (d *djangoE) figures() djangoFigures {
	if d == nil {
		return djangoFigures{}
	}
	return d.E
}

func longest(s sweepResult) string {
	if s.txns == 0 {
		return ""
	}
	return fmt.Sprintf("; %d transactions, longest %s", s.txns, ms(s.longest))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1e3) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return runtime.GOARCH
}
