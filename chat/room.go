package chat

import (
	"sync"
	"sync/atomic"
	"time"

	"ringchat/chat/store"
	"ringchat/wsproto"
)

// room is one open chat room: its log (where its events live), the ring
// that caches its newest events for the members' writers, and its members.
// A room is open while it has members; its history stays in the store.
type room struct {
	name string
	log  store.Log // gives events their ids; Read for what the ring no longer holds
	ring *Ring     // the log delivers each event here (room.Deliver)

	// publishedAt[id & mask] is when the event with that id was delivered,
	// in Unix nanoseconds, for the fan-out latency histogram. A lapped entry
	// may be overwritten by a newer event; the histogram tolerates that.
	publishedAt []atomic.Int64

	// Membership, guarded by Server.mu.
	members map[*conn]struct{}
	names   map[string]*conn // nameKey(name) → member

	// The members again, split into buckets of at most bucketSize for the
	// fan-out. The list only grows, under Server.mu; publishers read it
	// without a lock.
	buckets atomic.Pointer[[]*bucket]
}

// bucketSize is how many members one fan-out goroutine serves.
const bucketSize = 256

// bucket is a share of a room's members that one goroutine at a time writes
// to after a publish: it runs through them, writing to each whatever is
// ready, without waiting on any.
type bucket struct {
	pending atomic.Int64 // publishes since the last pass began; see wake
	mu      sync.RWMutex // guards members; a pass holds it for reading
	members []*conn
}

// openRoom opens the room called name in st, with a ring of the given
// capacity for its newest events.
func openRoom(st store.Store, name string, capacity int) (*room, error) {
	r := &room{
		name:        name,
		publishedAt: make([]atomic.Int64, capacity),
		members:     make(map[*conn]struct{}),
		names:       make(map[string]*conn),
	}
	// The log may deliver as soon as it is open, so the ring must be
	// there first; but it starts after the log's newest event, which is
	// known only once the log is open. No reader can use the ring before
	// this function returns, so telling it then is in time.
	var err error
	if r.ring, err = NewRing(capacity, 0); err != nil {
		return nil, err
	}
	if r.log, err = st.Open(name, r); err != nil {
		return nil, err
	}
	r.ring.startAfter(r.log.Last())
	return r, nil
}

// epoch names this run of the room's history.
func (r *room) epoch() string { return r.log.Epoch() }

// latest returns the id of the room's newest event: a member entering now
// reads from the one after.
func (r *room) latest() uint64 { return r.log.Last() }

// Deliver implements store.Sink: the log hands over each event once it may
// be shown, and the members' writers are woken to send it.
func (r *room) Deliver(id uint64, frame []byte) {
	r.publishedAt[id&uint64(len(r.publishedAt)-1)].Store(time.Now().UnixNano())
	r.ring.Put(id, frame)
	r.wakeWriters()
}

// addMember puts c in a bucket with room, or a new one. The caller holds
// Server.mu.
func (r *room) addMember(c *conn) {
	var list []*bucket
	if p := r.buckets.Load(); p != nil {
		list = *p
	}
	for _, b := range list {
		b.mu.Lock()
		if len(b.members) < bucketSize {
			c.bucket, c.bucketIdx = b, len(b.members)
			b.members = append(b.members, c)
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
	}
	b := &bucket{members: []*conn{c}}
	c.bucket, c.bucketIdx = b, 0
	grown := append(append(make([]*bucket, 0, len(list)+1), list...), b)
	r.buckets.Store(&grown)
}

// removeMember takes c out of its bucket. The caller holds Server.mu.
func (r *room) removeMember(c *conn) {
	b := c.bucket
	b.mu.Lock()
	last := len(b.members) - 1
	moved := b.members[last]
	b.members[c.bucketIdx] = moved
	moved.bucketIdx = c.bucketIdx
	b.members[last] = nil
	b.members = b.members[:last]
	b.mu.Unlock()
	c.bucket = nil
}

// wakeWriters makes sure every bucket of the room makes a pass after this
// call: one goroutine per bucket that is not in a pass already. It costs
// an atomic add per bucket — one per 256 members — and no lock.
func (r *room) wakeWriters() {
	p := r.buckets.Load()
	if p == nil {
		return
	}
	for _, b := range *p {
		if b.pending.Add(1) == 1 {
			go b.pass()
		}
	}
}

// pass notifies every member of the bucket, whose writers then write what
// is ready for them without waiting, until no publish arrived during a
// pass.
func (b *bucket) pass() {
	for {
		n := b.pending.Load()
		b.mu.RLock()
		for _, c := range b.members {
			c.notify()
		}
		b.mu.RUnlock()
		if b.pending.CompareAndSwap(n, 0) {
			return
		}
	}
}

// scratchPool holds buffers for encoding the part of an event that does not
// depend on its id.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// publish appends e to the room's log, which gives it the room's next id and
// delivers it to the ring, encoded and framed once for every member.
// Everything but the id is encoded before: the log only puts the type and
// id in front. It returns the id, or why the event was not stored.
func (r *room) publish(e *Event, at time.Time) (uint64, error) {
	sp := scratchPool.Get().(*[]byte)
	tail := e.appendTail((*sp)[:0])
	id, err := r.log.Append(store.Event{Type: e.Type, Tail: tail, Time: at.UnixMilli()})
	*sp = tail[:0]
	scratchPool.Put(sp)
	return id, err
}

// directFrame encodes an event for one connection only.
func directFrame(e *Event) []byte {
	sp := scratchPool.Get().(*[]byte)
	body := e.AppendJSON((*sp)[:0])
	frame := wsproto.AppendFrame(make([]byte, 0, len(body)+wsproto.MaxHeaderSize), wsproto.OpText, body)
	*sp = body[:0]
	scratchPool.Put(sp)
	return frame
}
