package chat

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBroadcast compares the ring with the conventional hub (hub_bench_test.go), one
// publisher, each event delivered to every subscriber. design=ring reads the ring from a
// goroutine per subscriber that waits on Ready; design=buckets is how the server fans out
// (chat/writer.go): after a publish, one goroutine per bucket of 256 subscribers reads the
// ring for each of them and writes what is ready, with no goroutine per subscriber;
// design=hub is gorilla's chat example.
//
// The publisher sends burst events, then waits until every subscriber has consumed them, so no
// design drops or laps anyone (burst < 256 hub buffer < 1024 ring slots) and every run counts
// the same deliveries. burst=1 measures fan-out of single events (wake-up bound, the latency of
// a quiet room); burst=128 measures throughput of a busy room. Sockets are byte counters.
//
// Metrics: ns/op is the wall time per event until all subscribers have it; ns/delivery the same
// per subscriber; pub-ns/op the publisher's time inside publish calls, per event; allocs/op and
// B/op count every goroutine, per event.
//
// Compare with: go test -run '^$' -bench Broadcast -benchmem -count 5 ./chat/ | benchstat -col /design -
func BenchmarkBroadcast(b *testing.B) {
	designs := []struct {
		name  string
		start func(subs int, barrier *burstBarrier) (publish func(), stop func())
	}{
		{"ring", startRingBroadcast},
		{"buckets", startBucketBroadcast},
		{"hub", startHubBroadcast},
	}
	for _, burst := range []int{1, 128} {
		for _, subs := range []int{1, 100, 10_000} {
			for _, d := range designs {
				name := fmt.Sprintf("design=%s/subs=%d/burst=%d", d.name, subs, burst)
				b.Run(name, func(b *testing.B) { runBroadcast(b, subs, burst, d.start) })
			}
		}
	}
}

