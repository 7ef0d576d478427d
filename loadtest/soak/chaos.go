package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/net/websocket"
	"ringchat/loadtest"
)

// startChaos starts the chatters' senders and every other behaviour; they
// run until ctx ends, each finishing its current step (bounded) first.
func (s *soaker) startChaos(ctx context.Context) {
	for _, ch := range s.chatters {
		s.chaos.Go(func() { s.chat(ctx, ch) })
	}
	for k := range s.cfg.SlowReaders {
		s.chaos.Go(func() { s.slowRead(ctx, k) })
	}
	for k := range s.cfg.Vanishers {
		s.chaos.Go(func() { s.vanish(ctx, k) })
	}
	for k := range s.cfg.Garbage {
		s.chaos.Go(func() { s.garbage(ctx, k) })
	}
	for k := range s.cfg.Storm {
		s.chaos.Go(func() { s.storm(ctx, k) })
	}
	for k := range s.cfg.Flooders {
		s.chaos.Go(func() { s.flood(ctx, k) })
	}
}

// vanish is one vanisher's life: connect, read for a while, perhaps send a
// message, and reset the connection; one time in ten, reset it in the
// middle of the handshake instead.
func (s *soaker) vanish(ctx context.Context, k int) {
	b := s.vanishStats
	room := s.roomFor(k)
	sleepCtx(ctx, jitter(0, 2*time.Second)) // not all at once
	for i := 0; ctx.Err() == nil; i++ {
		if (k+i)%10 == 0 {
			s.vanishMidHandshake(ctx, room)
		} else {
			c, err := s.dialWS(ctx, b, "van-"+strconv.Itoa(k), room, 0, 0, "", false)
			if err != nil {
				if ctx.Err() == nil {
					b.problem("could not connect: " + loadtest.ErrorKind(err))
				}
				sleepCtx(ctx, time.Second)
				continue
			}
			done := make(chan struct{})
			go func() { discard(c.ws); close(done) }()
			sleepCtx(ctx, jitter(200*time.Millisecond, 3*time.Second))
			how := "reset after reading"
			if i%3 == 1 {
				websocket.Message.Send(c.ws, "vanishing "+strconv.Itoa(k))
				how = "reset right after sending a message"
			}
			reset(c.tcp)
			<-done
			b.outcome(how)
		}
		sleepCtx(ctx, jitter(100*time.Millisecond, time.Second))
	}
}

// vanishMidHandshake sends part of a handshake and resets the connection.
func (s *soaker) vanishMidHandshake(ctx context.Context, room *room) {
	b := s.vanishStats
	dctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	c, err := dialTCP(dctx, s.tgt.HostPort, 0)
	if err != nil {
		if ctx.Err() == nil {
			b.problem("could not connect: " + loadtest.ErrorKind(err))
		}
		return
	}
	req, _ := newHandshake(s.tgt.HostPort, chatTarget(s.path, url.Values{"room": {room.name}}))
	raw := req.bytes()
	c.Write(raw[:10+rand.IntN(len(raw)-20)])
	sleepCtx(ctx, jitter(0, 200*time.Millisecond))
	reset(c)
	b.outcome("reset in the middle of the handshake")
}

// discard reads and drops frames until the connection fails.
func discard(ws *websocket.Conn) {
	var frame []byte
	for websocket.Message.Receive(ws, &frame) == nil {
	}
}

// flood is one flooder's life: connect (raw), send far more messages than
// the rate limit allows, expect the burst accepted, an error event for each
// line refused, and close 1008 once more than a burst's worth were refused
// in a row; pause, and again.
func (s *soaker) flood(ctx context.Context, k int) {
	room := s.roomFor(k)
	sleepCtx(ctx, jitter(0, 3*time.Second))
	for ctx.Err() == nil {
		s.floodOnce(ctx, k, room)
		sleepCtx(ctx, jitter(3*time.Second, 8*time.Second))
	}
}

