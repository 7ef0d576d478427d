package chat

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/internal/netpoll"
	"ringchat/wsproto"
)

// maxOutbox bounds the replies (who, error, help) waiting for one
// connection's writer. A client that fills it is sending commands faster than
// it reads the answers, and is closed with 1008.
const maxOutbox = 64

// conn is one chat connection. Its reading goroutine turns frames into
// commands and room events. It has no writing goroutine of its own: whatever
// is addressed to it — its room's events, read from the ring at its own
// cursor, and its direct replies — is written by whichever goroutine notices
// first (see writer.go), without waiting; only a connection whose socket is
// full gets a goroutine that waits, until it has caught up.
type conn struct {
	srv *Server
	ws  *wsproto.Conn

	// Owned by the reading goroutine; name and room change under srv.mu, so
	// other goroutines holding it may read them.
	name    string
	room    *room
	sess    *session // the client's session: its name, rate limit and accepted sends
	claimID string   // names this connection's claims in the presence: node and sequence
	v1      bool     // the client speaks ringchat.v1: JSON send frames, each answered
	closing bool     // a close was asked for: further messages are dropped
	ip      string

	// deadlineSetAt is when the read deadline was last moved (Unix
	// nanoseconds): by what the client sent, or by the keepalive sweep when
	// the client was seen reading (see refreshDeadline).
	deadlineSetAt atomic.Int64

	// A fed connection is read without a goroutine of its own (feed.go):
	// fed is set before reading starts; readState is readParked,
	// readRunning or readEnded; pollKey names it in the server's poller.
	fed       bool
	readState atomic.Int32
	pollKey   netpoll.Key

	// started is set once the welcome is queued: before, the keepalive
	// leaves the connection alone, for the welcome is the first frame.
	started atomic.Bool

	// replaced is set when a new connection of the same session took over
	// in the same room: this one's departure is not announced.
	replaced atomic.Bool

	// handling holds handlingBusy while a message is acted on and
	// handlingStopped once the server is going away (see goAway).
	handling atomic.Uint32

	// The room's fan-out list this connection is in, and where; under
	// bucket.mu.
	bucket    *bucket
	bucketIdx int

	// Handed to the writer, under mu, by post.
	mu       sync.Mutex
	mail     atomic.Bool   // something below is set: the writer takes mu
	outbox   [][]byte      // direct frames, in order
	moveTo   *move         // a room change the writer has yet to make
	closeReq *closeRequest // set once: send what is queued, then close
	pingDue  bool          // the keepalive timer fired

	// pending counts the notifications since the writer last found nothing
	// to do; the notification that raises it from 0 runs the writer. While
	// it is above 0, exactly one goroutine is the writer (see notify).
	pending  atomic.Int64
	sentCode atomic.Uint32 // the close code this side sent, for /metrics

	// Owned by the writer.
	sub   subscription
	carry *[][]byte // a batch the non-blocking pass could not write
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

func newConn(s *Server, ws *wsproto.Conn, ip string) *conn {
	c := &conn{
		srv: s,
		ws:  ws,
		ip:  ip,
		v1:  ws.Subprotocol() == SubprotocolV1,
		fed: s.canFeed(ws),
	}
	// The handlers are set before the connection is in the server's set:
	// from then on Shutdown may close it, and closing writes, which reads
	// them.
	ws.SetPongHandler(func([]byte) error { c.refreshDeadline(time.Now()); return nil })
	// A client seen reading is alive, even if its pong waits behind what it
	// reads: the keepalive counts that as much as the pong.
	ws.SetWriteProgressHandler(func() { c.refreshDeadline(time.Now()) })
	return c
}

// start gives the connection its session — the one the client resumes, if
// it is alive, or a new one — puts the connection in its room and queues
// its welcome. It runs on the HTTP handler's goroutine; the reading
// goroutine starts after it.
func (c *conn) start(q chatQuery) error {
	now := time.Now()
	sess, name, old := c.srv.sessions.attach(q.session, c, func() tokenBucket {
		return newTokenBucket(c.srv.opts.MessageRate, c.srv.opts.MessageBurst, now)
	}, now)
	c.sess = sess
	c.claimID = c.srv.opts.Node + "/" + strconv.FormatUint(c.srv.connSeq.Add(1), 10)
	if name != "" {
		q.name = name // the session's name wins over the query's
	}
	if q.name == "" {
		q.name = "guest-" + strconv.FormatUint(c.srv.guestSeq.Add(1), 10)
	}
	if old != nil {
		// Within one room the new connection takes the old one's place
		// silently; a move to another room is a leave and a join.
		c.srv.mu.Lock()
		same := old.room != nil && old.room.name == q.room
		c.srv.mu.Unlock()
		old.replaced.Store(same)
		old.closeWith(wsproto.CloseNormal, "replaced by a new connection of this session")
	}
	r, start, err := c.srv.enter(c, q.room, q.name)
	if err != nil {
		return err
	}
	sess.setName(c.name)
	first := c.resume(r, start, q)
	c.post(func() { c.moveTo = &first })
	c.srv.log.Debug("connected", "name", c.name, "room", r.name, "remote", c.ws.RemoteAddr().String())
	c.refreshDeadline(time.Now())
	c.started.Store(true)
	c.srv.startKeepalive()
	c.wake() // the welcome
	return nil
}

// read is the connection's reading goroutine: it waits for the next
// message, holding no buffer, and handles it. Then it hands the reading to a
// fresh goroutine and ends, leaving behind the stack that handling the
// message grew: an idle connection thus waits on the smallest stack the
// runtime gives, which is most of what it costs. When the connection ends,
// the last reading goroutine cleans up.
func (c *conn) read() {
	if err := c.ws.WaitReadable(); err != nil {
		c.end(err)
		return
	}
	if err := c.readMessage(); err != nil {
		c.end(err)
		return
	}
	go c.read()
}

// end cleans up after the connection, which is closed: the read side ends
// only when it is.
func (c *conn) end(err error) {
	c.srv.leave(c)
	c.srv.sessions.detach(c.sess, c, time.Now())
	code := wsproto.CloseCode(c.sentCode.Load())
	if code == 0 {
		code = wsproto.CloseStatus(err)
	}
	if code == 0 {
		code = wsproto.CloseAbnormal
	}
	c.srv.metrics.countClose(uint16(code))
	c.srv.log.Debug("disconnected", "name", c.name, "code", int(code), "err", err)
	c.srv.ended(c)
}

// resume decides where a new connection starts reading its room: from now;
// from the event after the one the client says it saw last (since), with a
// gap event first if the room no longer retains all of them or the client's
// id belongs to another run of the room's history (an earlier epoch); or,
// asked for history=N, from the room's Nth newest event. Events older than
// the ring holds come from the room's log.
func (c *conn) resume(r *room, start uint64, q chatQuery) move {
	m := move{sub: subscription{room: r, next: start}}
	epoch := r.epoch()
	m.frames = append(m.frames, directFrame(&Event{Type: TypeWelcome, Name: c.name, Room: r.name, ID: start - 1, Epoch: epoch,
		Session: c.sess.token, Limits: c.srv.limits()}))
	switch {
	case q.hasSince:
		oldest := r.log.Oldest()
		switch {
		case q.epoch != "" && q.epoch != epoch, q.since >= start:
			m.sub.next = oldest
			m.frames = append(m.frames, c.gapFrame(r, 0))
		case q.since+1 < oldest:
			m.sub.next = oldest
			m.frames = append(m.frames, c.gapFrame(r, oldest-q.since-1))
		default:
			m.sub.next = q.since + 1
		}
	case q.history > 0:
		m.sub.next = max(r.log.Oldest(), start-min(uint64(q.history), start-1))
	}
	return m
}

func (c *conn) gapFrame(r *room, missed uint64) []byte {
	c.srv.metrics.gaps.Add(1)
	return directFrame(&Event{Type: TypeGap, Room: r.name, Missed: missed})
}

// readMessage reads the client's next frame and acts on it. An error ends
// the connection.
func (c *conn) readMessage() error {
	bp := messagePool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 2*messageBufferSize {
			*bp = (*bp)[:0]
			messagePool.Put(bp)
		}
	}()
	op, msg, err := c.ws.ReadMessage((*bp)[:0])
	*bp = msg
	if err != nil {
		return c.readFailed(err)
	}
	return c.handleMessage(op, msg)
}

