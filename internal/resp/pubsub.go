package resp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// EventKind says what an Event reports.
type EventKind uint8

// The events a Subscriber delivers.
const (
	// EventMessage is a message published to a subscribed channel (or
	// one matching a subscribed pattern).
	EventMessage EventKind = iota + 1
	// EventConnected says the connection is up and every channel and
	// pattern subscribed so far is in place: from here on, messages
	// published to them are delivered. After a reconnect it is the moment
	// to fetch what was published while the connection was down.
	EventConnected
	// EventDisconnected says the connection was lost (Err says why).
	// Messages published since the last one delivered, and until the next
	// EventConnected, may be lost; the Subscriber reconnects by itself.
	EventDisconnected
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventMessage:
		return "message"
	case EventConnected:
		return "connected"
	case EventDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("event %d", k)
}

// Event is what a Subscriber hands its handler: a message, or a change of
// the connection's state.
type Event struct {
	Kind    EventKind
	Channel string // EventMessage: the channel published to
	Pattern string // EventMessage: the pattern matched, for a PSUBSCRIBE
	Payload string // EventMessage: the message
	Err     error  // EventDisconnected: why
}

// Subscriber holds one connection in RESP2's subscribed mode, however many
// channels and patterns it subscribes — one per process is enough, never
// one per channel. It keeps the connection up by itself: it pings the
// server every PingInterval, takes a connection that stops answering for
// dead, and reconnects with backoff and jitter, subscribing again to
// everything it had.
//
// Concurrency: the methods are safe for concurrent use. The handler is
// called from the Subscriber's own goroutine, one event at a time, in the
// order the server sent them; EventConnected and EventDisconnected
// alternate, starting with EventConnected. While the handler runs, nothing
// more is read, so it should hand events on quickly (Redis disconnects a
// subscriber that falls far behind, which the handler then sees as
// EventDisconnected). The handler must not call Close, and a Subscribe or
// Unsubscribe it calls would wait for itself: call those from elsewhere.
// No event is delivered after Close returns.
type Subscriber struct {
	o       Options
	handler func(Event)
	ctx     context.Context // cancelled by Close; bounds dialling
	cancel  context.CancelFunc
	exited  chan struct{} // closed when run returns

	mu       sync.Mutex
	closed   bool
	channels map[string]bool // what the server should have subscribed
	patterns map[string]bool
	cn       *conn         // the current connection, nil while there is none
	inflight []*request    // commands sent on cn whose replies are pending, oldest first
	up       bool          // cn has resubscribed to everything wanted
	upCh     chan struct{} // closed when up becomes true; replaced when it becomes false
}

// request is one command sent on a Subscriber's connection. Redis answers
// SUBSCRIBE and its kin with one confirmation per name, PING with one pong,
// and any of them with one error reply if it refuses the whole command.
type request struct {
	reply string // the confirmation expected: "subscribe", ..., or "pong"
	names []string
	left  int        // confirmations still to come
	done  chan error // buffered; nil for the Subscriber's own commands
	resub bool       // the last command of a new connection's resubscription
}

// NewSubscriber starts a Subscriber that connects to the server o
// describes and delivers events to handler (see Subscriber). It returns at
// once; the first connection is reported by EventConnected.
func NewSubscriber(o Options, handler func(Event)) (*Subscriber, error) {
	if handler == nil {
		return nil, errors.New("resp: NewSubscriber needs a handler")
	}
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Subscriber{
		o:        o,
		handler:  handler,
		ctx:      ctx,
		cancel:   cancel,
		exited:   make(chan struct{}),
		channels: make(map[string]bool),
		patterns: make(map[string]bool),
		upCh:     make(chan struct{}),
	}
	go s.run()
	return s, nil
}

// Subscribe adds channels to the subscription and waits until the server
// has confirmed them: messages published to them after Subscribe returns
// nil are delivered. If the connection is down, or goes down before the
// confirmation, it waits for the next connection, which subscribes to
// everything wanted. If ctx ends first, it returns ctx's error, and the
// channels stay in the subscription all the same: EventConnected tells
// when they are in place. Subscribing to a channel twice is subscribing to
// it once.
func (s *Subscriber) Subscribe(ctx context.Context, channels ...string) error {
	return s.change(ctx, "subscribe", channels)
}

// Unsubscribe removes channels from the subscription and waits until the
// server has confirmed it (or the connection is gone, which ends every
// subscription anyway).
func (s *Subscriber) Unsubscribe(ctx context.Context, channels ...string) error {
	return s.change(ctx, "unsubscribe", channels)
}

// PSubscribe adds glob-style patterns (news.*) to the subscription, as
// Subscribe does channels.
func (s *Subscriber) PSubscribe(ctx context.Context, patterns ...string) error {
	return s.change(ctx, "psubscribe", patterns)
}

// PUnsubscribe removes patterns from the subscription, as Unsubscribe does
// channels.
func (s *Subscriber) PUnsubscribe(ctx context.Context, patterns ...string) error {
	return s.change(ctx, "punsubscribe", patterns)
}

// Close ends the subscription and the connection and waits until the
// Subscriber's goroutines are gone. It is safe to call more than once, but
// not from the handler.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	cn := s.cn
	s.mu.Unlock()
	s.cancel()
	if cn != nil {
		cn.close()
	}
	<-s.exited
	return nil
}

func (s *Subscriber) change(ctx context.Context, cmd string, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("resp: %s needs at least one name", cmd)
	}
	if err := ctx.Err(); err != nil {
		return wrapErr(cmd, err)
	}
	adding := !strings.HasPrefix(cmd, "un") && !strings.HasPrefix(cmd, "pun")
	args := make([]any, 0, 1+len(names))
	args = append(args, strings.ToUpper(cmd))
	for _, n := range names {
		args = append(args, n)
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		set := s.channels
		if cmd[0] == 'p' {
			set = s.patterns
		}
		for _, n := range names {
			if adding {
				set[n] = true
			} else {
				delete(set, n)
			}
		}
		if s.cn == nil {
			up := s.upCh
			s.mu.Unlock()
			if !adding {
				return nil // the next connection will not subscribe them
			}
			// The next connection subscribes to them with everything else.
			select {
			case <-up:
				return nil
			case <-ctx.Done():
				return wrapErr(cmd, ctx.Err())
			case <-s.ctx.Done():
				return ErrClosed
			}
		}
		r := &request{reply: cmd, names: names, left: len(names), done: make(chan error, 1)}
		err := s.send(ctx, r, args...)
		s.mu.Unlock()
		if err == nil {
			select {
			case err = <-r.done:
			case <-ctx.Done():
				return wrapErr(cmd, ctx.Err())
			}
		}
		if !errors.Is(err, ErrDisconnected) {
			return err
		}
		// Lost with the connection: wait for the next one.
	}
}

// send writes one command on the current connection and queues its
// request. A write that fails closes the connection, which the reading
// goroutine then replaces. s.mu is held.
func (s *Subscriber) send(ctx context.Context, r *request, args ...any) error {
	cn := s.cn
	var err error
	if cn.wbuf, err = AppendCommand(cn.wbuf[:0], args...); err != nil {
		return err
	}
	cn.nc.SetWriteDeadline(deadline(ctx, s.o.WriteTimeout))
	if _, err := cn.nc.Write(cn.wbuf); err != nil {
		// The reading goroutine finds the connection closed and cleans up;
		// until then, nobody else writes to it.
		cn.close()
		s.cn = nil
		s.setUp(false)
		return fmt.Errorf("%w: %s: %v", ErrDisconnected, r.reply, err)
	}
	s.inflight = append(s.inflight, r)
	return nil
}

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
