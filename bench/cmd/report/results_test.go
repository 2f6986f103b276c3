package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

const sample = `load-before: 1.00 0.50 0.20
goos: linux
cpu: Test CPU
BenchmarkBaseline/net-http-2   1000  100 ns/op  90 cpu-ns/op  0 B/op  0 allocs/op
BenchmarkReadOnly/qsessions-memory+sqlite-2   1000  1000 ns/op  900 cpu-ns/op  1608 B/op  14 allocs/op
BenchmarkReadOnly/qsessions-memory+sqlite-2   1000  3000 ns/op  700 cpu-ns/op  1608 B/op  14 allocs/op
BenchmarkReadOnly/qsessions-memory+sqlite-2   1000  2000 ns/op  800 cpu-ns/op  1608 B/op  14 allocs/op
BenchmarkReadOnly/qsessions-redis+postgres
    bench_test.go:12: QSESSIONS_REDIS_ADDR and QSESSIONS_POSTGRES_DSN must both be set
--- SKIP: BenchmarkReadOnly/qsessions-redis+postgres
BenchmarkReadOnly/scs-memstore-2   1000  10000 ns/op  8000 cpu-ns/op  9248 B/op  203 allocs/op
BenchmarkWrite/qsessions-memory+sqlite-2   100  90000 ns/op  80000 cpu-ns/op  3905 B/op  52 allocs/op
BenchmarkWrite/scs-sqlite3store-2   100  100000 ns/op  90000 cpu-ns/op  13579 B/op  292 allocs/op
PASS
ok  	github.com/qsessions/qsessions/bench	31.870s
load-after: 2.00 1.00 0.50
`

const django = `pkg: django
django-version: 3.2.25
python-version: 3.11.2
BenchmarkBaseline/django	871	50000.0 ns/op	40000.0 cpu-ns/op
BenchmarkReadOnly/django-cached_db	581	60000.0 ns/op	50000.0 cpu-ns/op
`

func parsed(t *testing.T, inputs ...string) *results {
	t.Helper()
	s := newResults()
	for _, in := range inputs {
		if err := s.parse(strings.NewReader(in)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestParse(t *testing.T) {
	s := parsed(t, sample, django)
	if got, want := strings.Join(s.workloads, ","), "Baseline,ReadOnly,Write"; got != want {
		t.Errorf("workloads %s, want %s", got, want)
	}
	var names []string
	for _, r := range s.rows["ReadOnly"] {
		names = append(names, r.backend)
	}
	if got, want := strings.Join(names, ","), "qsessions-memory+sqlite,scs-memstore,django-cached_db"; got != want {
		t.Errorf("ReadOnly backends %s, want %s (GOMAXPROCS suffix stripped, skipped ones left out)", got, want)
	}
	q := s.find("ReadOnly", "qsessions-memory+sqlite")
	if m := q.median(unitNs); m != 2000 {
		t.Errorf("median ns %v, want 2000", m)
	}
	if m := q.median(unitCPU); m != 800 {
		t.Errorf("median cpu %v, want 800", m)
	}
	if m := s.find("ReadOnly", "django-cached_db").median(unitAllocs); !math.IsNaN(m) {
		t.Errorf("Django allocs %v, want unknown", m)
	}
	if got := s.config["django-version"]; len(got) != 1 || got[0] != "3.2.25" {
		t.Errorf("config django-version %q", got)
	}
}

func TestParseEven(t *testing.T) {
	s := parsed(t, "BenchmarkX/a 1 10 ns/op\nBenchmarkX/a 1 20 ns/op\n")
	if m := s.find("X", "a").median(unitNs); m != 15 {
		t.Errorf("median of 10 and 20 = %v, want 15", m)
	}
}

func TestParseBadValue(t *testing.T) {
	if err := newResults().parse(strings.NewReader("BenchmarkX/a 1 ten ns/op\n")); err == nil {
		t.Error("a non-numeric value was accepted")
	}
}

func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	if err := parsed(t, sample, django).write(&buf, "wall"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"| ReadOnly | qsessions-memory+sqlite | 2,000 | 800 | 14 | 1,608 | 0.20× | — |",
		"| ReadOnly | scs-memstore | 10,000 | 8,000 | 203 | 9,248 | 1.00× | — |",
		"| Write | qsessions-memory+sqlite | 90,000 | 80,000 | 52 | 3,905 | — | 0.90× |",
		"| ReadOnly | django-cached_db | 60,000 | 50,000 | — | — | 6.00× | — |",
		"ReadOnly: qsessions-memory+sqlite ÷ scs-memstore = 0.20× (CPU 0.10×); target ≤ 0.25×: met",
		"Write: qsessions-memory+sqlite ÷ scs-sqlite3store = 0.90× (CPU 0.89×); target ≤ 0.8×: **missed**",
		"Write: qsessions-sqlite ÷ scs-sqlite3store: not measured",
		"ReadOnly: django-cached_db ÷ qsessions-memory+sqlite = 30.0× (CPU 62.5×); target ≥ 20×: met",
		"Load average (1, 5, 15 min): before 1.00 0.50 0.20, after 2.00 1.00 0.50",
		"Django: 3.2.25 on Python 3.11.2",
		"Medians of 3 runs per benchmark (fewer for Baseline net-http: 1, Baseline django: 1, ReadOnly scs-memstore: 1, ReadOnly django-cached_db: 1, Write qsessions-memory+sqlite: 1, Write scs-sqlite3store: 1).",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	buf.Reset()
	if err := parsed(t, sample).write(&buf, "cpu"); err != nil {
		t.Fatal(err)
	}
	if want := "0.10×); target ≤ 0.25×: met"; !strings.Contains(buf.String(), want) {
		t.Errorf("-ratio cpu output lacks %q:\n%s", want, buf.String())
	}
	if want := "| ReadOnly | qsessions-memory+sqlite | 2,000 | 800 | 14 | 1,608 | 0.10× |"; !strings.Contains(buf.String(), want) {
		t.Errorf("-ratio cpu output lacks %q:\n%s", want, buf.String())
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {1234567.4, "1,234,567"}, {-1500, "-1,500"}, {math.NaN(), "—"}} {
		if got := fmtCount(c.v); got != c.want {
			t.Errorf("fmtCount(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		r    float64
		want string
	}{{0.0016, "0.0016×"}, {0.05, "0.050×"}, {0.2, "0.20×"}, {31.4, "31.4×"}, {456.7, "457×"}, {math.Inf(1), "—"}} {
		if got := fmtRatio(c.r); got != c.want {
			t.Errorf("fmtRatio(%v) = %q, want %q", c.r, got, c.want)
		}
	}
}

func TestRunErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf, options{ratio: "speed", in: []string{"x"}}); err == nil {
		t.Error("-ratio speed accepted")
	}
	if err := run(&buf, options{ratio: "wall", in: []string{t.TempDir() + "/missing"}}); err == nil {
		t.Error("a missing -in file accepted")
	}
}