// floodMessages is how many messages a flooder sends: more than twice the
// burst, so that the refusals exceed it.
func (s *soaker) floodMessages() int { return 2*s.cfg.ServerBurst + 40 }

func (s *soaker) floodOnce(ctx context.Context, k int, room *room) {
	b := s.floodStats
	rc, name, ok := s.rawConnect(ctx, b, "flood-"+strconv.Itoa(k), room)
	if !ok {
		return
	}
	defer rc.c.Close()
	r := startRawReader(rc)
	start := time.Now()
	var frames []wireFrame
	for i := range s.floodMessages() {
		frames = append(frames, goodFrame(opText, []byte("flood "+name+" "+strconv.Itoa(i))))
	}
	if err := rc.write(frames...); err != nil {
		b.problem("could not send: " + loadtest.ErrorKind(err))
		r.waitEnd(0)
		return
	}
	code, ok := r.waitClose(closeWait)
	elapsed := time.Since(start)
	rc.write(goodFrame(opClose, closePayload(code, "")))
	eof := r.waitEnd(closeWait)
	st := r.stats()
	limit := uint64(s.cfg.ServerBurst) + uint64(s.cfg.ServerRate*elapsed.Seconds()) + 1
	switch {
	case !ok:
		b.problem("no close frame within " + closeWait.String())
	case code != codePolicy:
		b.problem(fmt.Sprintf("close %d, want 1008", code))
	case st.errors < uint64(s.cfg.ServerBurst) || st.errors+st.ownMessages(name) > uint64(s.floodMessages()):
		b.problem(fmt.Sprintf("%d error events and %d echoes for %d lines: want an error for each line refused, at least a burst (%d) of them before the close", st.errors, st.ownMessages(name), s.floodMessages(), s.cfg.ServerBurst))
	case st.ownMessages(name) > limit:
		b.problem(fmt.Sprintf("more messages accepted than the rate limit allows (%d > %d)", st.ownMessages(name), limit))
	case !eof:
		b.problem("the server did not end the TCP connection after the close")
	default:
		b.outcome("an error event for each line refused, then close 1008")
		if n := st.ownMessages(name); n < uint64(s.cfg.ServerBurst) {
			b.outcome(fmt.Sprintf("fewer echoes than the burst before the close (%d of %d)", n, s.cfg.ServerBurst))
		}
	}
}

// closeWait bounds how long a hostile client waits for the server's
// close frame, and then for the end of the TCP connection.
const closeWait = 5 * time.Second

// rawConnect makes a valid handshake on a raw connection and reads the
// welcome, returning the name it gives the client: name, or name made
// unique in the room (an earlier connection of the same client may not
// have left yet). A failure, unless ctx ended, is a problem of b's; then
// ok is false.
func (s *soaker) rawConnect(ctx context.Context, b *behaviourStats, name string, room *room) (rc *rawConn, welcomeName string, ok bool) {
	rc, welcome, err := s.dialRaw(ctx, b, name, room)
	if err != nil {
		if ctx.Err() == nil {
			b.problem("could not connect: " + loadtest.ErrorKind(err))
		}
		return nil, "", false
	}
	return rc, welcome.Name, true
}

// dialRaw is rawConnect's work.
func (s *soaker) dialRaw(ctx context.Context, b *behaviourStats, name string, room *room) (*rawConn, event, error) {
	b.attempts.Add(1)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	c, err := dialTCP(ctx, s.tgt.HostPort, 0)
	if err != nil {
		return nil, event{}, fmt.Errorf("dial: %w", err)
	}
	req, key := newHandshake(s.tgt.HostPort, chatTarget(s.path, url.Values{"name": {name}, "room": {room.name}}))
	rc, resp, err := rawHandshake(ctx, c, req, key)
	if err == nil && rc == nil {
		err = fmt.Errorf("handshake: %s", resp.Status)
	}
	if err != nil {
		c.Close()
		return nil, event{}, err
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	f, err := rc.read()
	if stop(); err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		c.Close()
		return nil, event{}, fmt.Errorf("waiting for welcome: %w", err)
	}
	var ev event
	if f.Op != opText || json.Unmarshal(f.Payload, &ev) != nil || ev.Type != "welcome" {
		c.Close()
		return nil, event{}, fmt.Errorf("first frame is not a welcome: %.200q", f.Payload)
	}
	c.SetDeadline(time.Time{})
	b.connected.Add(1)
	return rc, ev, nil
}

