package chat

import (
	"errors"
	"fmt"
	"sync/atomic"

	"ringchat/wsproto"
)

// DefaultRingCapacity is the number of events a room retains unless configured otherwise.
const DefaultRingCapacity = 1024

// MaxRingCapacity is the largest capacity NewRing accepts.
const MaxRingCapacity = 1 << 30

// ErrRingCapacity is returned by NewRing for a capacity that is not a power of two between 2 and
// MaxRingCapacity.
var ErrRingCapacity = errors.New("chat: ring capacity must be a power of two between 2 and 1<<30")

// Ring is the hot end of a room's history: a fixed number of slots holding
// the most recent events, each as its final WebSocket frame, shared by every
// reader. The room's log (package ringchat/chat/store) gives events their
// ids and keeps them; the ring is the cache from which every member's writer
// reads them without a lock.
//
// Ids are consecutive, from 1. The event with id n lives in slot n mod Cap()
// until the event with id n+Cap() replaces it. A ring made when its room
// already had history starts after the newest event then (NewRing's after):
// a reader that wants an older one, or one the ring has overwritten, learns
// that the ring no longer holds it, and reads it from the log instead.
//
// Concurrency: every method is safe to call from any number of goroutines at
// once. Put is lock-free and does no work per reader beyond closing the
// channel that waiting readers hold; events put by concurrent publishers may
// arrive out of order, and readers still get them in id order. Readers keep
// their position (the id they want next) themselves and pass it to Read and
// Ready, so the ring holds no state per reader, and a connection's writer can
// be run by any goroutine rather than one parked per connection. Frames are
// shared: neither the publisher nor any reader may modify them after Put.
type Ring struct {
	mask  uint64                  // Cap()-1; read-only
	after uint64                  // ids up to this one predate the ring; read-only
	slots []atomic.Pointer[entry] // read-only header; slot contents change
	_     [64]byte                // keep the fields publishers write off the read-only cache line

	last atomic.Uint64 // highest id put
	_    [56]byte

	waiting atomic.Bool  // some reader may be blocked on the wake channel
	wake    atomic.Value // chan struct{}: closed and replaced when an event is stored while waiting is set
}

// entry is one stored event. Its id and frame are immutable: a slot changes by pointing at a
// new entry. A nil frame marks a lost event; readers count it as missed. z is the event's
// compressed frame (permessage-deflate), made once, by the first reader that wants it (see
// ReadCompressed): nil until then, zBusy while it is being made.
type entry struct {
	id    uint64
	frame []byte
	z     atomic.Pointer[[]byte]
}

// zBusy marks an entry whose compressed frame a reader is making.
var zBusy = new([]byte)

// closedChan is what Ready returns when there is no need to wait.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// NewRing returns an empty ring with the given capacity, which must be a power of two between 2
// and MaxRingCapacity (otherwise the error wraps ErrRingCapacity), for the events that follow
// the one with id after: 0 for a room with no history yet, its log's newest id otherwise.
func NewRing(capacity int, after uint64) (*Ring, error) {
	if capacity < 2 || capacity > MaxRingCapacity || capacity&(capacity-1) != 0 {
		return nil, fmt.Errorf("%w: got %d", ErrRingCapacity, capacity)
	}
	r := &Ring{
		mask:  uint64(capacity - 1),
		after: after,
		slots: make([]atomic.Pointer[entry], capacity),
	}
	r.last.Store(after)
	r.wake.Store(make(chan struct{}))
	return r, nil
}

// startAfter tells a ring made with after 0 that it holds only the events after the one with
// id after. It must be called before any reader uses the ring; Put may run meanwhile.
func (r *Ring) startAfter(after uint64) {
	r.after = after
	for {
		last := r.last.Load()
		if last >= after || r.last.CompareAndSwap(last, after) {
			return
		}
	}
}

// Cap returns the number of events the ring retains.
func (r *Ring) Cap() int { return len(r.slots) }

// Last returns the highest id put so far: NewRing's after before the first Put.
func (r *Ring) Last() uint64 { return r.last.Load() }

