// Package runtest is what the tests of the load tools share to run the
// generator: a fake chat server to run it against (StartFake), a
// configuration of about a second, a run that stops the test when it
// fails, and the checks of a perfect run. The generator's own run tests
// are external tests (package loadtest_test) so that they can use it.
package runtest

import (
	"context"
	"testing"
	"time"

	"ringchat/loadtest"
)

// QuickConfig is a run of about a second against url: 50 clients, 10
// senders.
func QuickConfig(url string) loadtest.Config {
	cfg := loadtest.DefaultConfig()
	cfg.URL = url
	cfg.Clients = 50
	cfg.Senders = 10
	cfg.Rate = 200
	cfg.Duration = time.Second
	cfg.Ramp = 2000
	cfg.Drain = 30 * time.Second // ends as soon as everything has arrived
	// Generous, for a machine busy with other work.
	cfg.ConnectTimeout = 20 * time.Second
	return cfg
}

// Run runs cfg and returns the result; it fails t at once if the run fails.
func Run(t *testing.T, cfg loadtest.Config) loadtest.Result {
	t.Helper()
	res, err := loadtest.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("%+v", res.Messages)
	return res
}

// CheckClean fails t unless res shows a perfect run: every client
// connected and every message delivered exactly once, in order, with sane
// latency figures.
func CheckClean(t *testing.T, res loadtest.Result) {
	t.Helper()
	cn, m, l := res.Connections, res.Messages, res.Latency
	if cn.Connected != cn.Target || cn.Failed != 0 || cn.Dropped != 0 {
		t.Errorf("connections: %d of %d connected, %d failed, %d dropped (%v %v)", cn.Connected, cn.Target, cn.Failed, cn.Dropped, cn.Errors, cn.DropErrors)
	}
	if m.Sent == 0 {
		t.Fatalf("nothing sent")
	}
	if m.Lost != 0 || m.Duplicated != 0 || m.OutOfOrder != 0 || m.Unverified != 0 || m.Misrouted != 0 || m.Malformed != 0 {
		t.Errorf("deliveries: %+v", m)
	}
	if m.Delivered != m.Expected {
		t.Errorf("delivered %d, expected %d", m.Delivered, m.Expected)
	}
	if m.IDSkipped != 0 || m.IDRepeated != 0 || m.Gaps != 0 || m.ServerErrors != 0 {
		t.Errorf("room ids: %d skipped, %d repeated, %d gaps, %d errors", m.IDSkipped, m.IDRepeated, m.Gaps, m.ServerErrors)
	}
	if l.Count != m.Delivered {
		t.Errorf("latency samples %d, deliveries %d", l.Count, m.Delivered)
	}
	if !(l.P50Ms > 0 && l.P50Ms <= l.P90Ms && l.P90Ms <= l.P99Ms && l.P99Ms <= l.P999Ms && l.P999Ms <= l.MaxMs) {
		t.Errorf("latency percentiles out of order: %+v", l)
	}
	// Every message was sent while sending and delivered by the end of the
	// drain: a latency longer than both is a clock or unit error, however
	// loaded the machine (a fixed bound failed when other work had it).
	if limit := (m.SendS+m.DrainS)*1000*1.01 + 50; l.MaxMs > limit {
		t.Errorf("latency max %.1f ms, longer than sending and the drain together (%.1f ms)", l.MaxMs, limit)
	}
	if ct := cn.ConnectTime; ct.Count != uint64(cn.Connected) || ct.P50Ms <= 0 || ct.P50Ms > ct.MaxMs {
		t.Errorf("connect time: %+v", ct)
	}
}
