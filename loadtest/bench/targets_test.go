package bench

import (
	"strings"
	"testing"

	"ringchat/loadtest"
)

// targetRow is a row that ran, with the figures the targets read.
func targetRow(target Target, clients int, client loadtest.ClientKind, p99, cpuUs float64, connected, sendEnd uint64, perConn float64) RowRun {
	return RowRun{Row: Row{Target: target, Clients: clients, Senders: 1, Rooms: 1, Rate: 5, Client: client}, Result: &loadtest.Result{
		Connections: loadtest.ConnectionStats{Target: clients, Connected: clients},
		Messages:    loadtest.MessageStats{Sent: 25, Expected: 25 * uint64(clients), Delivered: 25 * uint64(clients)},
		Latency:     loadtest.Latency{Count: 25 * uint64(clients), P50Ms: p99 / 2, P99Ms: p99, MaxMs: p99 * 1.2},
		Server:      &loadtest.ServerStats{CPUPerDeliveryUs: cpuUs, RSSConnectedBytes: connected, RSSSendEndBytes: sendEnd, RSSPerConnBytes: perConn},
		Generator:   loadtest.GeneratorStats{Cores: 2, CPUCoresSend: 0.3, CPUPerDeliveryUs: 4},
	}}
}

func targetsReport() *Report {
	raw, xnet := loadtest.ClientRaw, loadtest.ClientXNet
	const mib = 1 << 20
	return &Report{Rows: []RowRun{
		targetRow(TargetServer, 1000, raw, 20, 10, 20*mib, 20*mib, 6<<10),
		targetRow(TargetFloor, 1000, raw, 16, 9, 20*mib, 21*mib, 12<<10),
		targetRow(TargetHub, 1000, raw, 50, 12, 30*mib, 30*mib, 24<<10),
		targetRow(TargetServer, 5000, raw, 60, 8, 40*mib, 40*mib, 5<<10), // no floor or hub row
		targetRow(TargetServer, 19000, raw, 300, 12, 100*mib, 140*mib, 5.5*1024),
		targetRow(TargetFloor, 19000, raw, 100, 8, 200*mib, 201*mib, 11<<10),
		targetRow(TargetHub, 19000, raw, 400, 16, 400*mib, 420*mib, 20<<10),
		targetRow(TargetServer, 19000, xnet, 100, 9, 100*mib, 100*mib, 5<<10), // x/net: not a target row
		targetRow(TargetFloor, 19000, xnet, 110, 7, 200*mib, 200*mib, 11<<10),
	}}
}

func TestTargetsRegion(t *testing.T) {
	got := targetsReport().Regions()[RegionTargets]
	for _, want := range []string{
		"**4 of 11 targets met** (3 not measured).",
		"| fan-out p99 ≤ 1.25× the floor's | 1,000 | 20.0ms | floor 16.0ms | **1.25×** | **met** | server; floor |",
		"| fan-out p99 ≤ 1.25× the floor's | 5,000 | 60.0ms | - | - | not measured (no floor row) |",
		"| fan-out p99 ≤ 1.25× the floor's | 19,000 | 300ms | floor 100ms | **3.00×** | **NOT met** | server; floor |",
		"| fan-out p99 ≤ 0.6× the hub's | 1,000 | 20.0ms | hub 50.0ms | **0.40×** | **met** | server; hub |",
		"| fan-out p99 ≤ 0.6× the hub's | 19,000 | 300ms | hub 400ms | **0.75×** | **NOT met** |",
		"| server CPU per delivery ≤ 1.15× the floor's | 1,000 | 10.00 µs | floor 9.00 µs | **1.11×** | **met** |",
		"| server CPU per delivery ≤ 1.15× the floor's | 19,000 | 12.00 µs | floor 8.00 µs | **1.50×** | **NOT met** |",
		"| server memory growth while sending, beyond the clients' data | 19,000 | +40.0 MiB (+2.2 KiB per connection) | floor +1.0 MiB, hub +20.0 MiB | - | reported | server |",
		"| server memory growth while sending, beyond the clients' data | 1,000 | +0 B (+0 B per connection) | floor +1.0 MiB, hub +0 B | - | reported |",
		"| RSS per idle connection ≤ 2.5 KiB | 19,000 | 5.5 KiB | floor 11.0 KiB, hub 20.0 KiB | - | **NOT met** | server |",
		"| every client connected, zero loss | 19,000 | 19,000 connected, 0 lost | - | - | **met** | server |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets region lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "100ms | floor 110ms") {
		t.Errorf("an x/net row counted as a target:\n%s", got)
	}
}

func TestTargetsRegionMisses(t *testing.T) {
	rep := targetsReport()
	rep.Rows[1].Result.Messages.Lost = 7 // the 1,000 floor row lost some
	rep.Rows[6] = RowRun{Row: rep.Rows[6].Row, Skipped: "time budget"}
	res := *rep.Rows[4].Result
	res.Messages.Lost, res.Connections.Connected = 3, 18990
	rep.Rows[4].Result = &res
	got := rep.Regions()[RegionTargets]
	for _, want := range []string{
		"| **met** (floor lost 7) |",
		"| fan-out p99 ≤ 0.6× the hub's | 19,000 | 300ms | - | - | not measured (hub row: not run: time budget) |",
		"| every client connected, zero loss | 19,000 | 18,990 connected, 3 lost | - | - | **NOT met** |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets region lacks %q:\n%s", want, got)
		}
	}
	if got := (&Report{}).Regions()[RegionTargets]; !strings.Contains(got, "no target was measured") {
		t.Errorf("targets region without rows: %q", got)
	}
}

func TestReadersRegion(t *testing.T) {
	got := targetsReport().Regions()[RegionReaders]
	for _, want := range []string{
		"| server | 19,000 | 150ms / 50.0ms = **3.00×** | 300ms / 100ms = **3.00×** | 360ms / 120ms = **3.00×** | 4.00 / 4.00 = **1.00×** | 0.30 / 0.30 = **1.00×** | 12.00 / 9.00 = **1.33×** |",
		"| floor | 19,000 | 50.0ms / 55.0ms = **0.91×** | 100ms / 110ms = **0.91×** |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("readers region lacks %q:\n%s", want, got)
		}
	}
	if got := sampleReport().Regions()[RegionReaders]; !strings.Contains(got, "No row ran with both kinds of client") {
		t.Errorf("readers region without x/net rows: %q", got)
	}
}
