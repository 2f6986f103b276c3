package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Units of the Go benchmark format that the table shows.
const (
	unitNs     = "ns/op"
	unitCPU    = "cpu-ns/op"
	unitBytes  = "B/op"
	unitAllocs = "allocs/op"
)

// The scs backends that the ratio columns divide by.
var references = []string{"scs-memstore", "scs-sqlite3store"}

// A row is one benchmark: a workload on a backend, with every value of
// every unit that its runs reported.
type row struct {
	workload, backend string
	values            map[string][]float64
}

// median returns the median of the row's values in unit, or NaN.
func (r *row) median(unit string) float64 {
	if r == nil {
		return math.NaN()
	}
	v := slices.Clone(r.values[unit])
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// results are the benchmarks of one or more files, in the order in which
// their workloads and backends first appear.
type results struct {
	workloads []string
	rows      map[string][]*row // by workload
	config    map[string][]string
}

func newResults() *results {
	return &results{rows: map[string][]*row{}, config: map[string][]string{}}
}

var (
	configLine = regexp.MustCompile(`^([a-z][^:\s]*):\s*(.*)$`)
	procSuffix = regexp.MustCompile(`-\d+$`)
)

// parse reads benchmark output in the Go format. Lines that are neither
// results nor configuration ("key: value") are ignored, as benchstat does.
func (s *results) parse(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := configLine.FindStringSubmatch(line); m != nil {
			s.config[m[1]] = append(s.config[m[1]], strings.TrimSpace(m[2]))
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue // a name alone (skipped), or a failure
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		workload, backend, _ := strings.Cut(name, "/")
		rw := s.row(workload, backend)
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return fmt.Errorf("benchmark line %q: value %q: %w", line, f[i], err)
			}
			rw.values[f[i+1]] = append(rw.values[f[i+1]], v)
		}
	}
	return sc.Err()
}

// row returns the row of a workload and backend, adding it when new.
func (s *results) row(workload, backend string) *row {
	rows, ok := s.rows[workload]
	if !ok {
		s.workloads = append(s.workloads, workload)
	}
	for _, r := range rows {
		if r.backend == backend {
			return r
		}
	}
	r := &row{workload: workload, backend: backend, values: map[string][]float64{}}
	s.rows[workload] = append(rows, r)
	return r
}

// find returns the row of a workload and backend, or nil.
func (s *results) find(workload, backend string) *row {
	for _, r := range s.rows[workload] {
		if r.backend == backend {
			return r
		}
	}
	return nil
}

// write prints the table, the machine and the targets in markdown. ratio
// is "wall" or "cpu": the time that the ratio columns compare.
func (s *results) write(w io.Writer, ratio string) error {
	unit := unitNs
	if ratio == "cpu" {
		unit = unitCPU
	}
	// Most rows have every run; name those that have fewer.
	most := 0
	for _, rows := range s.rows {
		for _, r := range rows {
			most = max(most, len(r.values[unitNs]))
		}
	}
	var fewer []string
	for _, wl := range s.workloads {
		for _, r := range s.rows[wl] {
			if n := len(r.values[unitNs]); n < most {
				fewer = append(fewer, fmt.Sprintf("%s %s: %d", wl, r.backend, n))
			}
		}
	}
	runs := ""
	if len(fewer) > 0 {
		runs = " (fewer for " + strings.Join(fewer, ", ") + ")"
	}

	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "| Workload | Backend | ns/req | CPU ns/req | allocs/req | B/req | %s |\n",
		strings.Join(ratioHeaders(ratio), " | "))
	fmt.Fprintf(bw, "|---|---|--:|--:|--:|--:|%s\n", strings.Repeat("--:|", len(references)))
	for _, wl := range s.workloads {
		for _, r := range s.rows[wl] {
			name := r.backend
			if name == "" {
				name = "—"
			}
			cells := []string{wl, name,
				fmtCount(r.median(unitNs)), fmtCount(r.median(unitCPU)),
				fmtCount(r.median(unitAllocs)), fmtCount(r.median(unitBytes))}
			for _, ref := range references {
				cells = append(cells, fmtRatio(r.median(unit)/s.find(wl, ref).median(unit)))
			}
			fmt.Fprintf(bw, "| %s |\n", strings.Join(cells, " | "))
		}
	}
	fmt.Fprintf(bw, "\nMedians of %d runs per benchmark%s. Ratios divide the row's %s time by that of scs on the same workload: below 1 is faster than scs.\n\n",
		most, runs, map[string]string{"wall": "wall-clock", "cpu": "CPU"}[ratio])
	for _, l := range machine(s.config) {
		fmt.Fprintf(bw, "- %s\n", l)
	}
	fmt.Fprintf(bw, "\nTargets (wall-clock ratio; CPU-time ratio in parentheses; judged on the %s ratio):\n\n", ratio)
	for _, t := range targets {
		fmt.Fprintf(bw, "- %s\n", s.check(t, unit))
	}
	if line := s.sessionCost(); line != "" {
		fmt.Fprintf(bw, "\n%s\n", line)
	}
	return bw.Flush()
}

