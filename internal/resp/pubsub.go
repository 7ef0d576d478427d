package resp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

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
