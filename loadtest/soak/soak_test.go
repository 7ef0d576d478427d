package soak

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"ringchat/chat"
	"ringchat/internal/chattest"
	"ringchat/loadtest"
	"ringchat/loadtest/childproc"
	"ringchat/loadtest/internal/benchmd"
)

// soakServer starts the real chat server in this process on a loopback
// port: the rate limit and the other policies at their defaults; a small
// ring, a small send buffer and short timeouts, so that within seconds slow
// readers are lapped and stalled ones dropped, and slowlorises cut off.
func soakServer(t *testing.T) string {
	t.Helper()
	s := chattest.Start(t, nil, chat.Options{
		RingCapacity:     64,
		MessageRate:      10, // the default, stated: chattest would lift it
		SendBufferBytes:  4096,
		WriteTimeout:     2 * time.Second,
		HandshakeTimeout: 2 * time.Second,
	})
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s.URL()
}

// logWriter sends each line to t.Log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSoak is make soak in ten seconds: 200 clients of every behaviour
// against the real server, every observer's event checked, the server back
// to its goroutines and heap afterwards.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10-second soak")
	}
	cfg := SmallConfig()
	cfg.URL = soakServer(t)
	cfg.ForceGC = runtime.GC
	if testing.Verbose() {
		cfg.Log = logWriter{t}
	}
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	t.Logf("soak took %v", time.Since(start).Round(100*time.Millisecond))
	var md bytes.Buffer
	md.WriteString(res.Markdown())
	if err != nil {
		t.Fatalf("%v\n\n%s", err, md.String())
	}
	if testing.Verbose() {
		t.Logf("\n%s", md.String())
	}
	o := res.Observers
	if o.EventsChecked == 0 || o.Expected == 0 || o.Received != o.Expected {
		t.Errorf("observers: %+v", o)
	}
	for _, b := range res.Behaviour {
		if b.Attempts == 0 || b.Connected == 0 || len(b.Outcomes) == 0 && b.Name != "observers" && b.Name != "chatters" {
			t.Errorf("%s did not do anything: %+v", b.Name, b)
		}
	}
	if !res.Server.Settled || res.Server.Scrapes == 0 {
		t.Errorf("server: %+v", res.Server)
	}
}

// TestGarbageCases runs every garbage case and every bad handshake once,
// one at a time, against the real server, for a precise report of any
// that the server answers wrongly.
func TestGarbageCases(t *testing.T) {
	cfg := SmallConfig()
	cfg.URL = soakServer(t)
	lc := loadtest.Config{URL: cfg.URL}
	tgt, err := lc.Endpoint()
	if err != nil {
		t.Fatal(err)
	}
	cfg.MetricsURL = "http://" + tgt.HostPort + "/metrics"
	s := newSoaker(cfg, tgt)
	ctx := context.Background()
	for _, gc := range garbageCases() {
		t.Run(gc.name, func(t *testing.T) {
			s.garbageStats = newBehaviourStats("garbage", 1)
			s.garbageOnce(ctx, 0, s.rooms[0], gc)
			if r := s.garbageStats.result(); r.Problem > 0 || len(r.Outcomes) != 1 {
				t.Errorf("problems %v, outcomes %v", r.Problems, r.Outcomes)
			}
		})
	}
	for _, sc := range stormCases() {
		if sc.hold {
			continue // TestSoak has slowlorises; this one would take the handshake timeout
		}
		t.Run(sc.name, func(t *testing.T) {
			s.stormStats = newBehaviourStats("storm", 1)
			s.stormBad(ctx, sc, s.rooms[0])
			if r := s.stormStats.result(); r.Problem > 0 || len(r.Outcomes) != 1 {
				t.Errorf("problems %v, outcomes %v", r.Problems, r.Outcomes)
			}
		})
	}
	t.Run("flood", func(t *testing.T) {
		s.floodOnce(ctx, 0, s.rooms[0])
		if r := s.floodStats.result(); r.Problem > 0 || len(r.Outcomes) == 0 {
			t.Errorf("problems %v, outcomes %v", r.Problems, r.Outcomes)
		}
	})
}

