package wsproto

import (
	"errors"
	"io"
	"sync"
	"syscall"
)

// Reading without a goroutine per connection.
//
// ReadMessage pulls bytes from the socket and waits for them, so a
// connection needs a goroutine parked in it. Feed turns that around: the
// caller reads the socket itself when the socket has bytes (ReadAvailable,
// on readiness from epoll, say) and pushes them in; the frame reader stops
// wherever the bytes end — in a header, in a payload — and resumes there
// with the next call. Between calls it holds at most a frame header's
// worth of bytes and the part of a message that has arrived: an idle
// connection holds neither, and no goroutine. The rules are ReadMessage's
// (RFC 6455 5, 8.1, 10.4): masking, fragmentation, control frames answered
// as they come, the size limit applied on the header before any payload
// arrives, UTF-8 checked as the bytes arrive, and a broken rule failing the
// connection with its close code.

// ErrWouldBlock is what ReadAvailable returns when the socket has no bytes
// now; other errors are final.
var ErrWouldBlock = errors.New("wsproto: no bytes available")

// CanFeed reports whether the connection can be read with ReadAvailable and
// Feed: it has a file descriptor of its own (not TLS, which has records to
// decrypt), on a system where reading it without waiting is implemented
// (Linux).
func (c *Conn) CanFeed() bool { return c.rawConn != nil && canReadNow }

