package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ringchat/loadtest"
	"ringchat/loadtest/childproc"
	"ringchat/loadtest/internal/benchmd"
	"ringchat/loadtest/procstat"
)

// sampleReport is a report with a clean row, a lossy generator-bound row,
// their floor rows, a failed row, a skipped row and a hub row.
func sampleReport() *Report {
	raw := loadtest.ClientRaw
	res := func(p50, p99, cpuUs, rssConn float64, lost uint64, bottleneck bool) *loadtest.Result {
		r := &loadtest.Result{
			Messages: loadtest.MessageStats{Sent: 200, Expected: 200000, Delivered: 200000 - lost, Lost: lost, TargetRate: 20, AchievedRate: 20, SendS: 10, DeliveriesPerSec: 19999.6, DrainS: 0.1},
			Latency:  loadtest.Latency{Count: 200000 - lost, P50Ms: p50, P90Ms: p50 * 2, P99Ms: p99, P999Ms: p99 * 1.5, MaxMs: p99 * 2},
			Server:   &loadtest.ServerStats{CPUS: 2.1, CPUPerDeliveryUs: cpuUs, PeakRSSBytes: 20 << 20, HWMBytes: 26 << 20, RSSPerConnBytes: rssConn},
			Generator: loadtest.GeneratorStats{
				Cores: 2, CPUCoresSend: 0.4, CPUPerDeliveryUs: 3.5, MachineBusySend: 0.5, Bottleneck: bottleneck,
			},
		}
		// The warnings are what the generator gives these figures.
		r.Warnings = []string{}
		if bottleneck {
			r.Generator.CPUCoresSend, r.Generator.MachineBusySend = 1.9, 0.97
			r.Warnings = append(r.Warnings,
				"THE LOAD GENERATOR IS THE BOTTLENECK: it kept 1.90 of its 2 cores busy while sending, so these figures measure the generator, not the server; use fewer clients or a lower rate, or run the generator on another machine",
				"the machine's CPUs were 97% busy while sending (generator 1.90 cores, server 0.00, other processes 0.00, of 0): server and generator compete for them, so latency includes waiting for a CPU")
		}
		if lost > 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("LOSS: %d of 200000 expected deliveries (0.000%%) did not arrive", lost))
		}
		return r
	}
	return &Report{
		Started:    time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC),
		ElapsedS:   181,
		Command:    "bench -out BENCHMARKS.md",
		Machine:    procstat.Machine{CPUModel: "AMD EPYC", CPUs: 2, Usable: 2, MemoryBytes: 24 << 30, Kernel: "6.1", GoVersion: "go1.26", OS: "linux/amd64", LoadBefore: "0.5 0.6 0.7", LoadAfter: "1.0 0.8 0.7"},
		ServerArgs: []string{"/x/bin/server", "-addr", childproc.AddrPlaceholder, "-rate", "0"},
		FloorArgs:  []string{"/x/bin/loadtest", "-floor-serve", childproc.AddrPlaceholder},
		HubArgs:    []string{"/x/bin/loadtest", "-hub-serve", childproc.AddrPlaceholder},
		Config:     loadtest.ResultConfig{DurationS: 10, Size: 100, Ramp: 5000, DrainS: 10},
		Rows: []RowRun{
			{Row: Row{TargetServer, 1000, 1, 1, 20, "", "", "", raw}, Result: res(8, 20, 10, 18<<10, 0, false), FileLimit: 20000},
			{Row: Row{TargetFloor, 1000, 1, 1, 20, "", "", "", raw}, Result: res(4, 40, 5, 12<<10, 0, false), FileLimit: 20000},
			{Row: Row{TargetServer, 5000, 1, 1, 10, "", "", "", raw}, Result: res(60, 200, 10, 16<<10, 7, true), FileLimit: 20000},
			{Row: Row{TargetFloor, 5000, 1, 1, 10, "", "", "", raw}, Result: res(40, 100, 5, 11<<10, 0, false), FileLimit: 20000},
			{Row: Row{TargetServer, 10000, 1, 1, 5, "", "", "", raw}, Error: "loadtest: start server: exited before it accepted connections | bad flag"},
			{Row: Row{TargetServer, 5000, 10, 10, 200, "", "", "", raw}, Skipped: "time budget"},
			{Row: Row{TargetHub, 1000, 1, 1, 20, "", "", "", raw}, Result: res(10, 50, 12, 20<<10, 0, false), FileLimit: 20000},
		},
		GoBench: &GoBenchResult{Command: "go test", Failures: []string{"FAIL\tringchat/wsproto [build failed]"}},
	}
}

