package loadtest_test

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
	"ringchat/loadtest"
	"ringchat/loadtest/internal/runtest"
)

// A server under test: each start function returns the ws:// URL of a fresh
// server that is closed when the test ends. The same checks run against a
// faithful fake of the contract and against the real chat server.
var servers = []struct {
	name  string
	start func(t testing.TB) string
}{
	{"fake", func(t testing.TB) string { return runtest.StartFake(t, nil).URL }},
	{"chat", startChatServer},
}

// startChatServer runs package chat's server, with no per-connection rate
// limit: a sender here stands for a busy room (a hundred messages a
// second), not one person. TestRunRefusalsApartFromLoss runs it at its
// defaults.
func startChatServer(t testing.TB) string {
	return chattest.Start(t, nil, chat.Options{MessageRate: -1}).URL()
}

// Against the chat server at its defaults (10 messages a second per
// connection, a burst of 20), one sender offering 40 a second: the
// generator reads the limits from the welcome, warns that the offered rate
// is above them, and reports the refused messages by reason, apart from
// loss — nothing is lost.
func TestRunRefusalsApartFromLoss(t *testing.T) {
	srv := chattest.Start(t, nil, chat.Options{MessageRate: 10, MessageBurst: 20})
	cfg := runtest.QuickConfig(srv.URL())
	cfg.Clients, cfg.Senders, cfg.Rate, cfg.Duration = 10, 1, 40, 2*time.Second
	res := runtest.Run(t, cfg)
	m := res.Messages
	if res.Limits == nil || res.Limits.Rate != 10 || res.Limits.Burst != 20 || res.Limits.MaxMessage != 4096 {
		t.Fatalf("limits %+v, want the welcome's 10/s, 20, 4096", res.Limits)
	}
	if m.Refused == 0 || len(m.RefusedByReason) != 1 || m.RefusedByReason[0].Error != "rate_limited" || m.RefusedByReason[0].Count != m.Refused {
		t.Fatalf("refused %d by %v: want every refusal rate_limited", m.Refused, m.RefusedByReason)
	}
	if m.Lost != 0 || m.Delivered != m.Expected || m.Expected != (m.Sent-m.Refused)*uint64(cfg.Clients) {
		t.Fatalf("sent %d, refused %d, expected %d, delivered %d, lost %d: want the refused out of what is expected, and nothing lost", m.Sent, m.Refused, m.Expected, m.Delivered, m.Lost)
	}
	var warned, lossWarned bool
	for _, w := range res.Warnings {
		warned = warned || strings.Contains(w, "above the 10 a second (burst 20) the server advertises")
		lossWarned = lossWarned || strings.Contains(w, "LOSS")
	}
	if !warned || lossWarned {
		t.Fatalf("warnings %q: want the rate warning and no loss", res.Warnings)
	}
	var text strings.Builder
	res.WriteText(&text)
	if !strings.Contains(text.String(), "refused       ") || !strings.Contains(text.String(), "rate_limited") {
		t.Fatalf("report:\n%s", text.String())
	}
}

// clients are the kinds of client every run test runs with.
var clients = []loadtest.ClientKind{loadtest.ClientXNet, loadtest.ClientRaw}