// ReadAvailable reads what the socket holds now into p, without waiting: it
// returns ErrWouldBlock when there is nothing, and io.EOF when the peer has
// closed its side. Only a connection that CanFeed can; only the goroutine
// that feeds may call it.
func (c *Conn) ReadAvailable(p []byte) (int, error) {
	if !c.CanFeed() {
		return 0, errors.New("wsproto: ReadAvailable needs a connection with a file descriptor, on Linux")
	}
	var n int
	var rerr error
	err := c.rawConn.Read(func(fd uintptr) bool {
		n, rerr = readNow(fd, p)
		return true // one attempt, whatever it gave: never wait
	})
	switch {
	case err != nil:
		return 0, err
	case rerr == syscall.EAGAIN:
		return 0, ErrWouldBlock
	case rerr != nil:
		return 0, rerr
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// FD calls f with the connection's file descriptor, for registering it with
// a poller, and returns f's result (false when it has none). The
// descriptor stays the Conn's: never read, write or close it.
func (c *Conn) FD(f func(fd int) bool) bool {
	if c.rawConn == nil {
		return false
	}
	ok := false
	if c.rawConn.Control(func(fd uintptr) { ok = f(int(fd)) }) != nil {
		return false
	}
	return ok
}

// feedState is what Feed keeps between calls beyond ReadMessage's frame
// fields (frameLeft, frameFin, frameMasked, frameKey, keyPos, msgOp,
// msgLen, msgUTF8): a header cut short, and a control frame's payload.
type feedState struct {
	hdr   [MaxHeaderSize]byte
	hdrN  uint8  // bytes of hdr filled
	ctlOp Opcode // the current control frame's opcode

	ctl    *controlBuffer // the current frame is a control frame: its payload so far; nil otherwise
	ctlLen int

	msg *[]byte // the open data message's payload so far, from msgPool; nil between messages
}

// msgPool holds the buffers Feed assembles messages in. One that grew past
// 64 KiB is dropped rather than kept.
var msgPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Feed hands the connection bytes read from its socket (see ReadAvailable)
// and calls onMessage for each whole data message they complete, in order,
// with its opcode and payload — valid only during the call, and the same
// as ReadMessage would have returned. It may modify p (unmasking in place).
// Control frames are handled as ReadMessage handles them: a ping answered
// (or given to the ping handler), a pong given to the pong handler, a close
// answered and returned as a *CloseError. An error, onMessage's included,
// is final, as for ReadMessage: the connection is then closed, with the
// close code of the rule broken. Feed and the read methods must not be
// mixed on one connection.
func (c *Conn) Feed(p []byte, onMessage func(op Opcode, payload []byte) error) error {
	c.feeding.Store(true)
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readErr != nil {
		return c.readErr
	}
	if c.rpos < c.rend { // what came with the handshake goes first
		buffered := c.rbuf[c.rpos:c.rend]
		c.rpos = c.rend
		err := c.feed(buffered, onMessage)
		c.releaseReadBuffer()
		if err != nil {
			return err
		}
	}
	return c.feed(p, onMessage)
}

// Feeding reports whether Feed holds part of a frame or a message: the
// peer has more to send before the connection is idle.
func (c *Conn) Feeding() bool {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	return c.fs.hdrN > 0 || c.fs.ctl != nil || c.fs.msg != nil || c.frameLeft > 0
}

func (c *Conn) feed(p []byte, onMessage func(Opcode, []byte) error) error {
	fs := &c.fs
	for len(p) > 0 {
		if c.frameLeft > 0 {
			n := int(min(int64(len(p)), c.frameLeft))
			chunk := p[:n]
			p = p[n:]
			if c.frameMasked {
				c.keyPos = maskBytes(c.frameKey, c.keyPos, chunk)
			}
			c.frameLeft -= int64(n)
			if fs.ctl != nil {
				fs.ctlLen += copy(fs.ctl[fs.ctlLen:], chunk)
			} else {
				if c.msgOp == OpText && !c.msgDeflated && !c.msgUTF8.feed(chunk) {
					return c.feedFailed(ErrInvalidUTF8)
				}
				*fs.msg = append(*fs.msg, chunk...)
			}
			if c.frameLeft == 0 {
				if err := c.frameDone(onMessage); err != nil {
					return err
				}
			}
			continue
		}
		// A header, perhaps in pieces.
		need := 2
		if fs.hdrN >= 2 {
			need = headerSize(fs.hdr[1])
		}
		n := copy(fs.hdr[fs.hdrN:need], p)
		fs.hdrN += uint8(n)
		p = p[n:]
		if int(fs.hdrN) < need {
			continue // more header to come (or, with 2 bytes, its real size is known now)
		}
		if need == 2 && headerSize(fs.hdr[1]) > 2 {
			continue
		}
		h, err := parseHeader(fs.hdr[:need])
		fs.hdrN = 0
		if err != nil {
			return c.feedFailed(err)
		}
		if err := c.startFrame(h); err != nil {
			return err
		}
		if h.Length == 0 {
			if err := c.frameDone(onMessage); err != nil {
				return err
			}
		}
	}
	return nil
}

// startFrame applies the rules of a new frame's header and makes it the
// current frame.
func (c *Conn) startFrame(h Header) error {
	if err := c.checkHeader(h); err != nil {
		return c.feedFailed(err)
	}
	fs := &c.fs
	if h.Opcode.IsControl() {
		fs.ctl = controlPool.Get().(*controlBuffer)
		fs.ctlOp, fs.ctlLen = h.Opcode, 0
	} else {
		if h.Opcode == OpContinuation {
			if c.msgOp == 0 {
				return c.feedFailed(ErrUnexpectedContinuation)
			}
		} else {
			if c.msgOp != 0 {
				return c.feedFailed(ErrExpectedContinuation)
			}
			c.msgOp = h.Opcode
			c.msgDeflated = h.Rsv&rsv1 != 0
			c.msgLen = 0
			c.msgUTF8.reset()
			fs.msg = msgPool.Get().(*[]byte)
			*fs.msg = (*fs.msg)[:0]
		}
		if c.readLimit > 0 && h.Length > c.readLimit-c.msgLen {
			return c.feedFailed(ErrMessageTooBig)
		}
		c.msgLen += h.Length
		c.frameFin = h.Fin
	}
	c.frameLeft = h.Length
	c.frameMasked = h.Masked
	c.frameKey = h.MaskKey
	c.keyPos = 0
	return nil
}

// frameDone acts on a frame whose payload has all arrived: a control frame
// now, a data message if this was its last frame.
func (c *Conn) frameDone(onMessage func(Opcode, []byte) error) error {
	fs := &c.fs
	if fs.ctl != nil {
		buf, op, n := fs.ctl, fs.ctlOp, fs.ctlLen
		fs.ctl = nil
		err := c.controlFrame(op, buf[:n])
		controlPool.Put(buf)
		if err != nil {
			return c.feedFailed(err)
		}
		return nil
	}
	if !c.frameFin {
		return nil
	}
	if c.msgOp == OpText && !c.msgDeflated && !c.msgUTF8.complete() {
		return c.feedFailed(ErrInvalidUTF8)
	}
	op, msg := c.msgOp, fs.msg
	c.msgOp, fs.msg = 0, nil
	var err error
	if c.msgDeflated {
		err = c.feedCompressed(op, *msg, onMessage)
	} else {
		err = onMessage(op, *msg)
	}
	if cap(*msg) <= 64<<10 {
		*msg = (*msg)[:0]
		msgPool.Put(msg)
	}
	if err != nil {
		return c.feedFailed(err)
	}
	return nil
}

// feedCompressed inflates a whole compressed message into a pooled buffer
// and hands it to onMessage, as readCompressed does for ReadMessage.
func (c *Conn) feedCompressed(op Opcode, z []byte, onMessage func(Opcode, []byte) error) error {
	bp := msgPool.Get().(*[]byte)
	p, err := c.inflateMessage(op, (*bp)[:0], z)
	if err == nil {
		err = onMessage(op, p)
	}
	if cap(p) <= 64<<10 {
		*bp = p[:0]
		msgPool.Put(bp)
	}
	return err
}

// controlFrame acts on a control frame's (unmasked) payload, for the read
// methods and Feed alike.
func (c *Conn) controlFrame(op Opcode, p []byte) error {
	switch op {
	case OpPing:
		if c.pingHandler != nil {
			return c.pingHandler(p)
		}
		if err := c.WritePong(p); err != nil && err != ErrCloseSent {
			return err
		}
	case OpPong:
		if c.pongHandler != nil {
			return c.pongHandler(p)
		}
	case OpClose:
		code, reason, err := parseClosePayload(p)
		if err != nil {
			return err
		}
		c.closeReceived.Store(true)
		// Answer with the same code, unless our own close frame is already
		// out: then this frame is the answer to it (RFC 6455 5.5.1). An
		// answer that cannot be written means the peer has gone already;
		// its close frame is still what ended the connection.
		if err := c.sendClose(code, ""); err != nil && err != ErrCloseSent {
			c.CloseNow()
		} else {
			c.finish(!c.server)
		}
		return &CloseError{Code: code, Reason: reason}
	}
	return nil
}

// feedFailed is readFailed for Feed, which also lets go of what it held.
func (c *Conn) feedFailed(err error) error {
	fs := &c.fs
	if fs.ctl != nil {
		controlPool.Put(fs.ctl)
		fs.ctl = nil
	}
	fs.msg = nil
	return c.readFailed(err)
}

// FeedEnd tells the connection its socket has ended: io.EOF when the peer
// closed it (ReadAvailable's io.EOF), or the error reading it gave. It
// returns what a read method would have: a *CloseError with
// CloseAbnormal for an end without a close frame, or the error of the
// connection's earlier failure. The connection is closed.
func (c *Conn) FeedEnd(err error) error {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readErr != nil {
		return c.readErr
	}
	return c.feedFailed(err)
}
