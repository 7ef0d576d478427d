package loadtest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"
)

// rawConn is the raw client: a WebSocket client of RFC 6455 on a plain
// connection, as light as a correct client can be, so that its readers
// keep up with whatever the socket delivers. It writes its own handshake
// and checks the server's 101 and Sec-WebSocket-Accept; it masks every
// frame it sends with a fresh key from crypto/rand; it reads the server's
// frames with rawReader, in place in one reused buffer, reassembles
// fragmented messages, answers pings with pongs and a close with a close,
// checks that text is UTF-8, and fails the connection with the close code
// RFC 6455 names for a frame that breaks its rules.
//
// One goroutine reads (readMessage, each) and any goroutines write: the writes
// (writeText, the pongs and closes of the reader, close) are serialised by
// a lock, each frame whole.
type rawConn struct {
	nc net.Conn

	// The read side, owned by the reading goroutine.
	rd    rawReader
	msg   []byte // a fragmented message being reassembled
	msgOp byte   // its opcode; 0 when none is open
	msgZ  bool   // it is compressed (permessage-deflate)
	zbuf  []byte // compressed messages are inflated here; allocated on first use

	wmu       sync.Mutex
	wbuf      []byte // the frame being masked; allocated on first write
	closeSent bool
}

// rawCloseError is the raw client's error for a connection the server
// closed with a close frame.
type rawCloseError struct{ code uint16 }

func (e *rawCloseError) Error() string {
	if e.code == 0 {
		return "loadtest: raw client: the server closed the connection (no status code)"
	}
	return fmt.Sprintf("loadtest: raw client: the server closed the connection with %d", e.code)
}

var (
	errRawHandshake             = errors.New("loadtest: raw client: bad handshake")
	errUnexpectedContinuation   = errors.New("loadtest: raw client: continuation frame without a message (RFC 6455 5.4)")
	errExpectedContinuation     = errors.New("loadtest: raw client: new message inside a fragmented one (RFC 6455 5.4)")
	errRawInvalidUTF8           = errors.New("loadtest: raw client: text message is not valid UTF-8 (RFC 6455 8.1)")
	errClosePayloadTooShort     = errors.New("loadtest: raw client: close frame with a 1-byte payload (RFC 6455 5.5.1)")
	errInvalidCloseCode         = errors.New("loadtest: raw client: close frame with an invalid status code (RFC 6455 7.4)")
	errRawCloseSent             = errors.New("loadtest: raw client: close frame already sent")
	errResponseHeaderTooLong    = fmt.Errorf("%w: response header longer than %d bytes", errRawHandshake, maxResponseHeader)
	errResponseHeaderIncomplete = fmt.Errorf("%w: connection ended inside the response header", errRawHandshake)
)

// Close codes the raw client sends (RFC 6455 7.4.1).
const (
	closeNormal        = 1000
	closeProtocolError = 1002
	closeNoStatus      = 1005 // never on the wire: the peer's close had no code
	closeInvalidData   = 1007
	closeTooBig        = 1009
)

// maxResponseHeader bounds the server's handshake response.
const maxResponseHeader = 16 << 10

// websocketGUID is the key suffix of RFC 6455 section 1.3.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey is the Sec-WebSocket-Accept that answers key (RFC 6455 4.2.2).
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// dialRaw performs the client's opening handshake of RFC 6455 section 4.1
// on nc for the endpoint u (ws:// or wss://, with its query) with the given
// Origin, and returns the connection, reading messages of at most limit
// bytes. Bytes the server sent after its response — its first frames —
// stay in the read buffer. The caller bounds the handshake with nc's
// deadline.
//
// With deflate it offers permessage-deflate (RFC 7692) without context
// takeover either way, and reads the compressed messages of a server that
// takes it; it sends its own uncompressed, as the extension allows.
func dialRaw(nc net.Conn, u *url.URL, origin string, limit int, deflate bool) (*rawConn, error) {
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\n" +
		"Host: " + u.Host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n"
	if deflate {
		req += "Sec-WebSocket-Extensions: " + deflateOffer + "\r\n"
	}
	req += "Origin: " + origin + "\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		return nil, fmt.Errorf("loadtest: raw client: writing the handshake: %w", err)
	}
	c := &rawConn{nc: nc, rd: newRawReader(limit)}
	head, err := c.readResponseHeader()
	if err != nil {
		return nil, err
	}
	if c.rd.deflate, err = checkResponse(head, key, deflate); err != nil {
		return nil, err
	}
	return c, nil
}

