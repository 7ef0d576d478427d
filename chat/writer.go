package chat

import (
	"sync"
	"time"

	"ringchat/wsproto"
)

// How a connection's frames reach its socket.
//
// A connection has no writing goroutine of its own. Whoever has news for it
// calls notify (the fan-out goroutine of its room's bucket after a publish)
// or wake (its reading goroutine after queueing a reply, the server at
// shutdown); the keepalive sweep calls notify too. Both raise the connection's pending count,
// and the call that raises it from 0 makes a writer — on the calling
// goroutine for notify, on a new one for wake: it makes
// passes — mail first, then every ready event from the ring at the
// connection's cursor, all in one write — until a pass ends with no
// notification having arrived since it began, and then lets the count fall
// back to 0. Later notifications meanwhile only raise the count, so exactly
// one goroutine writes for a connection at any time, and no notification is
// lost.
//
// The writer never waits. A pass that cannot write without waiting — the
// socket is full, another write holds the lock, the connection is TLS, or
// there is a close handshake to perform — hands the connection to a new
// goroutine (runWriter(true)) that waits in the blocking calls, keeps making passes
// until the connection has caught up, and exits. A stalled socket thus costs
// one goroutine of its own and nothing to anyone else; an idle connection
// costs none.

// maxBatch is the most frames one pass writes.
const maxBatch = 128

// pingFrame is a server's ping with no payload, written like any prepared
// frame.
var pingFrame = wsproto.AppendHeader(nil, wsproto.Header{Fin: true, Opcode: wsproto.OpPing})

// batchPool holds the slices a pass gathers frames in.
var batchPool = sync.Pool{New: func() any { b := make([][]byte, 0, maxBatch); return &b }}

// notify tells the connection's writer there may be something to write,
// and runs the writer here if it is not running already. The fan-out passes
// call it: they write to member after member themselves.
func (c *conn) notify() {
	if c.pending.Add(1) == 1 {
		c.runWriter(false)
	}
}

// wake is notify for everyone else — the reading goroutine, timers,
// shutdown: if the writer is not running, it starts on a goroutine of its
// own, so that the caller's stack stays small (a parked reader's stack is
// most of an idle connection's memory) and the caller never writes.
func (c *conn) wake() {
	if c.pending.Add(1) == 1 {
		go c.runWriter(false)
	}
}

// passResult is how a writer's pass ended.
type passResult int

const (
	passDone    passResult = iota // everything ready was written
	passMore                      // a full batch was written: more may be ready
	passBlocked                   // a write must wait: hand over to a blocking writer
	passEnded                     // the connection is closed: no writer runs again
)

// runWriter makes passes until the connection has caught up: passes that
// never wait, or, on a goroutine of its own, blocking ones. A non-blocking
// pass that would have to wait hands the connection over to a blocking
// writer on a new goroutine, which then owns it.
func (c *conn) runWriter(blocking bool) {
	for {
		n := c.pending.Load()
		switch c.pass(blocking) {
		case passDone:
			if c.pending.CompareAndSwap(n, 0) {
				return
			}
		case passMore:
		case passBlocked:
			go c.runWriter(true)
			return
		case passEnded:
			return // pending stays above 0: nobody becomes the writer again
		}
	}
}

// pass writes what is ready for the connection: a batch a non-blocking pass
// left behind, direct frames, a room change, a ping, then the room's events
// from the cursor — in one write. Only a blocking pass performs a close.
func (c *conn) pass(blocking bool) passResult {
	bp := c.carry
	c.carry = nil
	if bp == nil {
		bp = batchPool.Get().(*[][]byte)
		*bp = (*bp)[:0]
	}
	frames, closeReq, ping := c.takeMail(*bp)
	if ping {
		frames = append(frames, pingFrame)
	}
	frames, fromRing, full, lapped := c.readRing(frames)
	if lapped {
		c.srv.metrics.slowDisconnects.Add(1)
		closeReq = &closeRequest{wsproto.ClosePolicyViolation, "too slow: missed events"}
		c.post(func() { c.closeReq = closeReq })
	}
	*bp = frames
	if !blocking && (closeReq != nil || len(frames) > 0 && !c.tryWrite(frames, fromRing)) {
		c.carry = bp // the blocking writer writes it
		return passBlocked
	}
	if blocking && len(frames) > 0 {
		if err := c.ws.WriteFrames(frames); err != nil {
			putBatch(bp)
			return passEnded
		}
		c.count(frames, fromRing)
	}
	putBatch(bp)
	if c.ws.Closed() {
		return passEnded
	}
	if closeReq != nil {
		c.sentCode.CompareAndSwap(0, uint32(closeReq.code))
		c.ws.Close(closeReq.code, closeReq.reason) // the reading goroutine meets the answer
		return passEnded
	}
	if full {
		return passMore
	}
	return passDone
}

