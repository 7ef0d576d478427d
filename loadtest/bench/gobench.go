package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ringchat/loadtest/childproc"
	"ringchat/loadtest/internal/benchmd"
)

// GoBenchConfig says which `go test -bench` figures Run collects.
type GoBenchConfig struct {
	// Go is the go command ("go" when empty).
	Go string
	// Dir is the module directory the command runs in ("" for the current
	// directory).
	Dir string
	// Packages are the import paths or ./relative patterns to benchmark;
	// none skips the go test run.
	Packages []string
	// Count is go test's -count: how many times each benchmark runs; the
	// tables show the median.
	Count int
	// Benchtime is go test's -benchtime ("" for go test's default of 1s).
	Benchtime string
	// Timeout bounds the whole go test run; the figures of the benchmarks
	// that finished before it are kept.
	Timeout time.Duration
}

// Args returns the go test command line, without the go command itself.
func (c GoBenchConfig) Args() []string {
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", strconv.Itoa(max(c.Count, 1))}
	if c.Benchtime != "" {
		args = append(args, "-benchtime", c.Benchtime)
	}
	return append(args, c.Packages...)
}

// GoBenchResult is what a go test -bench run produced.
type GoBenchResult struct {
	Command string `json:"command"`
	// Packages were benchmarked in this order, each in its own go test run.
	Packages   []string       `json:"packages"`
	Benchmarks []GoBenchStats `json:"benchmarks"` // in the order they first ran
	// Failures are the lines of go test's output that report a failure
	// (FAIL, --- FAIL, build errors), and why the run ended early.
	Failures []string `json:"failures,omitempty"`
	Raw      string   `json:"-"` // the whole output, in the standard benchmark format
	Elapsed  float64  `json:"elapsed_s"`
}

// GoBenchStats is one benchmark's medians over its runs.
type GoBenchStats struct {
	Pkg  string `json:"pkg"`
	Name string `json:"name"` // without "Benchmark" and the -GOMAXPROCS suffix
	Runs int    `json:"runs"`
	// Median maps a unit (ns/op, MB/s, B/op, allocs/op, or a custom metric)
	// to the median of its values over the runs.
	Median map[string]float64 `json:"median"`
	// Units lists the units in the order the benchmark reported them.
	Units []string `json:"units"`
}

// benchLine is one parsed result line of the benchmark format.
type benchLine struct {
	name   string // without the "Benchmark" prefix and -N suffix
	procs  int
	iters  int64
	values []benchValue
}

type benchValue struct {
	v    float64
	unit string
}

// parseBenchLine parses a result line of the standard benchmark format
// (golang.org/design/14313-benchmark-format):
//
//	BenchmarkName-8   1000000   1234 ns/op   56 B/op   2 allocs/op
//
// It reports false for any other line.
func parseBenchLine(line string) (benchLine, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 || !strings.HasPrefix(f[0], "Benchmark") {
		return benchLine{}, false
	}
	name := strings.TrimPrefix(f[0], "Benchmark")
	if name == "" || name[0] >= 'a' && name[0] <= 'z' {
		return benchLine{}, false // "Benchmarking ...", not a benchmark
	}
	bl := benchLine{name: name, procs: 1}
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if n, err := strconv.Atoi(name[i+1:]); err == nil && n > 0 {
			bl.name, bl.procs = name[:i], n
		}
	}
	iters, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || iters <= 0 {
		return benchLine{}, false
	}
	bl.iters = iters
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return benchLine{}, false
		}
		bl.values = append(bl.values, benchValue{v: v, unit: f[i+1]})
	}
	return bl, true
}

// benchCollector gathers result lines into per-benchmark samples.
type benchCollector struct {
	pkg      string
	order    []string // pkg + "\x00" + name
	samples  map[string]map[string][]float64
	units    map[string][]string
	failures []string
}

func newBenchCollector() *benchCollector {
	return &benchCollector{samples: make(map[string]map[string][]float64), units: make(map[string][]string)}
}

// line takes one line of go test output.
func (bc *benchCollector) line(line string) {
	switch {
	case strings.HasPrefix(line, "pkg: "):
		bc.pkg = strings.TrimSpace(strings.TrimPrefix(line, "pkg: "))
		return
	case strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "--- FAIL"),
		strings.HasPrefix(line, "panic:"), strings.Contains(line, "[build failed]"),
		strings.Contains(line, "[setup failed]"):
		if len(bc.failures) < 20 {
			bc.failures = append(bc.failures, strings.TrimSpace(line))
		}
		return
	case strings.HasPrefix(line, "ok  ") || strings.HasPrefix(line, "ok\t"):
		bc.pkg = "" // the next package announces itself
		return
	}
	bl, ok := parseBenchLine(line)
	if !ok {
		return
	}
	key := bc.pkg + "\x00" + bl.name
	s := bc.samples[key]
	if s == nil {
		s = make(map[string][]float64)
		bc.samples[key] = s
		bc.order = append(bc.order, key)
	}
	for _, v := range bl.values {
		if _, seen := s[v.unit]; !seen {
			bc.units[key] = append(bc.units[key], v.unit)
		}
		s[v.unit] = append(s[v.unit], v.v)
	}
}

