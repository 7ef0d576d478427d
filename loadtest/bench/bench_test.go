package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// tinyBench is a matrix of three small rows, with the floor server (this
// test binary as helper "floor") playing both the chat server and the
// floor, and no go test run.
func tinyBench() Config {
	cfg := DefaultConfig()
	cfg.Server, cfg.Floor = helperSpec("floor"), helperSpec("floor")
	cfg.Rows = []Row{
		{TargetServer, 12, 1, 1, 50, "", "", ""},
		{TargetFloor, 12, 1, 1, 50, "", "", ""},
		{TargetServer, 12, 3, 3, 60, "", "", ""},
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
		if c := r.Result.Config; c.Clients != r.Row.Clients || c.Rooms != r.Row.Rooms || c.DurationS != 0.3 {
			t.Errorf("row %d ran %+v", i, c)
		}
	}
	if rep.Machine.CPUs == 0 || rep.Machine.GoVersion == "" || rep.Machine.LoadAfter == "" && rep.Machine.LoadBefore != "" {
		t.Errorf("machine %+v", rep.Machine)
	}
	for _, s := range []string{"row 1/3 (server: 12 clients", "row 3/3 (server: 3 rooms × 4 clients", "done in"} {
		if !strings.Contains(log.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, log.String())
		}
	}
	if pids := childProcesses(t); len(pids) != 0 {
		t.Errorf("child processes left: %v", pids)
	}
	regions := rep.Regions()
	if !strings.Contains(regions[RegionFloor], "| 12 | 1 | 50 |") {
		t.Errorf("floor region:\n%s", regions[RegionFloor])
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
		if r.Target != d.Target || r.Rate != d.Rate || r.Rooms != d.Rooms || r.Senders != d.Senders || r.Store != d.Store {
			t.Errorf("row %d changed beyond clients: %+v", i, r)
		}
		if r.Clients < 2*r.Rooms || r.Clients < r.Senders || r.Clients > d.Clients {
			t.Errorf("row %d: %d clients", i, r.Clients)
		}
	}
	if got[0].Clients != 10 || got[5].Clients != 100 || got[3].Store != "memory" {
		t.Errorf("scaled clients %d, %d; row 4's store %q", got[0].Clients, got[5].Clients, got[3].Store)
	}
}