// tryWrite writes frames without waiting and reports whether it did; a
// failed connection counts as written (the next pass sees it closed).
func (c *conn) tryWrite(frames [][]byte, fromRing int) bool {
	ok, err := c.ws.TryWriteFrames(frames)
	if err != nil {
		return true
	}
	if ok {
		c.count(frames, fromRing)
	}
	return ok
}

func putBatch(bp *[][]byte) {
	clear(*bp)
	*bp = (*bp)[:0]
	batchPool.Put(bp)
}

// post changes the writer's mail with set, under mu, and flags it, so
// that a pass with no mail takes no lock. Callers then notify or wake the
// writer: the flag is set before that, so the pass it starts sees it.
func (c *conn) post(set func()) {
	c.mu.Lock()
	set()
	c.mail.Store(true)
	c.mu.Unlock()
}

// takeMail appends the direct replies waiting for the writer, applies a
// pending change of room, and returns a pending close request and whether a
// ping is due.
func (c *conn) takeMail(frames [][]byte) ([][]byte, *closeRequest, bool) {
	if !c.mail.Load() {
		return frames, nil, false // the usual case after a publish: no lock
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mail.Store(c.closeReq != nil) // a close request stays until it is done
	if c.moveTo != nil {
		c.sub = c.moveTo.sub
		frames = append(frames, c.moveTo.frames...)
		c.moveTo = nil
	}
	frames = append(frames, c.outbox...)
	clear(c.outbox)
	c.outbox = c.outbox[:0]
	ping := c.pingDue
	c.pingDue = false
	return frames, c.closeReq, ping
}

// readRing appends the room events that are ready from the cursor on, as
// many as the batch holds, preceded by a gap event if the ring lapped the
// cursor (SlowGap), and returns how many came from the ring and whether the
// batch is full (so more may be ready). With SlowDisconnect a lap reports
// lapped instead.
func (c *conn) readRing(frames [][]byte) (out [][]byte, fromRing int, full, lapped bool) {
	if c.sub.room == nil {
		return frames, 0, false, false
	}
	if len(frames) >= maxBatch-1 {
		return frames, 0, true, false
	}
	base := len(frames)
	frames = append(frames, nil) // room for a gap event in front of the events
	room := frames[base+1 : base+1 : maxBatch]
	got, next, missed := c.sub.room.ring.Read(c.sub.next, room)
	full = len(got) == cap(room)
	c.sub.next = next
	frames = frames[:base+1+len(got)] // got is frames[base+1:]
	if missed == 0 {
		copy(frames[base:], got)
		return frames[:base+len(got)], len(got), full, false
	}
	if c.srv.opts.SlowPolicy == SlowDisconnect {
		return frames[:base], 0, false, true
	}
	frames[base] = c.gapFrame(c.sub.room, missed)
	return frames, len(got), full, false
}

// count records frames written; the last fromRing of them are room events,
// whose fan-out latency it observes.
func (c *conn) count(frames [][]byte, fromRing int) {
	m := &c.srv.metrics
	bytes := 0
	for _, f := range frames {
		bytes += len(f)
	}
	m.framesOut.Add(uint64(len(frames)))
	m.bytesOut.Add(uint64(bytes))
	m.writeCalls.Add(1)
	if fromRing > 0 {
		r := c.sub.room
		now := time.Now().UnixNano()
		mask := uint64(len(r.publishedAt) - 1)
		for id := c.sub.next - uint64(fromRing); id < c.sub.next; id++ {
			if at := r.publishedAt[id&mask].Load(); at > 0 && at <= now {
				m.fanout.observe(time.Duration(now-at), 1)
			}
		}
	}
}