// readResponseHeader reads until the end of the response header into the
// read buffer and returns the header; the bytes after it stay unparsed.
func (c *rawConn) readResponseHeader() ([]byte, error) {
	r := &c.rd
	for {
		if i := bytes.Index(r.buf[:r.end], []byte("\r\n\r\n")); i >= 0 {
			r.start = i + 4
			return r.buf[:r.start], nil
		}
		if r.end >= maxResponseHeader {
			return nil, errResponseHeaderTooLong
		}
		if err := r.fill(c.nc, r.end+1); err != nil {
			if r.end > 0 {
				return nil, fmt.Errorf("%w (%v)", errResponseHeaderIncomplete, err)
			}
			return nil, fmt.Errorf("loadtest: raw client: reading the handshake response: %w", err)
		}
	}
}

// checkResponse checks the server's response to a handshake with key, as
// RFC 6455 section 4.1 requires of a client: status 101, Upgrade websocket,
// Connection upgrade, the right Sec-WebSocket-Accept, and no extension or
// subprotocol that was not asked for. It reports whether the server took
// the offer of permessage-deflate (deflate: whether one was made).
func checkResponse(head []byte, key string, deflate bool) (bool, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		return false, fmt.Errorf("%w: %v", errRawHandshake, err)
	}
	resp.Body.Close()
	h := resp.Header
	ext := strings.Join(h.Values("Sec-WebSocket-Extensions"), ",")
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return false, fmt.Errorf("%w: status %s", errRawHandshake, resp.Status)
	case !hasToken(h, "Upgrade", "websocket"):
		return false, fmt.Errorf("%w: Upgrade %q, want websocket", errRawHandshake, h.Get("Upgrade"))
	case !hasToken(h, "Connection", "upgrade"):
		return false, fmt.Errorf("%w: Connection %q, want Upgrade", errRawHandshake, h.Get("Connection"))
	case h.Get("Sec-WebSocket-Accept") != acceptKey(key):
		return false, fmt.Errorf("%w: Sec-WebSocket-Accept %q, want %q", errRawHandshake, h.Get("Sec-WebSocket-Accept"), acceptKey(key))
	case ext != "" && !(deflate && deflateAccepted(ext)):
		return false, fmt.Errorf("%w: extension %q that was not offered", errRawHandshake, ext)
	case h.Get("Sec-WebSocket-Protocol") != "":
		return false, fmt.Errorf("%w: subprotocol %q that was not offered", errRawHandshake, h.Get("Sec-WebSocket-Protocol"))
	}
	return ext != "", nil
}

// deflateOffer is the raw client's offer of permessage-deflate: no context
// takeover either way, so that every message inflates on its own.
const deflateOffer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// deflateAccepted reports whether ext is an acceptance of deflateOffer
// the raw client can read: permessage-deflate alone, with
// server_no_context_takeover (RFC 7692 7.1.1.1), and no parameter it did
// not offer. server_max_window_bits needs nothing of a reader that
// inflates with a 32 KiB window.
func deflateAccepted(ext string) bool {
	params := strings.Split(ext, ";")
	if strings.TrimSpace(params[0]) != "permessage-deflate" {
		return false
	}
	noContext := false
	seen := map[string]bool{}
	for _, p := range params[1:] {
		name, _, _ := strings.Cut(strings.TrimSpace(p), "=")
		if seen[name] {
			return false
		}
		seen[name] = true
		switch name {
		case "server_no_context_takeover":
			noContext = true
		case "client_no_context_takeover", "server_max_window_bits":
		default:
			return false
		}
	}
	return noContext
}

// hasToken reports whether a comma-separated header has token, ignoring
// case.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// readMessage returns the payload of the next text or binary message,
// valid until the next call, reading from the connection as needed.
// Control frames are handled on the way. An error is final: the
// connection has been closed, after a close frame with the code RFC 6455
// names if the server broke a rule.
func (c *rawConn) readMessage() ([]byte, error) {
	for {
		msg, ok, need, err := c.buffered()
		if ok {
			return msg, nil
		}
		if err == nil {
			err = c.rd.fill(c.nc, need)
		}
		if err != nil {
			c.nc.Close()
			return nil, err
		}
	}
}

// each reads messages until the connection ends, calling fn with every
// one (valid during the call), and returns why it ended; the connection is
// then closed. On a connection with a file descriptor it reads inside
// one syscall.RawConn.Read: it reads the socket until it is drained,
// hands over every message, and only then waits for the poller to say
// more has arrived. (A net.Conn Read tries the read(2) first every time:
// two system calls for an event that arrives alone.) Over TLS it reads as
// readMessage does.
func (c *rawConn) each(fn func([]byte)) error {
	err := c.eachMessage(fn)
	c.nc.Close()
	return err
}

