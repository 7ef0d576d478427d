package loadtest

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ringchat/chat"
	"ringchat/internal/chattest"
)

// A server under test: each start function returns the ws:// URL of a fresh
// server that is closed when the test ends. The same checks run against a
// faithful fake of the contract and against the real chat server.
var servers = []struct {
	name  string
	start func(t testing.TB) string
}{
	{"fake", func(t testing.TB) string { return startFakeServer(t, nil).URL }},
	{"chat", startChatServer},
}

// startChatServer runs package chat's server, with no per-connection rate
// limit (the senders here are faster than a person).
func startChatServer(t testing.TB) string {
	return chattest.Start(t, nil, chat.Options{}).URL()
}

// quickConfig is a run of about a second: 50 clients, 10 senders.
func quickConfig(url string) Config {
	cfg := DefaultConfig()
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

func runOrFail(t *testing.T, cfg Config) Result {
	t.Helper()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("%+v", res.Messages)
	return res
}

// checkClean fails t unless res shows a perfect run: every client
// connected and every message delivered exactly once, in order, with sane
// latency figures.
func checkClean(t *testing.T, res Result) {
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
	if l.MaxMs > 10_000 {
		t.Errorf("latency max %.1f ms on loopback", l.MaxMs)
	}
	if ct := cn.ConnectTime; ct.Count != uint64(cn.Connected) || ct.P50Ms <= 0 || ct.P50Ms > ct.MaxMs {
		t.Errorf("connect time: %+v", ct)
	}
}

func TestRunClean(t *testing.T) {
	for _, srv := range servers {
		for _, tc := range []struct {
			name   string
			config func(*Config)
		}{
			{"one room", func(*Config) {}},
			{"three rooms", func(c *Config) { c.Clients, c.Rooms = 51, 3 }},
			{"one sender", func(c *Config) { c.Senders, c.Rate = 1, 100 }},
			{"everyone sends", func(c *Config) { c.Senders, c.Rooms = c.Clients, 5 }},
		} {
			t.Run(srv.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				cfg := quickConfig(srv.start(t))
				tc.config(&cfg)
				res := runOrFail(t, cfg)
				checkClean(t, res)
				// Each message reaches the members of the sender's room.
				perRoom := cfg.Clients / cfg.Rooms // the cases divide evenly
				want := res.Messages.Sent * uint64(perRoom)
				if res.Messages.Expected != want {
					t.Errorf("expected %d deliveries, want %d", res.Messages.Expected, want)
				}
				// Never more than scheduled; fewer only when this machine is
				// too busy to keep up.
				if n, sched := float64(res.Messages.Sent), cfg.Rate*cfg.Duration.Seconds(); n > sched+float64(cfg.Senders) || n < sched/4 {
					t.Errorf("sent %.0f messages, want about %.0f", n, sched)
				}
			})
		}
	}
}

func TestRunFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mangle func(n uint64) int
		// done tells the drain when every delivery the fault leaves has
		// arrived, given the messages sent and the clients.
		done  func(d DeliveryCounts, sent, expected, clients uint64) bool
		check func(t *testing.T, m MessageStats, clients uint64)
	}{
		{
			name:   "drops every third message",
			mangle: func(n uint64) int { return map[bool]int{true: 0, false: 1}[n%3 == 0] },
			done: func(d DeliveryCounts, sent, expected, clients uint64) bool {
				return d.Delivered >= expected-sent/3*clients
			},
			check: func(t *testing.T, m MessageStats, clients uint64) {
				if want := m.Sent / 3 * clients; m.Lost != want || m.Delivered != m.Expected-want {
					t.Errorf("lost %d, delivered %d of %d; want %d lost", m.Lost, m.Delivered, m.Expected, want)
				}
				if m.Duplicated != 0 || m.IDSkipped == 0 {
					t.Errorf("duplicated %d, id skipped %d", m.Duplicated, m.IDSkipped)
				}
			},
		},
		{
			name:   "duplicates every fifth message",
			mangle: func(n uint64) int { return map[bool]int{true: 2, false: 1}[n%5 == 0] },
			done: func(d DeliveryCounts, sent, expected, clients uint64) bool {
				return d.Delivered >= expected && d.Duplicated >= sent/5*clients
			},
			check: func(t *testing.T, m MessageStats, clients uint64) {
				if want := m.Sent / 5 * clients; m.Duplicated != want {
					t.Errorf("duplicated %d, want %d", m.Duplicated, want)
				}
				if m.Lost != 0 || m.Delivered != m.Expected || m.IDRepeated == 0 {
					t.Errorf("lost %d, delivered %d of %d, id repeated %d", m.Lost, m.Delivered, m.Expected, m.IDRepeated)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := quickConfig(startFakeServer(t, tc.mangle).URL)
			clients := uint64(cfg.Clients)
			cfg.drainDone = func(d DeliveryCounts, sent, expected uint64) bool {
				return tc.done(d, sent, expected, clients)
			}
			res := runOrFail(t, cfg)
			tc.check(t, res.Messages, clients)
			if len(res.Warnings) == 0 {
				t.Errorf("no warning")
			}
		})
	}
}