func TestWireFrames(t *testing.T) {
	for _, tc := range []struct {
		f    wireFrame
		want []byte // the bytes before the mask key or payload
	}{
		{wireFrame{Fin: true, Op: opText, Payload: []byte("hi"), Length: -1}, []byte{0x81, 2}},
		{wireFrame{Fin: false, Op: opContinuation, Payload: []byte("hi"), Length: -1, Mask: true}, []byte{0x00, 0x82}},
		{wireFrame{Fin: true, Op: opText, Rsv: 0x40, Length: -1}, []byte{0xC1, 0}},
		{wireFrame{Fin: true, Op: opText, Payload: []byte("hello"), Length: -1, Long16: true}, []byte{0x81, 126, 0, 5}},
		{wireFrame{Fin: true, Op: opText, Length: 1 << 40}, []byte{0x81, 127, 0, 0, 1, 0, 0, 0, 0, 0}},
		{wireFrame{Fin: true, Op: opText, Length: 5, TopBit: true}, []byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 5}},
	} {
		got := appendWireFrame(nil, tc.f)
		if !bytes.HasPrefix(got, tc.want) {
			t.Errorf("%+v: % x, want prefix % x", tc.f, got, tc.want)
		}
	}
	// A masked frame unmasks to its payload.
	mf := appendWireFrame(nil, goodFrame(opText, []byte("payload")))
	if len(mf) != 2+4+7 || mf[0] != 0x80|opText || mf[1] != 0x80|7 {
		t.Errorf("masked frame % x", mf)
	} else {
		key, p := mf[2:6], bytes.Clone(mf[6:])
		for i := range p {
			p[i] ^= key[i&3]
		}
		if string(p) != "payload" {
			t.Errorf("masked frame unmasks to %q", p)
		}
	}
	// Server frames: a close with its code; a masked one is refused.
	close := append([]byte{0x88, 2}, closePayload(1008, "")...)
	f, err := readServerFrame(bufio.NewReader(bytes.NewReader(close)))
	if err != nil || f.Op != opClose || closeCode(f.Payload) != 1008 {
		t.Errorf("close frame read as %+v, %v", f, err)
	}
	if _, err := readServerFrame(bufio.NewReader(bytes.NewReader([]byte{0x81, 0x80, 1, 2, 3, 4}))); !errors.Is(err, errServerMasked) {
		t.Errorf("masked server frame: %v", err)
	}
	if closeCode(nil) != codeNoStatus || closeCode([]byte{3}) != 0 {
		t.Errorf("closeCode of short bodies")
	}
}

func TestChatText(t *testing.T) {
	for seq := range uint64(200) {
		text := chatText("abcd1234", 7, seq, 123456789)
		k, s, n, ok := parseChatText(text, "abcd1234")
		if !ok || k != 7 || s != seq || n != 123456789 || len(text) > 350 {
			t.Fatalf("%q parsed as %d %d %d %v", text, k, s, n, ok)
		}
		if text != chatText("abcd1234", 7, seq, 123456789) {
			t.Fatalf("chatText is not deterministic")
		}
	}
	if _, _, _, ok := parseChatText("soak other 1 2 3 x", "abcd1234"); ok {
		t.Errorf("another run's text accepted")
	}
}

func TestIDCheck(t *testing.T) {
	c := idCheck{next: 5}
	for _, tc := range []struct {
		id      uint64
		excuse  bool
		skipped uint64
		back    bool
	}{
		{5, false, 0, false},
		{6, false, 0, false},
		{9, false, 2, false},
		{9, false, 0, true},
		{20, true, 0, false},
		{21, false, 0, false},
	} {
		c.excused = c.excused || tc.excuse
		skipped, back := c.see(tc.id)
		if skipped != tc.skipped || back != tc.back {
			t.Errorf("id %d: skipped %d back %v, want %d %v", tc.id, skipped, back, tc.skipped, tc.back)
		}
	}
}

func TestParseServerSample(t *testing.T) {
	text := `# HELP ringchat_connections Open chat connections.
ringchat_connections 3
ringchat_closes_total{code="1000"} 7
ringchat_closes_total{code="other"} 1
ringchat_handshake_refusals_total{reason="version"} 2
go_goroutines 12
go_heap_objects_bytes 1.5e+06
process_resident_memory_bytes 9000000
`
	s, err := parseServerSample(strings.NewReader(text))
	if err != nil || s.Connections != 3 || s.Goroutines != 12 || s.HeapObjectsBytes != 1500000 || s.RSSBytes != 9000000 ||
		s.Closes["1000"] != 7 || s.Closes["other"] != 1 || s.Refusals["version"] != 2 {
		t.Errorf("%+v, %v", s, err)
	}
	if _, err := parseServerSample(strings.NewReader("go_goroutines 1\n")); err == nil {
		t.Errorf("a sample without the memory figures was accepted")
	}
}

