package chat

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/wsproto"
)

// maxOutbox bounds the replies (who, error, help) waiting for one
// connection's writer. A client that fills it is sending commands faster than
// it reads the answers, and is closed with 1008.
const maxOutbox = 64

// maxBatch is the most frames one writev carries.
const maxBatch = 128

// conn is one chat connection. Its reading goroutine (the HTTP handler's)
// turns frames into commands and room events; its writing goroutine sends
// everything addressed to it — the room's events from the ring, from its own
// cursor, and its direct replies — in batches, one writev each.
type conn struct {
	srv *Server
	ws  *wsproto.Conn

	// Owned by the reading goroutine; name and room change under srv.mu, so
	// other goroutines holding it may read them.
	name          string
	room          *room
	limiter       tokenBucket
	refused       int // messages refused in a row by the rate limit
	deadlineSetAt time.Time

	// Handed from the reading goroutine to the writing one, under mu.
	mu       sync.Mutex
	outbox   [][]byte      // direct frames, in order
	moveTo   *move         // a room change the writer has yet to make
	closeReq *closeRequest // set once: send what is queued, then close
	wake     chan struct{}

	sentCode atomic.Uint32 // the close code this side sent, for /metrics

	// Owned by the writing goroutine.
	sub        subscription
	writerDone chan struct{}
}

// subscription is where a writer reads: a room's ring and its cursor.
type subscription struct {
	room *room
	next uint64 // the id of the next event to send
}

// move is a change of room for the writer: the new subscription and the
// frames (welcome, perhaps gap) to send before the new room's events.
type move struct {
	sub    subscription
	frames [][]byte
}

func newConn(s *Server, ws *wsproto.Conn) *conn {
	now := time.Now()
	return &conn{
		srv:        s,
		ws:         ws,
		limiter:    newTokenBucket(s.opts.MessageRate, s.opts.MessageBurst, now),
		wake:       make(chan struct{}, 1),
		writerDone: make(chan struct{}),
	}
}

// run serves the connection until it ends.
func (c *conn) run(q chatQuery) {
	r, start, err := c.srv.enter(c, q.room, q.name)
	if err != nil {
		c.closeWith(wsproto.CloseInternalError, "cannot open the room")
		return
	}
	first := c.resume(r, start, q)
	c.srv.log.Debug("connected", "name", c.name, "room", r.name, "remote", c.ws.RemoteAddr().String())

	c.ws.SetPongHandler(func([]byte) error { c.refreshDeadline(time.Now()); return nil })
	c.refreshDeadline(time.Now())
	go c.writeLoop(first)
	err = c.readLoop()
	// The connection is closed now: the read side ends only when it is.
	<-c.writerDone
	c.srv.leave(c)

	code := wsproto.CloseCode(c.sentCode.Load())
	if code == 0 {
		code = wsproto.CloseStatus(err)
	}
	if code == 0 {
		code = wsproto.CloseAbnormal
	}
	c.srv.metrics.countClose(uint16(code))
	c.srv.log.Debug("disconnected", "name", c.name, "code", int(code), "err", err)
}

// resume decides where a new connection starts reading its room: from now,
// or — when the client says which event it saw last — from the one after,
// with a gap event first if the ring no longer holds all of them or the
// client's id belongs to another run of the room's history (an earlier
// epoch: the server restarted and the ids began again).
func (c *conn) resume(r *room, start uint64, q chatQuery) move {
	m := move{sub: subscription{room: r, next: start}}
	m.frames = append(m.frames, directFrame(&Event{Type: TypeWelcome, Name: c.name, Room: r.name, ID: start - 1, Epoch: r.epoch}))
	if !q.hasSince {
		return m
	}
	oldest := r.oldest()
	switch {
	case q.epoch != "" && q.epoch != r.epoch, q.since >= start:
		m.sub.next = oldest
		m.frames = append(m.frames, c.gapFrame(r, 0))
	case q.since+1 < oldest:
		m.sub.next = oldest
		m.frames = append(m.frames, c.gapFrame(r, oldest-q.since-1))
	default:
		m.sub.next = q.since + 1
	}
	return m
}

func (c *conn) gapFrame(r *room, missed uint64) []byte {
	c.srv.metrics.gaps.Add(1)
	return directFrame(&Event{Type: TypeGap, Room: r.name, Missed: missed})
}

