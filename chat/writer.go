package chat

import (
	"errors"
	"sync"
	"time"

	"ringchat/chat/store"
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

// maxBatchBytes bounds the room events one pass takes, in bytes, beyond its
// first: a write to a slow reader holds what it carries until the reader
// has taken it all, and only then does the writer look at the ring again
// (and learn that the reader was lapped). 64 KiB is twice the default send
// buffer: a fast reader still gets hundreds of small events in one write.
const maxBatchBytes = 64 << 10

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
// from the cursor — in one write. Only a blocking pass performs a close, and
// reads events from the room's log (which may read a disk) when the ring no
// longer holds them.
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
	frames, rr := c.readRoom(frames, blocking)
	if rr.lapped {
		c.srv.metrics.slowDisconnects.Add(1)
		closeReq = &closeRequest{wsproto.ClosePolicyViolation, "too slow: missed events"}
		c.post(func() { c.closeReq = closeReq })
	}
	*bp = frames
	if !blocking && (closeReq != nil || rr.needLog || len(frames) > 0 && !c.tryWrite(frames, rr)) {
		c.carry = bp // the blocking writer writes it
		return passBlocked
	}
	if blocking && len(frames) > 0 {
		if err := c.ws.WriteFrames(frames); err != nil {
			putBatch(bp)
			return passEnded
		}
		c.count(frames, rr)
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
	if rr.full {
		return passMore
	}
	return passDone
}

// tryWrite writes frames without waiting and reports whether it did; a
// failed connection counts as written (the next pass sees it closed).
func (c *conn) tryWrite(frames [][]byte, rr roomRead) bool {
	ok, err := c.ws.TryWriteFrames(frames)
	if err != nil {
		return true
	}
	if ok {
		c.count(frames, rr)
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

// roomRead is what readRoom found.
type roomRead struct {
	fromRing int  // how many of the batch's last frames are room events from the ring
	fromLog  int  // how many room events came from the log, each as two buffers (header, body)
	full     bool // the batch is full: more may be ready
	lapped   bool // SlowDisconnect: the reader fell behind what the log retains
	needLog  bool // the next events must be read from the log, which only a blocking pass does
}

// readRoom appends the room events that are ready from the cursor on, as
// many as the batch holds: from the ring, or, for events the ring no longer
// holds (or never held: they predate the room's opening), from the room's
// log. A reader that falls behind even the log gets a gap event first
// (SlowGap) or is reported lapped (SlowDisconnect).
func (c *conn) readRoom(frames [][]byte, blocking bool) ([][]byte, roomRead) {
	var rr roomRead
	r := c.sub.room
	if r == nil {
		return frames, rr
	}
	if len(frames) >= maxBatch-2 {
		rr.full = true
		return frames, rr
	}
	if c.sub.next >= r.ring.Oldest() {
		base := len(frames)
		var got [][]byte
		var next, missed uint64
		if c.ws.Compression() {
			got, next, missed = r.ring.ReadCompressed(c.sub.next, frames[base:base:maxBatch], &c.srv.metrics.deflate)
		} else {
			got, next, missed = r.ring.Read(c.sub.next, frames[base:base:maxBatch])
		}
		if missed == 0 {
			full := len(got) == maxBatch-base
			if n := withinBytes(got, maxBatchBytes); n < len(got) {
				clear(got[n:])
				got, next, full = got[:n], c.sub.next+uint64(n), true
			}
			c.sub.next = next
			rr.fromRing = len(got)
			rr.full = full
			return frames[:base+len(got)], rr
		}
		// The ring lapped the reader: what it got after the jump is
		// dropped, and the log, which has the missed events, is read.
		clear(frames[base:cap(frames)])
	}
	if !blocking {
		rr.needLog = true
		return frames, rr
	}
	return c.readLog(frames, rr)
}

// withinBytes returns how many of frames, from the first, fit in limit
// bytes; at least one.
func withinBytes(frames [][]byte, limit int) int {
	total := 0
	for i, f := range frames {
		if total += len(f); total > limit && i > 0 {
			return i
		}
	}
	return len(frames)
}

// logRetry is how long a member's writer waits before it reads the room's
// log again when the store cannot be reached.
const logRetry = 250 * time.Millisecond

// recordPool holds the slices a log read fills.
var recordPool = sync.Pool{New: func() any { s := make([]store.Record, 0, maxBatch/2); return &s }}

// readLog appends the events from the cursor on that the room's log holds,
// each as a frame header and the stored body, with a gap event first if the
// log no longer holds the oldest of them. Only blocking passes call it: the
// log may read a disk.
func (c *conn) readLog(frames [][]byte, rr roomRead) ([][]byte, roomRead) {
	r := c.sub.room
	rp := recordPool.Get().(*[]store.Record)
	defer func() { clear(*rp); recordPool.Put(rp) }()
	n := (maxBatch - len(frames) - 1) / 2 // two buffers an event, and room for a gap event
	if n == 0 {
		rr.full = true
		return frames, rr
	}
	recs, err := r.log.Read(c.sub.next, (*rp)[:0:n])
	*rp = recs
	switch {
	case errors.Is(err, store.ErrReset):
		c.post(func() {
			c.closeReq = &closeRequest{wsproto.CloseServiceRestart, "the room's history was reset; reconnect"}
		})
		return frames, rr
	case errors.Is(err, store.ErrUnavailable):
		// A store that will be back (Redis restarting): this writer, the
		// member's own, waits a moment and reads again.
		time.Sleep(logRetry)
		rr.full = true
		return frames, rr
	case err != nil:
		c.srv.log.Error("cannot read a room's history", "room", r.name, "from", c.sub.next, "err", err)
		c.post(func() { c.closeReq = &closeRequest{wsproto.CloseInternalError, "cannot read the room's history"} })
		return frames, rr
	}
	var missed uint64
	switch {
	case len(recs) > 0:
		missed = recs[0].ID - c.sub.next
	default: // nothing from next on: either not stored yet, or no longer
		if oldest := r.log.Oldest(); oldest > c.sub.next {
			missed = oldest - c.sub.next
		}
	}
	if missed > 0 {
		if c.srv.opts.SlowPolicy == SlowDisconnect {
			rr.lapped = true
			return frames, rr
		}
		frames = append(frames, c.gapFrame(r, missed))
		c.sub.next += missed
	}
	headers := make([]byte, 0, len(recs)*wsproto.MaxHeaderSize)
	for _, rec := range recs {
		at := len(headers)
		headers = wsproto.AppendHeader(headers, wsproto.Header{Fin: true, Opcode: wsproto.OpText, Length: int64(len(rec.Body))})
		frames = append(frames, headers[at:len(headers):len(headers)], rec.Body)
	}
	if len(recs) > 0 {
		c.sub.next = recs[len(recs)-1].ID + 1
	}
	rr.fromLog = len(recs)
	rr.full = len(recs) > 0 // a read stops at a byte limit too: look again

	c.srv.metrics.storeReplayed.Add(uint64(len(recs)))
	return frames, rr
}

// count records frames written; the last rr.fromRing of them are room
// events from the ring, whose fan-out latency it observes.
func (c *conn) count(frames [][]byte, rr roomRead) {
	m := &c.srv.metrics
	bytes := 0
	for _, f := range frames {
		bytes += len(f)
	}
	fromRing := rr.fromRing
	m.framesOut.Add(uint64(len(frames) - rr.fromLog))
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