func TestReportRegions(t *testing.T) {
	regions := sampleReport().Regions()
	for name, want := range map[string][]string{
		RegionRun: {
			"2026-11-26 01:02 (UTC), 181 s", "`bench -out BENCHMARKS.md`", "AMD EPYC, 2 cores (2 usable)", "24.00 GiB",
			"Linux 6.1", "go1.26", "0.5 0.6 0.7 before, 1.0 0.8 0.7 after", "`server -addr {addr} -rate 0`",
			"`loadtest -floor-serve {addr}`", "| hub server | `loadtest -hub-serve {addr}` |", "| servers' open-file limit | 20000 ",
		},
		RegionLoadtest: {
			"| 1 server (raw) | 1,000 | 1 | 1 | 20 | 100 | 200 | 200,000 | 200,000 | 0 | 0 | 0 | 0 / 0 | server |",
			"| 3 server (raw) | 5,000 | 1 | 1 | 10 | 100 | 200 | 200,000 | 199,993 | **7** |",
			"**generator**, machine (97% busy)",
			"| 1 server (raw) | 1,000 | 8.00ms | 16.0ms | 20.0ms | 30.0ms | 40.0ms | 20,000 | 2.10 | 10.00 | 26.0 MiB | 18.0 KiB | 0.40 of 2 | 3.50 | 50% | server |",
			"| 7 hub (raw) | 1,000 | 10.0ms |",
			"**1.90 of 2**",
			"| 5 server (raw) | 10,000 | failed: loadtest: start server: exited before it accepted connections \\| bad flag |",
			"| 6 server (raw) | 5,000 | 10 | 10 | 200 | 100 | not run: time budget |",
		},
		RegionFloor: {
			"| 1,000 | raw | 1 | 20 | 8.00ms / 4.00ms = **2.00×** | 20.0ms / 40.0ms = **0.50×** | 10.00 / 5.00 = **2.00×** | 18.0 KiB / 12.0 KiB = **1.50×** | server; floor |",
			"| 5,000 | raw | 1 | 10 |",
		},
		RegionFindings: {
			"Row 3 (server: 5000 raw clients, 1 sender(s), 10 msg/s)",
			"**LOSS: 7 of 200000 deliveries did not arrive by the end of the drain** (drain 0.1 s; no gap, drop or id skip",
			"THE LOAD GENERATOR IS THE BOTTLENECK",
			"Row 5 (server: 10000 raw clients, 1 sender(s), 5 msg/s): failed:",
			"Row 6 (server: 10 rooms × 500 raw clients, 10 sender(s), 200 msg/s): not run: time budget",
			"`FAIL\tringchat/wsproto [build failed]`",
		},
		RegionGoBench: {"`go test`", "No benchmark results."},
	} {
		for _, w := range want {
			if !strings.Contains(regions[name], w) {
				t.Errorf("region %s lacks %q:\n%s", name, w, regions[name])
			}
		}
	}
	if strings.Contains(regions[RegionFindings], "Row 1 ") {
		t.Errorf("a clean row in the findings:\n%s", regions[RegionFindings])
	}
	clean := &Report{Rows: sampleReport().Rows[:2]}
	if f := clean.Regions()[RegionFindings]; !strings.Contains(f, "Every row connected every client") {
		t.Errorf("findings of a clean report:\n%s", f)
	}
	if f := clean.Regions()[RegionFloor]; !strings.Contains(f, "1,000") {
		t.Errorf("floor region of a clean report:\n%s", f)
	}
	if _, ok := clean.Regions()[RegionGoBench]; ok {
		t.Errorf("a gobench region without a go test run")
	}
}

// TestStoreRegion: the row with the history in memory is set beside the
// default one at the same load, and the file store's benchmarks beside
// their targets.
func TestStoreRegion(t *testing.T) {
	rep := sampleReport()
	mem := rep.Rows[2]
	mem.Row.Store = "memory"
	r := *mem.Result
	r.Latency.P99Ms, r.Latency.P50Ms, r.Messages.Lost = 160, 50, 0
	r.Server = &loadtest.ServerStats{CPUPerDeliveryUs: 8}
	mem.Result = &r
	rep.Rows = append(rep.Rows, mem)
	rep.GoBench = &GoBenchResult{Command: "go test", Benchmarks: []GoBenchStats{
		{Pkg: "ringchat/chat/store/file", Name: "Append/fsync=everysec", Runs: 5, Median: map[string]float64{"ns/op": 800, "events/s": 950000}},
		{Pkg: "ringchat/chat/store/file", Name: "Append/fsync=always", Runs: 5, Median: map[string]float64{"ns/op": 1000, "events/s": 700000}},
		{Pkg: "ringchat/chat/store/file", Name: "Replay", Runs: 5, Median: map[string]float64{"ns/op": 8e6, "events/s": 1.25e6}},
		{Pkg: "ringchat/chat", Name: "Publish/subs=1", Runs: 5, Median: map[string]float64{"ns/op": 300}},
	}}
	got := rep.Regions()[RegionStore]
	for _, want := range []string{
		"| 5,000 | 1 | 10 | 60.0ms / 50.0ms = **1.20×** | 200ms / 160ms = **1.25×** | ≤ 1.1×: **NOT met** | 10.00 / 8.00 = **1.25×** | 7; 0 |",
		"| Append/fsync=everysec | appends into one room, until written (group commit) | 950,000 | ≥ 200,000: **met** | 800 |",
		"| Append/fsync=always | appends into one room, each synced before it is delivered | 700,000 | - | 1,000 |",
		"| Replay | a room's 10,000 events read back from disk after a restart | 1,250,000 | - | - |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("store region lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Publish") {
		t.Errorf("store region shows another package's benchmark:\n%s", got)
	}
	if loadtest := rep.Regions()[RegionLoadtest]; !strings.Contains(loadtest, "| 8 server (raw, -store memory) | 5,000 |") {
		t.Errorf("the memory row is not named in the load-test tables:\n%s", loadtest)
	}
	if none := sampleReport().Regions()[RegionStore]; !strings.Contains(none, "no row ran with both stores") {
		t.Errorf("store region without a memory row:\n%s", none)
	}
}