// readLoop reads the client's frames until the connection ends, and returns
// why it ended.
func (c *conn) readLoop() error {
	var buf []byte
	closing := false
	for {
		op, msg, err := c.ws.ReadMessage(buf)
		if err != nil {
			var pe *wsproto.ProtocolError
			if errors.As(err, &pe) {
				c.sentCode.CompareAndSwap(0, uint32(pe.Code))
			}
			return err
		}
		now := time.Now()
		c.refreshDeadline(now)
		c.srv.metrics.messagesIn.Add(1)
		c.srv.metrics.bytesIn.Add(uint64(len(msg)))
		switch {
		case closing:
			// A close is on its way: what the client still sends is dropped.
		case op == wsproto.OpBinary:
			c.closeWith(wsproto.CloseUnsupportedData, "binary messages are not supported")
			closing = true
		case !c.limiter.allow(now):
			c.srv.metrics.rateLimited.Add(1)
			c.refused++
			if c.refused > c.srv.opts.MessageBurst {
				c.closeWith(wsproto.ClosePolicyViolation, "rate limit exceeded")
				closing = true
			} else if c.refused == 1 {
				closing = !c.reply(&Event{Type: TypeError, Text: fmt.Sprintf("slow down: at most %g messages per second; message dropped", c.srv.opts.MessageRate)})
			}
		default:
			c.refused = 0
			closing = !c.handle(string(msg))
		}
		buf = msg
		if cap(buf) > 4*c.srv.opts.MaxMessageBytes {
			buf = nil // do not keep a large buffer for one large message
		}
	}
}

// refreshDeadline moves the read deadline to a full ping interval plus pong
// timeout from now — at most once a second (or an eighth of that time), as
// every reset costs a timer update. A client that sends nothing, not even the pong to a ping, for that
// long is gone.
func (c *conn) refreshDeadline(now time.Time) {
	idle := c.srv.opts.PingInterval + c.srv.opts.PongTimeout
	if now.Sub(c.deadlineSetAt) < min(time.Second, idle/8) {
		return
	}
	c.deadlineSetAt = now
	c.ws.SetReadDeadline(now.Add(idle))
}

// handle acts on one text frame. It returns false when it asked for the
// connection to be closed.
func (c *conn) handle(text string) bool {
	cmd := ParseCommand(text)
	switch cmd.Kind {
	case CmdMessage, CmdMe:
		if msg := c.checkMessage(cmd.Arg); msg != "" {
			return c.reply(&Event{Type: TypeError, Text: msg})
		}
		typ := TypeMessage
		if cmd.Kind == CmdMe {
			typ = TypeMe
		}
		c.srv.publish(c.room, &Event{Type: typ, Room: c.room.name, From: c.name, Text: cmd.Arg, Time: FormatTime(time.Now())})
	case CmdNick:
		if err := c.srv.rename(c, cmd.Arg); err != nil {
			return c.reply(&Event{Type: TypeError, Text: strings.TrimPrefix(err.Error(), "chat: ")})
		}
	case CmdJoin:
		return c.changeRoom(cmd.Arg)
	case CmdWho:
		return c.reply(c.srv.who(c))
	case CmdHelp:
		return c.reply(&Event{Type: TypeHelp, Text: HelpText})
	case CmdUsage:
		return c.reply(&Event{Type: TypeError, Text: cmd.Arg})
	case CmdUnknown:
		return c.reply(&Event{Type: TypeError, Text: "unknown command /" + cmd.Name() + "; /help lists the commands"})
	}
	return true
}

// checkMessage returns why a chat message is refused, or "".
func (c *conn) checkMessage(text string) string {
	switch {
	case strings.TrimSpace(text) == "":
		return "empty message not sent"
	case len(text) > c.srv.opts.MaxMessageBytes:
		return fmt.Sprintf("message too long: %d bytes, the limit is %d; not sent", len(text), c.srv.opts.MaxMessageBytes)
	}
	return ""
}

// changeRoom moves the client to another room: leave in the old, join in the
// new, and a new welcome so the client knows the new room's ids.
func (c *conn) changeRoom(want string) bool {
	name, err := CleanRoom(want)
	if err != nil {
		return c.reply(&Event{Type: TypeError, Text: strings.TrimPrefix(err.Error(), "chat: ")})
	}
	if name == c.room.name {
		return c.reply(&Event{Type: TypeError, Text: "already in #" + name})
	}
	display := c.name
	c.srv.leave(c)
	r, start, err := c.srv.enter(c, name, display)
	if err != nil {
		c.closeWith(wsproto.CloseInternalError, "cannot open the room")
		return false
	}
	m := c.resume(r, start, chatQuery{})
	c.mu.Lock()
	c.moveTo = &m
	c.mu.Unlock()
	c.signal()
	return true
}

// reply queues a frame for this client alone. It returns false, having
// asked for the connection to be closed, if the client lets replies pile up
// unread.
func (c *conn) reply(e *Event) bool {
	frame := directFrame(e)
	c.mu.Lock()
	full := len(c.outbox) >= maxOutbox
	if !full {
		c.outbox = append(c.outbox, frame)
	}
	c.mu.Unlock()
	if full {
		c.closeWith(wsproto.ClosePolicyViolation, "too many unread replies")
		return false
	}
	c.signal()
	return true
}

