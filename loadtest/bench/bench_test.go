package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ringchat/loadtest"
	"ringchat/loadtest/childproc"
	"ringchat/loadtest/internal/childproctest"
	"ringchat/loadtest/internal/runtest"
)

// helperSpec starts the test binary playing part (see childproctest.Main).
func helperSpec(part string) childproc.Spec {
	return childproc.Spec{
		Args:        []string{os.Args[0], childproc.AddrPlaceholder},
		Path:        "/ws",
		Env:         []string{childproctest.Env + "=" + part},
		StopTimeout: 10 * time.Second,
	}
}

// tinyBench is a matrix of four small rows, with the floor server (this
// test binary as helper "floor") playing both the chat server and the
// floor, the hub server (helper "hub") the hub, and no go test run.
func tinyBench() Config {
	cfg := DefaultConfig()
	cfg.Server, cfg.Floor, cfg.Hub = helperSpec("floor"), helperSpec("floor"), helperSpec("hub")
	raw := loadtest.ClientRaw
	cfg.Rows = []Row{
		{TargetServer, 12, 1, 1, 50, "", "", "", raw},
		{TargetFloor, 12, 1, 1, 50, "", "", "", raw},
		{TargetHub, 12, 1, 1, 50, "", "", "", raw},
		{TargetServer, 12, 3, 3, 60, "", "", "", loadtest.ClientXNet},
	}
	cfg.Duration, cfg.Drain, cfg.Pause = 300*time.Millisecond, 20*time.Second, 0
	cfg.ConnectTimeout = 20 * time.Second // a busy machine
	cfg.GoBench = GoBenchConfig{}
	cfg.Budget = time.Minute
	return cfg
}

// childProcesses returns the pids of this process's living children.
func childProcesses(t *testing.T) []string {
	t.Helper()
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var pids []string
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		pids = append(pids, strings.Fields(string(b))...)
	}
	return pids
}

func TestRun(t *testing.T) {
	cfg := tinyBench()
	var log strings.Builder
	cfg.Log = &log
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	if len(rep.Rows) != len(cfg.Rows) || rep.Interrupted {
		t.Fatalf("%d rows, interrupted %v", len(rep.Rows), rep.Interrupted)
	}
	for i, r := range rep.Rows {
		if r.Row != cfg.Rows[i] || r.Result == nil || r.Error != "" || r.ServerStop != "" || r.FileLimit == 0 {
			t.Fatalf("row %d: %+v", i, r)
		}
		runtest.CheckClean(t, *r.Result)
		if s := r.Result.Server; s == nil || s.Error != "" || s.RSSConnectedBytes == 0 {
			t.Errorf("row %d: server stats %+v", i, s)
		}
		if c := r.Result.Config; c.Clients != r.Row.Clients || c.Rooms != r.Row.Rooms || c.DurationS != 0.3 || c.Client != r.Row.client() {
			t.Errorf("row %d ran %+v", i, c)
		}
	}
	if rep.Machine.CPUs == 0 || rep.Machine.GoVersion == "" || rep.Machine.LoadAfter == "" && rep.Machine.LoadBefore != "" {
		t.Errorf("machine %+v", rep.Machine)
	}
	for _, s := range []string{"row 1/4 (server: 12 raw clients", "row 3/4 (hub: 12 raw clients", "row 4/4 (server: 3 rooms × 4 x/net clients", "done in"} {
		if !strings.Contains(log.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, log.String())
		}
	}
	if pids := childProcesses(t); len(pids) != 0 {
		t.Errorf("child processes left: %v", pids)
	}
	regions := rep.Regions()
	if !strings.Contains(regions[RegionFloor], "| 12 | raw | 1 | 50 |") {
		t.Errorf("floor region:\n%s", regions[RegionFloor])
	}
	// The hub row's p99 and the floor's are measured: the latency targets
	// at 12 clients have ratios, whatever their verdicts. (The CPU ones
	// may not: 0.3 s of 12 clients can take less than one 10 ms tick.)
	targets := regions[RegionTargets]
	for _, want := range []string{"| fan-out p99 ≤ 1.25× the floor's | 12 |", "| fan-out p99 ≤ 0.6× the hub's | 12 |"} {
		i := strings.Index(targets, want)
		if i < 0 || !strings.Contains(targets[i:i+200], "×**") {
			t.Errorf("targets region lacks %q with a ratio:\n%s", want, targets)
		}
	}
	if !strings.Contains(targets, "| server CPU per delivery ≤ 1.15× the floor's | 12 |") || !strings.Contains(targets, "| every client connected, zero loss | 12 | 12 connected, 0 lost |") {
		t.Errorf("targets region:\n%s", targets)
	}
}

func TestRunBudget(t *testing.T) {
	cfg := tinyBench()
	cfg.Budget = 2 * time.Second // less than any row needs
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rep.Rows {
		if r.Result != nil || !strings.Contains(r.Skipped, "time budget") {
			t.Errorf("row %d: %+v", i, r)
		}
	}
}

