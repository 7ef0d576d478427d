package chat

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/wsproto"
)

// room is one chat room: its ring of recent events and its members.
type room struct {
	name  string
	epoch string // names this run of the room's history; ids restart with a new one
	ring  *Ring

	// publishedAt[id & mask] is when the event with that id was published,
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

func newRoom(name string, capacity int) (*room, error) {
	ring, err := NewRing(capacity)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &room{
		name:        name,
		epoch:       hex.EncodeToString(b[:]),
		ring:        ring,
		publishedAt: make([]atomic.Int64, capacity),
		members:     make(map[*conn]struct{}),
		names:       make(map[string]*conn),
	}, nil
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

// oldest returns the id of the oldest event the ring can still hold.
func (r *room) oldest() uint64 {
	last, size := r.ring.Last(), uint64(r.ring.Cap())
	if last < size {
		return 1
	}
	return last - size + 1
}

// scratchPool holds buffers for encoding the part of an event that does not
// depend on its id.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// publish gives e the room's next id and puts it in the ring, encoded and
// framed once for every member. Everything but the id is encoded before the
// id is claimed, so that between claim and store — while readers that
// reached this id wait — there is only one allocation and a copy.
func (r *room) publish(e *Event) uint64 {
	sp := scratchPool.Get().(*[]byte)
	tail := e.appendTail((*sp)[:0])
	id := r.ring.Publish(func(id uint64) []byte {
		var digits [20]byte
		idText := strconv.AppendUint(digits[:0], id, 10)
		n := len(`{"type":"`) + len(e.Type) + len(`","id":`) + len(idText) + len(tail)
		h := wsproto.Header{Fin: true, Opcode: wsproto.OpText, Length: int64(n)}
		frame := make([]byte, 0, h.Size()+n)
		frame = wsproto.AppendHeader(frame, h)
		frame = append(frame, `{"type":"`...)
		frame = append(frame, e.Type...)
		frame = append(frame, `","id":`...)
		frame = append(frame, idText...)
		frame = append(frame, tail...)
		r.publishedAt[id&uint64(len(r.publishedAt)-1)].Store(time.Now().UnixNano())
		return frame
	})
	*sp = tail[:0]
	scratchPool.Put(sp)
	r.wakeWriters()
	return id
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
