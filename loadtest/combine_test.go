package loadtest

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestParseList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a,b", []string{"a", "b"}},
		{" a , b ,", []string{"a", "b"}},
		{",,", nil},
		{"ws://127.0.0.1:1/ws,ws://127.0.0.1:2/ws", []string{"ws://127.0.0.1:1/ws", "ws://127.0.0.1:2/ws"}},
	} {
		if got := ParseList(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("ParseList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHistogramSnapshot(t *testing.T) {
	var a, b, both Histogram
	for i := range 1000 {
		d := time.Duration(i*i) * time.Microsecond
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		both.Record(d)
	}
	var merged Histogram
	for _, h := range []*Histogram{&a, &b, new(Histogram)} {
		if err := merged.MergeSnapshot(h.Snapshot()); err != nil {
			t.Fatal(err)
		}
	}
	if merged.Count() != both.Count() || merged.Min() != both.Min() || merged.Max() != both.Max() || merged.Mean() != both.Mean() {
		t.Fatalf("merged %d samples, min %v max %v mean %v; want %d, %v, %v, %v",
			merged.Count(), merged.Min(), merged.Max(), merged.Mean(), both.Count(), both.Min(), both.Max(), both.Mean())
	}
	for _, p := range []float64{50, 90, 99, 99.9} {
		if merged.Percentile(p) != both.Percentile(p) {
			t.Errorf("p%g: merged %v, one histogram %v", p, merged.Percentile(p), both.Percentile(p))
		}
	}
	bad := a.Snapshot()
	bad.Layout = "other"
	if err := merged.MergeSnapshot(bad); err == nil {
		t.Error("a snapshot of another layout merged")
	}
	bad = a.Snapshot()
	bad.Buckets = append(bad.Buckets, [2]uint64{histBuckets, 1})
	if err := merged.MergeSnapshot(bad); err == nil {
		t.Error("a snapshot with a bucket out of range merged")
	}
	if merged.Count() != both.Count() {
		t.Error("a failed merge changed the histogram")
	}
}

// part makes the result of one part of a two-node run of all clients in
// one room: clients first to first+n-1, of which delivered got their
// deliveries of sent messages, at the given latencies.
func part(run string, first, n, all int, sent uint64, delivered uint64, lat time.Duration) Result {
	var h, cross Histogram
	for range delivered {
		h.Record(lat)
		cross.Record(lat)
	}
	var none Histogram
	r := Result{
		RunID:       run,
		Config:      ResultConfig{Clients: all, Nodes: 2, Rooms: 1, Senders: 1},
		Connections: ConnectionStats{Target: n, Connected: n},
		Messages:    MessageStats{Sent: sent, Delivered: delivered, SendS: 1},
		Generator:   GeneratorStats{Cores: 2, MachineCPUs: 2, CPUS: 0.5},
		Part: &PartResult{
			FirstClient: first, Clients: n, AllClients: all,
			RoomMembers: []int{n}, RoomAccepted: []uint64{sent}, NodeConnected: []int{n / 2, n - n/2},
			Latency: h.Snapshot(), CrossNode: cross.Snapshot(), SameNode: none.Snapshot(),
			ConnectTime: none.Snapshot(), SendLag: none.Snapshot(),
		},
	}
	return r
}

// wired gives a part's raw clients n bytes read per delivery.
func wired(r Result, n float64) Result {
	r.Messages.WireBytesPerDelivery = n
	return r
}

func TestCombine(t *testing.T) {
	withServer := func(r Result) Result {
		r.Server = &ServerStats{CPUS: 2, RSSBeforeBytes: 1000, RSSConnectedBytes: 41000}
		r.Nodes = []ServerStats{{CPUS: 1, RSSConnectedBytes: 20000}, {CPUS: 1, RSSConnectedBytes: 21000}}
		r.Redis = &RedisStats{CPUS: 0.01}
		return r
	}
	for _, tc := range []struct {
		name      string
		parts     []Result
		err       bool
		expected  uint64
		delivered uint64
		lost      uint64
	}{
		{"none", nil, true, 0, 0, 0},
		{"not a part", []Result{{RunID: "r"}}, true, 0, 0, 0},
		{"other runs", []Result{part("r", 0, 10, 20, 5, 50, time.Millisecond), part("s", 10, 10, 20, 0, 50, time.Millisecond)}, true, 0, 0, 0},
		{"overlapping", []Result{part("r", 0, 10, 20, 5, 50, time.Millisecond), part("r", 5, 10, 20, 0, 50, time.Millisecond)}, true, 0, 0, 0},
		{"other totals", []Result{part("r", 0, 10, 20, 5, 50, time.Millisecond), part("r", 10, 10, 30, 0, 50, time.Millisecond)}, true, 0, 0, 0},
		// The sender's part sent 5 messages; every one of 20 members
		// should have each.
		{"two halves", []Result{withServer(wired(part("r", 0, 10, 20, 5, 50, time.Millisecond), 100)), wired(part("r", 10, 10, 20, 0, 50, 3*time.Millisecond), 200)}, false, 100, 100, 0},
		{"loss in one part", []Result{part("r", 10, 10, 20, 0, 45, time.Millisecond), withServer(part("r", 0, 10, 20, 5, 50, time.Millisecond))}, false, 100, 95, 5},
		{"one part alone", []Result{part("r", 0, 20, 20, 5, 100, time.Millisecond)}, false, 100, 100, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Combine(tc.parts)
			if tc.err {
				if !errors.Is(err, ErrCombine) {
					t.Fatalf("error %v, want ErrCombine", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := res.Messages
			if m.Expected != tc.expected || m.Delivered != tc.delivered || m.Lost != tc.lost {
				t.Errorf("expected %d, delivered %d, lost %d; want %d, %d, %d", m.Expected, m.Delivered, m.Lost, tc.expected, tc.delivered, tc.lost)
			}
			if res.Latency.Count != tc.delivered || res.CrossNode == nil || res.CrossNode.Count != tc.delivered || res.SameNode.Count != 0 {
				t.Errorf("latency %d samples, cross-node %+v, want %d", res.Latency.Count, res.CrossNode, tc.delivered)
			}
			if res.Connections.Connected != 20 || res.Parts != len(tc.parts) || res.Part != nil {
				t.Errorf("connected %d, parts %d, part %v", res.Connections.Connected, res.Parts, res.Part)
			}
			if tc.lost > 0 && !slices.ContainsFunc(res.Warnings, func(w string) bool { return len(w) > 4 && w[:4] == "LOSS" }) {
				t.Errorf("no loss warning: %q", res.Warnings)
			}
			if tc.name == "two halves" {
				// 50 deliveries of 100 bytes and 50 of 200 on the wire.
				if got := res.Messages.WireBytesPerDelivery; got != 150 {
					t.Errorf("wire bytes per delivery %v, want 150", got)
				}
				if res.Latency.P50Ms > 1.1 || res.Latency.MaxMs < 2.9 {
					t.Errorf("latency %+v: want both parts' samples", res.Latency)
				}
				// The server's CPU over every delivery of the run, the
				// memory over every connection; Redis's per message.
				if s := res.Server; s == nil || s.CPUPerDeliveryUs != 2e6/100 || s.RSSPerConnBytes != 2000 {
					t.Errorf("server %+v", res.Server)
				}
				if len(res.Nodes) != 2 || res.Nodes[0].CPUPerDeliveryUs != 1e6/100 || res.Nodes[1].RSSPerConnBytes != 21000/10 {
					t.Errorf("nodes %+v", res.Nodes)
				}
				if rs := res.Redis; rs == nil || rs.Messages != 5 || rs.CPUPerMessageUs != 0.01*1e6/5 {
					t.Errorf("redis %+v", res.Redis)
				}
				if g := res.Generator; g.Cores != 2 || g.CPUS != 1 || g.CPUPerDeliveryUs != 1e6/100 {
					t.Errorf("generator %+v", g)
				}
			}
		})
	}
}

func TestPlanned(t *testing.T) {
	// The parts must agree with the senders' schedule: planned counts the
	// messages send makes.
	for _, tc := range []struct {
		senders int
		rate    float64
		dur     time.Duration
		want    []uint64
	}{
		{1, 10, time.Second, []uint64{10}},
		{1, 3, time.Second, []uint64{3}},
		{2, 5, time.Second, []uint64{3, 2}},
		{3, 1, 2 * time.Second, []uint64{1, 1, 0}},
	} {
		r := &runner{cfg: Config{Senders: tc.senders, Rate: tc.rate, Duration: tc.dur, Clients: 1, AllClients: 10}}
		for i, want := range tc.want {
			if got := r.planned(i); got != want {
				t.Errorf("%d senders at %g/s for %v: sender %d plans %d, want %d", tc.senders, tc.rate, tc.dur, i, got, want)
			}
			first, interval := r.schedule(0, i)
			var n uint64
			for first+int64(float64(n)*interval) < int64(tc.dur) {
				n++
			}
			if n != want {
				t.Errorf("schedule of sender %d makes %d, planned %d", i, n, want)
			}
		}
	}
}