// TestRunStalledServer checks that a run stays bounded when the server
// stops reading: blocked senders are cut off, and the loss is reported.
func TestRunStalledServer(t *testing.T) {
	t.Parallel()
	f := startFakeServer(t, nil)
	f.stall = true
	cfg := quickConfig(f.URL)
	cfg.Clients, cfg.Senders, cfg.Size = 4, 2, 256<<10 // fills socket buffers fast
	cfg.Drain = 500 * time.Millisecond
	start := time.Now()
	res := runOrFail(t, cfg)
	if d, limit := time.Since(start), Budget(cfg); d > limit {
		t.Errorf("took %v, over the budget of %v", d, limit)
	}
	m := res.Messages
	if m.SendStalled == 0 || m.Lost != m.Expected {
		t.Errorf("stalled %d, lost %d of %d", m.SendStalled, m.Lost, m.Expected)
	}
}

func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	cfg := quickConfig(startFakeServer(t, nil).URL)
	cfg.Duration = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var phases []Phase
	var cancelled time.Time
	cfg.Progress = func(p Progress) {
		phases = append(phases, p.Phase)
		if p.Phase == PhaseSend {
			cancelled = time.Now()
			cancel() // as Ctrl-C would
		}
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.TimedOut {
		t.Errorf("interrupted %v, timed out %v", res.Interrupted, res.TimedOut)
	}
	if d := time.Since(cancelled); d > interruptDrain+closeTimeout+10*time.Second {
		t.Errorf("took %v after the cancel", d)
	}
	if res.Connections.Connected != cfg.Clients {
		t.Errorf("connected %d", res.Connections.Connected)
	}
	if len(phases) == 0 || phases[len(phases)-1] != PhaseDone {
		t.Errorf("phases %v, want PhaseDone last", phases)
	}
}

func TestRunNoServer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	cfg := quickConfig("ws://" + addr + "/ws")
	cfg.Clients, cfg.Senders, cfg.Retries = 3, 1, 1
	res, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "no client could connect") {
		t.Fatalf("Run error %v, want no client could connect", err)
	}
	if cn := res.Connections; cn.Failed != 3 || cn.Retries != 3 || len(cn.Errors) == 0 {
		t.Errorf("connections %+v", cn)
	}
	t.Log(err)
}

func TestRunProgress(t *testing.T) {
	t.Parallel()
	cfg := quickConfig(startFakeServer(t, nil).URL)
	cfg.Duration = 1500 * time.Millisecond
	var lines atomic.Int64
	var last Progress
	var phases []Phase // each phase once, in order of appearance
	cfg.Progress = func(p Progress) {
		lines.Add(1)
		last = p
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		if s := p.String(); !strings.Contains(s, "conn ") || !strings.Contains(s, "p99") {
			t.Errorf("progress line %q", s)
		}
	}
	res := runOrFail(t, cfg)
	if want := []Phase{PhaseConnect, PhaseSend, PhaseDrain, PhaseClose, PhaseDone}; !slices.Equal(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	if n := lines.Load(); n < int64(len(phases))+1 {
		t.Errorf("%d progress reports: no tick while sending", n)
	}
	if last.Phase != PhaseDone || last.Sent != res.Messages.Sent || last.Delivered != res.Messages.Delivered {
		t.Errorf("last progress %+v; result sent %d delivered %d", last, res.Messages.Sent, res.Messages.Delivered)
	}
}

// TestRunServerStats reads the fake server's resources, which are this
// process's, by pid and by /metrics.
func TestRunServerStats(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(c *Config, f *fakeServer)
	}{
		{"pid", func(c *Config, _ *fakeServer) { c.ServerPID = os.Getpid() }},
		{"metrics", func(c *Config, f *fakeServer) { c.ServerMetrics = f.MetricsURL }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startFakeServer(t, nil)
			cfg := quickConfig(f.URL)
			tc.set(&cfg, f)
			res := runOrFail(t, cfg)
			checkClean(t, res)
			s := res.Server
			if s == nil {
				t.Fatal("no server stats")
			}
			if s.Error != "" || s.CPUS <= 0 || s.CPUCoresSend <= 0 || s.CPUPerDeliveryUs <= 0 ||
				s.RSSBeforeBytes == 0 || s.RSSConnectedBytes == 0 || s.PeakRSSBytes < s.RSSConnectedBytes {
				t.Errorf("server stats %+v", *s)
			}
			var text strings.Builder
			res.WriteText(&text)
			if !strings.Contains(text.String(), "server ") {
				t.Errorf("no server line in\n%s", text.String())
			}
		})
	}
}

func TestRunInvalid(t *testing.T) {
	cfg := DefaultConfig()
	cfg.URL = "ws://example.com/ws"
	_, err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, ErrRemoteTarget) {
		t.Errorf("Run error %v, want ErrRemoteTarget", err)
	}
}