func TestMarkdown(t *testing.T) {
	res := &Result{
		Started: time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC), ElapsedS: 150,
		Command: "bench -soak", ServerArgs: []string{"/x/bin/server", "-addr", childproc.AddrPlaceholder},
		Config: Settings{DurationS: 140, Clients: 2000, Rooms: 9, ChatRate: 0.5, StormEveryS: 15, MaxP99Ms: 250, GoroutineSlack: 5, HeapSlackBytes: 1 << 20, HeapPerGoroutine: 1 << 10},
		Behaviour: []BehaviourResult{
			{Name: "observers", Clients: 40, Attempts: 40, Connected: 40},
			{Name: "flooders", Clients: 40, Attempts: 400, Connected: 400, Outcomes: []loadtest.ErrorCount{{Error: "an error event for each line refused, then close 1008", Count: 399}},
				Problems: []loadtest.ErrorCount{{Error: "close 1000, want 1008", Count: 1}}, Problem: 1},
		},
		Observers: ObserverResult{Observers: 40, EventsChecked: 600000, Expected: 100000, Received: 100000, Latency: loadtest.Latency{Count: 100000, P50Ms: 1, P99Ms: 12, MaxMs: 30}},
		Server: ServerResult{
			Before:  ServerSample{Goroutines: 16, HeapObjectsBytes: 700 << 10, Closes: map[string]uint64{}},
			After:   ServerSample{Goroutines: 17, HeapObjectsBytes: 1700 << 10, Closes: map[string]uint64{"1002": 20000, "1000": 9000}, Refusals: map[string]uint64{"version": 40}},
			Settled: true, PeakGoroutines: 1600, HeapAllowance: 1<<20 + 1600<<10, ConnectionCycles: 29000, Scrapes: 140,
		},
		Failures: []string{"flooders: 1 problems: close 1000, want 1008 (1)"},
	}
	md := res.Markdown()
	for _, want := range []string{
		"| chat server | `server -addr {addr}` |",
		"**FAIL**: 1 checks failed",
		"| flooders | 40 | 400 / 400 | **1** |",
		"| 40 | 600,000 | 0 | 0 | 0 | 100,000 | 100,000 | 0 | 0 | 0 | 0 | 0 / 0 / 0 | 1.00ms | 12.0ms (≤ 250ms) | 30.0ms |",
		"| goroutines | 16 | 17 | ≤ before + 5 | 1,600 |",
		"| heap objects | 700.0 KiB | 1.7 MiB | ≤ before + 2.6 MiB (1.0 MiB + 1.0 KiB × peak goroutines + 0 B × 0 sessions kept) | - |",
		"1002: 20,000 · 1000: 9,000",
		"version: 40",
		"- flooders — an error event for each line refused, then close 1008: 399; **close 1000, want 1008: 1**",
		"**Failed checks:**",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}

	path := t.TempDir() + "/BENCHMARKS.md"
	doc := "# x\n\nprose\n\n<!-- bench:soak:begin -->\nold\n<!-- bench:soak:end -->\n\nmore prose\n"
	os.WriteFile(path, []byte(doc), 0o644)
	if err := WriteBenchmarks(path, res); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(got), "# x\n\nprose\n\n<!-- bench:soak:begin -->\n| | |") || strings.Contains(string(got), "old") ||
		!strings.HasSuffix(string(got), "<!-- bench:soak:end -->\n\nmore prose\n") {
		t.Errorf("rewritten:\n%s", got)
	}
	damaged := "<!-- bench:soak:begin -->\nold\n"
	os.WriteFile(path, []byte(damaged), 0o644)
	if err := WriteBenchmarks(path, res); !errors.Is(err, benchmd.ErrRegions) {
		t.Errorf("damaged markers: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != damaged {
		t.Errorf("a damaged file was changed")
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.URL = "ws://127.0.0.1:8080/ws"
	if err := good.Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	for name, edit := range map[string]func(c *Config){
		"remote":           func(c *Config) { c.URL = "ws://example.com/ws" },
		"remote metrics":   func(c *Config) { c.MetricsURL = "http://example.com/metrics" },
		"no duration":      func(c *Config) { c.Duration = 0 },
		"too few watchers": func(c *Config) { c.Observers = 2*c.SmallRooms - 1 },
		"negative":         func(c *Config) { c.Storm = -1 },
		"too fast":         func(c *Config) { c.ChatRate = c.ServerRate },
		"no bound":         func(c *Config) { c.MaxP99 = 0 },
		"no settle":        func(c *Config) { c.Settle = 0 },
	} {
		c := good
		edit(&c)
		if err := c.Validate(); !errors.Is(err, loadtest.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := Run(context.Background(), c); !errors.Is(err, loadtest.ErrInvalidConfig) {
			t.Errorf("Run with %s: %v", name, err)
		}
	}
}

// FuzzReadServerFrame checks that the hostile clients' frame reader neither
// panics nor returns more payload than its input held, and that it refuses
// masked frames, as a client must.
func FuzzReadServerFrame(f *testing.F) {
	f.Add(append([]byte{0x88, 2}, closePayload(1002, "")...))
	f.Add([]byte{0x81, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add(appendWireFrame(nil, goodFrame(opText, []byte("masked"))))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := readServerFrame(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		if len(fr.Payload) > len(b) {
			t.Errorf("payload of %d bytes from %d bytes of input", len(fr.Payload), len(b))
		}
		if len(b) > 1 && b[1]&0x80 != 0 {
			t.Errorf("a masked frame was accepted")
		}
	})
}