// readFailed notes the close code of a rule the client broke, for
// /metrics, and returns err.
func (c *conn) readFailed(err error) error {
	var pe *wsproto.ProtocolError
	if errors.As(err, &pe) {
		c.sentCode.CompareAndSwap(0, uint32(pe.Code))
	}
	return err
}

// The bits of conn.handling.
const (
	handlingBusy    = 1 // a message is being acted on
	handlingStopped = 2 // the server is going away: take no more
)

// handleMessage acts on a message the client sent, however it was read,
// unless the server is going away. It returns an error only to end the
// connection.
func (c *conn) handleMessage(op wsproto.Opcode, msg []byte) error {
	if !c.handling.CompareAndSwap(0, handlingBusy) {
		return nil // after the 1001 was asked for: not taken, not answered
	}
	err := c.act(op, msg)
	if c.handling.Add(^uint32(0))&handlingStopped != 0 { // handlingBusy off
		c.closeWith(wsproto.CloseGoingAway, goingAwayReason) // goAway found it busy
	}
	return err
}

// goingAwayReason is the reason of the 1001 a shutdown sends.
const goingAwayReason = "server shutting down"

// goAway closes c with 1001 for a server shutdown, but never between
// publishing a send and answering it: a message being acted on is answered
// first, and what the client sends after that is not taken. So every
// event a client's send became has reached it as an ack, and a client
// that sends again what had no answer publishes nothing twice.
func (c *conn) goAway() {
	if c.handling.Or(handlingStopped)&handlingBusy == 0 {
		c.closeWith(wsproto.CloseGoingAway, goingAwayReason)
	}
}

