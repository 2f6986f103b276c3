// Command report runs the side-by-side benchmarks of qsessions, scs and
// Django once and prints them as a markdown table: time per request, CPU
// time per request, allocations per request, and the ratio of each to scs
// on the same workload.
//
// Run from the bench directory:
//
//	go run ./cmd/report                     # go test -bench . -benchmem -count 5
//	go run ./cmd/report -count 10 -raw new.txt
//	go run ./cmd/report -in go.txt -in django.txt
//
// Without -in it runs
//
//	go test -run '^$' -bench . -benchmem -count N -benchtime T
//
// in the current directory, streaming its output to stderr, and saves that
// output, which benchstat reads, to the -raw file when one is given. With
// -in it reads benchmark output from files instead (run.sh passes the Go
// output and django/bench.py --gobench output this way).
//
// Each figure is the median over the -count runs. The ratio columns divide
// a row's figure by that of scs-memstore and of scs-sqlite3store on the
// same workload (wall time, or CPU time with -ratio cpu), so a ratio below
// 1 means faster than scs. The table is followed by the machine it ran on
// and by the targets, each marked met or missed.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

func main() {
	var in multiFlag
	count := flag.Int("count", 5, "runs of each benchmark (go test -count)")
	benchtime := flag.String("benchtime", "1s", "time per run (go test -benchtime)")
	bench := flag.String("bench", ".", "benchmarks to run (go test -bench)")
	raw := flag.String("raw", "", "file to save the raw go test output to")
	ratio := flag.String("ratio", "wall", `what the ratio columns compare: "wall" or "cpu" time`)
	flag.Var(&in, "in", "read benchmark output from this file instead of running go test (repeatable)")
	flag.Parse()
	if err := run(os.Stdout, options{in, *count, *benchtime, *bench, *raw, *ratio}); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

type options struct {
	in        []string
	count     int
	benchtime string
	bench     string
	raw       string
	ratio     string
}

func run(out io.Writer, o options) error {
	if o.ratio != "wall" && o.ratio != "cpu" {
		return fmt.Errorf(`-ratio must be "wall" or "cpu", not %q`, o.ratio)
	}
	set := newResults()
	if len(o.in) == 0 {
		if o.count < 1 {
			return errors.New("-count must be at least 1")
		}
		b, err := runGoTest(o)
		if err != nil {
			return err
		}
		if err := set.parse(bytes.NewReader(b)); err != nil {
			return err
		}
	}
	for _, name := range o.in {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = set.parse(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(set.rows) == 0 {
		return errors.New("no benchmark results")
	}
	return set.write(out, o.ratio)
}

// runGoTest runs the benchmarks, streaming their output to stderr, and
// returns that output preceded by configuration lines giving the machine's
// load, which benchstat ignores.
func runGoTest(o options) ([]byte, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "load-before: %s\n", loadAverage())
	args := []string{"test", "-run", "^$", "-bench", o.bench, "-benchmem",
		"-count", fmt.Sprint(o.count), "-benchtime", o.benchtime}
	fmt.Fprintf(os.Stderr, "report: go %s\n", strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Stdout = io.MultiWriter(&buf, os.Stderr)
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	fmt.Fprintf(&buf, "load-after: %s\n", loadAverage())
	if o.raw != "" {
		if werr := os.WriteFile(o.raw, buf.Bytes(), 0o644); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("go test: %w", err)
	}
	return buf.Bytes(), nil
}

// loadAverage returns the 1, 5 and 15 minute load averages, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// cpuModel returns the CPU model that /proc/cpuinfo names, or "".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// machine describes where the benchmarks ran.
func machine(config map[string][]string) []string {
	var lines []string
	model := cpuModel()
	if model == "" && len(config["cpu"]) > 0 {
		model = config["cpu"][0]
	}
	lines = append(lines, fmt.Sprintf("CPU: %s, nproc %d, %s/%s", orUnknown(model), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH))
	lines = append(lines, "Go: "+goVersion())
	if v := config["django-version"]; len(v) > 0 {
		py := "unknown"
		if p := config["python-version"]; len(p) > 0 {
			py = p[0]
		}
		lines = append(lines, fmt.Sprintf("Django: %s on Python %s", v[0], py))
	}
	load := "now " + loadAverage()
	if b := config["load-before"]; len(b) > 0 {
		load = "before " + b[0]
		if a := config["load-after"]; len(a) > 0 {
			load += ", after " + a[len(a)-1]
		}
	}
	lines = append(lines, "Load average (1, 5, 15 min): "+load)
	lines = append(lines, "Date: "+time.Now().UTC().Format("2006-01-02 15:04 MST"))
	return lines
}

// goVersion returns the version of the go command on PATH, which ran (or
// would run) the benchmarks, or this program's own.
func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return runtime.Version()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
