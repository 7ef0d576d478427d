// Package storetest holds the tests that every store.Store implementation
// passes: ids, epochs, delivery to the sink, reads, retention, concurrency,
// and — for stores that keep their history across restarts — what survives
// one. Each implementation's own tests call Run with a way to make a store.
package storetest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"ringchat/chat/store"
	"ringchat/wsproto"
)

// Maker makes the stores under test.
type Maker struct {
	// New returns a fresh, empty store with the given retention. The
	// test closes it.
	New func(t *testing.T, ret store.Retention) store.Store

	// Reopen, for stores that keep history across restarts, closes s and
	// returns a new store over the same history, as a restarted process
	// would open it. Nil for stores that do not.
	Reopen func(t *testing.T, s store.Store, ret store.Retention) store.Store
}

// Run runs every test against the stores m makes.
func Run(t *testing.T, m Maker) {
	t.Run("ids and delivery", func(t *testing.T) { testIDsAndDelivery(t, m) })
	t.Run("read", func(t *testing.T) { testRead(t, m) })
	t.Run("read byte limit", func(t *testing.T) { testReadByteLimit(t, m) })
	t.Run("retention by count", func(t *testing.T) { testRetentionCount(t, m) })
	t.Run("retention by age", func(t *testing.T) { testRetentionAge(t, m) })
	t.Run("rooms are independent", func(t *testing.T) { testRooms(t, m) })
	t.Run("reopen a room", func(t *testing.T) { testReopenRoom(t, m) })
	t.Run("open and close errors", func(t *testing.T) { testOpenClose(t, m) })
	t.Run("concurrent appends", func(t *testing.T) { testConcurrentAppends(t, m) })
	if m.Reopen != nil {
		t.Run("restart", func(t *testing.T) { testRestart(t, m) })
	}
}

// Sink collects what a log delivers, checking that no id comes twice.
type Sink struct {
	mu     sync.Mutex
	frames map[uint64][]byte
	dup    []uint64
	wake   chan struct{} // closed and replaced at every delivery
}

// NewSink returns an empty sink.
func NewSink() *Sink {
	return &Sink{frames: make(map[uint64][]byte), wake: make(chan struct{})}
}

// Deliver implements store.Sink.
func (s *Sink) Deliver(id uint64, frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.frames[id]; ok {
		s.dup = append(s.dup, id)
	}
	s.frames[id] = frame
	close(s.wake)
	s.wake = make(chan struct{})
}

// WaitFor waits until every id from first to last has been delivered,
// failing t after 10 seconds or on a duplicate delivery, and returns the
// frames by id (indexes below first unused).
func (s *Sink) WaitFor(t testing.TB, first, last uint64) [][]byte {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		if len(s.dup) > 0 {
			s.mu.Unlock()
			t.Fatalf("ids delivered twice: %v", s.dup)
		}
		missing := uint64(0)
		for id := first; id <= last; id++ {
			if _, ok := s.frames[id]; !ok {
				missing = id
				break
			}
		}
		if missing == 0 {
			out := make([][]byte, last+1)
			for id := first; id <= last; id++ {
				out[id] = s.frames[id]
			}
			s.mu.Unlock()
			return out
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("id %d was never delivered (waiting for %d..%d)", missing, first, last)
		}
	}
}

// Count returns how many ids were delivered.
func (s *Sink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.frames)
}

// textPayload returns the payload of f if f is exactly one final, unmasked
// text frame (RFC 6455 5.2), as a server sends.
func textPayload(f []byte) ([]byte, bool) {
	if len(f) < 2 || f[0] != 0x80|byte(wsproto.OpText) || f[1]&0x80 != 0 {
		return nil, false
	}
	n, rest := uint64(f[1]&0x7F), f[2:]
	switch n {
	case 126:
		if len(rest) < 2 {
			return nil, false
		}
		n, rest = uint64(binary.BigEndian.Uint16(rest)), rest[2:]
	case 127:
		if len(rest) < 8 {
			return nil, false
		}
		n, rest = binary.BigEndian.Uint64(rest), rest[8:]
	}
	return rest, uint64(len(rest)) == n
}

// event returns a test event whose text names it.
func event(text string, at time.Time) store.Event {
	tail := fmt.Appendf(nil, `,"room":"r","text":%q}`, text)
	return store.Event{Type: "message", Tail: tail, Time: at.UnixMilli()}
}