// Oldest returns the id of the oldest event the ring may still hold: a reader that wants an
// older one should read it from the log. (The ring may have overwritten that one too by the
// time the reader gets there; Read then says so.)
func (r *Ring) Oldest() uint64 {
	last := r.last.Load()
	if last < r.after+uint64(len(r.slots)) {
		return r.after + 1
	}
	return last - r.mask
}

// Put stores the frame of the event with the given id and wakes waiting readers. Each id is
// put once, by the room's log (see store.Sink): as a rule in id order, but publishers that
// finished at the same moment may put theirs out of order, and readers that reached an id
// not yet put wait for it. It never blocks and never waits for readers. Its cost does not
// depend on the number of readers, except that when some are blocked on Ready it closes
// their channel, and the runtime then makes each of them runnable (a fraction of a
// microsecond per blocked reader).
//
// A frame that arrives a whole lap late (Cap() newer events stored) is not stored: readers
// that wanted it learn that the ring no longer holds it. A nil frame marks the event as lost:
// readers count it as missed. The frame is shared with every reader and must not be modified
// afterwards.
func (r *Ring) Put(id uint64, frame []byte) {
	for {
		last := r.last.Load()
		if last >= id || r.last.CompareAndSwap(last, id) {
			break
		}
	}
	r.store(&entry{id: id, frame: frame})
	r.wakeWaiters()
}

// store puts e into its slot unless the slot already holds a newer event. It reports whether e
// was stored.
func (r *Ring) store(e *entry) bool {
	slot := &r.slots[e.id&r.mask]
	for {
		old := slot.Load()
		if old != nil && old.id >= e.id {
			return false
		}
		if slot.CompareAndSwap(old, e) {
			return true
		}
	}
}

// wakeWaiters closes the channel that blocked readers hold, if any reader announced it waits.
// Without waiters it costs one atomic load. (A channel is pointer-shaped, so keeping it in an
// atomic.Value allocates nothing beyond the channel itself.)
func (r *Ring) wakeWaiters() {
	if !r.waiting.Load() || !r.waiting.CompareAndSwap(true, false) {
		return
	}
	close(r.wake.Swap(make(chan struct{})).(chan struct{}))
}

// Read collects into dst[:0] the frames of the consecutive events from id next on that are
// stored, up to cap(dst) of them, and returns them with the id to read next. It never blocks and
// never allocates; dst is the caller's to reuse once it is done with the frames.
//
// missed counts the events the reader cannot get from the ring: it lapped the reader (they
// were overwritten), they predate the ring, or they were lost. They are the ids just before
// the returned frames: frames[i] is the event with id next+missed+i, and newNext =
// next+missed+len(frames). After a lap, reading resumes at the oldest id the ring retains at
// that moment, Last()-Cap()+1. A read that finds an overwritten slot after it has collected
// frames stops there and reports the loss on the following call. A reader with the room's log
// behind it reads the missed events from there instead.
//
// Ids start at 1; next 0 is read as 1. An empty result with missed 0 means nothing new is
// stored yet: wait on Ready(newNext). A next beyond Last()+1 waits for ids not yet put, so
// positions coming from clients should be checked against the log's Last() first.
func (r *Ring) Read(next uint64, dst [][]byte) (frames [][]byte, newNext, missed uint64) {
	return r.read(next, dst, nil)
}

// ReadCompressed is Read for a reader whose connection negotiated permessage-deflate: each
// frame is the event's compressed frame, from z. The first reader that wants an event's
// compressed frame makes it and keeps it in the event's entry, for every reader after it, so
// an event is compressed at most once however many members compress. A reader that comes
// while another is making it gets the plain frame instead (RFC 7692 lets any message go
// uncompressed) rather than wait or compress it again. Events shorter than z.Threshold, and
// frames other than text or binary, are plain for everyone.
func (r *Ring) ReadCompressed(next uint64, dst [][]byte, z *FrameCompressor) (frames [][]byte, newNext, missed uint64) {
	return r.read(next, dst, z)
}

