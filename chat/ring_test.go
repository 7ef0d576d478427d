package chat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testFrame is a checkable frame: it names its id first.
func testFrame(id uint64, tag string) []byte {
	return fmt.Appendf(nil, "id=%d %s", id, tag)
}

// frameID returns the id that testFrame wrote into f, or 0 if f is not such a frame.
func frameID(f []byte) uint64 {
	rest, ok := bytes.CutPrefix(f, []byte("id="))
	if !ok {
		return 0
	}
	digits, _, _ := bytes.Cut(rest, []byte(" "))
	id, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// testRing is a ring with a stand-in for its room's log: a counter that
// numbers events before they are put, as a log does, so that an id can be
// taken (claimed) and put later, or by publishers racing each other.
type testRing struct {
	*Ring
	claimed atomic.Uint64 // the log's Last(): the newest id handed out
}

func newTestRing(t testing.TB, capacity int) *testRing {
	t.Helper()
	r, err := NewRing(capacity, 0)
	if err != nil {
		t.Fatalf("NewRing(%d): %v", capacity, err)
	}
	return &testRing{Ring: r}
}

// publish numbers an event, encodes it and puts it, as a log's Append
// and its sink do.
func (r *testRing) publish(encode func(id uint64) []byte) uint64 {
	id := r.claimed.Add(1)
	r.Put(id, encode(id))
	return id
}

func publishN(r *testRing, n int) {
	for range n {
		r.publish(func(id uint64) []byte { return testFrame(id, "") })
	}
}

// frameIDs returns the ids written into frames, failing on any frame that testFrame did not make.
func frameIDs(t *testing.T, frames [][]byte) []uint64 {
	t.Helper()
	out := make([]uint64, 0, len(frames))
	for _, f := range frames {
		id := frameID(f)
		if id == 0 {
			t.Fatalf("frame %q carries no id", f)
		}
		out = append(out, id)
	}
	return out
}

func testTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewRingCapacity(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		wantErr  bool
	}{
		{"negative", -4, true},
		{"zero", 0, true},
		{"one", 1, true},
		{"three", 3, true},
		{"not a power of two", 1000, true},
		{"above maximum", MaxRingCapacity * 2, true},
		{"two", 2, false},
		{"default", DefaultRingCapacity, false},
		{"large", 1 << 16, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRing(tt.capacity, 0)
			if tt.wantErr {
				if !errors.Is(err, ErrRingCapacity) || r != nil {
					t.Fatalf("NewRing(%d) = %v, %v; want nil, ErrRingCapacity", tt.capacity, r, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewRing(%d): %v", tt.capacity, err)
			}
			if r.Cap() != tt.capacity || r.Last() != 0 {
				t.Fatalf("Cap() = %d, Last() = %d; want %d, 0", r.Cap(), r.Last(), tt.capacity)
			}
		})
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name       string
		published  int // events published into a ring of capacity 4
		next       uint64
		batch      int // cap(dst)
		wantIDs    []uint64
		wantNext   uint64
		wantMissed uint64
	}{
		{"empty ring", 0, 1, 4, nil, 1, 0},
		{"next zero reads from one", 2, 0, 4, []uint64{1, 2}, 3, 0},
		{"everything in one batch", 3, 1, 8, []uint64{1, 2, 3}, 4, 0},
		{"batch size limits", 4, 1, 2, []uint64{1, 2}, 3, 0},
		{"from the middle", 4, 3, 4, []uint64{3, 4}, 5, 0},
		{"caught up", 4, 5, 4, nil, 5, 0},
		{"position not yet claimed", 3, 9, 4, nil, 9, 0},
		{"zero-capacity dst", 3, 1, 0, nil, 1, 0},
		{"oldest retained is not missed", 10, 7, 4, []uint64{7, 8, 9, 10}, 11, 0},
		{"lapped by one", 10, 6, 4, []uint64{7, 8, 9, 10}, 11, 1},
		{"lapped from the start", 10, 1, 4, []uint64{7, 8, 9, 10}, 11, 6},
		{"lapped by many laps", 100, 3, 4, []uint64{97, 98, 99, 100}, 101, 94},
		{"lapped with a small batch", 10, 2, 2, []uint64{7, 8}, 9, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRing(t, 4)
			publishN(r, tt.published)
			dst := make([][]byte, 0, tt.batch)
			frames, next, missed := r.Read(tt.next, dst)
			if got := frameIDs(t, frames); !slices.Equal(got, tt.wantIDs) || next != tt.wantNext || missed != tt.wantMissed {
				t.Fatalf("Read(%d) = ids %v, next %d, missed %d; want %v, %d, %d",
					tt.next, got, next, missed, tt.wantIDs, tt.wantNext, tt.wantMissed)
			}
			if len(frames) > 0 && &frames[:1][0] != &dst[:1][0] {
				t.Fatal("Read did not fill the caller's dst")
			}
		})
	}
}