func (c *rawConn) eachMessage(fn func([]byte)) error {
	need, err := c.deliver(fn) // what came with the welcome
	if err != nil {
		return err
	}
	var rc syscall.RawConn
	if sc, ok := c.nc.(syscall.Conn); ok {
		rc, _ = sc.SyscallConn()
	}
	if rc == nil {
		for {
			if err := c.rd.fill(c.nc, need); err != nil {
				return err
			}
			if need, err = c.deliver(fn); err != nil {
				return err
			}
		}
	}
	var readErr error
	err = rc.Read(func(fd uintptr) bool {
		r := &c.rd
		for {
			r.room(need)
			space := len(r.buf) - r.end
			n, err := syscall.Read(int(fd), r.buf[r.end:])
			switch {
			case err == syscall.EAGAIN:
				return false // wait for the poller
			case err == syscall.EINTR:
				continue
			case err != nil:
				readErr = &net.OpError{Op: "read", Net: "tcp", Addr: c.nc.RemoteAddr(), Err: os.NewSyscallError("read", err)}
				return true
			case n == 0:
				readErr = io.EOF
				return true
			}
			r.end += n
			r.count(n)
			if need, readErr = c.deliver(fn); readErr != nil {
				return true
			}
			if n < space {
				return false // drained: the next arrival wakes the poller
			}
		}
	})
	if readErr != nil {
		return readErr
	}
	return err // a deadline, or the connection closed
}

// deliver calls fn with every whole message in the buffer, and returns
// the length the buffer needs for the next frame.
func (c *rawConn) deliver(fn func([]byte)) (need int, err error) {
	for {
		msg, ok, need, err := c.buffered()
		if !ok {
			return need, err
		}
		fn(msg)
	}
}

// buffered returns the next message among the frames already read,
// handling control frames on the way; ok is false, with need, when the
// buffer holds no more whole frames. A frame that breaks a rule fails the
// connection: buffered sends the close frame, and the caller closes.
func (c *rawConn) buffered() (msg []byte, ok bool, need int, err error) {
	for {
		f, ok, need, err := c.rd.frame()
		if err != nil {
			return nil, false, 0, c.fail(err)
		}
		if !ok {
			return nil, false, need, nil
		}
		switch f.op {
		case opText, opBinary:
			if c.msgOp != 0 {
				return nil, false, 0, c.fail(errExpectedContinuation)
			}
			if f.fin {
				return c.message(f.op, f.payload, f.rsv1)
			}
			c.msg, c.msgOp, c.msgZ = append(c.msg[:0], f.payload...), f.op, f.rsv1
		case opContinuation:
			switch {
			case c.msgOp == 0:
				return nil, false, 0, c.fail(errUnexpectedContinuation)
			case len(c.msg)+len(f.payload) > c.rd.limit:
				return nil, false, 0, c.fail(errFrameTooLarge)
			}
			c.msg = append(c.msg, f.payload...)
			if f.fin {
				op := c.msgOp
				c.msgOp = 0
				return c.message(op, c.msg, c.msgZ)
			}
		case opPing:
			c.writeFrame(opPong, f.payload) // a failed write shows in the next read
		case opPong:
		case opClose:
			return nil, false, 0, c.closed(f.payload)
		}
	}
}

// message returns a whole message, inflated when it is compressed (z),
// failing the connection for text that is not UTF-8.
func (c *rawConn) message(op byte, p []byte, z bool) ([]byte, bool, int, error) {
	if z {
		var err error
		if p, err = c.inflate(p); err != nil {
			return nil, false, 0, c.fail(err)
		}
	}
	if op == opText && !utf8.Valid(p) {
		return nil, false, 0, c.fail(errRawInvalidUTF8)
	}
	return p, true, 0, nil
}

// closed answers the server's close frame with its payload p: the same
// status code back (RFC 6455 5.5.1); the caller then closes.
func (c *rawConn) closed(p []byte) error {
	switch len(p) {
	case 0:
		c.writeClose(closeNoStatus)
		return &rawCloseError{}
	case 1:
		return c.fail(errClosePayloadTooShort)
	}
	code := binary.BigEndian.Uint16(p)
	if !validCloseCode(code) {
		return c.fail(errInvalidCloseCode)
	}
	if !utf8.Valid(p[2:]) {
		return c.fail(errRawInvalidUTF8)
	}
	c.writeClose(code)
	return &rawCloseError{code: code}
}

// validCloseCode reports whether code may be sent in a close frame (RFC
// 6455 7.4): the codes defined for use on the wire, and the ranges for
// libraries and applications.
func validCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}

