package chat

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"ringchat/chat/store"
	"ringchat/chat/store/file"
	"ringchat/chat/store/memory"
)

// benchRoom returns a room with subs members whose writers never run: each
// member's pending count is held above 0, so reaching it costs one atomic
// add and nothing is written. The benchmarks below measure the fan-out's
// own cost; what writing to sockets costs is make bench's business.
func benchRoom(b *testing.B, subs int) *room {
	return benchRoomIn(b, memory.New(store.Retention{}), subs)
}

// benchRoomIn is benchRoom with the room's history in st.
func benchRoomIn(b *testing.B, st store.Store, subs int) *room {
	r, err := openRoom(st, "bench", DefaultRingCapacity)
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
// publishes it — encode, append to the room's log (which numbers and keeps
// it), put it in the ring, wake the room's buckets — in rooms of 1, 100 and
// 10,000 members, with the history in memory and on disk (the server's
// default: the file store with -fsync everysec, whose writer goroutine
// writes meanwhile). The cost should not grow with the room but for one
// atomic add (and at most one goroutine) per bucket of 256 members, and the
// disk should cost the publisher only a queued record.
func BenchmarkPublish(b *testing.B) {
	e := &Event{Type: TypeMessage, Room: "bench", From: "alice", Text: strings.Repeat("x", 100), Time: FormatTime(time.Now())}
	for _, kind := range []string{"memory", "file"} {
		for _, subs := range []int{1, 100, 10000} {
			b.Run(fmt.Sprintf("store=%s/subs=%d", kind, subs), func(b *testing.B) {
				var st store.Store = memory.New(store.Retention{})
				if kind == "file" {
					fs, err := file.Open(file.Options{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { fs.Close() })
					st = fs
				}
				r := benchRoomIn(b, st, subs)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := r.publish(e, time.Now()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
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
