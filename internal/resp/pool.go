package resp

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Client runs commands on a small pool of connections to one server.
//
// A Client is safe for concurrent use by any number of goroutines: each
// call takes a connection for itself, so at most PoolSize calls run at
// once and the others wait (bounded by their contexts). Connections are
// opened when needed and kept idle for the next call; one that fails, is
// cancelled half-way or was closed by the server is discarded, never
// reused. After a failed attempt to connect, further calls fail at once
// with that error until the backoff pause has passed (see Options), so a
// Redis that is down costs callers no waiting.
//
// A call is never retried: a command that may have reached the server is
// not sent twice. Errors are an *Error when the server refused the
// command (the connection stays usable), anything else when the command's
// fate is unknown: the connection failed, timed out (the error is then a
// net.Error whose Timeout is true, or the context's), or the reply broke
// the protocol (ErrProtocol, ErrLimit).
type Client struct {
	o    Options
	sem  chan struct{} // one token per connection in use
	done chan struct{} // closed by Close

	mu       sync.Mutex
	idle     []*conn // most recently used last
	closed   bool
	failures int       // failed dials in a row
	retryAt  time.Time // no dial before this after a failure
	dialErr  error     // the last failure
}

// NewClient returns a Client for the server o describes. It connects
// lazily; call Ping to find out at once whether the server can be reached.
func NewClient(o Options) (*Client, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &Client{
		o:    o,
		sem:  make(chan struct{}, o.PoolSize),
		done: make(chan struct{}),
	}, nil
}

// Options returns the Client's options, defaults filled in, for example to
// make a Subscriber for the same server.
func (c *Client) Options() Options { return c.o }

// Do sends one command and returns its reply. The first argument is the
// command's name; arguments may be strings, []byte, integers, floats and
// bools (see AppendCommand). An error reply is returned as an *Error.
//
//	n, err := resp.Int64(c.Do(ctx, "INCR", "room:lobby:seq"))
func (c *Client) Do(ctx context.Context, args ...any) (Value, error) {
	cn, err := c.get(ctx)
	if err != nil {
		return Value{}, err
	}
	if cn.wbuf, err = AppendCommand(cn.wbuf[:0], args...); err != nil {
		c.put(cn)
		return Value{}, err
	}
	var out [1]Value
	err = cn.roundTrip(ctx, commandName(args), 1, out[:])
	c.put(cn)
	if err != nil {
		return Value{}, err
	}
	if err := out[0].Err(); err != nil {
		return Value{}, err
	}
	return out[0], nil
}

// DoPipeline sends the Pipeline's commands in one write and returns their
// replies in order, one per command. A command the server refused has an
// error reply in its place (see Value.Err); the error returned is about
// the exchange as a whole — if it is not nil, which of the commands ran is
// unknown.
func (c *Client) DoPipeline(ctx context.Context, p *Pipeline) ([]Value, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.n == 0 {
		return nil, nil
	}
	cn, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	// The pipeline's buffer is written as it is; the connection's own
	// stays for single commands.
	own := cn.wbuf
	cn.wbuf = p.buf
	out := make([]Value, p.n)
	err = cn.roundTrip(ctx, fmt.Sprintf("pipeline of %d", p.n), p.n, out)
	cn.wbuf = own
	c.put(cn)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Ping sends PING and reports whether the server answered PONG.
func (c *Client) Ping(ctx context.Context) error {
	s, err := String(c.Do(ctx, "PING"))
	if err == nil && s != "PONG" {
		err = fmt.Errorf("%w: PING answered %q", ErrProtocol, s)
	}
	return err
}

// Close closes the idle connections and makes every later call fail with
// ErrClosed; connections in use are closed when their calls end. It is safe
// to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	close(c.done)
	for _, cn := range c.idle {
		cn.close()
	}
	c.idle = nil
	return nil
}

// get takes a connection: an idle one that is still healthy, else a new
// one.
func (c *Client) get(ctx context.Context) (*conn, error) {
	select {
	case c.sem <- struct{}{}:
	case <-c.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("%w (%w)", wrapErr("waiting for a connection", ctx.Err()), ErrPoolBusy)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.sem
		return nil, ErrClosed
	}
	for len(c.idle) > 0 {
		cn := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if cn.healthy() {
			c.mu.Unlock()
			return cn, nil
		}
		cn.close()
	}
	if wait := time.Until(c.retryAt); wait > 0 {
		err := c.dialErr
		c.mu.Unlock()
		<-c.sem
		return nil, fmt.Errorf("resp: %s unreachable, next attempt in %v: %w", c.o.Addr, wait.Round(time.Millisecond), err)
	}
	c.mu.Unlock()

	cn, err := dial(ctx, &c.o)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		<-c.sem
		if ctx.Err() == nil { // the server's failure, not the caller's
			c.failures++
			c.retryAt = time.Now().Add(backoff(c.o.MinBackoff, c.o.MaxBackoff, c.failures))
			c.dialErr = err
		}
		return nil, err
	}
	c.failures, c.retryAt, c.dialErr = 0, time.Time{}, nil
	return cn, nil
}

// put gives a connection back after a call.
func (c *Client) put(cn *conn) {
	c.mu.Lock()
	if cn.broken || c.closed {
		cn.close()
	} else {
		c.idle = append(c.idle, cn)
	}
	c.mu.Unlock()
	<-c.sem
}
