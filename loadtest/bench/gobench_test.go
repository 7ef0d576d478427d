package bench

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"ringchat/loadtest/internal/childproctest"
)

func TestParseBenchLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		line  string
		ok    bool
		want  string // name
		procs int
		iters int64
		vals  []benchValue
	}{
		{"plain", "BenchmarkMask-2   \t 43722930\t         2.760 ns/op", true, "Mask", 2, 43722930, []benchValue{{2.76, "ns/op"}}},
		{"full", "BenchmarkReadMessage/binary/16B-2   2394433   49.95 ns/op   320.30 MB/s   0 B/op   0 allocs/op", true,
			"ReadMessage/binary/16B", 2, 2394433, []benchValue{{49.95, "ns/op"}, {320.3, "MB/s"}, {0, "B/op"}, {0, "allocs/op"}}},
		{"custom metrics", "BenchmarkBroadcast/design=ring/subs=1/burst=1-2 190258 648.6 ns/op 648.6 ns/delivery 210.7 pub-ns/op 335 B/op 2 allocs/op", true,
			"Broadcast/design=ring/subs=1/burst=1", 2, 190258, []benchValue{{648.6, "ns/op"}, {648.6, "ns/delivery"}, {210.7, "pub-ns/op"}, {335, "B/op"}, {2, "allocs/op"}}},
		{"no procs suffix", "BenchmarkX 10 5 ns/op", true, "X", 1, 10, []benchValue{{5, "ns/op"}}},
		{"dash in name", "BenchmarkWrite/a-b-4 10 5 ns/op", true, "Write/a-b", 4, 10, []benchValue{{5, "ns/op"}}},
		{"header only", "BenchmarkBroadcast", false, "", 0, 0, nil},
		{"odd fields", "BenchmarkX-2 10 5 ns/op 3", false, "", 0, 0, nil},
		{"bad iterations", "BenchmarkX-2 ten 5 ns/op", false, "", 0, 0, nil},
		{"bad value", "BenchmarkX-2 10 five ns/op", false, "", 0, 0, nil},
		{"prose", "Benchmarking is fun: 10 5 ns/op", false, "", 0, 0, nil},
		{"other line", "ok  \tringchat/chat\t3.351s", false, "", 0, 0, nil},
		{"fail line", "--- FAIL: BenchmarkX-2", false, "", 0, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bl, ok := parseBenchLine(tc.line)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if bl.name != tc.want || bl.procs != tc.procs || bl.iters != tc.iters || !slices.Equal(bl.values, tc.vals) {
				t.Errorf("got %+v", bl)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 11, 9, 1000, 12}, 11}, // an outlier does not move it
	} {
		in := slices.Clone(tc.in)
		if got := median(in); got != tc.want {
			t.Errorf("median(%v) = %g, want %g", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("median reordered its input: %v", in)
		}
	}
}

// goBenchOutput is go test -bench -count 3 output of two packages, with a
// benchmark named alike in both, and a failed package.
const goBenchOutput = `goos: linux
goarch: amd64
pkg: ringchat/wsproto
cpu: AMD EPYC
BenchmarkBroadcast/WriteFrames/100B-2   4759   21586 ns/op   4632.64 MB/s   0 B/op   0 allocs/op
BenchmarkBroadcast/WriteFrames/100B-2   4800   21000 ns/op   4700.00 MB/s   0 B/op   0 allocs/op
BenchmarkBroadcast/WriteFrames/100B-2   4700   30000 ns/op   3000.00 MB/s   0 B/op   0 allocs/op
PASS
ok  	ringchat/wsproto	5.594s
goos: linux
goarch: amd64
pkg: ringchat/chat
cpu: AMD EPYC
BenchmarkBroadcast/design=ring/subs=1/burst=1-2   190258   600 ns/op   600 ns/delivery   200 pub-ns/op   335 B/op   2 allocs/op
BenchmarkBroadcast/design=hub/subs=1/burst=1-2    125416   900 ns/op   900 ns/delivery   100 pub-ns/op   192 B/op   1 allocs/op
BenchmarkBroadcast/design=ring/subs=1/burst=1-2   190258   700 ns/op   700 ns/delivery   220 pub-ns/op   335 B/op   2 allocs/op
BenchmarkBroadcast/design=hub/subs=1/burst=1-2    125416  1000 ns/op  1000 ns/delivery   120 pub-ns/op   192 B/op   1 allocs/op
BenchmarkRingRead-2   1150978   108.2 ns/op   1.691 ns/frame   0 B/op   0 allocs/op
--- FAIL: BenchmarkRingPublish-2
    ring_bench_test.go:10: something broke
FAIL
exit status 1
FAIL	ringchat/chat	3.351s
`

