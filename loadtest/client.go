package loadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"
)

// client is one connection of the run.
type client struct {
	idx  int // of all the clients of the run
	room int
	node int // the index of its endpoint
	w    wire
	raw  net.Conn // the TCP (or TLS) connection under w, for deadlines
	sh   *shard

	// Owned by the client's reader goroutine.
	tr        tracker
	lastID    uint64 // latest room event id seen, starting from welcome's
	excuseGap bool   // a gap event announced the next id jump

	dead atomic.Bool // the connection failed before teardown
	// refused counts the lines of this client the server refused (error
	// events): they make no deliveries, and are not loss.
	refused atomic.Uint64
}

// connect opens client i, retrying failed attempts with exponential
// backoff, and records its connect time.
func (r *runner) connect(ctx context.Context, i int) (*client, error) {
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		start := time.Now()
		c, err := r.dial(ctx, i)
		if err == nil {
			r.connectTime.Record(time.Since(start))
			return c, nil
		}
		if attempt == r.cfg.Retries || ctx.Err() != nil {
			return nil, err
		}
		r.connectRetries.Add(1)
		t := time.NewTimer(backoff/2 + rand.N(backoff/2))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// maxBackoff is the longest total backoff connect can wait.
func maxBackoff(retries int) time.Duration {
	var total time.Duration
	b := 100 * time.Millisecond
	for range retries {
		total += b
		b = min(2*b, 2*time.Second)
	}
	return total
}

// dial makes one attempt: TCP, TLS for wss, the WebSocket handshake, and
// the server's welcome, all within ConnectTimeout.
func (r *runner) dial(ctx context.Context, i int) (*client, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	node := i % len(r.tgts)
	// A node's clients take the source addresses in turn.
	d := r.dialers[i/len(r.tgts)%len(r.dialers)]
	raw, err := d.DialContext(ctx, "tcp", r.tgts[node].HostPort)
	if err != nil {
		return nil, err
	}
	// Cancelling ctx interrupts whatever step is blocked.
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	c, err := r.handshake(ctx, raw, i, node)
	if !stop() || err != nil {
		raw.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	raw.SetDeadline(time.Time{})
	return c, nil
}

// wire is a client's WebSocket connection: golang.org/x/net/websocket's
// (xnetWire) or the raw client's (rawConn). One goroutine reads; writes may
// come from others.
type wire interface {
	// readMessage returns the next message, valid until the next call:
	// the welcome. An error is final.
	readMessage() ([]byte, error)
	// each reads messages until the connection ends and calls fn with
	// every one, valid during the call; nil for a message x/net has
	// skipped for being over the limit. It returns why reading ended.
	each(fn func([]byte)) error
	// writeText sends p as one text message.
	writeText(p []byte) error
	// close sends a close frame. x/net then closes the connection; the raw
	// client's reader does once the server has answered, or its read
	// fails.
	close() error
}

// xnetWire is the x/net client. Receiving a message allocates it.
type xnetWire struct {
	ws    *websocket.Conn
	frame []byte
}

func (w *xnetWire) readMessage() ([]byte, error) {
	err := websocket.Message.Receive(w.ws, &w.frame)
	return w.frame, err
}

func (w *xnetWire) each(fn func([]byte)) error {
	for {
		frame, err := w.readMessage()
		switch {
		case errors.Is(err, websocket.ErrFrameTooLarge):
			fn(nil) // not an event: counted as malformed
		case err != nil:
			return err
		default:
			fn(frame)
		}
	}
}

func (w *xnetWire) writeText(p []byte) error {
	_, err := w.ws.Write(p)
	return err
}

func (w *xnetWire) close() error { return w.ws.Close() }

// maxPayload is the longest message a client accepts: well above what the
// server sends for the run's messages.
func (c *Config) maxPayload() int { return max(64<<10, 4*c.Size+4096) }

func (r *runner) handshake(ctx context.Context, raw net.Conn, i, node int) (*client, error) {
	conn := raw
	tgt := r.tgts[node]
	if tgt.URL.Scheme == "wss" {
		tc := tls.Client(raw, &tls.Config{ServerName: tgt.URL.Hostname()})
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		conn = tc
	}
	room := i % r.cfg.Rooms
	loc := tgt.clientURL(clientName(i), roomName(room))
	var w wire
	if r.cfg.Client == ClientRaw {
		rc, err := dialRaw(conn, loc, tgt.Origin.String(), r.cfg.maxPayload(), r.cfg.Compression)
		if err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		if r.cfg.Compression && !rc.rd.deflate {
			return nil, errors.New("handshake: the server declined permessage-deflate")
		}
		rc.rd.counter = &r.wireBytes
		w = rc
	} else {
		cfg := &websocket.Config{Location: loc, Origin: tgt.Origin, Version: websocket.ProtocolVersionHybi13}
		ws, err := websocket.NewClient(cfg, conn)
		if err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		ws.MaxPayloadBytes = r.cfg.maxPayload()
		w = &xnetWire{ws: ws}
	}
	frame, err := w.readMessage()
	if err != nil {
		return nil, fmt.Errorf("waiting for welcome: %w", err)
	}
	ev, err := ScanEvent(frame)
	switch {
	case err != nil:
		return nil, fmt.Errorf("first frame: %w", err)
	case string(ev.Type) == "error":
		return nil, fmt.Errorf("server error instead of welcome: %q", ev.Text)
	case string(ev.Type) != "welcome":
		return nil, fmt.Errorf("first frame is %q, want welcome", ev.Type)
	}
	r.noteLimits(frame)
	return &client{
		idx:    i,
		room:   room,
		node:   node,
		w:      w,
		raw:    conn,
		sh:     &r.shards[i%len(r.shards)],
		tr:     newTracker(room, r.cfg.Rooms, r.cfg.Senders),
		lastID: ev.ID,
	}, nil
}

// read receives and checks everything c gets until the connection ends.
func (r *runner) read(c *client) {
	defer r.readers.Done()
	err := c.w.each(func(frame []byte) { r.handle(c, frame, r.clock.Now()) })
	if !r.closing.Load() {
		c.dead.Store(true)
		r.dropped.Add(1)
		r.dropErrors.add(ErrorKind(err))
	}
}

// handle accounts for one frame received by c at now (clock nanoseconds).
func (r *runner) handle(c *client, frame []byte, now int64) {
	ev, err := ScanEvent(frame)
	if err != nil {
		r.malformed.Add(1)
		return
	}
	typ := string(ev.Type) // no allocation: only compared
	switch typ {
	case "message", "me", "join", "leave", "nick":
		if ev.ID != 0 {
			c.checkID(r, ev.ID)
		}
	}
	switch typ {
	case "message":
		st, ours, ok := parseText(ev.Text, r.runID)
		switch {
		case !ours:
			r.foreign.Add(1)
			return
		case !ok:
			r.malformed.Add(1)
			return
		case !c.tr.accepts(st.sender):
			r.misrouted.Add(1)
			return
		}
		d := c.tr.receive(st.sender, st.seq)
		sh := c.sh
		if d.Delivered != 0 {
			sh.delivered.Add(1)
			lat := time.Duration(now - st.nanos)
			sh.latency.Record(lat)
			if n := len(r.tgts); n > 1 {
				if st.sender%n != c.node {
					sh.crossNode.Record(lat)
				} else {
					sh.sameNode.Record(lat)
				}
			}
		}
		if d.Duplicated != 0 {
			sh.duplicated.Add(1)
		}
		if d.OutOfOrder != 0 {
			sh.outOfOrder.Add(1)
		}
		if d.Unverified != 0 {
			sh.unverified.Add(1)
		}
		if d.Holes != 0 {
			sh.holes.Add(d.Holes)
		}
	case "gap":
		r.gaps.Add(1)
		r.gapMissed.Add(uint64(ev.Missed))
		c.excuseGap = true
	case "error":
		r.serverErrors.Add(1)
		r.serverErrorText.add(string(ev.Text))
		reason := string(ev.Reason)
		if reason == "" {
			reason = "unknown"
		}
		r.refusalReasons.add(reason)
		c.refused.Add(1) // only senders send, and every line refused gets its error
	}
}

// checkID follows the room's event ids, which the contract makes
// consecutive for every member.
func (c *client) checkID(r *runner, id uint64) {
	switch {
	case id == c.lastID+1:
	case id > c.lastID+1:
		if !c.excuseGap {
			r.idSkipped.Add(id - c.lastID - 1)
		}
	default:
		r.idRepeated.Add(1)
	}
	c.excuseGap = false
	c.lastID = max(c.lastID, id)
}

// ErrorKind names an error without the parts that differ between
// connections, such as ephemeral port numbers, so that errors can be
// tallied. The soak tallies its clients' errors with it too.
func ErrorKind(err error) string {
	msg := err.Error()
	var op *net.OpError
	if errors.As(err, &op) {
		inner := op.Err
		var se *os.SyscallError
		if errors.As(inner, &se) {
			inner = se.Err
		}
		kind := op.Op + ": " + inner.Error()
		if op.Timeout() {
			kind = op.Op + ": timeout"
		}
		msg = strings.Replace(msg, op.Error(), kind, 1)
	}
	return msg
}