func TestRunClean(t *testing.T) {
	for _, srv := range servers {
		for _, tc := range []struct {
			name   string
			config func(*loadtest.Config)
		}{
			{"one room", func(*loadtest.Config) {}},
			{"three rooms", func(c *loadtest.Config) { c.Clients, c.Rooms = 51, 3 }},
			{"one sender", func(c *loadtest.Config) { c.Senders, c.Rate = 1, 100 }},
			{"everyone sends", func(c *loadtest.Config) { c.Senders, c.Rooms = c.Clients, 5 }},
			{"long messages", func(c *loadtest.Config) { c.Size = 3000 }}, // 16-bit lengths, more than one frame per read
		} {
			for _, client := range clients {
				t.Run(srv.name+"/"+string(client)+"/"+tc.name, func(t *testing.T) {
					t.Parallel()
					cfg := runtest.QuickConfig(srv.start(t))
					cfg.Client = client
					tc.config(&cfg)
					res := runtest.Run(t, cfg)
					runtest.CheckClean(t, res)
					if res.Config.Client != client {
						t.Errorf("ran %q clients, want %q", res.Config.Client, client)
					}
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
}

func TestRunFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mangle func(n uint64) int
		// done tells the drain when every delivery the fault leaves has
		// arrived, given the messages sent and the clients.
		done  func(d loadtest.DeliveryCounts, sent, expected, clients uint64) bool
		check func(t *testing.T, m loadtest.MessageStats, clients uint64)
	}{
		{
			name:   "drops every third message",
			mangle: func(n uint64) int { return map[bool]int{true: 0, false: 1}[n%3 == 0] },
			done: func(d loadtest.DeliveryCounts, sent, expected, clients uint64) bool {
				return d.Delivered >= expected-sent/3*clients
			},
			check: func(t *testing.T, m loadtest.MessageStats, clients uint64) {
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
			done: func(d loadtest.DeliveryCounts, sent, expected, clients uint64) bool {
				return d.Delivered >= expected && d.Duplicated >= sent/5*clients
			},
			check: func(t *testing.T, m loadtest.MessageStats, clients uint64) {
				if want := m.Sent / 5 * clients; m.Duplicated != want {
					t.Errorf("duplicated %d, want %d", m.Duplicated, want)
				}
				if m.Lost != 0 || m.Delivered != m.Expected || m.IDRepeated == 0 {
					t.Errorf("lost %d, delivered %d of %d, id repeated %d", m.Lost, m.Delivered, m.Expected, m.IDRepeated)
				}
			},
		},
	} {
		for _, client := range clients {
			t.Run(string(client)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				cfg := runtest.QuickConfig(runtest.StartFake(t, tc.mangle).URL)
				cfg.Client = client
				clients := uint64(cfg.Clients)
				loadtest.SetDrainDone(&cfg, func(d loadtest.DeliveryCounts, sent, expected uint64) bool {
					return tc.done(d, sent, expected, clients)
				})
				res := runtest.Run(t, cfg)
				tc.check(t, res.Messages, clients)
				if len(res.Warnings) == 0 {
					t.Errorf("no warning")
				}
			})
		}
	}
}

// TestRunStalledServer checks that a run stays bounded when the server
// stops reading: blocked senders are cut off, and the loss is reported.
func TestRunStalledServer(t *testing.T) {
	for _, client := range clients {
		t.Run(string(client), func(t *testing.T) { testRunStalledServer(t, client) })
	}
}

func testRunStalledServer(t *testing.T, client loadtest.ClientKind) {
	t.Parallel()
	f := runtest.StartFake(t, nil)
	f.Stall = true
	cfg := runtest.QuickConfig(f.URL)
	cfg.Client = client
	cfg.Clients, cfg.Senders, cfg.Size = 4, 2, 256<<10 // fills socket buffers fast
	cfg.Drain = 500 * time.Millisecond
	start := time.Now()
	res := runtest.Run(t, cfg)
	if d, limit := time.Since(start), loadtest.Budget(cfg); d > limit {
		t.Errorf("took %v, over the budget of %v", d, limit)
	}
	m := res.Messages
	if m.SendStalled == 0 || m.Lost != m.Expected {
		t.Errorf("stalled %d, lost %d of %d", m.SendStalled, m.Lost, m.Expected)
	}
}

func TestRunInterrupted(t *testing.T) {
	for _, client := range clients {
		t.Run(string(client), func(t *testing.T) { testRunInterrupted(t, client) })
	}
}

func testRunInterrupted(t *testing.T, client loadtest.ClientKind) {
	t.Parallel()
	cfg := runtest.QuickConfig(runtest.StartFake(t, nil).URL)
	cfg.Client = client
	cfg.Duration = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var phases []loadtest.Phase
	var cancelled time.Time
	cfg.Progress = func(p loadtest.Progress) {
		phases = append(phases, p.Phase)
		if p.Phase == loadtest.PhaseSend {
			cancelled = time.Now()
			cancel() // as Ctrl-C would
		}
	}
	res, err := loadtest.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.TimedOut {
		t.Errorf("interrupted %v, timed out %v", res.Interrupted, res.TimedOut)
	}
	if d := time.Since(cancelled); d > loadtest.InterruptDrain+loadtest.CloseTimeout+10*time.Second {
		t.Errorf("took %v after the cancel", d)
	}
	if res.Connections.Connected != cfg.Clients {
		t.Errorf("connected %d", res.Connections.Connected)
	}
	if len(phases) == 0 || phases[len(phases)-1] != loadtest.PhaseDone {
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
	cfg := runtest.QuickConfig("ws://" + addr + "/ws")
	cfg.Clients, cfg.Senders, cfg.Retries = 3, 1, 1
	res, err := loadtest.Run(context.Background(), cfg)
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
	cfg := runtest.QuickConfig(runtest.StartFake(t, nil).URL)
	cfg.Duration = 1500 * time.Millisecond
	var lines atomic.Int64
	var last loadtest.Progress
	var phases []loadtest.Phase // each phase once, in order of appearance
	cfg.Progress = func(p loadtest.Progress) {
		lines.Add(1)
		last = p
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		if s := p.String(); !strings.Contains(s, "conn ") || !strings.Contains(s, "p99") {
			t.Errorf("progress line %q", s)
		}
	}
	res := runtest.Run(t, cfg)
	if want := []loadtest.Phase{loadtest.PhaseConnect, loadtest.PhaseSend, loadtest.PhaseDrain, loadtest.PhaseClose, loadtest.PhaseDone}; !slices.Equal(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	if n := lines.Load(); n < int64(len(phases))+1 {
		t.Errorf("%d progress reports: no tick while sending", n)
	}
	if last.Phase != loadtest.PhaseDone || last.Sent != res.Messages.Sent || last.Delivered != res.Messages.Delivered {
		t.Errorf("last progress %+v; result sent %d delivered %d", last, res.Messages.Sent, res.Messages.Delivered)
	}
}

// TestRunServerStats reads the fake server's resources, which are this
// process's, by pid and by /metrics.
func TestRunServerStats(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(c *loadtest.Config, f *runtest.Fake)
	}{
		{"pid", func(c *loadtest.Config, _ *runtest.Fake) { c.ServerPID = os.Getpid() }},
		{"metrics", func(c *loadtest.Config, f *runtest.Fake) { c.ServerMetrics = f.MetricsURL }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := runtest.StartFake(t, nil)
			cfg := runtest.QuickConfig(f.URL)
			tc.set(&cfg, f)
			res := runtest.Run(t, cfg)
			runtest.CheckClean(t, res)
			s := res.Server
			if s == nil {
				t.Fatal("no server stats")
			}
			if s.Error != "" || s.CPUS <= 0 || s.CPUCoresSend <= 0 || s.CPUPerDeliveryUs <= 0 ||
				s.RSSBeforeBytes == 0 || s.RSSConnectedBytes == 0 || s.RSSSendEndBytes == 0 || s.PeakRSSBytes < s.RSSConnectedBytes {
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
	cfg := loadtest.DefaultConfig()
	cfg.URL = "ws://example.com/ws"
	_, err := loadtest.Run(context.Background(), cfg)
	if !errors.Is(err, loadtest.ErrInvalidConfig) || !errors.Is(err, loadtest.ErrRemoteTarget) {
		t.Errorf("Run error %v, want ErrRemoteTarget", err)
	}
}
