package loadtest

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestWarnings(t *testing.T) {
	base := func() Result {
		return Result{
			Config:      ResultConfig{Clients: 10, Senders: 2, Rate: 100},
			Connections: ConnectionStats{Target: 10, Connected: 10},
			Messages:    MessageStats{Sent: 100, TargetRate: 100, AchievedRate: 100, SendS: 1, Expected: 1000, Delivered: 1000},
			Generator:   GeneratorStats{Cores: 2, MachineCPUs: 2},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*Result)
		want   string // in one warning; "" for none at all
	}{
		{"clean", func(*Result) {}, ""},
		{"bottleneck", func(r *Result) { r.Generator.Bottleneck, r.Generator.CPUCoresSend = true, 1.9 }, "THE LOAD GENERATOR IS THE BOTTLENECK"},
		{"machine busy", func(r *Result) { r.Generator.MachineBusySend = 0.97 }, "97% busy"},
		{"machine busy, server known", func(r *Result) {
			r.Generator.MachineBusySend, r.Generator.CPUCoresSend = 1, 0.5
			r.Server = &ServerStats{CPUCoresSend: 0.7}
		}, "other processes 0.80"},
		{"connect failures", func(r *Result) {
			r.Connections.Failed = 3
			r.Connections.Errors = []ErrorCount{{"dial: connection refused", 3}}
		}, "3 of 10 clients could not connect (dial: connection refused)"},
		{"dropped", func(r *Result) { r.Connections.Dropped = 1 }, "1 connections ended"},
		{"slow senders", func(r *Result) { r.Messages.AchievedRate = 50 }, "senders managed 50"},
		{"loss", func(r *Result) { r.Messages.Lost, r.Messages.LossRatio = 10, 0.01 }, "LOSS: 10 of 1000"},
		{"duplicates", func(r *Result) { r.Messages.Duplicated = 2 }, "DUPLICATES"},
		{"order", func(r *Result) { r.Messages.OutOfOrder = 2 }, "ORDER"},
		{"misrouted", func(r *Result) { r.Messages.Misrouted = 2 }, "MISROUTED"},
		{"ids", func(r *Result) { r.Messages.IDSkipped = 2 }, "ids were not consecutive"},
		{"server errors", func(r *Result) {
			r.Messages.ServerErrors = 5
			r.Messages.ServerErrorTexts = []ErrorCount{{"slow down", 5}}
		}, "5 error events (slow down)"},
		{"stalled", func(r *Result) { r.Messages.SendStalled = 1 }, "stopped reading"},
		{"interrupted", func(r *Result) { r.Interrupted = true }, "interrupted"},
		{"timed out", func(r *Result) { r.TimedOut = true }, "hard deadline"},
		{"server stats missing", func(r *Result) { r.Server = &ServerStats{Error: "no such process"} }, "no such process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.change(&r)
			r.addWarnings()
			all := strings.Join(r.Warnings, "\n")
			if tc.want == "" && len(r.Warnings) != 0 || !strings.Contains(all, tc.want) {
				t.Errorf("warnings %q, want one with %q", r.Warnings, tc.want)
			}
			var text strings.Builder
			r.WriteText(&text)
			if tc.want != "" && !strings.Contains(text.String(), "WARNING: ") {
				t.Errorf("table has no warning:\n%s", text.String())
			}
		})
	}
}

// TestResultJSON pins the JSON names scripts rely on.
func TestResultJSON(t *testing.T) {
	r := Result{Server: &ServerStats{}}
	r.addWarnings()
	var b strings.Builder
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(b.String()), &m); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"run_id", "interrupted", "timed_out", "config.clients", "config.rate",
		"connections.connected", "connections.failed", "connections.connect_time.p99_ms",
		"messages.sent", "messages.expected", "messages.delivered", "messages.lost", "messages.duplicated",
		"messages.out_of_order", "messages.gaps", "messages.deliveries_per_sec",
		"latency.p50_ms", "latency.p90_ms", "latency.p99_ms", "latency.p999_ms", "latency.max_ms",
		"server.cpu_s", "server.peak_rss_bytes", "server.rss_per_conn_bytes",
		"generator.cpu_s", "generator.cpu_cores_send", "generator.bottleneck", "warnings",
	} {
		var v any = m
		for _, k := range strings.Split(path, ".") {
			obj, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v, ok = obj[k]
			if !ok {
				v = nil
				break
			}
		}
		if v == nil {
			t.Errorf("no %s in the JSON", path)
		}
	}
}
