package resp

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// run connects, serves the connection until it fails, and starts again,
// until Close.
func (s *Subscriber) run() {
	defer close(s.exited)
	failures := 0
	for {
		if failures > 0 {
			t := time.NewTimer(backoff(s.o.MinBackoff, s.o.MaxBackoff, failures))
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
		}
		if s.ctx.Err() != nil {
			return
		}
		cn, err := dial(s.ctx, &s.o)
		if err != nil {
			failures++
			continue
		}
		start := time.Now()
		s.serve(cn)
		// A connection that failed soon after it was made counts as a
		// failed attempt, so that a server which accepts and drops is not
		// hammered.
		if time.Since(start) >= s.o.MaxBackoff {
			failures = 0
		} else {
			failures++
		}
	}
}

// serve resubscribes on a new connection, then reads and dispatches until
// the connection fails or the Subscriber is closed.
func (s *Subscriber) serve(cn *conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cn.close()
		return
	}
	s.cn = cn
	err := s.resubscribe()
	connected := err == nil && len(s.inflight) == 0
	if connected {
		s.setUp(true)
	}
	s.mu.Unlock()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go s.ping(cn, stop, &wg)

	up := false
	if connected {
		s.handler(Event{Kind: EventConnected})
		up = true
	}
	wait := s.o.PingInterval + s.o.ReadTimeout
	if s.o.ReadTimeout <= 0 {
		wait = 2 * s.o.PingInterval
	}
	for err == nil {
		cn.nc.SetReadDeadline(time.Now().Add(wait))
		var v Value
		if v, err = cn.rd.Read(); err != nil {
			break
		}
		var ev Event
		s.mu.Lock()
		if s.cn != cn { // a failed write gave the connection up
			err = errors.New("resp: connection given up")
		} else {
			ev, err = s.dispatch(v)
		}
		s.mu.Unlock()
		if ev.Kind == EventConnected {
			up = true
		}
		if ev.Kind != 0 {
			s.handler(ev)
		}
	}

	close(stop)
	cn.close()
	wg.Wait()
	s.mu.Lock()
	s.cn = nil
	s.setUp(false)
	pending := s.inflight
	s.inflight = nil
	closed := s.closed
	s.mu.Unlock()
	lost := fmt.Errorf("%w: %v", ErrDisconnected, strings.TrimPrefix(err.Error(), "resp: "))
	for _, r := range pending {
		switch {
		case r.done == nil:
		case closed:
			r.done <- ErrClosed
		case strings.Contains(r.reply, "unsubscribe"):
			r.done <- nil // a lost connection has no subscriptions
		default:
			r.done <- lost
		}
	}
	if up && !closed {
		s.handler(Event{Kind: EventDisconnected, Err: lost})
	}
}

// resubscribe sends SUBSCRIBE and PSUBSCRIBE for everything wanted, in one
// write, the last marked so that its confirmation means EventConnected.
// s.mu is held.
func (s *Subscriber) resubscribe() error {
	var p Pipeline
	var reqs []*request
	for _, kind := range []struct {
		cmd string
		set map[string]bool
	}{{"subscribe", s.channels}, {"psubscribe", s.patterns}} {
		if len(kind.set) == 0 {
			continue
		}
		names := slices.Sorted(maps.Keys(kind.set))
		args := []any{strings.ToUpper(kind.cmd)}
		for _, n := range names {
			args = append(args, n)
		}
		p.Add(args...)
		reqs = append(reqs, &request{reply: kind.cmd, names: names, left: len(names)})
	}
	if len(reqs) == 0 {
		return nil
	}
	reqs[len(reqs)-1].resub = true
	cn := s.cn
	cn.nc.SetWriteDeadline(deadline(s.ctx, s.o.WriteTimeout))
	if _, err := cn.nc.Write(p.buf); err != nil {
		return wrapErr("resubscribe", err)
	}
	s.inflight = append(s.inflight, reqs...)
	return nil
}

// ping sends PING every PingInterval while cn is the connection, so that a
// server that stopped answering is noticed by the read deadline.
func (s *Subscriber) ping(cn *conn, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTicker(s.o.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if s.cn == cn {
			s.send(s.ctx, &request{reply: "pong", left: 1}, "PING")
		}
		s.mu.Unlock()
	}
}

// dispatch takes one reply read in subscribed mode: a message becomes an
// Event, a confirmation completes the oldest request. An error means the
// connection is out of step and must be dropped. s.mu is held.
func (s *Subscriber) dispatch(v Value) (Event, error) {
	if v.Kind == KindSimple && v.Str == "PONG" { // PING outside subscribed mode
		return Event{}, s.confirm("pong")
	}
	if v.Kind == KindError {
		if len(s.inflight) == 0 {
			return Event{}, fmt.Errorf("%w: error reply to no command: %s", ErrProtocol, v.Str)
		}
		r := s.inflight[0]
		s.inflight = s.inflight[1:]
		if r.done == nil {
			return Event{}, v.Err() // the Subscriber's own command refused: start again
		}
		// A refused subscription is not wanted any more.
		if r.reply == "subscribe" || r.reply == "psubscribe" {
			set := s.channels
			if r.reply == "psubscribe" {
				set = s.patterns
			}
			for _, n := range r.names {
				delete(set, n)
			}
		}
		r.done <- v.Err()
		return Event{}, nil
	}
	if v.Kind != KindArray || len(v.Elems) < 2 {
		return Event{}, fmt.Errorf("%w: unexpected %v in subscribed mode", ErrProtocol, v.Kind)
	}
	for _, e := range v.Elems {
		if e.Kind != KindBulk && e.Kind != KindInt {
			return Event{}, fmt.Errorf("%w: unexpected %v in a pub/sub reply", ErrProtocol, e.Kind)
		}
	}
	e := v.Elems
	switch kind := e[0].Str; {
	case kind == "message" && len(e) == 3:
		return Event{Kind: EventMessage, Channel: e[1].Str, Payload: e[2].Str}, nil
	case kind == "pmessage" && len(e) == 4:
		return Event{Kind: EventMessage, Pattern: e[1].Str, Channel: e[2].Str, Payload: e[3].Str}, nil
	case kind == "pong" && len(e) == 2:
		return Event{}, s.confirm("pong")
	case (kind == "subscribe" || kind == "unsubscribe" || kind == "psubscribe" || kind == "punsubscribe") && len(e) == 3:
		if len(s.inflight) > 0 && s.inflight[0].resub && s.inflight[0].left == 1 && s.inflight[0].reply == kind {
			s.confirm(kind)
			s.setUp(true)
			return Event{Kind: EventConnected}, nil
		}
		return Event{}, s.confirm(kind)
	}
	return Event{}, fmt.Errorf("%w: unexpected pub/sub reply %q", ErrProtocol, e[0].Str)
}

// setUp records whether the connection has everything subscribed, waking
// the calls that wait for it. s.mu is held.
func (s *Subscriber) setUp(up bool) {
	if up == s.up {
		return
	}
	s.up = up
	if up {
		close(s.upCh)
	} else {
		s.upCh = make(chan struct{})
	}
}

// confirm counts one confirmation of the oldest request, which must be of
// that kind. s.mu is held.
func (s *Subscriber) confirm(kind string) error {
	if len(s.inflight) == 0 || s.inflight[0].reply != kind {
		return fmt.Errorf("%w: %s confirmation out of turn", ErrProtocol, kind)
	}
	r := s.inflight[0]
	r.left--
	if r.left > 0 {
		return nil
	}
	s.inflight = s.inflight[1:]
	if r.done != nil {
		r.done <- nil
	}
	return nil
}