// TestReadDoesNotAllocate guards the writer's hot path.
func TestReadDoesNotAllocate(t *testing.T) {
	r := newTestRing(t, 8)
	publishN(r, 20)
	dst := make([][]byte, 0, 4)
	allocs := testing.AllocsPerRun(100, func() {
		for next := uint64(1); next <= 20; {
			_, next, _ = r.Read(next, dst)
		}
	})
	if allocs != 0 {
		t.Fatalf("Read allocates %v times per run", allocs)
	}
}

// TestReadLapInsideBatch: a read that meets an overwritten slot after it collected frames
// returns those frames and reports the loss on the next call, keeping frames[i] = next+missed+i.
func TestReadLapInsideBatch(t *testing.T) {
	r := newTestRing(t, 4)
	for _, id := range []uint64{1, 2, 6} { // ids 1..6 handed out; 6 overwrites 2 in slot 2
		r.Put(id, testFrame(id, ""))
	}
	dst := make([][]byte, 0, 4)
	steps := []struct {
		next       uint64
		wantIDs    []uint64
		wantNext   uint64
		wantMissed uint64
	}{
		{1, []uint64{1}, 2, 0},
		{2, nil, 3, 1}, // oldest retained = Last()-Cap()+1 = 3, not stored yet
	}
	for _, s := range steps {
		frames, next, missed := r.Read(s.next, dst)
		if got := frameIDs(t, frames); !slices.Equal(got, s.wantIDs) || next != s.wantNext || missed != s.wantMissed {
			t.Fatalf("Read(%d) = ids %v, next %d, missed %d; want %v, %d, %d",
				s.next, got, next, missed, s.wantIDs, s.wantNext, s.wantMissed)
		}
	}
	for _, id := range []uint64{3, 4, 5} {
		r.Put(id, testFrame(id, ""))
	}
	frames, next, missed := r.Read(3, dst)
	if got := frameIDs(t, frames); !slices.Equal(got, []uint64{3, 4, 5, 6}) || next != 7 || missed != 0 {
		t.Fatalf("Read(3) = ids %v, next %d, missed %d; want [3 4 5 6], 7, 0", got, next, missed)
	}
}

// TestStalledPublisher simulates a publisher that claimed an id and stored it late: within the
// lap readers wait for it and then get it in order; after a lap it must not overwrite newer data.
func TestStalledPublisher(t *testing.T) {
	t.Run("within a lap readers wait, then read in order", func(t *testing.T) {
		r := newTestRing(t, 4)
		stalled := r.claimed.Add(1)
		publishN(r, 2) // ids 2 and 3
		dst := make([][]byte, 0, 4)
		if frames, next, missed := r.Read(1, dst); len(frames) != 0 || next != 1 || missed != 0 {
			t.Fatalf("Read(1) before id 1 is stored = %d frames, next %d, missed %d", len(frames), next, missed)
		}
		ready := r.Ready(1)
		select {
		case <-ready:
			t.Fatal("Ready(1) closed before id 1 was stored")
		default:
		}
		if !r.store(&entry{id: stalled, frame: testFrame(stalled, "late")}) {
			t.Fatal("late store within the lap was refused")
		}
		r.wakeWaiters()
		select {
		case <-ready:
		default:
			t.Fatal("Ready(1) still open after id 1 was stored")
		}
		frames, next, missed := r.Read(1, dst)
		if got := frameIDs(t, frames); !slices.Equal(got, []uint64{1, 2, 3}) || next != 4 || missed != 0 {
			t.Fatalf("Read(1) = ids %v, next %d, missed %d; want [1 2 3], 4, 0", got, next, missed)
		}
	})
	t.Run("after a lap the late store is dropped", func(t *testing.T) {
		r := newTestRing(t, 4)
		stalled := r.claimed.Add(1)
		publishN(r, 4) // ids 2..5; 5 lands in id 1's slot
		if r.store(&entry{id: stalled, frame: testFrame(stalled, "late")}) {
			t.Fatal("a store one lap late replaced newer data")
		}
		dst := make([][]byte, 0, 8)
		frames, next, missed := r.Read(2, dst)
		if got := frameIDs(t, frames); !slices.Equal(got, []uint64{2, 3, 4, 5}) || next != 6 || missed != 0 {
			t.Fatalf("Read(2) = ids %v, next %d, missed %d; want [2 3 4 5], 6, 0", got, next, missed)
		}
		frames, next, missed = r.Read(1, dst)
		if got := frameIDs(t, frames); !slices.Equal(got, []uint64{2, 3, 4, 5}) || next != 6 || missed != 1 {
			t.Fatalf("Read(1) = ids %v, next %d, missed %d; want [2 3 4 5], 6, 1", got, next, missed)
		}
	})
}