// rawReader reads a raw connection's frames on a goroutine of its own and
// keeps what the hostile clients check: the close code, pongs, events.
type rawReader struct {
	rc     *rawConn
	closed chan struct{} // a close frame arrived (or the connection ended)
	ended  chan struct{} // the connection ended
	// Set by the reading goroutine before it closes the channels.
	code   int
	err    error
	result rawStats
	// live counts, for waits on pongs and events
	pongs  chan []byte
	events chan event
}

// rawStats is what a rawReader saw.
type rawStats struct {
	errors   uint64
	messages map[string]uint64 // from → messages and me events
	badFrame string            // a frame a server must not send, if any
}

func (st rawStats) ownMessages(name string) uint64 { return st.messages[name] }

func startRawReader(rc *rawConn) *rawReader {
	r := &rawReader{
		rc: rc, closed: make(chan struct{}), ended: make(chan struct{}),
		pongs: make(chan []byte, 1024), events: make(chan event, 1024),
		result: rawStats{messages: map[string]uint64{}},
	}
	go r.run()
	return r
}

func (r *rawReader) run() {
	defer close(r.ended)
	closed := false
	markClosed := func(code int) {
		if !closed {
			r.code, closed = code, true
			close(r.closed)
		}
	}
	defer func() { markClosed(codeAbnormal) }()
	for {
		f, err := r.rc.read()
		if err != nil {
			r.err = err
			if errors.Is(err, errServerMasked) || errors.Is(err, errServerLarge) || errors.Is(err, errServerRsv) {
				r.result.badFrame = err.Error()
			}
			return
		}
		switch f.Op {
		case opClose:
			markClosed(closeCode(f.Payload))
		case opPong:
			select {
			case r.pongs <- f.Payload:
			default:
			}
		case opText:
			var ev event
			if json.Unmarshal(f.Payload, &ev) != nil {
				r.result.badFrame = "a text frame that is not a JSON event"
				continue
			}
			switch ev.Type {
			case "error":
				r.result.errors++
			case "message", "me":
				r.result.messages[ev.From]++
			}
			select {
			case r.events <- ev:
			default:
			}
		case opPing:
			// The server's keepalive; this client answers nothing (the
			// soak is shorter than the pong timeout allows anyway).
		default:
			r.result.badFrame = fmt.Sprintf("a frame with opcode %#x", f.Op)
		}
	}
}

// waitClose waits up to d for a close frame and returns its code, or
// codeAbnormal when the connection ended without one; ok is false when
// neither happened in time.
func (r *rawReader) waitClose(d time.Duration) (code int, ok bool) {
	select {
	case <-r.closed:
		return r.code, true
	case <-time.After(d):
		return 0, false
	}
}

// waitEnd waits up to d for the server to end the TCP connection, then
// ends it from this side and waits for the reader, and reports whether the
// server had ended it.
func (r *rawReader) waitEnd(d time.Duration) bool {
	ok := true
	select {
	case <-r.ended:
	case <-time.After(d):
		ok = false
	}
	r.rc.c.Close()
	<-r.ended
	return ok
}

// stats returns what the reader saw; call it after waitEnd.
func (r *rawReader) stats() rawStats { return r.result }

// waitEvent waits up to d for an event that match accepts.
func (r *rawReader) waitEvent(match func(event) bool, d time.Duration) (event, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case ev := <-r.events:
			if match(ev) {
				return ev, true
			}
		case <-r.ended:
			for { // the events that arrived are in the channel
				select {
				case ev := <-r.events:
					if match(ev) {
						return ev, true
					}
				default:
					return event{}, false
				}
			}
		case <-t.C:
			return event{}, false
		}
	}
}