// signal wakes the writer.
func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// closeWith asks the writer to close the connection with code once it has
// sent what is already addressed to the client — the error event that
// explains a refusal, the events published before it. The reading goroutine
// goes on reading, and ignoring, the client's frames until the client
// answers the close.
func (c *conn) closeWith(code wsproto.CloseCode, reason string) {
	c.mu.Lock()
	if c.closeReq == nil {
		c.closeReq = &closeRequest{code, reason}
	}
	c.mu.Unlock()
	c.signal()
}

// closeRequest is a close the reading side asked the writer for.
type closeRequest struct {
	code   wsproto.CloseCode
	reason string
}

// batchPool holds the slices writers gather a writev in, so that an idle
// connection holds none.
var batchPool = sync.Pool{New: func() any { b := make([][]byte, 0, maxBatch); return &b }}

// writeLoop sends the connection's frames until it ends: its direct replies,
// then its room's events from its cursor in the ring, as many as are ready in
// one writev; then it waits for more.
func (c *conn) writeLoop(first move) {
	defer close(c.writerDone)
	c.sub = first.sub
	pending := first.frames
	ping := time.NewTimer(c.srv.opts.PingInterval)
	defer ping.Stop()
	for {
		bp := batchPool.Get().(*[][]byte)
		frames := append((*bp)[:0], pending...)
		pending = nil
		frames, closeReq := c.takeMail(frames)
		frames, fromRing, lapped := c.readRing(frames)
		if closeReq != nil {
			if len(frames) > 0 && !lapped {
				c.send(frames, fromRing)
			}
			putBatch(bp, frames)
			c.sentCode.CompareAndSwap(0, uint32(closeReq.code))
			c.ws.Close(closeReq.code, closeReq.reason)
			return
		}
		if lapped {
			putBatch(bp, frames)
			c.srv.metrics.slowDisconnects.Add(1)
			c.sentCode.CompareAndSwap(0, uint32(wsproto.ClosePolicyViolation))
			c.ws.Close(wsproto.ClosePolicyViolation, "too slow: missed events")
			return
		}
		if len(frames) > 0 {
			err := c.send(frames, fromRing)
			putBatch(bp, frames)
			if err != nil {
				return
			}
			select { // a busy connection is pinged too
			case <-ping.C:
				if c.ws.WritePing(nil) != nil {
					return
				}
				ping.Reset(c.srv.opts.PingInterval)
			default:
			}
			continue
		}
		putBatch(bp, frames)
		select {
		case <-c.sub.room.ring.Ready(c.sub.next):
		case <-c.wake:
		case <-ping.C:
			if c.ws.WritePing(nil) != nil {
				return
			}
			ping.Reset(c.srv.opts.PingInterval)
		case <-c.ws.Done():
			return
		case <-c.srv.closing:
			c.sentCode.CompareAndSwap(0, uint32(wsproto.CloseGoingAway))
			c.ws.Close(wsproto.CloseGoingAway, "server shutting down")
			return
		}
	}
}

func putBatch(bp *[][]byte, frames [][]byte) {
	clear(frames)
	*bp = frames[:0]
	batchPool.Put(bp)
}

// takeMail appends the direct replies waiting for the writer, applies a
// pending change of room and returns a pending close request.
func (c *conn) takeMail(frames [][]byte) ([][]byte, *closeRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.moveTo != nil {
		c.sub = c.moveTo.sub
		frames = append(frames, c.moveTo.frames...)
		c.moveTo = nil
	}
	frames = append(frames, c.outbox...)
	clear(c.outbox)
	c.outbox = c.outbox[:0]
	return frames, c.closeReq
}

// readRing appends the room events that are ready from the cursor on,
// preceded by a gap event if the ring lapped the cursor (SlowGap), and
// returns how many came from the ring. With SlowDisconnect a lap reports
// lapped instead.
func (c *conn) readRing(frames [][]byte) (out [][]byte, fromRing int, lapped bool) {
	base := len(frames)
	frames = append(frames, nil) // room for a gap event in front of the events
	got, next, missed := c.sub.room.ring.Read(c.sub.next, frames[base+1:base+1])
	c.sub.next = next
	frames = frames[:base+1+len(got)] // got is frames[base+1:]
	if missed == 0 {
		copy(frames[base:], got)
		return frames[:base+len(got)], len(got), false
	}
	if c.srv.opts.SlowPolicy == SlowDisconnect {
		return frames[:base], 0, true
	}
	frames[base] = c.gapFrame(c.sub.room, missed)
	return frames[:base+1+len(got)], len(got), false
}

// send writes the frames with one writev and counts them; the last fromRing
// of them are room events, whose fan-out latency it records.
func (c *conn) send(frames [][]byte, fromRing int) error {
	if err := c.ws.WriteFrames(frames); err != nil {
		return err
	}
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
	return nil
}
