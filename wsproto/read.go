package wsproto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
	"unicode/utf8"
)

// ReadMessage reads the next data message whole, into buf's backing array
// when it is large enough, and returns its opcode (OpText or OpBinary) and
// payload. Reusing the returned slice as the next call's buf reads messages
// without allocating. Control frames that arrive meanwhile are handled (see
// SetPingHandler); a close frame ends the connection and is returned as a
// *CloseError. Memory grows with the bytes that actually arrive, never with
// what a frame header merely declares.
//
// A text message is checked to be UTF-8 as its bytes arrive.
func (c *Conn) ReadMessage(buf []byte) (Opcode, []byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	buf = buf[:0]
	if err := c.startMessage(); err != nil {
		return 0, buf, err
	}
	op := c.msgOp
	if c.msgDeflated {
		p, err := c.readCompressed(op, buf)
		return op, p, err
	}
	buf, err := c.readRest(buf)
	if err != nil {
		return 0, buf, err
	}
	return op, buf, c.endMessage()
}

// readRest reads the rest of the open message's payload, as it arrives on
// the wire, appending it to buf, up to its final frame.
func (c *Conn) readRest(buf []byte) ([]byte, error) {
	for {
		for c.frameLeft > 0 {
			if len(buf) == cap(buf) {
				grow := min(c.frameLeft, int64(max(cap(buf), 512)))
				buf = slices.Grow(buf, int(grow))
			}
			n, err := c.readPayload(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				return buf, err
			}
		}
		if c.frameFin {
			return buf, nil
		}
		if err := c.nextFrame(); err != nil {
			return buf, err
		}
	}
}

// readCompressed reads the open message, which is compressed, through a
// pooled buffer and inflates it into buf (RFC 7692 7.2.2), within the
// read limit, checking a text message's UTF-8 once it is inflated.
func (c *Conn) readCompressed(op Opcode, buf []byte) ([]byte, error) {
	zp := msgPool.Get().(*[]byte)
	z, err := c.readRest((*zp)[:0])
	if err == nil {
		err = c.endMessage()
	}
	if err == nil {
		buf, err = c.inflateMessage(op, buf, z)
	}
	if cap(z) <= 64<<10 {
		*zp = z[:0]
		msgPool.Put(zp)
	}
	if err != nil {
		return buf[:0], c.readFailed(err)
	}
	return buf, nil
}

// inflateMessage appends the compressed message z of type op, inflated, to
// dst, and checks it: the read limit on the inflated size, valid DEFLATE
// data, and UTF-8 for a text message. z is extended in place.
func (c *Conn) inflateMessage(op Opcode, dst, z []byte) ([]byte, error) {
	start := len(dst)
	dst, err := inflate(dst, z, c.readLimit)
	if err != nil {
		return dst, err
	}
	if op == OpText && !utf8.Valid(dst[start:]) {
		return dst, ErrInvalidUTF8
	}
	return dst, nil
}

// NextReader waits for the next data message and returns its opcode and a
// reader of its payload, for messages too large to hold whole. The reader is
// valid until the next call of NextReader or ReadMessage, which first discard
// whatever of the message was left unread. The UTF-8 check of a text message
// happens as its bytes are read: an invalid message fails in the middle, not
// only at its end. A compressed message (permessage-deflate) is read and
// inflated whole, within the read limit, before NextReader returns.
func (c *Conn) NextReader() (Opcode, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.startMessage(); err != nil {
		return 0, nil, err
	}
	op := c.msgOp
	if c.msgDeflated {
		p, err := c.readCompressed(op, nil)
		if err != nil {
			return 0, nil, err
		}
		return op, bytes.NewReader(p), nil
	}
	return op, &c.msgReader, nil
}

// messageReader reads the payload of the open message across its fragments.
type messageReader struct{ c *Conn }