func ratioHeaders(ratio string) []string {
	h := make([]string, len(references))
	for i, ref := range references {
		h[i] = "× " + ref
		if ratio == "cpu" {
			h[i] += " (CPU)"
		}
	}
	return h
}

// A target is a ratio of two benchmarks of one workload and its bound.
type target struct {
	workload, num, den string
	max                bool // the ratio must be at most bound (else at least)
	bound              float64
}

var targets = []target{
	{"ReadOnly", "qsessions-memory+sqlite", "scs-memstore", true, 0.25},
	{"Write", "qsessions-memory+sqlite", "scs-sqlite3store", true, 0.8},
	{"Write", "qsessions-sqlite", "scs-sqlite3store", true, 0.8},
	{"ReadOnly", "django-cached_db", "qsessions-memory+sqlite", false, 20},
}

func (s *results) check(t target, unit string) string {
	num, den := s.find(t.workload, t.num), s.find(t.workload, t.den)
	desc := fmt.Sprintf("%s: %s ÷ %s", t.workload, t.num, t.den)
	cmp := "≥"
	if t.max {
		cmp = "≤"
	}
	goal := fmt.Sprintf("target %s %s×", cmp, strconv.FormatFloat(t.bound, 'g', -1, 64))
	if num == nil || den == nil {
		return fmt.Sprintf("%s: not measured (%s)", desc, goal)
	}
	wall := num.median(unitNs) / den.median(unitNs)
	cpu := num.median(unitCPU) / den.median(unitCPU)
	r := wall
	if unit == unitCPU {
		r = cpu
	}
	verdict := "**missed**"
	if (t.max && r <= t.bound) || (!t.max && r >= t.bound) {
		verdict = "met"
	}
	return fmt.Sprintf("%s = %s (CPU %s); %s: %s", desc, fmtRatio(wall), fmtRatio(cpu), goal, verdict)
}

// sessionCost compares what sessions add to each framework's own cost per
// request: the read-only request minus the baseline request.
func (s *results) sessionCost() string {
	gb, db := s.find("Baseline", "net-http"), s.find("Baseline", "django")
	q, d := s.find("ReadOnly", "qsessions-memory+sqlite"), s.find("ReadOnly", "django-cached_db")
	if gb == nil || db == nil || q == nil || d == nil {
		return ""
	}
	qc := q.median(unitCPU) - gb.median(unitCPU)
	dc := d.median(unitCPU) - db.median(unitCPU)
	return fmt.Sprintf("Session work alone, read-only request minus the framework's baseline request (CPU time): "+
		"qsessions-memory+sqlite %s ns, django-cached_db %s ns (%s); Django's own request handling costs %s ns, net/http's %s ns.",
		fmtCount(qc), fmtCount(dc), fmtRatio(dc/qc), fmtCount(db.median(unitCPU)), fmtCount(gb.median(unitCPU)))
}

// fmtCount formats a non-negative figure as an integer with thousands
// separators, or "—" when unknown.
func fmtCount(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtRatio formats a ratio with two or three significant digits.
func fmtRatio(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return "—"
	case r < 0.01:
		return fmt.Sprintf("%.4f×", r)
	case r < 0.1:
		return fmt.Sprintf("%.3f×", r)
	case r < 10:
		return fmt.Sprintf("%.2f×", r)
	case r < 100:
		return fmt.Sprintf("%.1f×", r)
	default:
		return fmt.Sprintf("%.0f×", r)
	}
}
