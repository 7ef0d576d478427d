package chat

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"ringchat/chat/store"
	"ringchat/chat/store/memory"
)

// benchRoom returns a room with subs members whose writers never run: each
// member's pending count is held above 0, so reaching it costs one atomic
// add and nothing is written. The benchmarks below measure the fan-out's
// own cost; what writing to sockets costs is make bench's business.
func benchRoom(b *testing.B, subs int) *room {
	r, err := openRoom(memory.New(store.Retention{}), "bench", DefaultRingCapacity)
	if err != nil {
		b.Fatal(err)
	}
	for range subs {
		c := &conn{}
		c.pending.Store(1 << 40)
		r.addMember(c)
	}
	b.Cleanup(func() { waitForPasses(b, r) })
	return r
}

// waitForPasses waits until no bucket of r is in a pass.
func waitForPasses(b *testing.B, r *room) {
	deadline := time.Now().Add(10 * time.Second)
	for _, bk := range *r.buckets.Load() {
		for bk.pending.Load() != 0 {
			if time.Now().After(deadline) {
				b.Fatal("a bucket pass never ended")
			}
			runtime.Gosched()
		}
	}
}

// BenchmarkPublish measures what one chat message costs the goroutine that
// publishes it — encode, append to the room's in-memory log (which numbers
// and keeps it), put it in the ring, wake the room's buckets — in rooms of
// 1, 100 and 10,000 members. The cost should not grow with the room but for
// one atomic add (and at most one goroutine) per bucket of 256 members.
func BenchmarkPublish(b *testing.B) {
	e := &Event{Type: TypeMessage, Room: "bench", From: "alice", Text: strings.Repeat("x", 100), Time: FormatTime(time.Now())}
	for _, subs := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			r := benchRoom(b, subs)
			b.ReportAllocs()
			for b.Loop() {
				r.publish(e, time.Now())
			}
		})
	}
}

// BenchmarkBucketPass measures the fan-out passes after one publish: every
// bucket of a 10,000-member room reaching each of its members, reported per
// member. A real pass then writes to each member's socket; this is the
// overhead around those writes.
func BenchmarkBucketPass(b *testing.B) {
	const subs = 10000
	r := benchRoom(b, subs)
	buckets := *r.buckets.Load()
	b.ReportAllocs()
	for b.Loop() {
		for _, bk := range buckets {
			bk.pending.Store(1)
			bk.pass()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/subs, "ns/member")
}