// wantBody returns the JSON of event(text) with id.
func wantBody(id uint64, text string) string {
	return fmt.Sprintf(`{"type":"message","id":%d,"room":"r","text":%q}`, id, text)
}

// openRoom is an open log and the sink it delivers to.
type openRoom struct {
	store.Log
	sink *Sink
}

// open opens room in s with a new sink, failing t on an error; the test
// closes it.
func open(t *testing.T, s store.Store, room string) openRoom {
	t.Helper()
	sink := NewSink()
	l, err := s.Open(room, sink)
	if err != nil {
		t.Fatalf("Open(%q): %v", room, err)
	}
	t.Cleanup(func() { l.Close() })
	return openRoom{l, sink}
}

func newStore(t *testing.T, m Maker, ret store.Retention) store.Store {
	t.Helper()
	s := m.New(t, ret)
	t.Cleanup(func() { s.Close() })
	return s
}

// appendN appends events e<from> to e<to>, checking their ids, and waits
// until the sink has them (a store that syncs every event delivers late).
func appendN(t *testing.T, r openRoom, from, to int, at time.Time) {
	t.Helper()
	for i := from; i <= to; i++ {
		id, err := r.Append(event(fmt.Sprint("e", i), at))
		if err != nil {
			t.Fatalf("Append e%d: %v", i, err)
		}
		if id != uint64(i) {
			t.Fatalf("Append e%d gave id %d", i, id)
		}
	}
	r.sink.WaitFor(t, uint64(from), uint64(to))
}

// readAll reads from `from` to the end in batches of batch records.
func readAll(t *testing.T, l store.Log, from uint64, batch int) []store.Record {
	t.Helper()
	var out []store.Record
	for {
		recs, err := l.Read(from, make([]store.Record, 0, batch))
		if err != nil {
			t.Fatalf("Read(%d): %v", from, err)
		}
		if len(recs) == 0 {
			return out
		}
		for i, r := range recs {
			if i > 0 && r.ID != recs[i-1].ID+1 {
				t.Fatalf("Read(%d): ids %d then %d", from, recs[i-1].ID, r.ID)
			}
		}
		out = append(out, recs...)
		from = recs[len(recs)-1].ID + 1
	}
}

func checkRecords(t *testing.T, recs []store.Record, firstID uint64, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("read %d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		id := firstID + uint64(i)
		if r.ID != id || string(r.Body) != wantBody(id, fmt.Sprint("e", id)) {
			t.Fatalf("record %d: id %d body %s; want id %d body %s", i, r.ID, r.Body, id, wantBody(id, fmt.Sprint("e", id)))
		}
	}
}

func testIDsAndDelivery(t *testing.T, m Maker) {
	s := newStore(t, m, store.Retention{})
	l := open(t, s, "lobby")
	if l.Last() != 0 || l.Oldest() != 1 {
		t.Fatalf("empty room: Last() = %d, Oldest() = %d; want 0, 1", l.Last(), l.Oldest())
	}
	if e := l.Epoch(); e == "" || len(e) > 64 {
		t.Fatalf("Epoch() = %q", e)
	}
	now := time.Now()
	appendN(t, l, 1, 5, now)
	frames := l.sink.WaitFor(t, 1, 5)
	for id := uint64(1); id <= 5; id++ {
		body, ok := textPayload(frames[id])
		if !ok {
			t.Fatalf("frame %d is not one whole unmasked text frame: %q", id, frames[id])
		}
		if string(body) != wantBody(id, fmt.Sprint("e", id)) {
			t.Fatalf("frame %d body %s", id, body)
		}
		if !json.Valid(body) {
			t.Fatalf("frame %d body is not JSON: %s", id, body)
		}
	}
	if l.Last() != 5 {
		t.Fatalf("Last() = %d after 5 appends", l.Last())
	}
	recs := readAll(t, l, 1, 100)
	checkRecords(t, recs, 1, 5)
	for _, r := range recs {
		if r.Time != now.UnixMilli() {
			t.Fatalf("record %d: time %d, want %d", r.ID, r.Time, now.UnixMilli())
		}
	}
}

