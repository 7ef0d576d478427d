package wsproto

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// WriteMessage sends payload as one whole message of type op (OpText or
// OpBinary) in a single frame. A server writes the header and payload with
// one vectored system call and no copy; a client copies the payload through
// its write buffer to mask it, leaving payload unchanged. WriteMessage does
// not check that a text payload is UTF-8: that is the caller's promise.
// When permessage-deflate is in use, a payload of at least
// ConnOptions.CompressionThreshold bytes is sent compressed, through a
// pooled compressor.
func (c *Conn) WriteMessage(op Opcode, payload []byte) error {
	if op != OpText && op != OpBinary {
		return ErrInvalidOpcode
	}
	if c.messageOpen() {
		return ErrMessageOpen
	}
	if c.deflate && len(payload) >= int(c.compressMin) {
		bp := compressedPool.Get().(*[]byte)
		z := appendCompressed((*bp)[:0], payload)
		c.wmu.Lock()
		err := c.writeFrame(true, rsv1, op, z)
		c.wmu.Unlock()
		if cap(z) <= 64<<10 {
			*bp = z[:0]
			compressedPool.Put(bp)
		}
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeFrame(true, 0, op, payload)
}

// WriteFrames writes frames that are already encoded, such as those built by
// AppendFrame, in one vectored system call (writev) where the connection
// allows it. The same frames may be written to any number of connections at
// once: WriteFrames never modifies them. Frames from AppendCompressedFrame
// are only for connections whose Compression is true. Only a server may write prepared
// frames; a client's must each be masked with a fresh key.
func (c *Conn) WriteFrames(frames [][]byte) error {
	if !c.server {
		return ErrPreparedByClient
	}
	if c.messageOpen() {
		return ErrMessageOpen
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return ErrCloseSent
	}
	return c.writeVec(frames)
}

// TryWriteFrames writes pre-encoded frames, as WriteFrames does, but never
// waits: not for the write lock and not for room in the socket's buffer. It
// returns true when it has taken the frames: they are written, or the socket
// took only part of them and a goroutine of the Conn's sends the rest as
// soon as the peer makes room, holding the write lock until then so that
// nothing lands inside a frame. It returns false, having written nothing,
// when another write holds the lock — the caller then waits in WriteFrames,
// or tries again later — and on platforms or connections (TLS, Linux only
// for now) where it cannot write without waiting.
//
// This lets one goroutine serve many connections: it writes to every socket
// that has room and hands only the full ones to goroutines that wait.
func (c *Conn) TryWriteFrames(frames [][]byte) (bool, error) {
	if !c.server {
		return false, ErrPreparedByClient
	}
	if c.messageOpen() {
		return false, ErrMessageOpen
	}
	if len(frames) == 0 {
		return true, nil
	}
	if !c.canWriteNow() || !c.wmu.TryLock() {
		return false, nil
	}
	if c.closeSent {
		c.wmu.Unlock()
		return false, ErrCloseSent
	}
	total := 0
	for _, f := range frames {
		total += len(f)
	}
	r := getRawCall()
	r.frames = frames
	err := c.rawConn.Write(r.writeNow)
	n := r.n
	if err == nil {
		err = r.err
	}
	r.put()
	if err != nil {
		c.wmu.Unlock()
		c.CloseNow()
		return false, fmt.Errorf("wsproto: write: %w", err)
	}
	if n == total {
		c.wmu.Unlock()
		return true, nil
	}
	rest := make([][]byte, 0, len(frames))
	for _, f := range frames {
		if n >= len(f) {
			n -= len(f)
			continue
		}
		rest = append(rest, f[n:])
		n = 0
	}
	go func() {
		defer c.wmu.Unlock()
		_ = c.writeVec(rest) // an error closes the connection; the next write reports it
	}()
	return true, nil
}

// WritePing sends a ping with payload (at most 125 bytes). The peer answers
// with a pong, which the read side reports to the pong handler.
func (c *Conn) WritePing(payload []byte) error { return c.writeControl(OpPing, payload) }

// WritePong sends an unsolicited pong with payload (at most 125 bytes), a
// one-way heartbeat (RFC 6455 5.5.3).
func (c *Conn) WritePong(payload []byte) error { return c.writeControl(OpPong, payload) }

// Close performs the close handshake (RFC 6455 7.1.2): it sends a close frame
// with code and reason (cut to fit a control frame), waits up to CloseTimeout
// for the peer's close frame, and closes the connection. If no goroutine is
// reading, Close reads — and discards data messages — itself; on a
// connection read with Feed, the feeding meets the answer. CloseNoStatus
// sends a close frame without a code. Close returns nil when the peer
// answered in time.
func (c *Conn) Close(code CloseCode, reason string) error {
	if code != CloseNoStatus && !code.IsValid() {
		return fmt.Errorf("wsproto: close code %d may not be sent (RFC 6455 7.4)", code)
	}
	if !utf8.ValidString(reason) {
		return errors.New("wsproto: close reason is not valid UTF-8 (RFC 6455 5.5.1)")
	}
	if err := c.sendClose(code, reason); err != nil && err != ErrCloseSent {
		c.CloseNow()
		return err
	}
	_ = c.netConn.SetReadDeadline(time.Now().Add(c.closeTimeout))
	if !c.feeding.Load() && c.readMu.TryLock() {
		for c.readErr == nil {
			if err := c.startMessage(); err == nil {
				_ = c.discardMessage()
			}
		}
		err := c.readErr
		c.readMu.Unlock()
		c.CloseNow()
		if code := CloseStatus(err); code != 0 && code != CloseAbnormal {
			return nil
		}
		return fmt.Errorf("wsproto: close handshake: %w", err)
	}
	// Another goroutine is reading, or Feed is: it will meet the peer's
	// close frame, or the read deadline set above (or, for Feed, the timer
	// below).
	t := time.NewTimer(c.closeTimeout)
	defer t.Stop()
	select {
	case <-c.Done():
		if c.closeReceived.Load() {
			return nil
		}
		return errors.New("wsproto: close handshake: the connection ended without the peer's close frame")
	case <-t.C:
		c.CloseNow()
		return fmt.Errorf("wsproto: close handshake: no answer within %v", c.closeTimeout)
	}
}

// sendClose writes the connection's one close frame. After it, no data frame
// may be sent (RFC 6455 5.5.1).
func (c *Conn) sendClose(code CloseCode, reason string) error {
	var body [maxControlPayload]byte
	p := appendClosePayload(body[:0], code, reason)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return ErrCloseSent
	}
	c.closeSent = true
	_ = c.netConn.SetWriteDeadline(time.Now().Add(c.closeTimeout))
	return c.writeControlLocked(OpClose, p)
}