func TestRunInterrupted(t *testing.T) {
	cfg := tinyBench()
	cfg.Duration, cfg.Budget = time.Minute, 5*time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	time.AfterFunc(time.Second, cancel) // Ctrl-C during the first row
	rep, err := Run(ctx, cfg)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v after the interrupt", d)
	}
	if !rep.Interrupted || len(rep.Rows) != 1 || rep.Rows[0].Result == nil || !rep.Rows[0].Result.Interrupted {
		t.Errorf("interrupted %v, rows %+v, err %v", rep.Interrupted, rep.Rows, err)
	}
	if pids := childProcesses(t); len(pids) != 0 {
		t.Errorf("child processes left: %v", pids)
	}
}

func TestRunServerFails(t *testing.T) {
	cfg := tinyBench()
	cfg.Server = helperSpec("exit")
	cfg.Rows = cfg.Rows[:2]
	rep, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "bad flag") {
		t.Errorf("Run error %v, want the server's complaint", err)
	}
	if r := rep.Rows[0]; r.Result != nil || !strings.Contains(r.Error, "exited before") {
		t.Errorf("row 1: %+v", r)
	}
	if r := rep.Rows[1]; r.Result == nil || r.Error != "" {
		t.Errorf("row 2 (floor) did not run: %+v", r)
	}
}

func TestScaleRows(t *testing.T) {
	got := ScaleRows(DefaultRows(), 0.01)
	for i, r := range got {
		d := DefaultRows()[i]
		if r.Target != d.Target || r.Rate != d.Rate || r.Rooms != d.Rooms || r.Senders != d.Senders || r.Store != d.Store || r.Client != d.Client || r.Flags != d.Flags {
			t.Errorf("row %d changed beyond clients: %+v", i, r)
		}
		if r.Clients < 2*r.Rooms || r.Clients < r.Senders || r.Clients > d.Clients {
			t.Errorf("row %d: %d clients", i, r.Clients)
		}
	}
	if got[0].Clients != 10 || got[7].Clients != 100 || got[4].Store != "memory" {
		t.Errorf("scaled clients %d, %d; row 5's store %q", got[0].Clients, got[7].Clients, got[4].Store)
	}
}

// TestDefaultRows checks the matrix against what issue 13's targets and
// the other regions need from it.
func TestDefaultRows(t *testing.T) {
	rows := DefaultRows()
	has := func(target Target, clients int, client loadtest.ClientKind, store string) int {
		for i, r := range rows {
			if r.Target == target && r.Clients == clients && r.client() == client && r.Store == store {
				return i
			}
		}
		return -1
	}
	for _, n := range []int{1000, 5000, 10000, 19000} {
		s, f, h := has(TargetServer, n, loadtest.ClientRaw, ""), has(TargetFloor, n, loadtest.ClientRaw, ""), has(TargetHub, n, loadtest.ClientRaw, "")
		if s < 0 || f < 0 || h < 0 {
			t.Errorf("%d clients: server row %d, floor %d, hub %d; want all three, raw clients", n, s, f, h)
			continue
		}
		if lo, hi := min(s, f, h), max(s, f, h); hi-lo > 3 {
			t.Errorf("%d clients: rows %d, %d, %d are not next to each other", n, s, f, h)
		}
		if rows[s].load() != rows[f].load() || rows[s].load() != rows[h].load() {
			t.Errorf("%d clients: loads differ: %+v %+v %+v", n, rows[s], rows[f], rows[h])
		}
	}
	if s, m := has(TargetServer, 5000, loadtest.ClientRaw, ""), has(TargetServer, 5000, loadtest.ClientRaw, "memory"); m != s+1 {
		t.Errorf("the -store memory row %d is not right after the 5,000 row %d", m, s)
	}
	if has(TargetServer, 10000, loadtest.ClientXNet, "") < 0 || has(TargetFloor, 10000, loadtest.ClientXNet, "") < 0 {
		t.Errorf("no x/net rows beside the raw ones at 10,000")
	}
	for i, r := range rows {
		switch {
		case r.Flags != "" && r.Why == "":
			t.Errorf("row %d has flags %q and does not say why", i, r.Flags)
		case r.Target == TargetServer && r.Clients > 10000 && r.Flags != "-max-conns 19500":
			t.Errorf("row %d: %d clients need -max-conns, has %q", i, r.Clients, r.Flags)
		case r.Target != TargetServer && (r.Flags != "" || r.Store != ""):
			t.Errorf("row %d: server flags for the %s", i, r.Target)
		case r.Senders > 0 && r.Rate/float64(r.Senders) > 10:
			t.Errorf("row %d: %g msg/s per sender, above the server's default rate limit", i, r.Rate/float64(r.Senders))
		}
	}
	// The matrix fits its share of the budget when all goes well; on a
	// busy machine the last rows, the x/net ones, may be skipped.
	cfg := DefaultConfig()
	var total time.Duration
	for _, r := range rows {
		total += estimateRow(cfg, r)
	}
	if left := cfg.Budget - cfg.GoBench.Timeout; total > left {
		t.Errorf("the rows need about %v, the matrix has %v", total, left)
	}
}