func TestWriteBenchmarks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	rep := sampleReport()
	if err := WriteBenchmarks(path, rep, "# New\n\nIntro.\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "# New\n\nIntro.\n\n<!-- bench:run:begin -->\n") || !strings.Contains(string(b), "<!-- bench:gobench:end -->\n") {
		t.Errorf("new file:\n%s", b)
	}

	// Hand-written prose around the regions survives a rewrite.
	edited := strings.Replace(string(b), "<!-- bench:floor:begin -->", "Prose about the floor.\n\n<!-- bench:floor:begin -->", 1) + "\nClosing words.\n"
	os.WriteFile(path, []byte(edited), 0o644)
	rep.Machine.CPUModel = "Another CPU"
	if err := WriteBenchmarks(path, rep, "unused"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	for _, s := range []string{"Prose about the floor.\n\n<!-- bench:floor:begin -->", "\nClosing words.\n", "Another CPU"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("rewritten file lacks %q", s)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}

	// A damaged file is left alone.
	os.WriteFile(path, []byte("<!-- bench:run:begin -->\nno end\n"), 0o644)
	if err := WriteBenchmarks(path, rep, ""); !errors.Is(err, benchmd.ErrRegions) {
		t.Errorf("WriteBenchmarks error %v, want benchmd.ErrRegions", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "<!-- bench:run:begin -->\nno end\n" {
		t.Errorf("damaged file changed: %q", b)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".bench-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestIdleRegion(t *testing.T) {
	row := func(clients, conns int, before, connected uint64) RowRun {
		return RowRun{Row: Row{TargetServer, clients, 1, 1, 5, "", "", "", loadtest.ClientRaw}, Result: &loadtest.Result{
			Connections: loadtest.ConnectionStats{Connected: conns},
			Server: &loadtest.ServerStats{RSSBeforeBytes: before, RSSConnectedBytes: connected,
				RSSPerConnBytes: float64(connected-before) / float64(conns)},
		}}
	}
	rep := &Report{Rows: []RowRun{
		row(1000, 1000, 10<<20, 15<<20), // too small to be listed
		{Row: Row{TargetFloor, 10000, 1, 1, 5, "", "", "", loadtest.ClientRaw}, Result: &loadtest.Result{}},
		row(10000, 10000, 10<<20, 60<<20),
		row(19000, 19000, 10<<20, 130<<20),
		{Row: Row{TargetServer, 19000, 1, 1, 2, "", "", "", loadtest.ClientRaw}, Skipped: "time budget"},
	}}
	got := rep.Regions()[RegionIdle]
	for _, want := range []string{
		"| 3 server (raw) | 10,000 | 10,000 | 10.0 MiB | 60.0 MiB | **5.1 KiB** | 6.1 KiB | ≤ 6.0 KiB: **met** |",
		"| 4 server (raw) | 19,000 | 19,000 | 10.0 MiB | 130.0 MiB | **6.5 KiB** | 7.0 KiB | ≤ 6.0 KiB: **NOT met** |",
		"| 5 server (raw) | 19,000 | not run: time budget |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("idle region lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "| 1 server") || strings.Contains(got, "floor") {
		t.Errorf("idle region lists a small or floor row:\n%s", got)
	}
	rep.Rows[2] = row(10000, 10000, 10<<20, 75<<20)
	if got := rep.Regions()[RegionIdle]; !strings.Contains(got, "**6.7 KiB** | 7.7 KiB | ≤ 6.0 KiB: **NOT met** |") {
		t.Errorf("idle region of a row over the target:\n%s", got)
	}
	if got := (&Report{}).Regions()[RegionIdle]; !strings.Contains(got, "No chat-server row") {
		t.Errorf("idle region without rows: %q", got)
	}
}

// TestRepositoryBenchmarks checks the repository's BENCHMARKS.md: make
// bench can rewrite it, and it already has every region make bench
// writes, in place among its prose, so that none is appended at the end.
func TestRepositoryBenchmarks(t *testing.T) {
	b, err := os.ReadFile("../../BENCHMARKS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	regions := sampleReport().Regions()
	out, err := benchmd.RewriteRegions(doc, regions, RegionOrder)
	if err != nil {
		t.Fatalf("make bench could not rewrite BENCHMARKS.md: %v", err)
	}
	for name := range regions {
		if !strings.Contains(doc, "<!-- bench:"+name+":begin -->") {
			t.Errorf("BENCHMARKS.md has no %s region: make bench would append it at the end", name)
		}
	}
	if !strings.HasSuffix(out, doc[strings.LastIndex(doc, "\n## "):]) {
		t.Errorf("a rewrite changed the prose at the end of the file")
	}
}