// writeControl sends one control frame.
func (c *Conn) writeControl(op Opcode, payload []byte) error {
	if len(payload) > maxControlPayload {
		return ErrControlPayload
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return ErrCloseSent
	}
	return c.writeControlLocked(op, payload)
}

// writeControlLocked builds a control frame in a pooled buffer and writes
// it with one call. The caller holds wmu.
func (c *Conn) writeControlLocked(op Opcode, payload []byte) error {
	h := Header{Fin: true, Opcode: op, Length: int64(len(payload))}
	if !c.server {
		h.Masked = true
		h.MaskKey = newMaskKey()
	}
	buf := controlPool.Get().(*controlBuffer)
	defer controlPool.Put(buf)
	b := AppendHeader(buf[:0], h)
	start := len(b)
	b = append(b, payload...)
	if h.Masked {
		maskBytes(h.MaskKey, 0, b[start:])
	}
	return c.write(b)
}

// writeFrame writes one data frame with the reserved bits rsv. The caller
// holds wmu.
func (c *Conn) writeFrame(fin bool, rsv byte, op Opcode, payload []byte) error {
	if c.closeSent {
		return ErrCloseSent
	}
	h := Header{Fin: fin, Rsv: rsv, Opcode: op, Length: int64(len(payload))}
	if c.server {
		return c.writeVec([][]byte{AppendHeader(c.whdr[:0], h), payload})
	}
	// A client masks a copy, chunk by chunk, in its write buffer, with the
	// header in the headroom in front of the first chunk.
	h.Masked = true
	h.MaskKey = newMaskKey()
	buf := c.writeBuffer()
	start := MaxHeaderSize - h.Size()
	AppendHeader(buf[start:start], h)
	pos := 0
	for {
		n := copy(buf[MaxHeaderSize:], payload)
		payload = payload[n:]
		pos = maskBytes(h.MaskKey, pos, buf[MaxHeaderSize:MaxHeaderSize+n])
		if err := c.write(buf[start : MaxHeaderSize+n]); err != nil {
			return err
		}
		if len(payload) == 0 {
			return nil
		}
		start = MaxHeaderSize
	}
}

// writeBuffer returns the write buffer, allocating it on first use.
func (c *Conn) writeBuffer() []byte {
	if c.wbuf == nil {
		c.wbuf = make([]byte, MaxHeaderSize+int(c.writeBufferSize))
	}
	return c.wbuf
}

// write writes b whole. The caller holds wmu.
func (c *Conn) write(b []byte) error { return c.writeAll(b, nil) }