// fail sends the close frame with the code that the rule err names (the
// caller then closes the connection), and returns err.
func (c *rawConn) fail(err error) error {
	switch {
	case errors.Is(err, errFrameTooLarge):
		c.writeClose(closeTooBig)
	case errors.Is(err, errRawInvalidUTF8), errors.Is(err, errRawCorrupt):
		c.writeClose(closeInvalidData)
	case isProtocolError(err):
		c.writeClose(closeProtocolError)
	}
	return err
}

func isProtocolError(err error) bool {
	for _, e := range []error{errMaskedFrame, errReservedBits, errCompressedControl, errReservedOpcode, errLengthOverflow, errNonMinimalLength,
		errControlTooLong, errControlFragmented, errUnexpectedContinuation, errExpectedContinuation, errClosePayloadTooShort, errInvalidCloseCode} {
		if err == e {
			return true
		}
	}
	return false
}

// writeText sends p as one text message.
func (c *rawConn) writeText(p []byte) error { return c.writeFrame(opText, p) }

// close starts the closing handshake: a close frame with 1000. The
// reading goroutine ends the connection when the server's close arrives,
// or when its read fails.
func (c *rawConn) close() error { return c.writeClose(closeNormal) }

// writeClose sends a close frame with code, unless one was sent; 1005
// sends one without a code.
func (c *rawConn) writeClose(code uint16) error {
	if code == closeNoStatus {
		return c.writeFrame(opClose, nil)
	}
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], code)
	return c.writeFrame(opClose, p[:])
}

// writeFrame sends payload as one final frame of op, masked with a fresh
// key (RFC 6455 5.3). After a close frame it sends nothing more.
func (c *rawConn) writeFrame(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errRawCloseSent
	}
	if op == opClose {
		c.closeSent = true
	}
	var key [4]byte
	rand.Read(key[:])
	c.wbuf = appendMaskedFrame(c.wbuf[:0], op, key, payload)
	_, err := c.nc.Write(c.wbuf)
	return err
}

// appendMaskedFrame appends payload as one final client frame of op,
// masked with key (RFC 6455 5.2, 5.3).
func appendMaskedFrame(b []byte, op byte, key [4]byte, payload []byte) []byte {
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, payload...)
	for i := range payload {
		b[start+i] ^= key[i&3]
	}
	return b
}

// errRawCorrupt is the raw client's error for a compressed message that is
// not DEFLATE data (failed with 1007, as wsproto does).
var errRawCorrupt = errors.New("loadtest: raw client: compressed message is not valid DEFLATE data (RFC 7692 7.2.2)")

// inflater is a pooled flate reader: the generator's thousands of clients
// share a few, rather than keep one each between messages.
type inflater struct {
	r   io.ReadCloser
	src deflatedSource
}

var inflaters sync.Pool // of *inflater

// deflatedSource is a compressed message followed by the tail a receiver
// appends (RFC 7692 7.2.2: 0x00 0x00 0xff 0xff; then an empty final block,
// so that the reader ends with io.EOF). It is a flate.Reader, so flate
// reads it without a bufio.Reader of its own.
type deflatedSource struct{ msg, tail []byte }

var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

func (s *deflatedSource) Read(p []byte) (int, error) {
	if len(s.msg) == 0 {
		s.msg, s.tail = s.tail, nil
	}
	if len(s.msg) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.msg)
	s.msg = s.msg[n:]
	return n, nil
}

func (s *deflatedSource) ReadByte() (byte, error) {
	if len(s.msg) == 0 {
		s.msg, s.tail = s.tail, nil
	}
	if len(s.msg) == 0 {
		return 0, io.EOF
	}
	b := s.msg[0]
	s.msg = s.msg[1:]
	return b, nil
}

// inflate decompresses the message z into the connection's inflate
// buffer, which the result aliases, within the read limit.
func (c *rawConn) inflate(z []byte) ([]byte, error) {
	f, _ := inflaters.Get().(*inflater)
	if f == nil {
		f = &inflater{}
		f.src = deflatedSource{z, deflateTail}
		f.r = flate.NewReader(&f.src)
	} else {
		f.src = deflatedSource{z, deflateTail}
		f.r.(flate.Resetter).Reset(&f.src, nil)
	}
	defer func() { f.src = deflatedSource{}; inflaters.Put(f) }()
	out := c.zbuf[:0]
	limit := c.rd.limit
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		p := out[len(out):min(cap(out), limit+1)]
		n, err := f.r.Read(p)
		out = out[:len(out)+n]
		c.zbuf = out
		switch {
		case len(out) > limit:
			return nil, errFrameTooLarge
		case err == io.EOF:
			return out, nil
		case err != nil:
			return nil, errRawCorrupt
		}
	}
}
