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
	idx  int
	room int
	ws   *websocket.Conn
	raw  net.Conn // the TCP (or TLS) connection under ws, for deadlines
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
	raw, err := r.dialer.DialContext(ctx, "tcp", r.tgt.HostPort)
	if err != nil {
		return nil, err
	}
	// Cancelling ctx interrupts whatever step is blocked.
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	c, err := r.handshake(ctx, raw, i)
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

func (r *runner) handshake(ctx context.Context, raw net.Conn, i int) (*client, error) {
	conn := raw
	if r.tgt.URL.Scheme == "wss" {
		tc := tls.Client(raw, &tls.Config{ServerName: r.tgt.URL.Hostname()})
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		conn = tc
	}
	room := i % r.cfg.Rooms
	cfg := &websocket.Config{
		Location: r.tgt.clientURL(clientName(i), roomName(room)),
		Origin:   r.tgt.Origin,
		Version:  websocket.ProtocolVersionHybi13,
	}
	ws, err := websocket.NewClient(cfg, conn)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	ws.MaxPayloadBytes = max(64<<10, 4*r.cfg.Size+4096)
	var frame []byte
	if err := websocket.Message.Receive(ws, &frame); err != nil {
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
		ws:     ws,
		raw:    conn,
		sh:     &r.shards[i%len(r.shards)],
		tr:     newTracker(room, r.cfg.Rooms, r.cfg.Senders),
		lastID: ev.ID,
	}, nil
}

// read receives and checks everything c gets until the connection ends.
func (r *runner) read(c *client) {
	defer r.readers.Done()
	var frame []byte
	for {
		if err := websocket.Message.Receive(c.ws, &frame); err != nil {
			if errors.Is(err, websocket.ErrFrameTooLarge) {
				r.malformed.Add(1)
				continue
			}
			if !r.closing.Load() {
				c.dead.Store(true)
				r.dropped.Add(1)
				r.dropErrors.add(ErrorKind(err))
			}
			return
		}
		r.handle(c, frame, r.clock.Now())
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
			sh.latency.Record(time.Duration(now - st.nanos))
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