// writeAll writes b, or the buffers of v with writev when v is not nil. Any
// error closes the connection. The caller holds wmu.
//
// With a WriteTimeout the write fails only once the peer has made no
// progress for the whole timeout. It waits in steps of a quarter of the
// timeout (over TLS in one: see resumable), and after a step that timed out
// checks what happened meanwhile: the step took bytes of the write, or the
// peer acknowledged bytes (the socket's unacknowledged count fell by more
// than the step added). The acknowledgements are what matter on a busy
// socket. A blocked write wakes only when the kernel has freed a good part
// of the send buffer — a third, on Linux, of a buffer that it autotunes to
// megabytes on loopback — so a peer reading kilobytes a second can leave the
// write without a byte for minutes, and be taken for dead, while its TCP
// acknowledges every byte it reads. The deadline is cleared afterwards.
func (c *Conn) writeAll(b []byte, v *net.Buffers) error {
	var p progress
	step := c.writeTimeout
	if c.writeTimeout > 0 {
		defer c.clearWriteDeadline()
		p = c.startProgress()
		if _, isTLS := c.netConn.(*tls.Conn); !isTLS && step >= writeSteps {
			step /= writeSteps
		}
	}
	for {
		if c.writeTimeout > 0 {
			_ = c.netConn.SetWriteDeadline(time.Now().Add(step))
		}
		var n int64
		var err error
		if v == nil {
			var m int
			m, err = c.netConn.Write(b)
			b, n = b[m:], int64(m)
		} else {
			n, err = writeBuffers(c.netConn, v) // consumes what it wrote
		}
		if err == nil {
			if c.writeProgress != nil {
				c.writeProgress()
			}
			return nil
		}
		if c.writeTimeout > 0 && c.resumable(err) && !c.stalled(&p, n) {
			continue
		}
		c.CloseNow()
		return fmt.Errorf("wsproto: write: %w", err)
	}
}

// buffersWriter is a net.Conn that writes net.Buffers with one system
// call of its own, as a *net.TCPConn does inside net.Buffers.WriteTo: a
// socket taken out of package net (internal/netpoll's Conn).
type buffersWriter interface {
	WriteBuffers(v *net.Buffers) (int64, error)
}

// writeBuffers writes v to w with writev where w can, consuming what it
// wrote.
func writeBuffers(w net.Conn, v *net.Buffers) (int64, error) {
	if bw, ok := w.(buffersWriter); ok {
		return bw.WriteBuffers(v)
	}
	return v.WriteTo(w)
}

// writeSteps is how many times a timed write checks for progress within one
// WriteTimeout: a peer that stops making progress is cut off between one
// and 1 + 1/writeSteps timeouts later.
const writeSteps = 4

// progress is what a timed write knows of its peer's progress.
type progress struct {
	last     time.Time // when the peer last made progress; at first, when the write began
	unacked  int       // the socket's unacknowledged bytes at the last look
	measured bool      // unacked is known
}

// startProgress begins watching a timed write's progress.
func (c *Conn) startProgress() progress {
	u, ok := c.unacked()
	return progress{last: time.Now(), unacked: u, measured: ok}
}

// stalled is called after a step of a timed write ran out of time having
// written n bytes. It reports whether the peer has now made no progress for
// the whole WriteTimeout.
func (c *Conn) stalled(p *progress, n int64) bool {
	now := time.Now()
	moved := n > 0
	if p.measured {
		u, ok := c.unacked()
		moved = moved || ok && u < p.unacked+int(n) // acknowledged: what was there and what came, less what is left
		p.unacked, p.measured = u, ok
	}
	if moved {
		p.last = now
		if c.writeProgress != nil {
			c.writeProgress()
		}
	}
	return now.Sub(p.last) >= c.writeTimeout
}

// coalesceLimit is the most bytes writeVec copies into one buffer to send
// them with a plain write rather than writev.
const coalesceLimit = 16 << 10

// coalescePool holds the buffers writeVec copies small batches into, so a
// connection holds none between writes.
var coalescePool = sync.Pool{New: func() any { b := make([]byte, 0, coalesceLimit); return &b }}

// vectorPool holds the net.Buffers that large batches are written from:
// writev consumes its vector, and the caller's slice must stay intact.
var vectorPool = sync.Pool{New: func() any { return new(net.Buffers) }}

