package redis_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ringchat/chat/store"
	"ringchat/chat/store/redis"
	"ringchat/internal/leakcheck"
	"ringchat/internal/redistest"
	"ringchat/internal/resp"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }

var quiet = slog.New(slog.DiscardHandler)

// prefixes numbers the key prefixes of the tests' stores, so that stores
// on one server are independent unless a test wants them shared.
var prefixes atomic.Int64

func freshPrefix() string { return fmt.Sprintf("t%d:", prefixes.Add(1)) }

// options returns the options of a store on srv under prefix.
func options(srv *redistest.Server, prefix string) redis.Options {
	return redis.Options{
		Redis:  resp.Options{Addr: srv.Addr(), MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
		Prefix: prefix,
		Logger: quiet,
	}
}

// newStore returns a store of o, closed when the test ends.
func newStore(t testing.TB, o redis.Options) *redis.Store {
	t.Helper()
	s, err := redis.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client returns a plain client of srv, for the tests' own commands.
func client(t testing.TB, srv *redistest.Server) *resp.Client {
	t.Helper()
	c, err := resp.NewClient(resp.Options{Addr: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// orderSink checks what a log delivers: every id once, in order, from the
// one after the first it got on. It records each id's frame (nil: lost)
// and when it came.
type orderSink struct {
	mu     sync.Mutex
	first  uint64 // the id expected first; 0: whatever comes
	ids    []uint64
	frames map[uint64][]byte
	at     map[uint64]time.Time
	errs   []string
	wake   chan struct{}
}

func newOrderSink(first uint64) *orderSink {
	return &orderSink{first: first, frames: make(map[uint64][]byte), at: make(map[uint64]time.Time), wake: make(chan struct{})}
}

func (s *orderSink) Deliver(id uint64, frame []byte) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	want := s.first
	if n := len(s.ids); n > 0 {
		want = s.ids[n-1] + 1
	}
	if want != 0 && id != want {
		s.errs = append(s.errs, fmt.Sprintf("delivered %d where %d was due", id, want))
	}
	s.ids = append(s.ids, id)
	s.frames[id] = frame
	s.at[id] = now
	close(s.wake)
	s.wake = make(chan struct{})
}

// waitFor waits until id last has been delivered, failing t on a delivery
// out of order or after d.
func (s *orderSink) waitFor(t testing.TB, last uint64, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		s.mu.Lock()
		if len(s.errs) > 0 {
			errs := s.errs
			s.mu.Unlock()
			t.Fatalf("out of order: %v", errs)
		}
		n := len(s.ids)
		done := n > 0 && s.ids[n-1] >= last
		wake := s.wake
		s.mu.Unlock()
		if done {
			return
		}
		select {
		case <-wake:
		case <-deadline:
			s.mu.Lock()
			got := uint64(0)
			if len(s.ids) > 0 {
				got = s.ids[len(s.ids)-1]
			}
			s.mu.Unlock()
			t.Fatalf("id %d not delivered within %v; the newest delivered is %d", last, d, got)
		}
	}
}

// check fails t unless exactly the ids from..to were delivered, in order,
// and returns how many of them were lost (nil frames).
func (s *orderSink) check(t testing.TB, from, to uint64) (lost int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) > 0 {
		t.Fatalf("out of order: %v", s.errs)
	}
	if uint64(len(s.ids)) != to-from+1 || (len(s.ids) > 0 && (s.ids[0] != from || s.ids[len(s.ids)-1] != to)) {
		t.Fatalf("delivered %d ids (%v...), want %d..%d", len(s.ids), head(s.ids), from, to)
	}
	for _, id := range s.ids {
		if s.frames[id] == nil {
			lost++
		}
	}
	return lost
}

func head(ids []uint64) []uint64 {
	if len(ids) > 10 {
		return ids[:10]
	}
	return ids
}

// event returns a test event whose text names it.
func event(text string) store.Event {
	return store.Event{Type: "message", Tail: fmt.Appendf(nil, `,"room":"r","text":%q}`, text), Time: time.Now().UnixMilli()}
}

func wantBody(id uint64, text string) string {
	return fmt.Sprintf(`{"type":"message","id":%d,"room":"r","text":%q}`, id, text)
}

func mustOpen(t testing.TB, s *redis.Store, room string, sink store.Sink) store.Log {
	t.Helper()
	l, err := s.Open(room, sink)
	if err != nil {
		t.Fatalf("Open(%q): %v", room, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