// TestPutLost: an event put as lost (a nil frame) wakes the readers waiting for it, who count
// it as missed and read on.
func TestPutLost(t *testing.T) {
	r := newTestRing(t, 4)
	ready := r.Ready(1)
	r.Put(r.claimed.Add(1), nil)
	select {
	case <-ready:
	default:
		t.Fatal("readers waiting for the lost id were not woken")
	}
	publishN(r, 1)
	frames, next, missed := r.Read(1, make([][]byte, 0, 4))
	if got := frameIDs(t, frames); !slices.Equal(got, []uint64{2}) || next != 3 || missed != 1 {
		t.Fatalf("Read(1) = ids %v, next %d, missed %d; want [2], 3, 1", got, next, missed)
	}
}

// TestRingAfter: a ring opened on a room with history holds only later events; a reader
// that wants an older one is told at once that it missed it (and reads it from the log).
func TestRingAfter(t *testing.T) {
	r, err := NewRing(4, 10)
	if err != nil {
		t.Fatal(err)
	}
	if r.Last() != 10 || r.Oldest() != 11 {
		t.Fatalf("Last() = %d, Oldest() = %d; want 10, 11", r.Last(), r.Oldest())
	}
	select {
	case <-r.Ready(7):
	default:
		t.Fatal("Ready(7) open for an id before the ring")
	}
	dst := make([][]byte, 0, 8)
	if frames, next, missed := r.Read(11, dst); len(frames) != 0 || next != 11 || missed != 0 {
		t.Fatalf("Read(11) on an empty ring = %d frames, next %d, missed %d; want 0, 11, 0", len(frames), next, missed)
	}
	r.Put(11, testFrame(11, ""))
	r.Put(12, testFrame(12, ""))
	frames, next, missed := r.Read(7, dst)
	if got := frameIDs(t, frames); !slices.Equal(got, []uint64{11, 12}) || next != 13 || missed != 4 {
		t.Fatalf("Read(7) = ids %v, next %d, missed %d; want [11 12], 13, 4", got, next, missed)
	}
	for id := uint64(13); id <= 16; id++ {
		r.Put(id, testFrame(id, ""))
	}
	if r.Oldest() != 13 {
		t.Fatalf("Oldest() = %d after a lap; want 13", r.Oldest())
	}
}

// TestJoinFromNow: a reader starting at Last()+1 does not wait for an event claimed before it
// joined, and gets the events claimed after, while a reader that was already there waits for
// the claimed event and gets everything in order.
func TestJoinFromNow(t *testing.T) {
	r := newTestRing(t, 8)
	inFlight := r.claimed.Add(1)
	joined := r.claimed.Load() + 1
	if joined != 2 {
		t.Fatalf("join point %d with id 1 claimed; want 2", joined)
	}
	publishN(r, 1)
	dst := make([][]byte, 0, 8)
	if frames, next, _ := r.Read(joined, dst); !slices.Equal(frameIDs(t, frames), []uint64{2}) || next != 3 {
		t.Fatalf("joined reader got %v, next %d; want [2], 3", frameIDs(t, frames), next)
	}
	if frames, _, _ := r.Read(1, dst); len(frames) != 0 {
		t.Fatalf("earlier reader got %v before id 1 was stored", frameIDs(t, frames))
	}
	r.store(&entry{id: inFlight, frame: testFrame(inFlight, "")})
	if frames, next, _ := r.Read(1, dst); !slices.Equal(frameIDs(t, frames), []uint64{1, 2}) || next != 3 {
		t.Fatalf("earlier reader got %v, next %d; want [1 2], 3", frameIDs(t, frames), next)
	}
}

