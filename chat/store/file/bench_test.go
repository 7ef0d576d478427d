package file_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ringchat/chat/store"
	"ringchat/chat/store/file"
)

// nullSink takes deliveries and counts them; waitFor waits for the count.
type nullSink struct {
	n       atomic.Int64
	want    atomic.Int64
	reached chan struct{}
}

func (s *nullSink) Deliver(uint64, []byte) {
	if n := s.n.Add(1); n == s.want.Load() {
		close(s.reached)
	}
}

func (s *nullSink) waitFor(n int64) {
	s.reached = make(chan struct{})
	s.want.Store(n)
	if s.n.Load() >= n {
		return
	}
	<-s.reached
}

// benchEvent is a chat message whose JSON object is about 200 bytes, as
// the server's are.
func benchEvent() store.Event {
	tail := `,"room":"lobby","from":"alice","text":"` + strings.Repeat("x", 110) + `","time":"2026-12-03T12:00:00.000Z"}`
	return store.Event{Type: "message", Tail: []byte(tail), Time: time.Now().UnixMilli()}
}

// appendWaiting appends e to l and, when the store refuses it for a
// backlog — the benchmark's publisher outruns the disk, as none in a real
// room can for long — waits for the store to write what it holds and tries
// once more: the throughput measured is then what the disk sustains.
func appendWaiting(s *file.Store, l store.Log, e store.Event) error {
	_, err := l.Append(e)
	if errors.Is(err, store.ErrUnavailable) {
		s.Flush()
		_, err = l.Append(e)
	}
	return err
}

// BenchmarkAppend measures what an append costs the publisher, and the
// throughput of group commit: b.N events appended to one room (or spread
// over rooms by parallel publishers), then everything written and synced.
// events/s counts until the last is on disk as the policy says.
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []file.SyncPolicy{file.SyncEverySec, file.SyncAlways} {
		b.Run("fsync="+sync.String(), func(b *testing.B) {
			s, err := file.Open(file.Options{Dir: b.TempDir(), Sync: sync, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			sink := &nullSink{}
			l, err := s.Open("lobby", sink)
			if err != nil {
				b.Fatal(err)
			}
			e := benchEvent()
			b.SetBytes(int64(e.BodySize(1)))
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				if err := appendWaiting(s, l, e); err != nil {
					b.Fatal(err)
				}
			}
			s.Flush()
			sink.waitFor(int64(b.N)) // SyncAlways delivers after the sync
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
	b.Run("fsync=everysec/rooms=16/parallel", func(b *testing.B) {
		s, err := file.Open(file.Options{Dir: b.TempDir(), Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		var room atomic.Int64
		e := benchEvent()
		b.SetBytes(int64(e.BodySize(1)))
		b.ReportAllocs()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			l, err := s.Open(fmt.Sprintf("room%d", room.Add(1)), &nullSink{})
			if err != nil {
				b.Error(err)
				return
			}
			for pb.Next() {
				if err := appendWaiting(s, l, e); err != nil {
					b.Error(err)
					return
				}
			}
		})
		s.Flush()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})
}

// BenchmarkReplay measures reading a room's history back from disk, as a
// client resuming from far back does: 10,000 events of about 200 bytes, in
// reads of 63 records (what a writer's pass asks for), after a restart, so
// the segments' indexes are built on the way. events/s is per event read.
func BenchmarkReplay(b *testing.B) {
	const events = 10000
	dir := b.TempDir()
	s, err := file.Open(file.Options{Dir: dir, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	l, err := s.Open("lobby", &nullSink{})
	if err != nil {
		b.Fatal(err)
	}
	e := benchEvent()
	for range events {
		if _, err := l.Append(e); err != nil {
			b.Fatal(err)
		}
	}
	l.Close()
	s.Close()
	b.SetBytes(int64(events * e.BodySize(5000)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := file.Open(file.Options{Dir: dir, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		l, err := s.Open("lobby", &nullSink{})
		if err != nil {
			b.Fatal(err)
		}
		dst := make([]store.Record, 0, 63)
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
		l.Close()
		s.Close()
	}
	b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
}