// act is handleMessage's work.
func (c *conn) act(op wsproto.Opcode, msg []byte) error {
	now := time.Now()
	c.refreshDeadline(now)
	c.srv.metrics.messagesIn.Add(1)
	c.srv.metrics.bytesIn.Add(uint64(len(msg)))
	switch {
	case c.closing:
		return nil // a close is on its way: what the client still sends is dropped
	case op == wsproto.OpBinary:
		c.closeWith(wsproto.CloseUnsupportedData, "binary messages are not supported")
		c.closing = true
		return nil
	}
	if !c.v1 {
		c.take(string(msg), "", now)
		return nil
	}
	f, err := parseSendFrame(msg)
	if err != nil {
		c.refuse(f.CID, ReasonBadFrame, err.Error(), 0)
		return nil
	}
	if a, done := c.sess.claim(f.CID); done {
		c.srv.metrics.duplicateSends.Add(1)
		c.acknowledge(f.CID, a) // sent before: answered again, not published again
		return nil
	}
	a, accepted := c.take(f.Text, f.CID, now)
	c.sess.settle(f.CID, a, accepted)
	if accepted {
		c.acknowledge(f.CID, a)
	}
	return nil
}

// take acts on one line the client sent (cid: its ringchat.v1 client id,
// or empty), unless the rate limit or the line itself refuses it, and says
// what it became and whether it was accepted. A refusal is answered here;
// an acceptance is the caller's to answer.
func (c *conn) take(line, cid string, now time.Time) (ackEntry, bool) {
	if ok, wait := c.sess.allow(now); !ok {
		c.srv.metrics.rateLimited.Add(1)
		if c.sess.refusedInARow() > c.srv.opts.MessageBurst {
			c.closeWith(wsproto.ClosePolicyViolation, "rate limit exceeded")
			c.closing = true
			return ackEntry{}, false
		}
		c.refuse(cid, ReasonRateLimited, fmt.Sprintf("slow down: at most %g messages a second; not sent, retry in %.2g s", c.srv.opts.MessageRate, wait.Seconds()), wait)
		return ackEntry{}, false
	}
	o := c.handle(line)
	switch {
	case o.closed:
		c.closing = true
		return ackEntry{}, false
	case o.reason != "":
		c.refuse(cid, o.reason, o.text, 0)
		return ackEntry{}, false
	}
	return o.ack, true
}

// refuse tells the client a line was not taken: an error event with the
// reason (and, in ringchat.v1, the send's client id).
func (c *conn) refuse(cid, reason, text string, retryAfter time.Duration) {
	c.srv.metrics.countRefusedSend(reason)
	e := &Event{Type: TypeError, CID: cid, Reason: reason, Text: text}
	if retryAfter > 0 {
		e.RetryAfterMs = max(1, retryAfter.Milliseconds())
	}
	c.closing = !c.reply(e)
}

// acknowledge answers an accepted ringchat.v1 send.
func (c *conn) acknowledge(cid string, a ackEntry) {
	c.closing = !c.reply(&Event{Type: TypeAck, CID: cid, ID: a.id, Room: a.room})
}

// messageBufferSize is the size of the pooled buffers messages are read into.
const messageBufferSize = 4096

// messagePool holds the buffers messages are read into, so that an idle
// connection holds none. A buffer that grew for a large message is dropped.
var messagePool = sync.Pool{New: func() any { b := make([]byte, 0, messageBufferSize); return &b }}

// refreshDeadline moves the read deadline to a full ping interval plus pong
// timeout from now — at most once a second (or an eighth of that time), as
// every reset costs a timer update. A client that sends nothing, not even
// the pong to a ping, for that long is gone — unless it is seen reading: a
// waiting write that sees the client take bytes calls this too, for the
// pong of a client that reads slowly waits behind what it has still to
// read. Any goroutine may call it.
func (c *conn) refreshDeadline(now time.Time) {
	idle := c.srv.opts.PingInterval + c.srv.opts.PongTimeout
	if now.Sub(time.Unix(0, c.deadlineSetAt.Load())) < min(time.Second, idle/8) {
		return
	}
	c.deadlineSetAt.Store(now.UnixNano())
	if !c.fed { // a fed connection's silence is checked by the keepalive
		c.ws.SetReadDeadline(now.Add(idle))
	}
}