// stats returns the medians, in the order the benchmarks first ran.
func (bc *benchCollector) stats() []GoBenchStats {
	var out []GoBenchStats
	for _, key := range bc.order {
		pkg, name, _ := strings.Cut(key, "\x00")
		st := GoBenchStats{Pkg: pkg, Name: name, Median: make(map[string]float64), Units: bc.units[key]}
		for unit, vs := range bc.samples[key] {
			st.Median[unit] = median(vs)
			st.Runs = max(st.Runs, len(vs))
		}
		out = append(out, st)
	}
	return out
}

// ParseGoBench reads go test -bench output and returns each benchmark's
// medians, and the lines that report failures.
func ParseGoBench(r io.Reader) ([]GoBenchStats, []string, error) {
	bc := newBenchCollector()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		bc.line(sc.Text())
	}
	return bc.stats(), bc.failures, sc.Err()
}

// median returns the median of vs (the mean of the middle two for an even
// count), without changing vs. It returns 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// RunGoBench runs go test -bench as c says, one package at a time (so that
// go test streams each package's output as it comes), copying the output
// to log, and returns the medians. When c.Timeout passes or ctx is done, go
// test and the test binary it started are stopped, and the result holds the
// benchmarks that finished, with the reason in Failures. The error is set
// when go test could not run, failed or was stopped.
func RunGoBench(ctx context.Context, c GoBenchConfig, log io.Writer) (GoBenchResult, error) {
	goCmd := c.Go
	if goCmd == "" {
		goCmd = "go"
	}
	res := GoBenchResult{Command: goCmd + " " + benchmd.ShellJoin(c.Args()), Packages: c.Packages}
	if len(c.Packages) == 0 {
		return res, nil
	}
	if log == nil {
		log = io.Discard
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	start := time.Now()
	bc := newBenchCollector()
	var raw bytes.Buffer
	var errs []error
	for _, pkg := range c.Packages {
		one := c
		one.Packages = []string{pkg}
		if err := goTest(ctx, goCmd, one, io.MultiWriter(log, &raw), bc); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	res.Benchmarks, res.Failures, res.Raw = bc.stats(), bc.failures, raw.String()
	res.Elapsed = time.Since(start).Seconds()
	if ctx.Err() != nil {
		why := fmt.Sprintf("go test stopped after %.0fs (its time budget): later benchmarks are missing", res.Elapsed)
		if errors.Is(ctx.Err(), context.Canceled) {
			why = "go test interrupted: later benchmarks are missing"
		}
		res.Failures = append(res.Failures, why)
		errs = append(errs, errors.New("loadtest: "+why))
	}
	return res, errors.Join(errs...)
}

// goTest runs go test for c.Packages, copying its output to out and
// passing each line to bc.
func goTest(ctx context.Context, goCmd string, c GoBenchConfig, out io.Writer, bc *benchCollector) error {
	cmd := exec.Command(goCmd, c.Args()...)
	cmd.Dir = c.Dir
	// Its own process group, so that go test and the test binary it runs
	// are stopped together; and killed should this process die.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stderr childproc.Tail
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("loadtest: go test: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("loadtest: go test: %w", err)
	}
	stopped, watchDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case <-ctx.Done():
			childproc.KillGroup(cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-stopped:
			case <-time.After(2 * time.Second):
				childproc.KillGroup(cmd.Process.Pid, syscall.SIGKILL)
			}
		case <-stopped:
		}
	}()
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(out, line)
		bc.line(line)
	}
	io.Copy(io.Discard, pipe)
	waitErr := cmd.Wait()
	close(stopped)
	<-watchDone
	if waitErr == nil || ctx.Err() != nil {
		return nil // a stop is reported by the caller
	}
	for l := range strings.SplitSeq(strings.TrimSpace(stderr.String()), "\n") {
		if l = strings.TrimSpace(l); l != "" && len(bc.failures) < 40 {
			bc.failures = append(bc.failures, l)
		}
	}
	return fmt.Errorf("loadtest: %s %s: %w", goCmd, benchmd.ShellJoin(c.Args()), waitErr)
}