func TestReadyClosedWhenReadable(t *testing.T) {
	r := newTestRing(t, 4)
	publishN(r, 6)
	tests := []struct {
		name   string
		next   uint64
		closed bool
	}{
		{"stored", 4, true},
		{"lapped", 1, true},
		{"next zero means one", 0, true},
		{"caught up", 7, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			select {
			case <-r.Ready(tt.next):
				if !tt.closed {
					t.Fatalf("Ready(%d) closed with nothing to read", tt.next)
				}
			default:
				if tt.closed {
					t.Fatalf("Ready(%d) open with something to read", tt.next)
				}
			}
		})
	}
}

// TestReadyInterleavedPublishers steps through two publishers and a reader by hand: the
// first publisher's wake-up, arriving after the reader consumed its event and went to wait for
// the next one, wakes the reader early; the reader waits again, and the second publish wakes it.
func TestReadyInterleavedPublishers(t *testing.T) {
	r := newTestRing(t, 8)
	first, second := r.claimed.Add(1), r.claimed.Add(1)
	r.store(&entry{id: first, frame: testFrame(first, "")}) // first publisher, before its wake-up
	dst := make([][]byte, 0, 8)
	frames, next, _ := r.Read(1, dst)
	if !slices.Equal(frameIDs(t, frames), []uint64{first}) {
		t.Fatalf("Read(1) = %v; want [%d]", frameIDs(t, frames), first)
	}
	early := r.Ready(next)
	r.wakeWaiters() // first publisher's wake-up
	select {
	case <-early:
	default:
		t.Fatal("wake-up after Ready did not close its channel")
	}
	if frames, _, _ := r.Read(next, dst); len(frames) != 0 {
		t.Fatalf("Read(%d) = %v before it was stored", next, frameIDs(t, frames))
	}
	again := r.Ready(next)
	select {
	case <-again:
		t.Fatal("Ready closed with nothing new stored")
	default:
	}
	r.store(&entry{id: second, frame: testFrame(second, "")}) // second publisher
	r.wakeWaiters()
	select {
	case <-again:
	default:
		t.Fatal("second publish did not wake the reader")
	}
}

// readRingUntil is the writer loop a connection runs: read a batch, wait when caught up. It reads from
// next until it passes last, calling deliver for each frame with its id, and returns the number
// of missed events. It fails t if ctx ends first: that is how a lost wake-up shows.
func readRingUntil(ctx context.Context, t *testing.T, r *Ring, next, last uint64, batch int, deliver func(id uint64, frame []byte)) (missedTotal uint64) {
	dst := make([][]byte, 0, batch)
	for next <= last {
		frames, newNext, missed := r.Read(next, dst)
		missedTotal += missed
		next += missed
		for _, f := range frames {
			deliver(next, f)
			next++
		}
		if next != newNext {
			t.Errorf("Read returned next %d; frames and missed account for %d", newNext, next)
			return missedTotal
		}
		if len(frames) == 0 && missed == 0 {
			select {
			case <-r.Ready(next):
			case <-ctx.Done():
				t.Errorf("reader stuck at id %d of %d (Last() = %d): %v", next, last, r.Last(), ctx.Err())
				return missedTotal
			}
		}
	}
	return missedTotal
}

// TestConcurrentPublishersAndReaders: with no lapping possible, every reader gets every event
// exactly once, in id order, with the bytes its publisher encoded.
func TestConcurrentPublishersAndReaders(t *testing.T) {
	const publishers, perPublisher, readers = 8, 1000, 16
	const total = publishers * perPublisher
	r := newTestRing(t, 8192)
	ctx := testTimeout(t)

	published := make([][]byte, total+1) // by id; each publisher writes only its own ids
	got := make([][][]byte, readers)
	var wg sync.WaitGroup
	start := r.claimed.Load() + 1 // 1: readers join before anything is published
	for i := range readers {
		wg.Go(func() {
			missed := readRingUntil(ctx, t, r.Ring, start, total, 1+i%5*16, func(id uint64, f []byte) {
				if frameID(f) != id {
					t.Errorf("reader %d asked for id %d, got frame %q", i, id, f)
				}
				got[i] = append(got[i], f)
			})
			if missed != 0 {
				t.Errorf("reader %d missed %d events in a ring that cannot lap", i, missed)
			}
		})
	}
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Go(func() {
			var previous uint64
			for seq := range perPublisher {
				var frame []byte
				id := r.publish(func(id uint64) []byte {
					frame = testFrame(id, fmt.Sprintf("publisher=%d seq=%d", p, seq))
					return frame
				})
				if id <= previous {
					t.Errorf("publisher %d got id %d after %d", p, id, previous)
				}
				previous = id
				published[id] = frame
			}
		})
	}
	pubs.Wait()
	wg.Wait()
	if r.Last() != total {
		t.Fatalf("Last() = %d after %d publishes", r.Last(), total)
	}
	for i, frames := range got {
		if len(frames) != total {
			t.Fatalf("reader %d got %d events, want %d", i, len(frames), total)
		}
		for j, f := range frames {
			if !bytes.Equal(f, published[j+1]) {
				t.Fatalf("reader %d, id %d: got %q, published %q", i, j+1, f, published[j+1])
			}
		}
	}
}