func (r *Ring) read(next uint64, dst [][]byte, z *FrameCompressor) (frames [][]byte, newNext, missed uint64) {
	if next == 0 {
		next = 1
	}
	frames = dst[:0]
	if next <= r.after {
		missed = r.after + 1 - next
		next = r.after + 1
	}
	for len(frames) < cap(frames) {
		e := r.slots[next&r.mask].Load()
		switch {
		case e == nil || e.id < next: // not stored yet
			return frames, next, missed
		case len(frames) > 0 && (e.id > next || e.frame == nil):
			return frames, next, missed // report the loss on the next call
		case e.id > next: // lapped
			// The slot holds id >= next+Cap(), claimed before this load, so the oldest
			// retained id, Last()-Cap()+1, is past next: the reader always moves forward.
			oldest := r.last.Load() - r.mask
			missed += oldest - next
			next = oldest
		case e.frame == nil: // gap left by a failed encode
			missed++
			next++
		case z != nil:
			frames = append(frames, z.frame(e))
			next++
		default:
			frames = append(frames, e.frame)
			next++
		}
	}
	return frames, next, missed
}

// Ready returns a channel that is closed once Read(next, ...) may have something new: the event
// with id next, or the news that the reader missed it. If that is already the case the channel
// is closed on return. It may also close early, after an unrelated event; then Read returns
// nothing and the reader calls Ready again.
//
// Call Ready after a Read that returned no frames and no missed events, then block on the
// channel together with whatever else the reader waits for (shutdown, timers). No wake-up is
// lost: if Ready returns an open channel, the store that makes id next readable closes it.
func (r *Ring) Ready(next uint64) <-chan struct{} {
	if next == 0 {
		next = 1
	}
	if next <= r.after {
		return closedChan // the reader missed it: Read says so
	}
	// Take the channel, announce the wait, then look again. A publisher that stores after the
	// look finds waiting set, or finds it reset by another publisher after we set it; either
	// way one of them swaps the channel after we took ours, and the first swap after that
	// closes ours.
	ch := r.wake.Load().(chan struct{})
	if !r.waiting.Load() {
		r.waiting.Store(true)
	}
	if e := r.slots[next&r.mask].Load(); e != nil && e.id >= next {
		return closedChan
	}
	return ch
}

// FrameCompressor makes the compressed frames of ReadCompressed and counts its work. The
// zero value compresses every event of DefaultCompressionThreshold bytes or more. Its
// methods are safe for concurrent use.
type FrameCompressor struct {
	// Threshold is the shortest payload compressed; 0 means DefaultCompressionThreshold,
	// negative means every one. Set it before the first use.
	Threshold int

	events   atomic.Uint64 // events compressed
	bytesIn  atomic.Uint64 // their frames' bytes before
	bytesOut atomic.Uint64 // and after
}

// DefaultCompressionThreshold is the shortest event payload, in bytes, that is compressed
// for members using permessage-deflate: wsproto's measured threshold.
const DefaultCompressionThreshold = wsproto.DefaultCompressionThreshold

// frame returns e's compressed frame, making it if no reader has: see ReadCompressed.
func (z *FrameCompressor) frame(e *entry) []byte {
	if p := e.z.Load(); p != nil {
		if p == zBusy {
			return e.frame
		}
		return *p
	}
	if !e.z.CompareAndSwap(nil, zBusy) {
		return e.frame
	}
	f, ok := wsproto.CompressFrame(make([]byte, 0, len(e.frame)/2+wsproto.MaxHeaderSize), e.frame, z.minPayload())
	if !ok { // not a message, or too short: plain for everyone, and not counted
		e.z.Store(&e.frame)
		return e.frame
	}
	if len(f) >= len(e.frame) {
		f = e.frame // incompressible: not worth the receivers' time
	}
	e.z.Store(&f)
	z.events.Add(1)
	z.bytesIn.Add(uint64(len(e.frame)))
	z.bytesOut.Add(uint64(len(f)))
	return f
}

// minPayload is Threshold as CompressFrame takes it.
func (z *FrameCompressor) minPayload() int {
	switch {
	case z.Threshold == 0:
		return DefaultCompressionThreshold
	case z.Threshold < 0:
		return 0
	}
	return z.Threshold
}