// outcome is what became of a line a client sent.
type outcome struct {
	ack    ackEntry // accepted: the room event it became (id 0: it made none)
	reason string   // refused: one of the Reason words
	text   string   // refused: the reason in words
	closed bool     // the connection is being closed: no answer
}

func refused(reason, text string) outcome { return outcome{reason: reason, text: text} }

// handle acts on one line: a chat message or a command.
func (c *conn) handle(text string) outcome {
	cmd := ParseCommand(text)
	switch cmd.Kind {
	case CmdMessage, CmdMe:
		if reason, msg := c.checkMessage(cmd.Arg); reason != "" {
			return refused(reason, msg)
		}
		typ := TypeMessage
		if cmd.Kind == CmdMe {
			typ = TypeMe
		}
		id, err := c.srv.publish(c.room, &Event{Type: typ, Room: c.room.name, From: c.name, Text: cmd.Arg})
		if err != nil {
			return refused(ReasonUnavailable, strings.TrimPrefix(err.Error(), "chat: "))
		}
		return outcome{ack: ackEntry{room: c.room.name, id: id}}
	case CmdNick:
		id, err := c.srv.rename(c, cmd.Arg)
		switch {
		case errors.Is(err, errStoreUnavailable):
			return refused(ReasonUnavailable, strings.TrimPrefix(err.Error(), "chat: "))
		case err != nil:
			return refused(ReasonBadCommand, strings.TrimPrefix(err.Error(), "chat: "))
		}
		c.sess.setName(c.name)
		return outcome{ack: ackEntry{room: c.room.name, id: id}}
	case CmdJoin:
		return c.changeRoom(cmd.Arg)
	case CmdWho:
		return c.answer(c.srv.who(c))
	case CmdHelp:
		return c.answer(&Event{Type: TypeHelp, Text: HelpText})
	case CmdUsage:
		return refused(ReasonBadCommand, cmd.Arg)
	case CmdUnknown:
		return refused(ReasonBadCommand, "unknown command /"+cmd.Name()+"; /help lists the commands")
	}
	return outcome{ack: ackEntry{room: c.room.name}}
}

// answer sends a command's answer, which makes no room event.
func (c *conn) answer(e *Event) outcome {
	if !c.reply(e) {
		return outcome{closed: true}
	}
	return outcome{ack: ackEntry{room: c.room.name}}
}

// checkMessage returns why a chat message is refused (a Reason word and
// the words for it), or "".
func (c *conn) checkMessage(text string) (reason, msg string) {
	switch {
	case strings.TrimSpace(text) == "":
		return ReasonEmpty, "empty message not sent"
	case len(text) > c.srv.opts.MaxMessageBytes:
		return ReasonTooLong, fmt.Sprintf("message too long: %d bytes, the limit is %d; not sent", len(text), c.srv.opts.MaxMessageBytes)
	}
	return "", ""
}

// changeRoom moves the client to another room: leave in the old, join in the
// new, and a new welcome so the client knows the new room's ids.
func (c *conn) changeRoom(want string) outcome {
	name, err := CleanRoom(want)
	if err != nil {
		return refused(ReasonBadCommand, strings.TrimPrefix(err.Error(), "chat: "))
	}
	if name == c.room.name {
		return refused(ReasonBadCommand, "already in #"+name)
	}
	display := c.name
	c.srv.leave(c)
	r, start, err := c.srv.enter(c, name, display)
	if err != nil {
		c.closeWith(wsproto.CloseInternalError, "cannot open the room")
		return outcome{closed: true}
	}
	c.sess.setName(c.name)
	m := c.resume(r, start, chatQuery{})
	c.post(func() { c.moveTo = &m })
	c.wake()
	return outcome{ack: ackEntry{room: r.name}}
}

// reply queues a frame for this client alone. It returns false, having
// asked for the connection to be closed, if the client lets replies pile up
// unread.
func (c *conn) reply(e *Event) bool {
	frame := directFrame(e)
	full := false
	c.post(func() {
		if full = len(c.outbox) >= maxOutbox; !full {
			c.outbox = append(c.outbox, frame)
		}
	})
	if full {
		c.closeWith(wsproto.ClosePolicyViolation, "too many unread replies")
		return false
	}
	c.wake()
	return true
}

// closeWith asks the writer to close the connection with code once it has
// sent what is already addressed to the client — the error event that
// explains a refusal, the events published before it. The reading goroutine
// goes on reading, and ignoring, the client's frames until the client
// answers the close.
func (c *conn) closeWith(code wsproto.CloseCode, reason string) {
	c.post(func() {
		if c.closeReq == nil {
			c.closeReq = &closeRequest{code, reason}
		}
	})
	c.wake()
}

// closeRequest is a close the reading side asked the writer for.
type closeRequest struct {
	code   wsproto.CloseCode
	reason string
}