// TestConcurrentLappedReaders: slow readers on a small ring are lapped; every frame they get is
// the id they asked for, and delivered plus missed accounts for every event.
func TestConcurrentLappedReaders(t *testing.T) {
	const publishers, perPublisher, readers = 4, 2000, 4
	const total = publishers * perPublisher
	r := newTestRing(t, 8)
	ctx := testTimeout(t)

	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			delivered := uint64(0)
			missed := readRingUntil(ctx, t, r.Ring, 1, total, 3, func(id uint64, f []byte) {
				if frameID(f) != id {
					t.Errorf("reader %d asked for id %d, got frame %q", i, id, f)
				}
				delivered++
				runtime.Gosched() // be slow
			})
			if delivered+missed != total {
				t.Errorf("reader %d: %d delivered + %d missed != %d published", i, delivered, missed, total)
			}
			t.Logf("reader %d: %d delivered, %d missed", i, delivered, missed)
		})
	}
	for range publishers {
		wg.Go(func() { publishN(r, perPublisher) })
	}
	wg.Wait()
}

// TestNoLapWithinCapacity: publishers that stay within one ring's length of the slowest reader
// never make it miss anything, however often the ring wraps around.
func TestNoLapWithinCapacity(t *testing.T) {
	const capacity, publishers, readers, rounds = 16, 4, 4, 500
	const total = capacity * rounds
	r := newTestRing(t, capacity)
	ctx := testTimeout(t)

	progress := make(chan uint64, readers*capacity) // ids read, so publishers can wait
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			missed := readRingUntil(ctx, t, r.Ring, 1, total, 1+i*3, func(id uint64, f []byte) {
				if frameID(f) != id {
					t.Errorf("reader %d asked for id %d, got frame %q", i, id, f)
				}
				if id%capacity == 0 {
					progress <- id
				}
			})
			if missed != 0 {
				t.Errorf("reader %d missed %d events although no publisher ran a lap ahead", i, missed)
			}
		})
	}
	for round := range uint64(rounds) {
		var pubs sync.WaitGroup
		for range publishers {
			pubs.Go(func() { publishN(r, capacity/publishers) })
		}
		pubs.Wait()
		for range readers { // every reader has read this round before the next one starts
			select {
			case id := <-progress:
				if id != (round+1)*capacity {
					t.Fatalf("round %d: a reader reported id %d", round+1, id)
				}
			case <-ctx.Done():
				wg.Wait()
				t.Fatalf("round %d: readers stopped: %v", round+1, ctx.Err())
			}
		}
	}
	wg.Wait()
}

// TestJoinWhilePublishing: readers that join from now while publishers run get a consecutive
// run of ids from their start to the end, with nothing missed.
func TestJoinWhilePublishing(t *testing.T) {
	const publishers, perPublisher, joiners = 4, 1000, 8
	const total = publishers * perPublisher
	r := newTestRing(t, 8192)
	ctx := testTimeout(t)

	// Publisher 0 lets joiner i in after its (i*perPublisher/joiners)th event and continues
	// once the joiner has taken its start; the other publishers do not wait.
	joinAt, joined := make([]chan struct{}, joiners), make([]chan struct{}, joiners)
	for i := range joinAt {
		joinAt[i], joined[i] = make(chan struct{}), make(chan struct{})
	}
	var wg sync.WaitGroup
	for i := range joiners {
		wg.Go(func() {
			<-joinAt[i]
			start := r.claimed.Load() + 1
			close(joined[i])
			if start > total {
				t.Errorf("joiner %d joined after the last event", i)
			}
			missed := readRingUntil(ctx, t, r.Ring, start, total, 16, func(id uint64, f []byte) {
				if frameID(f) != id {
					t.Errorf("joiner %d asked for id %d, got frame %q", i, id, f)
				}
			})
			if missed != 0 {
				t.Errorf("joiner %d starting at %d missed %d events", i, start, missed)
			}
		})
	}
	for p := range publishers {
		wg.Go(func() {
			for seq := range perPublisher {
				if p == 0 && seq%(perPublisher/joiners) == 0 {
					close(joinAt[seq/(perPublisher/joiners)])
					<-joined[seq/(perPublisher/joiners)]
				}
				publishN(r, 1)
			}
		})
	}
	wg.Wait()
}