// writeVec writes the buffers in v, in order. One buffer, or several adding
// up to at most coalesceLimit, go out as one plain write — on Linux a small
// writev costs more than a copy and a write — and larger batches with one
// writev. Nothing of v is kept or changed. Timeouts and errors are as for
// writeAll. The caller holds wmu.
func (c *Conn) writeVec(v [][]byte) error {
	if len(v) == 1 {
		return c.write(v[0])
	}
	total := 0
	for _, b := range v {
		total += len(b)
	}
	if total <= coalesceLimit {
		bp := coalescePool.Get().(*[]byte)
		b := (*bp)[:0]
		for _, part := range v {
			b = append(b, part...)
		}
		err := c.write(b)
		*bp = b[:0]
		coalescePool.Put(bp)
		return err
	}
	vp := vectorPool.Get().(*net.Buffers)
	backing := append((*vp)[:0], v...)
	*vp = backing
	err := c.writeAll(nil, vp)
	clear(backing) // let the frames be collected once the caller drops them
	*vp = backing[:0]
	vectorPool.Put(vp)
	return err
}

// clearWriteDeadline removes the deadline a WriteTimeout set once its write
// is over, so that it cannot fail a later write that does not wait
// (TryWriteFrames) or that sets its own.
func (c *Conn) clearWriteDeadline() { _ = c.netConn.SetWriteDeadline(time.Time{}) }

// resumable reports whether a write that failed with err may continue: a
// timeout on a plain socket leaves the stream intact, while TLS treats any
// write timeout as fatal.
func (c *Conn) resumable(err error) bool {
	if _, isTLS := c.netConn.(*tls.Conn); isTLS {
		return false
	}
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// newMaskKey returns a masking key from crypto/rand, as RFC 6455 5.3 asks:
// unpredictable to the application that chose the payload.
func newMaskKey() [4]byte {
	var k [4]byte
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails (Go 1.24+)
	return k
}

// NextWriter returns a writer of one message of type op (OpText or OpBinary),
// for messages produced in pieces. Written bytes are collected in the write
// buffer and sent as a fragment whenever it fills; Close sends the final
// fragment. Its messages are never compressed. The writer must be closed before the next message is written.
func (c *Conn) NextWriter(op Opcode) (io.WriteCloser, error) {
	if op != OpText && op != OpBinary {
		return nil, ErrInvalidOpcode
	}
	if c.messageOpen() {
		return nil, ErrMessageOpen
	}
	if c.msgWriter == nil {
		c.msgWriter = &messageWriter{c: c}
	}
	w := c.msgWriter
	w.op = op
	w.n = 0
	w.open = true
	w.err = nil
	c.writeBuffer()
	return w, nil
}

// messageOpen reports whether a message writer is open. Only the goroutine
// writing data calls it, as only it opens writers.
func (c *Conn) messageOpen() bool { return c.msgWriter != nil && c.msgWriter.open }

// messageWriter writes one message as a sequence of fragments.
type messageWriter struct {
	c    *Conn
	op   Opcode // the opcode of the next fragment: op, then OpContinuation
	n    int    // payload bytes collected in c.wbuf[MaxHeaderSize:]
	open bool
	err  error
}

var errWriterClosed = errors.New("wsproto: message writer already closed")

// Write adds p to the message.
func (w *messageWriter) Write(p []byte) (int, error) {
	if !w.open {
		return 0, errWriterClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	size := int(w.c.writeBufferSize)
	written := 0
	for len(p) > 0 {
		if w.n == size {
			if err := w.flush(false); err != nil {
				return written, err
			}
		}
		n := copy(w.c.wbuf[MaxHeaderSize+w.n:MaxHeaderSize+size], p)
		w.n += n
		written += n
		p = p[n:]
	}
	return written, nil
}

// Close sends the final fragment.
func (w *messageWriter) Close() error {
	if !w.open {
		return errWriterClosed
	}
	w.open = false
	if w.err != nil {
		return w.err
	}
	return w.flush(true)
}

// flush sends the collected bytes as one fragment, masked in place by a
// client, with the header written into the headroom in front of them.
func (w *messageWriter) flush(fin bool) error {
	c := w.c
	h := Header{Fin: fin, Opcode: w.op, Length: int64(w.n)}
	if !c.server {
		h.Masked = true
		h.MaskKey = newMaskKey()
	}
	start := MaxHeaderSize - h.Size()
	AppendHeader(c.wbuf[start:start], h)
	payload := c.wbuf[MaxHeaderSize : MaxHeaderSize+w.n]
	if h.Masked {
		maskBytes(h.MaskKey, 0, payload)
	}
	c.wmu.Lock()
	err := ErrCloseSent
	if !c.closeSent {
		err = c.write(c.wbuf[start : MaxHeaderSize+w.n])
	}
	c.wmu.Unlock()
	w.op = OpContinuation
	w.n = 0
	w.err = err
	return err
}
