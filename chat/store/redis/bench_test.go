package redis_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ringchat/chat/store"
	"ringchat/chat/store/redis"
	"ringchat/internal/redistest"
	"ringchat/internal/resp"
)

// countSink counts deliveries and records when each id arrived.
type countSink struct {
	n       atomic.Int64
	want    atomic.Int64
	reached chan struct{}

	mu sync.Mutex
	at []time.Time // by id, when recording
}

func newCountSink(record int) *countSink {
	return &countSink{reached: make(chan struct{}), at: make([]time.Time, record+2)}
}

func (s *countSink) Deliver(id uint64, _ []byte) {
	now := time.Now()
	s.mu.Lock()
	if id < uint64(len(s.at)) {
		s.at[id] = now
	}
	s.mu.Unlock()
	if n := s.n.Add(1); n == s.want.Load() {
		close(s.reached)
	}
}

// waitFor waits until n events have been delivered, for at most 30 s.
func (s *countSink) waitFor(b *testing.B, n int64) {
	s.want.Store(n)
	if s.n.Load() >= n {
		return
	}
	select {
	case <-s.reached:
	case <-time.After(30 * time.Second):
		b.Fatalf("%d of %d events delivered after 30 s", s.n.Load(), n)
	}
}

// benchEvent is a chat message whose JSON object is about 200 bytes, as
// the server's are.
func benchEvent() store.Event {
	tail := `,"room":"lobby","from":"alice","text":"` + strings.Repeat("x", 110) + `","time":"2026-12-03T12:00:00.000Z"}`
	return store.Event{Type: "message", Tail: []byte(tail), Time: time.Now().UnixMilli()}
}

// BenchmarkAppend measures appends to one room against a local
// redis-server, from one publisher and from several at once: events/s
// counts until the last has come back to the node's own sink through
// pub/sub. The floor beside it is one bare PUBLISH of the same body per
// event on the same client: what any Redis fan-out pays, without the id,
// the stream and the checks.
func BenchmarkAppend(b *testing.B) {
	b.Run("floor=PUBLISH", func(b *testing.B) {
		srv := redistest.Start(b)
		s := newStore(b, options(srv, freshPrefix()))
		e := benchEvent()
		body := e.AppendBody(nil, 1)
		ctx := ctxFor(b, time.Minute)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		resetStats(b, s)
		for b.Loop() {
			if _, err := s.Client().Do(ctx, "PUBLISH", "floor", body); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(redisMicros(b, s, "publish"), "redis-µs/event")
	})
	for _, publishers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			srv := redistest.Start(b)
			s := newStore(b, options(srv, freshPrefix()))
			sink := newCountSink(0)
			l := mustOpen(b, s, "lobby", sink)
			e := benchEvent()
			b.SetBytes(int64(e.BodySize(1)))
			b.ReportAllocs()
			var next atomic.Int64
			var wg sync.WaitGroup
			resetStats(b, s)
			b.ResetTimer()
			start := time.Now()
			for range publishers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := l.Append(e); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			sink.waitFor(b, int64(b.N))
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			b.ReportMetric(redisMicros(b, s, "evalsha"), "redis-µs/event")
		})
	}
}

// resetStats zeroes the server's command statistics.
func resetStats(b *testing.B, s *redis.Store) {
	if _, err := s.Client().Do(ctxFor(b, 5*time.Second), "CONFIG", "RESETSTAT"); err != nil {
		b.Fatal(err)
	}
}

// redisMicros returns the server's own time per call of a command since
// resetStats, in µs: Redis's CPU per event.
func redisMicros(b *testing.B, s *redis.Store, cmd string) float64 {
	info, err := resp.String(s.Client().Do(ctxFor(b, 5*time.Second), "INFO", "commandstats"))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":")
		if !ok {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(f, "usec_per_call="); ok {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				return x
			}
		}
	}
	b.Fatalf("no statistics for %s in %q", cmd, info)
	return 0
}

// BenchmarkCrossNode measures the latency from the call of Append on one
// node to the delivery on another node's sink (and, beside it, on the
// appending node's own), one publisher appending back to back.
func BenchmarkCrossNode(b *testing.B) {
	srv := redistest.Start(b)
	o := options(srv, freshPrefix())
	a, bb := newStore(b, o), newStore(b, o)
	own, other := newCountSink(b.N), newCountSink(b.N)
	la := mustOpen(b, a, "lobby", own)
	mustOpen(b, bb, "lobby", other)
	e := benchEvent()
	starts := make([]time.Time, b.N+2)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		id, err := la.Append(e)
		if err != nil {
			b.Fatal(err)
		}
		starts[id] = t0
	}
	own.waitFor(b, int64(b.N))
	other.waitFor(b, int64(b.N))
	b.StopTimer()
	for _, x := range []struct {
		name string
		sink *countSink
	}{{"own", own}, {"other", other}} {
		lat := make([]time.Duration, 0, b.N)
		x.sink.mu.Lock()
		for id := 1; id <= b.N; id++ {
			lat = append(lat, x.sink.at[id].Sub(starts[id]))
		}
		x.sink.mu.Unlock()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), x.name+"-p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), x.name+"-p99-µs")
	}
}

// BenchmarkReplay reads 10,000 events of about 200 bytes back from the
// stream in reads of 63 records, as a client resuming from far back does.
func BenchmarkReplay(b *testing.B) {
	const events = 10000
	srv := redistest.Start(b)
	s := newStore(b, options(srv, freshPrefix()))
	sink := newCountSink(0)
	l := mustOpen(b, s, "lobby", sink)
	e := benchEvent()
	for range events {
		if _, err := l.Append(e); err != nil {
			b.Fatal(err)
		}
	}
	sink.waitFor(b, events)
	b.SetBytes(int64(events * e.BodySize(5000)))
	b.ReportAllocs()
	dst := make([]store.Record, 0, 63)
	for b.Loop() {
		n := 0
		for from := uint64(1); ; {
			recs, err := l.Read(from, dst)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			n += len(recs)
			from = recs[len(recs)-1].ID + 1
		}
		if n != events {
			b.Fatalf("read %d events, want %d", n, events)
		}
	}
	b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
}