func TestParseGoBench(t *testing.T) {
	stats, failures, err := ParseGoBench(strings.NewReader(goBenchOutput))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range stats {
		names = append(names, st.Pkg+" "+st.Name)
	}
	want := []string{
		"ringchat/wsproto Broadcast/WriteFrames/100B",
		"ringchat/chat Broadcast/design=ring/subs=1/burst=1",
		"ringchat/chat Broadcast/design=hub/subs=1/burst=1",
		"ringchat/chat RingRead",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("benchmarks %q, want %q", names, want)
	}
	ws := stats[0]
	if ws.Runs != 3 || ws.Median["ns/op"] != 21586 || ws.Median["MB/s"] != 4632.64 || ws.Median["allocs/op"] != 0 {
		t.Errorf("wsproto medians %+v", ws)
	}
	if !slices.Equal(ws.Units, []string{"ns/op", "MB/s", "B/op", "allocs/op"}) {
		t.Errorf("units %v", ws.Units)
	}
	ring := stats[1]
	if ring.Runs != 2 || ring.Median["ns/op"] != 650 || ring.Median["pub-ns/op"] != 210 {
		t.Errorf("ring medians %+v", ring)
	}
	if rr := stats[3]; rr.Median["ns/frame"] != 1.691 {
		t.Errorf("RingRead medians %+v", rr)
	}
	if len(failures) != 3 || !strings.Contains(failures[0], "BenchmarkRingPublish") {
		t.Errorf("failures %q", failures)
	}

	md := (&GoBenchResult{Command: "go test -bench .", Benchmarks: stats}).Markdown()
	for _, s := range []string{
		"**ringchat/wsproto**", "**ringchat/chat**",
		"| Broadcast/WriteFrames/100B | 3 | 21,586 | 4,633 | 0 | 0 |  |",
		"| RingRead | 1 | 108.2 | - | 0 | 0 | 1.691 ns/frame |",
		// ring ÷ hub: 650/950 ns/op, 210/110 pub-ns/op
		"| Broadcast/subs=1/burst=1 | 650 | 950 | **0.684** | 210 | 110 | **1.91** | 2 / 1 |",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
}

func TestBenchNum(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {2, "2"}, {2.76, "2.76"}, {648.6, "648.6"}, {1.691, "1.691"},
		{4632.64, "4,633"}, {5995799, "5,995,799"}, {-1234, "-1,234"},
	} {
		if got := benchNum(tc.v); got != tc.want {
			t.Errorf("benchNum(%g) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestRunGoBench runs a stand-in for the go command (this test binary as
// helper "gotest") over a good package, a package that does not build, and
// one that hangs until the timeout.
func TestRunGoBench(t *testing.T) {
	t.Setenv(childproctest.Env, "gotest")
	cfg := GoBenchConfig{
		Go:        os.Args[0],
		Packages:  []string{"./good/", "./broken/", "./hang/"},
		Count:     3,
		Benchtime: "10ms",
		Timeout:   2 * time.Second,
	}
	var log strings.Builder
	start := time.Now()
	res, err := RunGoBench(context.Background(), cfg, &log)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v with a timeout of %v", d, cfg.Timeout)
	}
	if err == nil {
		t.Errorf("no error")
	}
	if len(res.Benchmarks) != 2 {
		t.Fatalf("benchmarks %+v", res.Benchmarks)
	}
	if b := res.Benchmarks[0]; b.Pkg != "ringchat/good" || b.Name != "Fast" || b.Runs != 3 || b.Median["ns/op"] != 11 {
		t.Errorf("good: %+v", b)
	}
	if b := res.Benchmarks[1]; b.Pkg != "ringchat/hang" || b.Median["ns/op"] != 100 {
		t.Errorf("hang: %+v", b)
	}
	all := strings.Join(res.Failures, "\n")
	for _, s := range []string{"[build failed]", "syntax error", "time budget"} {
		if !strings.Contains(all, s) {
			t.Errorf("failures lack %q: %q", s, res.Failures)
		}
	}
	if !strings.Contains(log.String(), "BenchmarkFast-2") || !strings.Contains(res.Raw, "BenchmarkSlow-2") {
		t.Errorf("output not copied: log %q", log.String())
	}
	for _, s := range []string{"-count 3", "-benchtime 10ms", "./good/ ./broken/ ./hang/", "'^$'"} {
		if !strings.Contains(res.Command, s) {
			t.Errorf("command %q lacks %q", res.Command, s)
		}
	}
}

func TestRunGoBenchNothing(t *testing.T) {
	res, err := RunGoBench(context.Background(), GoBenchConfig{}, nil)
	if err != nil || len(res.Benchmarks) != 0 {
		t.Errorf("RunGoBench without packages = %+v, %v", res, err)
	}
}

// FuzzParseGoBench checks that no input makes the parser panic, and that
// what it returns is consistent: every benchmark ran at least once and has
// a median for each of its units.
func FuzzParseGoBench(f *testing.F) {
	f.Add(goBenchOutput)
	f.Add("BenchmarkX-2 10 5 ns/op\nBenchmarkX-2 10 7 ns/op 3 B/op\n")
	f.Add("pkg: a\nBenchmark-1 1 1 x\n")
	f.Fuzz(func(t *testing.T, out string) {
		stats, _, err := ParseGoBench(strings.NewReader(out))
		if err != nil {
			return // a line over the scanner's limit
		}
		for _, st := range stats {
			if st.Runs < 1 || len(st.Units) != len(st.Median) {
				t.Errorf("inconsistent %+v", st)
			}
			for _, u := range st.Units {
				if _, ok := st.Median[u]; !ok {
					t.Errorf("no median for %q in %+v", u, st)
				}
			}
		}
	})
}