// TestReadyNeverMissesWakeup runs publishers and readers in lockstep, so readers go to sleep
// exactly while the next events are published, by one publisher or by several at once (a
// reader may then wake for one publish and sleep again during another). A lost wake-up leaves
// a reader asleep and the publishers waiting for its acknowledgement until the deadline.
func TestReadyNeverMissesWakeup(t *testing.T) {
	for _, publishers := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("publishers=%d", publishers), func(t *testing.T) {
			const rounds, readers = 5000, 4
			last := uint64(rounds * publishers)
			r := newTestRing(t, 64)
			ctx := testTimeout(t)

			acks := make(chan uint64, readers*publishers)
			var wg sync.WaitGroup
			for i := range readers {
				wg.Go(func() {
					readRingUntil(ctx, t, r.Ring, 1, last, 4, func(id uint64, f []byte) {
						if frameID(f) != id {
							t.Errorf("reader %d asked for id %d, got frame %q", i, id, f)
						}
						acks <- id
					})
				})
			}
			// Helpers publish one event each when told; the test goroutine is the last publisher.
			publish := make(chan struct{})
			for range publishers - 1 {
				wg.Go(func() {
					for range publish {
						publishN(r, 1)
					}
				})
			}
			for round := range rounds {
				for range publishers - 1 {
					publish <- struct{}{}
				}
				publishN(r, 1)
				for range readers * publishers {
					select {
					case <-acks:
					case <-ctx.Done(): // readers see it too and return
						close(publish)
						wg.Wait()
						t.Fatalf("round %d: a reader was not woken: %v", round+1, ctx.Err())
					}
				}
			}
			close(publish)
			wg.Wait()
		})
	}
}

func ExampleRing() {
	ring, err := NewRing(8, 0) // a room with no history yet
	if err != nil {
		panic(err)
	}
	next := ring.Last() + 1 // a reader joining now

	// The room's log numbers the events and puts them in the ring.
	for id, text := range []string{"hello", "world"} {
		ring.Put(uint64(id+1), fmt.Appendf(nil, `{"type":"message","id":%d,"text":%q}`, id+1, text))
	}

	batch := make([][]byte, 0, 16) // reused for every read
	frames, next, missed := ring.Read(next, batch)
	for _, f := range frames {
		fmt.Println(string(f))
	}
	fmt.Println("next:", next, "missed:", missed)
	// Output:
	// {"type":"message","id":1,"text":"hello"}
	// {"type":"message","id":2,"text":"world"}
	// next: 3 missed: 0
}

// ExampleRing_Ready shows a connection's writer loop: read a batch, write it, and when caught
// up wait for the ring together with the connection's own channels.
func ExampleRing_Ready() {
	ring, _ := NewRing(DefaultRingCapacity, 0)
	done := make(chan struct{})
	written := make(chan string)

	next := ring.Last() + 1 // the writer's cursor is its own state, not the ring's
	go func() {
		batch := make([][]byte, 0, 64)
		for {
			frames, newNext, missed := ring.Read(next, batch)
			next = newNext
			if missed > 0 { // a real writer reads these from the room's log
				written <- fmt.Sprintf("gap: missed %d", missed)
			}
			for _, f := range frames { // one writev (net.Buffers) in a real server
				written <- string(f)
			}
			if len(frames) > 0 || missed > 0 {
				continue
			}
			select {
			case <-ring.Ready(next):
			case <-done:
				return
			}
		}
	}()

	for id, text := range []string{"one", "two", "three"} {
		ring.Put(uint64(id+1), fmt.Appendf(nil, "%d:%s", id+1, text))
		fmt.Println(<-written)
	}
	close(done)
	// Output:
	// 1:one
	// 2:two
	// 3:three
}