// Read reads payload bytes of the message, returning io.EOF at its end.
func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readErr != nil {
		return 0, c.readErr
	}
	if c.msgOp == 0 {
		return 0, io.EOF
	}
	for c.frameLeft == 0 {
		if c.frameFin {
			if err := c.endMessage(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		if err := c.nextFrame(); err != nil {
			return 0, err
		}
	}
	return c.readPayload(p)
}

// startMessage discards what is left of a message the caller did not finish,
// then reads up to the first frame of the next one.
func (c *Conn) startMessage() error {
	if c.readErr != nil {
		return c.readErr
	}
	for c.msgOp != 0 {
		if err := c.discardMessage(); err != nil {
			return err
		}
	}
	return c.nextFrame()
}

// discardMessage reads the rest of the open message and drops it.
func (c *Conn) discardMessage() error {
	buf := controlPool.Get().(*controlBuffer)
	defer controlPool.Put(buf)
	for {
		for c.frameLeft > 0 {
			if _, err := c.readPayload(buf[:]); err != nil {
				return err
			}
		}
		if c.frameFin {
			return c.endMessage()
		}
		if err := c.nextFrame(); err != nil {
			return err
		}
	}
}

// endMessage closes the open message once its final frame is read, and
// gives the read buffer back if nothing else is in it.
func (c *Conn) endMessage() error {
	if c.msgOp == OpText && !c.msgDeflated && !c.msgUTF8.complete() {
		return c.readFailed(ErrInvalidUTF8)
	}
	c.msgOp = 0
	c.releaseReadBuffer()
	return nil
}

// WaitReadable waits until the peer has sent something, without holding a
// read buffer: a connection parked here costs its goroutine and nothing
// else. It returns at once if bytes are already buffered, and where the
// connection has no file descriptor to wait on (TLS). A read deadline
// applies, and an error is final, as for the read methods. Call it, then
// ReadMessage, from the reading goroutine.
func (c *Conn) WaitReadable() error {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readErr != nil {
		return c.readErr
	}
	if c.rpos < c.rend || c.rawConn == nil || c.msgOp != 0 {
		return nil
	}
	c.releaseReadBuffer()
	if err := c.rawConn.Read(waitReadable); err != nil {
		return c.readFailed(err)
	}
	return nil
}

// nextFrame reads frames until the header of a data frame, handling the
// control frames before it, and makes it the current frame.
func (c *Conn) nextFrame() error {
	for {
		h, err := c.readHeader()
		if err != nil {
			return c.readFailed(err)
		}
		if err := c.checkHeader(h); err != nil {
			return c.readFailed(err)
		}
		if h.Opcode.IsControl() {
			if err := c.handleControl(h); err != nil {
				return c.readFailed(err)
			}
			continue
		}
		if h.Opcode == OpContinuation {
			if c.msgOp == 0 {
				return c.readFailed(ErrUnexpectedContinuation)
			}
		} else {
			if c.msgOp != 0 {
				return c.readFailed(ErrExpectedContinuation)
			}
			c.msgOp = h.Opcode
			c.msgDeflated = h.Rsv&rsv1 != 0
			c.msgLen = 0
			c.msgUTF8.reset()
		}
		if c.readLimit > 0 && h.Length > c.readLimit-c.msgLen {
			return c.readFailed(ErrMessageTooBig)
		}
		c.msgLen += h.Length
		c.frameLeft = h.Length
		c.frameFin = h.Fin
		c.frameMasked = h.Masked
		c.frameKey = h.MaskKey
		c.keyPos = 0
		return nil
	}
}

// readHeader reads and decodes the next frame header.
func (c *Conn) readHeader() (Header, error) {
	if err := c.fill(2); err != nil {
		return Header{}, err
	}
	size := headerSize(c.rbuf[c.rpos+1])
	if err := c.fill(size); err != nil {
		return Header{}, err
	}
	h, err := parseHeader(c.rbuf[c.rpos:])
	c.rpos += size
	return h, err
}

// checkHeader applies the rules of RFC 6455 that depend on the frame alone
// and on which side of the connection reads it.
func (c *Conn) checkHeader(h Header) error {
	switch {
	case h.Rsv&^rsv1 != 0, h.Rsv != 0 && !c.deflate:
		return ErrReservedBits // no extension that defines them is negotiated (5.2)
	case h.Rsv != 0 && h.Opcode.IsControl():
		return ErrCompressedControl // RSV1 marks a data message, on its first frame (RFC 7692 6.1)
	case h.Rsv != 0 && h.Opcode == OpContinuation:
		return ErrCompressedContinuation
	case h.Opcode.IsReserved():
		return ErrReservedOpcode
	case c.server && !h.Masked:
		return ErrUnmaskedFrame
	case !c.server && h.Masked:
		return ErrMaskedFrame
	case h.Opcode.IsControl() && !h.Fin:
		return ErrControlFragmented
	case h.Opcode.IsControl() && h.Length > maxControlPayload:
		return ErrControlTooLong
	}
	return nil
}

// handleControl reads the payload of a control frame and acts on it: a ping
// is answered, a pong reported, a close answered and the connection ended.
func (c *Conn) handleControl(h Header) error {
	buf := controlPool.Get().(*controlBuffer)
	defer controlPool.Put(buf)
	p := buf[:h.Length]
	if err := c.readFull(p); err != nil {
		return err
	}
	if h.Masked {
		maskBytes(h.MaskKey, 0, p)
	}
	return c.controlFrame(h.Opcode, p)
}

// readPayload reads up to len(p) bytes of the current frame's payload,
// unmasks them, and checks them when the message is text.
func (c *Conn) readPayload(p []byte) (int, error) {
	if int64(len(p)) > c.frameLeft {
		p = p[:c.frameLeft]
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	switch {
	case c.rpos < c.rend:
		n = copy(p, c.rbuf[c.rpos:c.rend])
		c.rpos += n
	case len(p) >= c.rbufSize:
		// A large read goes straight into the caller's buffer.
		var err error
		n, err = c.netConn.Read(p)
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return 0, c.readFailed(err)
		}
	default:
		c.rpos, c.rend = 0, 0
		if err := c.fill(1); err != nil {
			return 0, c.readFailed(err)
		}
		n = copy(p, c.rbuf[:c.rend])
		c.rpos = n
	}
	p = p[:n]
	if c.frameMasked {
		c.keyPos = maskBytes(c.frameKey, c.keyPos, p)
	}
	c.frameLeft -= int64(n)
	if c.msgOp == OpText && !c.msgDeflated && !c.msgUTF8.feed(p) {
		return n, c.readFailed(ErrInvalidUTF8)
	}
	return n, nil
}

// readFull fills p from the buffer and the connection.
func (c *Conn) readFull(p []byte) error {
	n := copy(p, c.rbuf[c.rpos:c.rend])
	c.rpos += n
	if n == len(p) {
		return nil
	}
	_, err := io.ReadFull(c.netConn, p[n:])
	return err
}

// fill reads until at least n unparsed bytes are buffered; n is at most
// the buffer's size.
func (c *Conn) fill(n int) error {
	if c.rend-c.rpos >= n {
		return nil
	}
	c.acquireReadBuffer()
	if len(c.rbuf)-c.rpos < n {
		c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos = 0
	}
	for c.rend-c.rpos < n {
		m, err := c.netConn.Read(c.rbuf[c.rend:])
		c.rend += m
		if err != nil && c.rend-c.rpos < n {
			return err
		}
	}
	return nil
}

// readFailed makes err the connection's final read error and ends the
// connection: a broken rule fails it with a close frame (RFC 6455 7.1.7);
// anything else closes it outright.
func (c *Conn) readFailed(err error) error {
	if c.readErr != nil {
		return c.readErr
	}
	var pe *ProtocolError
	var ce *CloseError
	switch {
	case errors.As(err, &pe):
		if c.sendClose(pe.Code, pe.Rule) == nil {
			c.finish(true)
		}
		c.CloseNow()
	case errors.As(err, &ce):
		// The close handshake already ended the connection.
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// The TCP connection ended without a close frame (RFC 6455 7.1.5).
		err = &CloseError{Code: CloseAbnormal, err: io.ErrUnexpectedEOF}
		c.CloseNow()
	default:
		err = fmt.Errorf("wsproto: read: %w", err)
		c.CloseNow()
	}
	c.readErr = err
	return err
}

// finish ends the TCP connection after the close handshake. A server closes
// at once (RFC 6455 7.1.1). Otherwise — a client, or a server failing the
// connection while the peer may still be sending — it half-closes, so the
// close frame is the last thing the peer reads, and discards what arrives
// until the peer closes or CloseTimeout passes: closing a socket with unread
// data would reset the connection and could destroy the close frame in
// flight.
func (c *Conn) finish(drain bool) {
	if drain {
		if cw, ok := c.netConn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_ = c.netConn.SetReadDeadline(time.Now().Add(c.closeTimeout))
		buf := controlPool.Get().(*controlBuffer)
		defer controlPool.Put(buf)
		const maxDrain = 1 << 20
		for total := 0; total < maxDrain; {
			n, err := c.netConn.Read(buf[:])
			total += n
			if err != nil {
				break
			}
		}
	}
	c.CloseNow()
}