func testRead(t *testing.T, m Maker) {
	s := newStore(t, m, store.Retention{})
	l := open(t, s, "lobby")
	appendN(t, l, 1, 20, time.Now())
	tests := []struct {
		name      string
		from      uint64
		batch     int
		wantFirst uint64
		wantN     int
	}{
		{"from the start", 1, 100, 1, 20},
		{"from zero", 0, 100, 1, 20},
		{"from the middle", 7, 100, 7, 14},
		{"the newest", 20, 100, 20, 1},
		{"past the newest", 21, 100, 0, 0},
		{"far past", 1 << 40, 100, 0, 0},
		{"batch limits", 3, 4, 3, 4},
		{"batch of one", 5, 1, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]store.Record, 0, tt.batch)
			recs, err := l.Read(tt.from, dst)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, recs, tt.wantFirst, tt.wantN)
			if len(recs) > 0 && &recs[0] != &dst[:1][0] {
				t.Fatal("Read did not fill the caller's dst")
			}
		})
	}
	t.Run("in batches", func(t *testing.T) {
		checkRecords(t, readAll(t, l, 1, 3), 1, 20)
	})
}

func testReadByteLimit(t *testing.T, m Maker) {
	s := newStore(t, m, store.Retention{})
	l := open(t, s, "lobby")
	big := strings.Repeat("x", 4000)
	for i := 1; i <= 40; i++ {
		if _, err := l.Append(event(big, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	l.sink.WaitFor(t, 1, 40)
	recs, err := l.Read(1, make([]store.Record, 0, 100))
	if err != nil {
		t.Fatal(err)
	}
	bytes := 0
	for _, r := range recs {
		bytes += len(r.Body)
	}
	if len(recs) == 0 || len(recs) == 40 || bytes > store.ReadBytesLimit+5000 {
		t.Fatalf("one read of 40 events of 4 KB gave %d records, %d bytes; want at least one and about %d bytes", len(recs), bytes, store.ReadBytesLimit)
	}
	if got := readAll(t, l, 1, 100); len(got) != 40 {
		t.Fatalf("reading on gave %d records in all, want 40", len(got))
	}
}

func testRetentionCount(t *testing.T, m Maker) {
	s := newStore(t, m, store.Retention{Events: 10})
	l := open(t, s, "lobby")
	appendN(t, l, 1, 25, time.Now())
	if l.Oldest() != 16 || l.Last() != 25 {
		t.Fatalf("Oldest() = %d, Last() = %d; want 16, 25", l.Oldest(), l.Last())
	}
	recs, err := l.Read(3, make([]store.Record, 0, 100))
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, recs, 16, 10)
}

func testRetentionAge(t *testing.T, m Maker) {
	s := newStore(t, m, store.Retention{Age: time.Hour})
	l := open(t, s, "lobby")
	appendN(t, l, 1, 3, time.Now().Add(-2*time.Hour))
	appendN(t, l, 4, 6, time.Now())
	if l.Oldest() != 4 {
		t.Fatalf("Oldest() = %d with events 1-3 two hours old, the limit an hour; want 4", l.Oldest())
	}
	checkRecords(t, readAll(t, l, 1, 100), 4, 3)

	old := open(t, s, "old")
	appendN(t, old, 1, 2, time.Now().Add(-2*time.Hour))
	if old.Oldest() != 3 || old.Last() != 2 {
		t.Fatalf("a room with only old events: Oldest() = %d, Last() = %d; want 3, 2", old.Oldest(), old.Last())
	}
	if recs := readAll(t, old, 1, 100); len(recs) != 0 {
		t.Fatalf("read %d events past the age", len(recs))
	}
}

func testRooms(t *testing.T, m Maker) {
	s := newStore(t, m, store.Retention{})
	a := open(t, s, "a")
	b := open(t, s, "b.2")
	appendN(t, a, 1, 3, time.Now())
	appendN(t, b, 1, 2, time.Now())
	if a.Last() != 3 || b.Last() != 2 {
		t.Fatalf("Last() = %d and %d; want 3 and 2", a.Last(), b.Last())
	}
	if a.Epoch() == b.Epoch() {
		t.Fatalf("two rooms share the epoch %q", a.Epoch())
	}
	checkRecords(t, readAll(t, b, 1, 100), 1, 2)
	// Room names are whatever chat.CleanRoom accepts: letters of any
	// script, digits, '-', '_', '.'.
	for _, name := range []string{".", "..", "ÿ", "日本語", strings.Repeat("ж", 32), "con", "a.b-c_d"} {
		l := open(t, s, name)
		appendN(t, l, 1, 1, time.Now())
		if l.Last() != 1 {
			t.Fatalf("room %q: Last() = %d", name, l.Last())
		}
	}
}

func testReopenRoom(t *testing.T, m Maker) {
	s := newStore(t, m, store.Retention{})
	l := open(t, s, "lobby")
	appendN(t, l, 1, 4, time.Now())
	epoch := l.Epoch()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := l.Append(event("late", time.Now())); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	// The room was left empty: its history stays.
	l = open(t, s, "lobby")
	if l.Epoch() != epoch || l.Last() != 4 || l.Oldest() != 1 {
		t.Fatalf("reopened: epoch %q, Last() %d, Oldest() %d; want %q, 4, 1", l.Epoch(), l.Last(), l.Oldest(), epoch)
	}
	appendN(t, l, 5, 6, time.Now())
	checkRecords(t, readAll(t, l, 1, 100), 1, 6)
	if l.sink.Count() != 2 {
		t.Fatalf("the reopened room's sink got %d events, want the 2 new ones", l.sink.Count())
	}
}

func testOpenClose(t *testing.T, m Maker) {
	s := m.New(t, store.Retention{})
	l, err := s.Open("lobby", NewSink())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open("lobby", NewSink()); !errors.Is(err, store.ErrOpen) {
		t.Fatalf("second Open: %v, want ErrOpen", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := l.Append(event("late", time.Now())); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Append after the store closed: %v, want ErrClosed", err)
	}
	if _, err := s.Open("other", NewSink()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Open after Close: %v, want ErrClosed", err)
	}
	l.Close() // closing a log of a closed store is harmless
}

func testConcurrentAppends(t *testing.T, m Maker) {
	const writers, each = 8, 500
	s := newStore(t, m, store.Retention{})
	l := open(t, s, "lobby")
	var wg sync.WaitGroup
	ids := make([][]uint64, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id, err := l.Append(event(fmt.Sprintf("w%d-%d", w, i), time.Now()))
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				ids[w] = append(ids[w], id)
			}
		})
	}
	wg.Wait()
	const total = writers * each
	frames := l.sink.WaitFor(t, 1, total)
	if l.Last() != total {
		t.Fatalf("Last() = %d after %d appends were delivered", l.Last(), total)
	}
	recs := readAll(t, l, 1, 64)
	if len(recs) != total {
		t.Fatalf("read %d records, want %d", len(recs), total)
	}
	for w := range writers {
		for i, id := range ids[w] {
			if i > 0 && id <= ids[w][i-1] {
				t.Fatalf("writer %d got id %d after %d", w, id, ids[w][i-1])
			}
			want := wantBody(id, fmt.Sprintf("w%d-%d", w, i))
			if got := string(recs[id-1].Body); got != want {
				t.Fatalf("record %d: %s, want %s", id, got, want)
			}
			if !bytes.HasSuffix(frames[id], []byte(want)) {
				t.Fatalf("frame %d: %q, want it to carry %s", id, frames[id], want)
			}
		}
	}
}

func testRestart(t *testing.T, m Maker) {
	ret := store.Retention{}
	s := m.New(t, ret)
	a := open(t, s, "lobby")
	b := open(t, s, "quiet")
	appendN(t, a, 1, 30, time.Now())
	appendN(t, b, 1, 1, time.Now())
	epochA, epochB := a.Epoch(), b.Epoch()
	b.Close() // one room closed before the restart, one still open

	s = m.Reopen(t, s, ret)
	t.Cleanup(func() { s.Close() })
	a = open(t, s, "lobby")
	b = open(t, s, "quiet")
	if a.Epoch() != epochA || a.Last() != 30 || b.Epoch() != epochB || b.Last() != 1 {
		t.Fatalf("after a restart: lobby %q/%d, quiet %q/%d; want %q/30, %q/1", a.Epoch(), a.Last(), b.Epoch(), b.Last(), epochA, epochB)
	}
	checkRecords(t, readAll(t, a, 1, 7), 1, 30)
	appendN(t, a, 31, 32, time.Now())
	checkRecords(t, readAll(t, a, 25, 100), 25, 8)
}
