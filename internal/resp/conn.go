package resp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"time"
)

// conn is one connection to the server, used by one goroutine at a time:
// a Client's pool hands it out, a Subscriber owns it.
type conn struct {
	nc   net.Conn
	rd   *Reader
	wbuf []byte
	o    *Options

	// broken is set when the connection's state is unknown (an I/O or
	// protocol error, a cancelled call); it is then closed, never reused.
	broken bool

	// dlMu orders a context's cancellation (which pushes the deadlines
	// into the past) with the refreshing of the deadlines, so that a
	// cancellation is never undone.
	dlMu     sync.Mutex
	canceled bool
}

// errCanceled is what I/O after a context's cancellation fails with; the
// caller sees the context's own error instead.
var errCanceled = errors.New("resp: call cancelled")

// pastTime is a deadline that has always passed.
var pastTime = time.Unix(1, 0)

// maxKeptBuffer is the largest write buffer a connection keeps between
// calls; a bigger pipeline's buffer is left to the garbage collector.
const maxKeptBuffer = 64 << 10

// dial connects to o.Addr, wraps the connection in TLS if configured, and
// sends AUTH, CLIENT SETNAME and SELECT as the options ask, in one write.
// DialTimeout and ctx bound all of it.
func dial(ctx context.Context, o *Options) (*conn, error) {
	dctx := ctx
	if o.DialTimeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, o.DialTimeout)
		defer cancel()
	}
	var nc net.Conn
	var err error
	if o.Dial != nil {
		nc, err = o.Dial(dctx, "tcp", o.Addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(dctx, "tcp", o.Addr)
	}
	if err != nil {
		return nil, wrapErr("dial "+o.Addr, err)
	}
	if o.TLS != nil {
		tc := tls.Client(nc, o.TLS)
		if err := tc.HandshakeContext(dctx); err != nil {
			nc.Close()
			return nil, wrapErr("TLS handshake with "+o.Addr, err)
		}
		nc = tc
	}
	c := &conn{nc: nc, rd: NewReader(bufio.NewReader(nc), o.Limits), o: o}
	if err := c.handshake(dctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// handshake authenticates and selects the database.
func (c *conn) handshake(ctx context.Context) error {
	var p Pipeline
	switch {
	case c.o.Username != "":
		p.Add("AUTH", c.o.Username, c.o.Password)
	case c.o.Password != "":
		p.Add("AUTH", c.o.Password)
	}
	if c.o.ClientName != "" {
		p.Add("CLIENT", "SETNAME", c.o.ClientName)
	}
	if c.o.DB != 0 {
		p.Add("SELECT", c.o.DB)
	}
	if p.Len() == 0 {
		return nil
	}
	if p.err != nil {
		return p.err
	}
	c.wbuf = append(c.wbuf[:0], p.buf...)
	replies := make([]Value, p.Len())
	if err := c.roundTrip(ctx, "connect to "+c.o.Addr, p.Len(), replies); err != nil {
		return err
	}
	for _, r := range replies {
		if err := r.Err(); err != nil {
			return err
		}
	}
	return nil
}

// roundTrip writes c.wbuf, which holds n commands, and reads their n
// replies into out. An error reply is a reply, not an error; any error
// returned leaves the connection broken. WriteTimeout bounds the write,
// ReadTimeout the wait for each reply, and ctx all of it.
func (c *conn) roundTrip(ctx context.Context, op string, n int, out []Value) error {
	if err := ctx.Err(); err != nil {
		return wrapErr(op, err)
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, c.cancel)
		defer func() {
			if !stop() {
				// The cancellation has started: the deadlines may be in
				// the past at any moment from now on.
				c.broken = true
			}
		}()
	}
	err := c.exchange(ctx, n, out)
	if cap(c.wbuf) > maxKeptBuffer {
		c.wbuf = nil
	}
	if err != nil {
		c.broken = true
		if isTimeout(err) || errors.Is(err, errCanceled) {
			// The deadline, or the cancellation, was the context's doing.
			if ctxErr := ctx.Err(); ctxErr != nil {
				err = ctxErr
			} else if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
				err = context.DeadlineExceeded
			}
		}
		return wrapErr(op, err)
	}
	return nil
}

func (c *conn) exchange(ctx context.Context, n int, out []Value) error {
	if err := c.setDeadline(c.nc.SetWriteDeadline, deadline(ctx, c.o.WriteTimeout)); err != nil {
		return err
	}
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return err
	}
	for i := range n {
		if err := c.setDeadline(c.nc.SetReadDeadline, deadline(ctx, c.o.ReadTimeout)); err != nil {
			return err
		}
		v, err := c.rd.Read()
		if err != nil {
			return err
		}
		out[i] = v
	}
	return nil
}

// setDeadline sets a deadline unless a cancellation came first.
func (c *conn) setDeadline(set func(time.Time) error, t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if c.canceled {
		return errCanceled
	}
	return set(t)
}

// cancel makes the I/O in progress, and any after it, fail at once.
func (c *conn) cancel() {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.canceled = true
	c.nc.SetDeadline(pastTime)
}

// healthy reports whether an idle connection can be used: nothing arrived
// on it unasked and the server has not closed it (as it does when it
// restarts).
func (c *conn) healthy() bool {
	if c.broken || c.rd.Buffered() > 0 {
		return false
	}
	return connCheck(c.nc) == nil
}

func (c *conn) close() error { return c.nc.Close() }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// opError adds to an error what was being done, with one package prefix.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return "resp: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "resp: ")
}

func (e *opError) Unwrap() error { return e.err }

func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, err: err}
}