func runBroadcast(b *testing.B, subs, burst int, start func(int, *burstBarrier) (func(), func())) {
	barrier := newBurstBarrier()
	publish, stop := start(subs, barrier)
	defer stop()

	// sendBurst publishes n events and waits until every subscriber has consumed all sent so
	// far. It returns the time spent publishing.
	sent := 0
	sendBurst := func(n int) time.Duration {
		sent += n
		barrier.pending.Store(int64(subs))
		barrier.target.Store(uint64(sent))
		began := time.Now()
		for range n {
			publish()
		}
		publishing := time.Since(began)
		select {
		case <-barrier.done:
		case <-barrier.failed:
			b.Fatal("a subscriber lost events")
		}
		return publishing
	}
	sendBurst(1) // every subscriber goroutine has started and is waiting for more

	b.ReportAllocs()
	b.ResetTimer()
	var publishing time.Duration
	for done := 0; done < b.N; {
		n := min(burst, b.N-done)
		done += n
		publishing += sendBurst(n)
	}
	b.StopTimer()
	b.ReportMetric(float64(publishing.Nanoseconds())/float64(b.N), "pub-ns/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(subs), "ns/delivery")
}

// burstBarrier tells the publisher when every subscriber has consumed the events sent so far.
type burstBarrier struct {
	target   atomic.Uint64 // events each subscriber must have consumed
	pending  atomic.Int64  // subscribers that have not yet
	done     chan struct{} // signalled by the last of them
	failed   chan struct{} // closed when a subscriber was lapped or dropped
	failOnce sync.Once
}

func newBurstBarrier() *burstBarrier {
	return &burstBarrier{done: make(chan struct{}, 1), failed: make(chan struct{})}
}

// consumed is called by a subscriber with the number of events it has consumed so far. A
// subscriber cannot pass the target: the next events are published after the barrier.
func (bb *burstBarrier) consumed(count uint64) {
	if count == bb.target.Load() && bb.pending.Add(-1) == 0 {
		bb.done <- struct{}{}
	}
}

func (bb *burstBarrier) fail() { bb.failOnce.Do(func() { close(bb.failed) }) }

// startRingBroadcast starts subs writer goroutines reading one ring in batches of up to 64,
// each the loop a connection's writer runs. stop ends them and waits.
func startRingBroadcast(subs int, barrier *burstBarrier) (publish func(), stop func()) {
	ring, err := NewRing(DefaultRingCapacity, 0)
	if err != nil {
		panic(err)
	}
	quit := make(chan struct{})
	var writers sync.WaitGroup
	start := ring.Last() + 1
	for range subs {
		writers.Go(func() {
			var conn countingConn
			batch := make([][]byte, 0, 64)
			next, count := start, uint64(0)
			for {
				frames, newNext, missed := ring.Read(next, batch)
				next = newNext
				if missed > 0 {
					barrier.fail()
					return
				}
				if len(frames) == 0 {
					select {
					case <-ring.Ready(next):
					case <-quit:
						return
					}
					continue
				}
				conn.writev(frames)
				count += uint64(len(frames))
				barrier.consumed(count)
			}
		})
	}
	var seq uint64
	publish = func() { seq++; ring.Put(seq, encodeBenchEvent(seq)) }
	stop = func() {
		close(quit)
		writers.Wait()
	}
	return publish, stop
}

// startBucketBroadcast models the server's fan-out: subscribers are plain state (a cursor and
// a socket), split into buckets of bucketSize; a publish wakes each bucket's goroutine if it is
// not already making a pass, and a pass reads the ring for every subscriber of its bucket and
// writes what is ready — until no publish arrived during the pass. stop waits for the passes.
func startBucketBroadcast(subs int, barrier *burstBarrier) (publish func(), stop func()) {
	ring, err := NewRing(DefaultRingCapacity, 0)
	if err != nil {
		panic(err)
	}
	type subscriber struct {
		next, count uint64
		conn        countingConn
	}
	type benchBucket struct {
		pending atomic.Int64
		members []*subscriber
	}
	start := ring.Last() + 1
	var buckets []*benchBucket
	for i := range subs {
		if i%bucketSize == 0 {
			buckets = append(buckets, &benchBucket{})
		}
		bk := buckets[len(buckets)-1]
		bk.members = append(bk.members, &subscriber{next: start})
	}
	var passes sync.WaitGroup
	pass := func(bk *benchBucket) {
		defer passes.Done()
		batch := make([][]byte, 0, 64)
		for {
			n := bk.pending.Load()
			for _, s := range bk.members {
				for {
					frames, newNext, missed := ring.Read(s.next, batch)
					s.next = newNext
					if missed > 0 {
						barrier.fail()
						return
					}
					if len(frames) == 0 {
						break
					}
					s.conn.writev(frames)
					s.count += uint64(len(frames))
					barrier.consumed(s.count)
				}
			}
			if bk.pending.CompareAndSwap(n, 0) {
				return
			}
		}
	}
	var seq uint64
	publish = func() {
		seq++
		ring.Put(seq, encodeBenchEvent(seq))
		for _, bk := range buckets {
			if bk.pending.Add(1) == 1 {
				passes.Add(1)
				go pass(bk)
			}
		}
	}
	stop = passes.Wait
	return publish, stop
}

// countingConn stands in for a socket: it counts the bytes written.
type countingConn struct{ buffered, written int }

func (c *countingConn) write(p []byte) { c.buffered += len(p) }

func (c *countingConn) flush() { c.written, c.buffered = c.written+c.buffered, 0 }

func (c *countingConn) writev(frames [][]byte) {
	for _, f := range frames {
		c.written += len(f)
	}
}

// encodeBenchEvent builds a chat message frame of realistic size (about 170 bytes): a text
// frame header and the JSON event carrying id.
func encodeBenchEvent(id uint64) []byte {
	f := make([]byte, 0, 192)
	f = append(f, 0x81, 126, 0, 0) // FIN + text, 16-bit payload length set below
	f = append(f, `{"type":"message","id":`...)
	f = strconv.AppendUint(f, id, 10)
	f = append(f, `,"room":"lobby","from":"alice","text":"the quick brown fox jumps over the lazy dog, `+
		`and then it does it again","time":"2026-01-02T03:04:05.678Z"}`...)
	binary.BigEndian.PutUint16(f[2:4], uint16(len(f)-4))
	return f
}

// BenchmarkRingPut is the ring's own cost per event without readers: raise Last, store, and
// the check for waiters, with a frame encoded beforehand.
func BenchmarkRingPut(b *testing.B) {
	ring, _ := NewRing(DefaultRingCapacity, 0)
	frame := encodeBenchEvent(1)
	var id uint64
	b.ReportAllocs()
	for b.Loop() {
		id++
		ring.Put(id, frame)
	}
}

// BenchmarkRingPutParallel is BenchmarkRingPut with GOMAXPROCS publishers on one ring, numbered
// by one counter as a log numbers them, so that their puts race and arrive out of order.
func BenchmarkRingPutParallel(b *testing.B) {
	ring, _ := NewRing(DefaultRingCapacity, 0)
	frame := encodeBenchEvent(1)
	var seq atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ring.Put(seq.Add(1), frame)
		}
	})
}

// BenchmarkRingRead reads a full ring in batches of 64; ns/frame is per frame read.
func BenchmarkRingRead(b *testing.B) {
	ring, _ := NewRing(DefaultRingCapacity, 0)
	frame := encodeBenchEvent(1)
	for id := range uint64(DefaultRingCapacity) {
		ring.Put(id+1, frame)
	}
	batch := make([][]byte, 0, 64)
	next := uint64(1)
	b.ReportAllocs()
	for b.Loop() {
		frames, newNext, _ := ring.Read(next, batch)
		if len(frames) != cap(batch) {
			b.Fatalf("Read(%d) returned %d frames", next, len(frames))
		}
		next = newNext
		if next > DefaultRingCapacity {
			next = 1
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*cap(batch)), "ns/frame")
}
