package wsproto_test

// Tests of the RFC 6455 framing, control and closing rules (sections 5, 7
// and 8), over a raw peer that speaks bytes to a Conn. The raw-frame helpers
// at the top are written independently of the package's own encoder, so a
// bug there cannot hide itself.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"ringchat/wsproto"
)

// waitLong bounds every wait in the tests: far longer than anything should
// take, short enough that a hang fails instead of stalling the run.
const waitLong = 10 * time.Second

// testKey is the masking key of the frames the tests send as a client.
var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// wireFrame is one frame as seen on the wire.
type wireFrame struct {
	Fin     bool
	Rsv     byte
	Op      wsproto.Opcode
	Masked  bool
	Key     [4]byte
	Payload []byte // unmasked
	LenForm int    // 7, 16 or 64: how the length was encoded
}

// encodeFrame encodes f with its length in the minimal form, masking the
// payload with f.Key when f.Masked.
func encodeFrame(f wireFrame) []byte {
	b0 := (f.Rsv&7)<<4 | byte(f.Op)&0xF
	if f.Fin {
		b0 |= 0x80
	}
	var mbit byte
	if f.Masked {
		mbit = 0x80
	}
	b := []byte{b0}
	switch n := len(f.Payload); {
	case n <= 125:
		b = append(b, mbit|byte(n))
	case n <= 0xFFFF:
		b = append(b, mbit|126, byte(n>>8), byte(n))
	default:
		b = append(b, mbit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if f.Masked {
		b = append(b, f.Key[:]...)
	}
	start := len(b)
	b = append(b, f.Payload...)
	if f.Masked {
		for i := range b[start:] {
			b[start+i] ^= f.Key[i%4]
		}
	}
	return b
}

// frameMaker builds frames as the peer of a Conn sends them: masked when the
// Conn under test is a server (RFC 6455 5.1).
type frameMaker struct{ mask bool }

// frame encodes a frame with minimal length.
func (m frameMaker) frame(fin bool, op wsproto.Opcode, payload []byte) []byte {
	return encodeFrame(wireFrame{Fin: fin, Op: op, Masked: m.mask, Key: testKey, Payload: payload})
}

// msg encodes a final frame.
func (m frameMaker) msg(op wsproto.Opcode, payload string) []byte {
	return m.frame(true, op, []byte(payload))
}

// header encodes just a header, with b0 as given and length field lenField
// (the 7-bit length, followed by any extended length bytes), adding the mask
// bit and key as the peer's role requires.
func (m frameMaker) header(b0 byte, lenField ...byte) []byte {
	b := []byte{b0, lenField[0]}
	b = append(b, lenField[1:]...)
	if m.mask {
		b[1] |= 0x80
		b = append(b, testKey[:]...)
	}
	return b
}

// closePayload encodes a close frame body.
func closePayload(code wsproto.CloseCode, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// readWireFrame reads one frame in any length encoding and unmasks it.
func readWireFrame(r io.Reader) (wireFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return wireFrame{}, err
	}
	f := wireFrame{
		Fin:    h[0]&0x80 != 0,
		Rsv:    h[0] >> 4 & 7,
		Op:     wsproto.Opcode(h[0] & 0xF),
		Masked: h[1]&0x80 != 0,
	}
	n := uint64(h[1] & 0x7F)
	f.LenForm = 7
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return f, noEOF(err)
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
		f.LenForm = 16
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return f, noEOF(err)
		}
		n = binary.BigEndian.Uint64(ext[:])
		f.LenForm = 64
	}
	if n > 64<<20 {
		return f, fmt.Errorf("frame of %d bytes is beyond what any test sends", n)
	}
	if f.Masked {
		if _, err := io.ReadFull(r, f.Key[:]); err != nil {
			return f, noEOF(err)
		}
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return f, noEOF(err)
	}
	if f.Masked {
		for i := range f.Payload {
			f.Payload[i] ^= f.Key[i%4]
		}
	}
	return f, nil
}

// noEOF turns an EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		d.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); d.Close() })
	return a.(*net.TCPConn), d.(*net.TCPConn)
}

// rawPeer is the other end of a Conn under test: it writes raw bytes and
// parses every frame the Conn sends, in the background, so the Conn never
// blocks on writing.
type rawPeer struct {
	t      testing.TB
	conn   net.Conn
	mk     frameMaker
	frames chan wireFrame
	stop   chan struct{}
	err    error // why reading ended; valid once frames is closed
}

func newRawPeer(t testing.TB, conn net.Conn, masks bool) *rawPeer {
	p := &rawPeer{
		t:      t,
		conn:   conn,
		mk:     frameMaker{mask: masks},
		frames: make(chan wireFrame, 4096),
		stop:   make(chan struct{}),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(p.frames)
		r := bufio.NewReader(conn)
		for {
			f, err := readWireFrame(r)
			if err != nil {
				p.err = err
				return
			}
			select {
			case p.frames <- f:
			case <-p.stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(p.stop)
		conn.Close()
		<-done
	})
	return p
}

// newPair returns a Conn (a server when server is true) over loopback TCP
// and the raw peer at the other end.
func newPair(t testing.TB, server bool, opts *wsproto.ConnOptions) (*wsproto.Conn, *rawPeer) {
	t.Helper()
	a, b := tcpPair(t)
	c := wsproto.NewConnForTest(a, server, nil, opts)
	t.Cleanup(func() { c.CloseNow() })
	return c, newRawPeer(t, b, server)
}

// write sends bytes to the Conn, each argument in one Write call.
func (p *rawPeer) write(bs ...[]byte) {
	p.t.Helper()
	for _, b := range bs {
		if _, err := p.conn.Write(b); err != nil {
			p.t.Fatalf("peer write: %v", err)
		}
	}
}

// next returns the next frame the Conn sent.
func (p *rawPeer) next() wireFrame {
	p.t.Helper()
	select {
	case f, ok := <-p.frames:
		if !ok {
			p.t.Fatalf("peer: connection ended (%v) where a frame was expected", p.err)
		}
		if f.Masked == p.mk.mask {
			// A server's peer is a client and receives unmasked frames, and
			// the reverse (RFC 6455 5.1).
			p.t.Errorf("peer: frame %v has mask bit %v", f.Op, f.Masked)
		}
		return f
	case <-time.After(waitLong):
		p.t.Fatal("peer: no frame arrived")
	}
	panic("unreachable")
}

// expectClose reads the next frame, which must be a close frame with code
// (CloseNoStatus: an empty one), and returns its reason.
func (p *rawPeer) expectClose(code wsproto.CloseCode) string {
	p.t.Helper()
	f := p.next()
	if f.Op != wsproto.OpClose {
		p.t.Fatalf("peer: got %v frame %q, want close %v", f.Op, f.Payload, code)
	}
	if code == wsproto.CloseNoStatus {
		if len(f.Payload) != 0 {
			p.t.Fatalf("peer: close payload %q, want empty", f.Payload)
		}
		return ""
	}
	if len(f.Payload) < 2 {
		p.t.Fatalf("peer: close payload %q, want code %v", f.Payload, code)
	}
	if got := wsproto.CloseCode(binary.BigEndian.Uint16(f.Payload)); got != code {
		p.t.Fatalf("peer: close code %v, want %v (reason %q)", got, code, f.Payload[2:])
	}
	return string(f.Payload[2:])
}

// expectEOF waits for the Conn to close (or half-close) its side of the
// TCP connection, with no further frame before it.
func (p *rawPeer) expectEOF() {
	p.t.Helper()
	select {
	case f, ok := <-p.frames:
		if ok {
			p.t.Fatalf("peer: got %v frame %q, want the end of the connection", f.Op, f.Payload)
		}
		if !errors.Is(p.err, io.EOF) {
			p.t.Fatalf("peer: connection ended with %v, want EOF", p.err)
		}
	case <-time.After(waitLong):
		p.t.Fatal("peer: the connection did not end")
	}
}

// readResult is the outcome of one ReadMessage.
type readResult struct {
	op  wsproto.Opcode
	p   []byte
	err error
}

// readerKind is a way to read a Conn in the tests that apply to every way:
// its read methods on a goroutine of its own (startReader), or Feed on
// readiness from a poller, where there is one (startFeeder).
type readerKind struct {
	name  string
	start func(testing.TB, *wsproto.Conn) *reader
}

// readerKinds are the ways this system can read a Conn.
var readerKinds = []readerKind{{name: "ReadMessage", start: startReader}}

// reader runs ReadMessage in a loop on its own goroutine until it fails.
type reader struct {
	t       testing.TB
	results chan readResult
}

func startReader(t testing.TB, c *wsproto.Conn) *reader {
	r := &reader{t: t, results: make(chan readResult, 1024)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			op, p, err := c.ReadMessage(nil)
			r.results <- readResult{op, p, err}
			if err != nil {
				return
			}
		}
	})
	t.Cleanup(func() { c.CloseNow(); wg.Wait() })
	return r
}

// next returns the result of the next ReadMessage.
func (r *reader) next() readResult {
	r.t.Helper()
	select {
	case res := <-r.results:
		return res
	case <-time.After(waitLong):
		r.t.Fatal("ReadMessage did not return")
	}
	panic("unreachable")
}

// message returns the next message, failing on an error.
func (r *reader) message() readResult {
	r.t.Helper()
	res := r.next()
	if res.err != nil {
		r.t.Fatalf("ReadMessage: %v", res.err)
	}
	return res
}

// failure returns the error that ended the reading, failing on a message.
func (r *reader) failure() error {
	r.t.Helper()
	res := r.next()
	if res.err == nil {
		r.t.Fatalf("ReadMessage returned a %v message of %d bytes, want an error", res.op, len(res.p))
	}
	return res.err
}

// isClosed reports whether c's connection has been closed.
func isClosed(c *wsproto.Conn) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// roleName names a Conn's role in a subtest name.
func roleName(server bool) string {
	if server {
		return "server"
	}
	return "client"
}

// ruleCase is a peer that breaks a rule of RFC 6455: the Conn must fail the
// connection with wantCode on the wire and return wantErr.
type ruleCase struct {
	name     string
	role     string // "server" or "client" when the rule concerns one side only
	opts     wsproto.ConnOptions
	send     func(m frameMaker) [][]byte // each element is one Write
	wantCode wsproto.CloseCode
	wantErr  error
	msgs     int  // valid messages read before the failure
	pongs    int  // pongs the Conn sends before the failure
	deflate  bool // the Conn has negotiated permessage-deflate (RFC 7692)
}

func one(b ...[]byte) func(frameMaker) [][]byte {
	return func(frameMaker) [][]byte { return b }
}

// ruleCases lists every rule a peer can break, by the section that states it.
func ruleCases() []ruleCase {
	cases := []ruleCase{
		{
			name:     "5.1 unmasked client frame",
			role:     "server",
			send:     one(encodeFrame(wireFrame{Fin: true, Op: wsproto.OpText, Payload: []byte("hi")})),
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrUnmaskedFrame,
		},
		{
			name:     "5.1 masked server frame",
			role:     "client",
			send:     one(encodeFrame(wireFrame{Fin: true, Op: wsproto.OpText, Masked: true, Key: testKey, Payload: []byte("hi")})),
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrMaskedFrame,
		},
		{
			name:     "5.2 64-bit length with the most significant bit set",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.header(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1)} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrLengthOverflow,
		},
		{
			name:     "5.2 16-bit length 0 not minimal",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.header(0x82, 126, 0, 0)} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrNonMinimalLength,
		},
		{
			name: "5.2 16-bit length 125 not minimal",
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.header(0x82, 126, 0, 125), make([]byte, 125)}
			},
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrNonMinimalLength,
		},
		{
			name: "5.2 64-bit length 5 not minimal",
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.header(0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5), []byte("hello")}
			},
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrNonMinimalLength,
		},
		{
			name:     "5.2 64-bit length 65535 not minimal",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.header(0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF)} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrNonMinimalLength,
		},
		{
			name:     "5.5 ping with a 16-bit length below 126 not minimal",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.header(0x89, 126, 0, 3), []byte("abc")} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrNonMinimalLength,
		},
		{
			name:     "5.5 ping payload of 126 bytes",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.frame(true, wsproto.OpPing, make([]byte, 126))} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrControlTooLong,
		},
		{
			name: "5.5 close payload of 200 bytes",
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.frame(true, wsproto.OpClose, closePayload(wsproto.CloseNormal, string(make([]byte, 198))))}
			},
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrControlTooLong,
		},
		{
			name:     "5.5 pong with a declared 64-bit length, payload never sent",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.header(0x8A, 127, 0, 0, 0, 0, 0, 1, 0, 0)} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrControlTooLong,
		},
		{
			name:     "5.5 fragmented ping",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.frame(false, wsproto.OpPing, []byte("a"))} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrControlFragmented,
		},
		{
			name:     "5.5 fragmented close",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.frame(false, wsproto.OpClose, nil)} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrControlFragmented,
		},
		{
			name:     "5.4 continuation without a message",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.frame(true, wsproto.OpContinuation, []byte("x"))} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrUnexpectedContinuation,
		},
		{
			name: "5.4 continuation after a finished message",
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.msg(wsproto.OpText, "done"), m.frame(true, wsproto.OpContinuation, []byte("x"))}
			},
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrUnexpectedContinuation,
			msgs: 1,
		},
		{
			name: "5.4 text frame inside a fragmented message",
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.frame(false, wsproto.OpText, []byte("a")), m.frame(true, wsproto.OpText, []byte("b"))}
			},
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrExpectedContinuation,
		},
		{
			name: "5.4 binary frame inside a fragmented message, after a ping",
			send: func(m frameMaker) [][]byte {
				return [][]byte{
					m.frame(false, wsproto.OpBinary, []byte("a")),
					m.frame(true, wsproto.OpPing, nil),
					m.frame(false, wsproto.OpBinary, []byte("b")),
				}
			},
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrExpectedContinuation,
			pongs: 1,
		},
		{
			name:     "10.4 one frame over MaxMessageSize",
			opts:     wsproto.ConnOptions{MaxMessageSize: 1000},
			send:     func(m frameMaker) [][]byte { return [][]byte{m.frame(true, wsproto.OpBinary, make([]byte, 1001))} },
			wantCode: wsproto.CloseMessageTooBig, wantErr: wsproto.ErrMessageTooBig,
		},
		{
			name: "10.4 fragments adding up past MaxMessageSize",
			opts: wsproto.ConnOptions{MaxMessageSize: 1000},
			send: func(m frameMaker) [][]byte {
				return [][]byte{
					m.frame(false, wsproto.OpBinary, make([]byte, 600)),
					m.frame(true, wsproto.OpContinuation, make([]byte, 401)),
				}
			},
			wantCode: wsproto.CloseMessageTooBig, wantErr: wsproto.ErrMessageTooBig,
		},
		{
			name:     "10.4 default MaxMessageSize, 1 GiB declared, no payload sent",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.header(0x82, 127, 0, 0, 0, 0, 0x40, 0, 0, 0)} },
			wantCode: wsproto.CloseMessageTooBig, wantErr: wsproto.ErrMessageTooBig,
		},
		{
			name:     "8.1 invalid UTF-8 in a text message",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.msg(wsproto.OpText, "ab\xffcd")} },
			wantCode: wsproto.CloseInvalidPayload, wantErr: wsproto.ErrInvalidUTF8,
		},
		{
			name:     "8.1 UTF-16 surrogate in a text message",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.msg(wsproto.OpText, "\xed\xa0\x80")} },
			wantCode: wsproto.CloseInvalidPayload, wantErr: wsproto.ErrInvalidUTF8,
		},
		{
			name:     "8.1 text message ending in the middle of a code point",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.msg(wsproto.OpText, "euro \xe2\x82")} },
			wantCode: wsproto.CloseInvalidPayload, wantErr: wsproto.ErrInvalidUTF8,
		},
		{
			name: "8.1 fragmented text message ending in the middle of a code point",
			send: func(m frameMaker) [][]byte {
				return [][]byte{
					m.frame(false, wsproto.OpText, []byte("ok \xf0\x9f")),
					m.frame(true, wsproto.OpContinuation, []byte("\x98")),
				}
			},
			wantCode: wsproto.CloseInvalidPayload, wantErr: wsproto.ErrInvalidUTF8,
		},
		{
			// The rest of the message never comes: the Conn must fail on
			// the bad byte it has, not wait for the end of the message.
			name:     "8.1 fail fast: invalid first fragment, later fragments never sent",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.frame(false, wsproto.OpText, []byte("abc\xc0\xafdef"))} },
			wantCode: wsproto.CloseInvalidPayload, wantErr: wsproto.ErrInvalidUTF8,
		},
		{
			name: "8.1 fail fast: frame declares 100 bytes, the first 8 hold an invalid byte",
			send: func(m frameMaker) [][]byte {
				whole := m.frame(true, wsproto.OpText, []byte("abc\xf5"+string(make([]byte, 96))))
				return [][]byte{whole[:len(whole)-92]}
			},
			wantCode: wsproto.CloseInvalidPayload, wantErr: wsproto.ErrInvalidUTF8,
		},
		{
			name:     "5.5.1 close payload of 1 byte",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.frame(true, wsproto.OpClose, []byte{0x03})} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrClosePayloadTooShort,
		},
		{
			name: "5.5.1 close reason not UTF-8",
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.frame(true, wsproto.OpClose, closePayload(wsproto.CloseNormal, "bye\xff"))}
			},
			wantCode: wsproto.CloseInvalidPayload, wantErr: wsproto.ErrInvalidCloseReason,
		},
	}
	for _, rsv := range []byte{4, 2, 1, 7} {
		cases = append(cases, ruleCase{
			name:     fmt.Sprintf("5.2 RSV bits %03b without an extension", rsv),
			send:     func(m frameMaker) [][]byte { return [][]byte{m.header(0x81|rsv<<4, 0)} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrReservedBits,
		})
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		cases = append(cases, ruleCase{
			name:     fmt.Sprintf("5.2 reserved opcode 0x%X", op),
			send:     func(m frameMaker) [][]byte { return [][]byte{m.header(0x80|op, 0)} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrReservedOpcode,
		})
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, ruleCase{
			name: fmt.Sprintf("7.4 invalid close code %d", code),
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.frame(true, wsproto.OpClose, binary.BigEndian.AppendUint16(nil, code))}
			},
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrInvalidCloseCode,
		})
	}
	return append(cases, compressedRuleCases()...)
}

// TestReadRules checks that a peer breaking a rule of RFC 6455 gets the
// connection failed (7.1.7): a close frame with the code the rule names, then
// the end of the TCP stream, and a *ProtocolError from the read method.
func TestReadRules(t *testing.T) {
	for _, rk := range readerKinds {
		for _, server := range []bool{true, false} {
			for _, tc := range ruleCases() {
				if tc.role != "" && tc.role != roleName(server) {
					continue
				}
				testReadRule(t, rk, server, tc)
			}
		}
	}
}

func testReadRule(t *testing.T, rk readerKind, server bool, tc ruleCase) {
	t.Run(rk.name+"/"+roleName(server)+"/"+tc.name, func(t *testing.T) {
		t.Parallel()
		c, peer := newPair(t, server, &tc.opts)
		if tc.deflate {
			wsproto.EnableCompressionForTest(c)
		}
		r := rk.start(t, c)
		peer.write(tc.send(peer.mk)...)
		for range tc.msgs {
			r.message()
		}
		for range tc.pongs {
			if f := peer.next(); f.Op != wsproto.OpPong {
				t.Fatalf("got %v, want a pong", f.Op)
			}
		}

		reason := peer.expectClose(tc.wantCode)
		if reason == "" {
			t.Error("close frame carries no reason")
		}
		// The close frame is the last thing the peer reads: the
		// Conn half-closes and waits for the peer to go.
		peer.expectEOF()
		peer.conn.Close()

		err := r.failure()
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("err = %v, want %v", err, tc.wantErr)
		}
		var pe *wsproto.ProtocolError
		if !errors.As(err, &pe) || pe.Code != tc.wantCode {
			t.Fatalf("err = %#v, want a *ProtocolError with code %v", err, tc.wantCode)
		}
		if !isClosed(c) {
			t.Error("connection not closed after a protocol error")
		}
		// Errors are sticky.
		if _, _, again := c.ReadMessage(nil); again != err {
			t.Errorf("second ReadMessage = %v, want the same error %v", again, err)
		}
	})
}

// TestFailWaitsBoundedly checks that a Conn that failed the connection
// waits for the peer to close TCP for at most CloseTimeout (RFC 6455 7.1.7
// lets it close at once; waiting keeps the close frame from being lost to a
// reset, but a peer that never goes must not hold the reader).
func TestFailWaitsBoundedly(t *testing.T) {
	const timeout = 150 * time.Millisecond
	for _, server := range []bool{true, false} {
		t.Run(roleName(server), func(t *testing.T) {
			t.Parallel()
			c, peer := newPair(t, server, &wsproto.ConnOptions{CloseTimeout: timeout})
			r := startReader(t, c)
			start := time.Now()
			peer.write(peer.mk.header(0x83, 0)) // reserved opcode
			peer.expectClose(wsproto.CloseProtocolError)
			// The peer stays, silent.
			if err := r.failure(); !errors.Is(err, wsproto.ErrReservedOpcode) {
				t.Fatalf("err = %v", err)
			}
			if el := time.Since(start); el < timeout-10*time.Millisecond {
				t.Errorf("returned after %v, before CloseTimeout: did it wait for the peer at all?", el)
			}
			peer.expectEOF()
		})
	}
}

// wantMsg is a message a Conn must read.
type wantMsg struct {
	op wsproto.Opcode
	p  string
}

// validCase is a stream a Conn must accept: the messages it reads and the
// pongs it sends.
type validCase struct {
	name      string
	opts      wsproto.ConnOptions
	deflate   bool // the Conn has negotiated permessage-deflate (RFC 7692)
	send      func(m frameMaker) [][]byte
	want      []wantMsg
	wantPongs []string
}

// TestReadValid sends streams a Conn must accept, in both roles, and checks
// the messages it returns and the pongs it sends.
func TestReadValid(t *testing.T) {
	type msg = wantMsg
	big := func(n int) string { return strings.Repeat("x", n) }
	euro := "\xe2\x82\xac"
	cases := []validCase{
		{
			name: "5.2 7-bit lengths 0 and 125",
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.msg(wsproto.OpText, ""), m.msg(wsproto.OpBinary, big(125))}
			},
			want: []msg{{wsproto.OpText, ""}, {wsproto.OpBinary, big(125)}},
		},
		{
			name: "5.2 16-bit lengths 126 and 65535",
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.msg(wsproto.OpText, big(126)), m.msg(wsproto.OpBinary, big(65535))}
			},
			want: []msg{{wsproto.OpText, big(126)}, {wsproto.OpBinary, big(65535)}},
		},
		{
			name: "5.2 64-bit lengths 65536 and 1 MiB, the default limit",
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.msg(wsproto.OpBinary, big(65536)), m.msg(wsproto.OpText, big(1<<20))}
			},
			want: []msg{{wsproto.OpBinary, big(65536)}, {wsproto.OpText, big(1 << 20)}},
		},
		{
			name: "5.2 several frames in one write",
			send: func(m frameMaker) [][]byte {
				return [][]byte{slices.Concat(m.msg(wsproto.OpText, "a"), m.msg(wsproto.OpText, "b"), m.msg(wsproto.OpBinary, "c"))}
			},
			want: []msg{{wsproto.OpText, "a"}, {wsproto.OpText, "b"}, {wsproto.OpBinary, "c"}},
		},
		{
			name: "5.4 fragmented text message",
			send: func(m frameMaker) [][]byte {
				return [][]byte{
					m.frame(false, wsproto.OpText, []byte("Hel")),
					m.frame(false, wsproto.OpContinuation, []byte("lo, ")),
					m.frame(true, wsproto.OpContinuation, []byte("world")),
				}
			},
			want: []msg{{wsproto.OpText, "Hello, world"}},
		},
		{
			name: "5.4 fragments with empty payloads",
			send: func(m frameMaker) [][]byte {
				return [][]byte{
					m.frame(false, wsproto.OpBinary, nil),
					m.frame(false, wsproto.OpContinuation, []byte("ab")),
					m.frame(true, wsproto.OpContinuation, nil),
				}
			},
			want: []msg{{wsproto.OpBinary, "ab"}},
		},
		{
			name: "5.4 fragments up to exactly MaxMessageSize",
			opts: wsproto.ConnOptions{MaxMessageSize: 1000},
			send: func(m frameMaker) [][]byte {
				return [][]byte{
					m.frame(false, wsproto.OpBinary, []byte(big(600))),
					m.frame(true, wsproto.OpContinuation, []byte(big(400))),
					m.msg(wsproto.OpBinary, big(1000)),
				}
			},
			want: []msg{{wsproto.OpBinary, big(1000)}, {wsproto.OpBinary, big(1000)}},
		},
		{
			name: "10.4 negative MaxMessageSize: no limit",
			opts: wsproto.ConnOptions{MaxMessageSize: -1},
			send: func(m frameMaker) [][]byte {
				return [][]byte{
					m.frame(false, wsproto.OpBinary, []byte(big(1<<20))),
					m.frame(true, wsproto.OpContinuation, []byte(big(1<<20))),
				}
			},
			want: []msg{{wsproto.OpBinary, big(2 << 20)}},
		},
		{
			name: "5.4 5.5.2 ping between fragments is answered, message intact",
			send: func(m frameMaker) [][]byte {
				return [][]byte{
					m.frame(false, wsproto.OpText, []byte("one ")),
					m.frame(true, wsproto.OpPing, []byte("ping payload")),
					m.frame(false, wsproto.OpContinuation, []byte("two ")),
					m.frame(true, wsproto.OpPong, []byte("unsolicited")),
					m.frame(true, wsproto.OpContinuation, []byte("three")),
				}
			},
			want:      []msg{{wsproto.OpText, "one two three"}},
			wantPongs: []string{"ping payload"},
		},
		{
			name: "5.5.2 pings answered with the same payload, 0 and 125 bytes",
			send: func(m frameMaker) [][]byte {
				return [][]byte{
					m.frame(true, wsproto.OpPing, nil),
					m.frame(true, wsproto.OpPing, []byte(big(125))),
					m.msg(wsproto.OpText, "after"),
				}
			},
			want:      []msg{{wsproto.OpText, "after"}},
			wantPongs: []string{"", big(125)},
		},
		{
			name: "8.1 code point split across two fragments",
			send: func(m frameMaker) [][]byte {
				return [][]byte{
					m.frame(false, wsproto.OpText, []byte("price: "+euro[:1])),
					m.frame(false, wsproto.OpContinuation, []byte(euro[1:2])),
					m.frame(true, wsproto.OpContinuation, []byte(euro[2:]+"5")),
				}
			},
			want: []msg{{wsproto.OpText, "price: " + euro + "5"}},
		},
		{
			name: "8.1 every kind of code point",
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.msg(wsproto.OpText, "a\u00e9\u07ff\u0800\ud7ff\ue000\uffff\U00010000\U0010ffff")}
			},
			want: []msg{{wsproto.OpText, "a\u00e9\u07ff\u0800\ud7ff\ue000\uffff\U00010000\U0010ffff"}},
		},
		{
			name: "5.6 binary message need not be UTF-8",
			send: func(m frameMaker) [][]byte { return [][]byte{m.msg(wsproto.OpBinary, "\xff\xfe\xc0")} },
			want: []msg{{wsproto.OpBinary, "\xff\xfe\xc0"}},
		},
		{
			name: "5.2 header split across writes",
			send: func(m frameMaker) [][]byte {
				f := m.msg(wsproto.OpBinary, big(300))
				return [][]byte{f[:1], f[1:3], f[3:5], f[5:]}
			},
			want: []msg{{wsproto.OpBinary, big(300)}},
		},
	}
	cases = append(cases, compressedValidCases()...)
	for _, rk := range readerKinds {
		for _, server := range []bool{true, false} {
			for _, tc := range cases {
				t.Run(rk.name+"/"+roleName(server)+"/"+tc.name, func(t *testing.T) {
					t.Parallel()
					c, peer := newPair(t, server, &tc.opts)
					if tc.deflate {
						wsproto.EnableCompressionForTest(c)
					}
					r := rk.start(t, c)
					go func() {
						// Write from another goroutine: a big message fills the
						// socket buffers before the reader drains them.
						for _, b := range tc.send(peer.mk) {
							if _, err := peer.conn.Write(b); err != nil {
								return
							}
						}
					}()
					for i, w := range tc.want {
						got := r.message()
						if got.op != w.op || string(got.p) != w.p {
							t.Fatalf("message %d = %v %.40q (%d bytes), want %v %.40q (%d bytes)",
								i, got.op, got.p, len(got.p), w.op, w.p, len(w.p))
						}
					}
					for _, want := range tc.wantPongs {
						f := peer.next()
						if f.Op != wsproto.OpPong || string(f.Payload) != want || !f.Fin {
							t.Fatalf("got %v frame %.40q, want pong %.40q", f.Op, f.Payload, want)
						}
					}
					// Close, and nothing else must have been sent before.
					peer.write(peer.mk.frame(true, wsproto.OpClose, closePayload(wsproto.CloseNormal, "")))
					peer.expectClose(wsproto.CloseNormal)
					peer.expectEOF()
					peer.conn.Close()
					if err := r.failure(); wsproto.CloseStatus(err) != wsproto.CloseNormal {
						t.Fatalf("err = %v, want a close with code 1000", err)
					}
				})
			}
		}
	}
}

// TestTooBigNotRead checks RFC 6455 10.4 the strict way: a header that
// declares 1 GiB fails the connection with 1009 although the peer sends not
// one byte of the payload, and the Conn allocates nothing near that size.
func TestTooBigNotRead(t *testing.T) {
	for _, server := range []bool{true, false} {
		t.Run(roleName(server), func(t *testing.T) {
			c, peer := newPair(t, server, nil)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			done := make(chan error, 1)
			go func() {
				_, _, err := c.ReadMessage(nil)
				done <- err
			}()
			peer.write(peer.mk.header(0x82, 127, 0, 0, 0, 0, 0x40, 0, 0, 0))
			peer.expectClose(wsproto.CloseMessageTooBig)
			peer.expectEOF()
			peer.conn.Close()
			var err error
			select {
			case err = <-done:
			case <-time.After(waitLong):
				t.Fatal("ReadMessage did not return")
			}
			runtime.ReadMemStats(&after)
			if !errors.Is(err, wsproto.ErrMessageTooBig) {
				t.Fatalf("err = %v, want ErrMessageTooBig", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
				t.Errorf("allocated %d bytes while refusing a 1 GiB frame", grew)
			}
		})
	}
}

// TestUTF8SplitAcrossReads checks that a code point split between two reads
// inside one frame is valid (RFC 6455 8.1 applies to the whole message).
// net.Pipe delivers each Write in separate Reads, so the Conn sees exactly
// the chunks the test writes.
func TestUTF8SplitAcrossReads(t *testing.T) {
	text := "a\xe2\x82\xac\xf0\x9d\x84\x9ez\xc3\xa9" // a€𝄞zé
	for split := 1; split < len(text); split++ {
		t.Run(fmt.Sprintf("split at %d", split), func(t *testing.T) {
			t.Parallel()
			a, b := net.Pipe()
			defer b.Close()
			c := wsproto.NewConnForTest(a, true, nil, nil)
			defer c.CloseNow()
			frame := frameMaker{mask: true}.msg(wsproto.OpText, text)
			cut := len(frame) - len(text) + split
			go func() {
				b.Write(frame[:cut])
				b.Write(frame[cut:])
			}()
			op, p, err := c.ReadMessage(nil)
			if err != nil || op != wsproto.OpText || string(p) != text {
				t.Fatalf("ReadMessage = %v %q %v, want text %q", op, p, err, text)
			}
		})
	}
}

// TestUTF8SplitAcrossTCPWrites is the same over loopback TCP: the € is cut
// between two writes with a pause between them, so that they arrive as
// separate segments and the Conn reads them separately.
func TestUTF8SplitAcrossTCPWrites(t *testing.T) {
	c, peer := newPair(t, true, nil)
	text := "price: \xe2\x82\xac 5"
	frame := peer.mk.msg(wsproto.OpText, text)
	cut := len(frame) - len(text) + len("price: \xe2")
	r := startReader(t, c)
	peer.write(frame[:cut])
	time.Sleep(20 * time.Millisecond) // the split under test: let the first part be read alone
	peer.write(frame[cut:])
	if got := r.message(); got.op != wsproto.OpText || string(got.p) != text {
		t.Fatalf("got %v %q, want text %q", got.op, got.p, text)
	}
}

// TestAbnormalClosure checks that a connection that ends without a close
// frame reads as a *CloseError with 1006 (RFC 6455 7.1.5, 7.4.1).
func TestAbnormalClosure(t *testing.T) {
	cases := []struct {
		name string
		send func(m frameMaker) []byte
	}{
		{"between frames", func(m frameMaker) []byte { return nil }},
		{"inside a header", func(m frameMaker) []byte { return m.msg(wsproto.OpText, "hello")[:3] }},
		{"inside a payload", func(m frameMaker) []byte { b := m.msg(wsproto.OpText, "hello"); return b[:len(b)-2] }},
		{"inside a ping", func(m frameMaker) []byte { b := m.frame(true, wsproto.OpPing, []byte("hey")); return b[:len(b)-1] }},
		{"inside a fragmented message", func(m frameMaker) []byte { return m.frame(false, wsproto.OpBinary, []byte("part")) }},
	}
	for _, rk := range readerKinds {
		for _, server := range []bool{true, false} {
			for _, tc := range cases {
				t.Run(rk.name+"/"+roleName(server)+"/"+tc.name, func(t *testing.T) {
					t.Parallel()
					c, peer := newPair(t, server, nil)
					r := rk.start(t, c)
					peer.write(tc.send(peer.mk))
					peer.conn.Close()
					err := r.failure()
					var ce *wsproto.CloseError
					if !errors.As(err, &ce) || ce.Code != wsproto.CloseAbnormal {
						t.Fatalf("err = %v, want a *CloseError with 1006", err)
					}
					if !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("err = %v does not wrap io.ErrUnexpectedEOF", err)
					}
					if !isClosed(c) {
						t.Error("connection not closed")
					}
				})
			}
		}
	}
}

// TestPeerClose checks the answer to a peer's close frame (RFC 6455 5.5.1,
// 7.4): the same code back, or an empty close for an empty one, the
// peer's code and reason returned, and the TCP connection closed by the
// server at once (7.1.1) or half-closed by a client.
func TestPeerClose(t *testing.T) {
	type closeCase struct {
		name     string
		payload  []byte
		wantCode wsproto.CloseCode
		reason   string
	}
	cases := []closeCase{
		{"5.5.1 empty close answered with an empty close", nil, wsproto.CloseNoStatus, ""},
		{"7.4.1 code 1000 with a 123-byte reason", closePayload(1000, strings.Repeat("r", 123)), 1000, strings.Repeat("r", 123)},
		{"7.4.1 code 1000 with a UTF-8 reason", closePayload(1000, "au revoir \u00e9\U0001F44B"), 1000, "au revoir \u00e9\U0001F44B"},
	}
	for _, code := range []wsproto.CloseCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cases = append(cases, closeCase{fmt.Sprintf("7.4 code %d", code), closePayload(code, "bye"), code, "bye"})
	}
	for _, rk := range readerKinds {
		for _, server := range []bool{true, false} {
			for _, tc := range cases {
				t.Run(rk.name+"/"+roleName(server)+"/"+tc.name, func(t *testing.T) {
					t.Parallel()
					c, peer := newPair(t, server, nil)
					r := rk.start(t, c)
					peer.write(peer.mk.frame(true, wsproto.OpClose, tc.payload))
					if reason := peer.expectClose(tc.wantCode); reason != "" {
						t.Errorf("echoed close carries reason %q, want none", reason)
					}
					if server {
						// The server closes TCP without waiting for the client.
						peer.expectEOF()
					} else {
						// The client half-closes and waits for the server to
						// close first (RFC 6455 7.1.1).
						peer.expectEOF()
						peer.conn.Close()
					}
					err := r.failure()
					var ce *wsproto.CloseError
					if !errors.As(err, &ce) || ce.Code != tc.wantCode || ce.Reason != tc.reason {
						t.Fatalf("err = %v, want a *CloseError %v %q", err, tc.wantCode, tc.reason)
					}
					if wsproto.CloseStatus(err) != tc.wantCode {
						t.Errorf("CloseStatus = %v", wsproto.CloseStatus(err))
					}
					if err := c.WriteMessage(wsproto.OpText, []byte("late")); !errors.Is(err, wsproto.ErrCloseSent) {
						t.Errorf("WriteMessage after the close handshake = %v, want ErrCloseSent", err)
					}
				})
			}
		}
	}
}

// TestPeerCloseEchoFails checks that a peer's close frame is reported as
// such even when the answer cannot be written, because the peer closed TCP
// right after its close frame (as some clients do).
func TestPeerCloseEchoFails(t *testing.T) {
	a, b := net.Pipe()
	c := wsproto.NewConnForTest(a, true, nil, nil)
	defer c.CloseNow()
	go func() {
		b.Write(frameMaker{mask: true}.frame(true, wsproto.OpClose, closePayload(wsproto.CloseGoingAway, "tab closed")))
		b.Close()
	}()
	_, _, err := c.ReadMessage(nil)
	var ce *wsproto.CloseError
	if !errors.As(err, &ce) || ce.Code != wsproto.CloseGoingAway || ce.Reason != "tab closed" {
		t.Fatalf("err = %v, want the peer's close 1001 %q", err, "tab closed")
	}
}

// TestClose checks the close handshake started by Close (RFC 6455 7.1.2):
// the close frame goes out, the peer's answer is awaited — read by Close
// itself when no goroutine reads, or by the reading goroutine, or by Feed —
// and data arriving meanwhile is discarded.
func TestClose(t *testing.T) {
	for _, server := range []bool{true, false} {
		kinds := append([]readerKind{{name: "nobody reading"}}, readerKinds...)
		for _, rk := range kinds {
			withReader := rk.start != nil
			t.Run(roleName(server)+"/"+rk.name, func(t *testing.T) {
				t.Parallel()
				c, peer := newPair(t, server, nil)
				var r *reader
				if withReader {
					r = rk.start(t, c)
					if rk.name == "ReadMessage" {
						waitForReader(t, c)
					}
				}
				closed := make(chan error, 1)
				go func() { closed <- c.Close(wsproto.CloseGoingAway, "shutting down") }()
				if reason := peer.expectClose(wsproto.CloseGoingAway); reason != "shutting down" {
					t.Errorf("close reason %q", reason)
				}
				// Data and a ping after our close frame: the data is
				// dropped, and no pong may follow a close frame (5.5.1).
				peer.write(
					peer.mk.msg(wsproto.OpText, "in flight"),
					peer.mk.frame(true, wsproto.OpPing, []byte("late ping")),
					peer.mk.frame(true, wsproto.OpClose, closePayload(wsproto.CloseGoingAway, "")),
				)
				if server {
					peer.expectEOF()
				} else {
					peer.expectEOF() // half-close
					peer.conn.Close()
				}
				select {
				case err := <-closed:
					if err != nil {
						t.Fatalf("Close = %v, want nil after the peer answered", err)
					}
				case <-time.After(waitLong):
					t.Fatal("Close did not return")
				}
				if !isClosed(c) {
					t.Error("connection not closed when Close returned")
				}
				if withReader {
					got := r.next()
					if got.err == nil {
						if string(got.p) != "in flight" {
							t.Fatalf("reader got %q", got.p)
						}
						got = r.next()
					}
					if wsproto.CloseStatus(got.err) != wsproto.CloseGoingAway {
						t.Errorf("reader's error = %v, want the peer's close 1001", got.err)
					}
				}
				if err := c.WriteMessage(wsproto.OpText, []byte("x")); !errors.Is(err, wsproto.ErrCloseSent) {
					t.Errorf("WriteMessage after Close = %v, want ErrCloseSent", err)
				}
				if err := c.WritePing(nil); !errors.Is(err, wsproto.ErrCloseSent) {
					t.Errorf("WritePing after Close = %v, want ErrCloseSent", err)
				}
			})
		}
	}
}

// waitForReader waits until a goroutine is parked inside a read method.
func waitForReader(t *testing.T, c *wsproto.Conn) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !wsproto.ReaderActive(c) {
		if time.Now().After(deadline) {
			t.Fatal("the reading goroutine never started reading")
		}
		runtime.Gosched()
	}
}

// TestCloseNoAnswer checks that Close reports a failed close handshake
// (RFC 6455 7.1.2) with an error and closes the connection: when the peer
// never answers, after CloseTimeout; when the peer drops the TCP connection
// without a close frame, at once.
func TestCloseNoAnswer(t *testing.T) {
	const timeout = 150 * time.Millisecond
	for _, server := range []bool{true, false} {
		for _, withReader := range []bool{false, true} {
			for _, drop := range []bool{false, true} {
				name := roleName(server) + "/nobody reading"
				if withReader {
					name = roleName(server) + "/with a reading goroutine"
				}
				if drop {
					name += "/peer drops TCP"
				} else {
					name += "/peer silent"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					c, peer := newPair(t, server, &wsproto.ConnOptions{CloseTimeout: timeout})
					if withReader {
						startReader(t, c)
						waitForReader(t, c)
					}
					start := time.Now()
					closed := make(chan error, 1)
					go func() { closed <- c.Close(wsproto.CloseNormal, "") }()
					peer.expectClose(wsproto.CloseNormal)
					if drop {
						peer.conn.Close()
					}
					select {
					case err := <-closed:
						if err == nil {
							t.Fatal("Close = nil, want an error: the peer never answered")
						}
						if el := time.Since(start); !drop && el < timeout-10*time.Millisecond {
							t.Errorf("Close gave up after %v, before CloseTimeout %v", el, timeout)
						}
					case <-time.After(waitLong):
						t.Fatal("Close did not return")
					}
					if !isClosed(c) {
						t.Error("connection not closed")
					}
					if !drop {
						peer.expectEOF()
					}
				})
			}
		}
	}
}

// TestCloseArguments checks the codes Close refuses to send (RFC 6455 7.4.1:
// 1005, 1006 and 1015 are never sent) and that a long reason is cut to fit a
// control frame on a code point boundary (5.5).
func TestCloseArguments(t *testing.T) {
	for _, code := range []wsproto.CloseCode{0, 999, 1004, 1006, 1015, 2000, 5000} {
		t.Run(fmt.Sprintf("7.4.1 refuses %d", code), func(t *testing.T) {
			c, _ := newPair(t, true, nil)
			if err := c.Close(code, ""); err == nil {
				t.Fatalf("Close(%d) = nil", code)
			}
		})
	}
	t.Run("5.5 long reason cut on a code point boundary", func(t *testing.T) {
		c, peer := newPair(t, true, &wsproto.ConnOptions{CloseTimeout: 50 * time.Millisecond})
		go c.Close(wsproto.CloseNormal, strings.Repeat("\u20ac", 60)) // 180 bytes
		reason := peer.expectClose(wsproto.CloseNormal)
		if len(reason) != 123 || !utf8.ValidString(reason) {
			t.Fatalf("reason of %d bytes (valid UTF-8: %v), want 123 bytes of whole code points", len(reason), utf8.ValidString(reason))
		}
	})
	t.Run("5.5.1 reason must be UTF-8", func(t *testing.T) {
		c, _ := newPair(t, true, nil)
		if err := c.Close(wsproto.CloseNormal, "bad \xff"); err == nil {
			t.Fatal("Close with an invalid UTF-8 reason = nil")
		}
	})
	t.Run("5.5.1 CloseNoStatus sends an empty close", func(t *testing.T) {
		c, peer := newPair(t, true, &wsproto.ConnOptions{CloseTimeout: 50 * time.Millisecond})
		go c.Close(wsproto.CloseNoStatus, "ignored")
		peer.expectClose(wsproto.CloseNoStatus)
	})
}

// TestPingPongHandlers checks SetPingHandler (replacing the automatic pong
// of RFC 6455 5.5.2) and SetPongHandler (5.5.3).
func TestPingPongHandlers(t *testing.T) {
	t.Run("5.5.2 ping handler replaces the pong", func(t *testing.T) {
		c, peer := newPair(t, true, nil)
		var got []string
		c.SetPingHandler(func(p []byte) error { got = append(got, string(p)); return nil })
		peer.write(peer.mk.frame(true, wsproto.OpPing, []byte("p1")), peer.mk.msg(wsproto.OpText, "m"))
		if _, p, err := c.ReadMessage(nil); err != nil || string(p) != "m" {
			t.Fatalf("ReadMessage = %q, %v", p, err)
		}
		if !slices.Equal(got, []string{"p1"}) {
			t.Fatalf("ping handler got %q", got)
		}
		// Had a pong been sent, it would arrive before this message.
		if err := c.WriteMessage(wsproto.OpText, []byte("marker")); err != nil {
			t.Fatal(err)
		}
		if f := peer.next(); f.Op != wsproto.OpText || string(f.Payload) != "marker" {
			t.Fatalf("got %v %q, want the marker and no pong", f.Op, f.Payload)
		}
	})
	t.Run("5.5.2 ping handler error ends the connection", func(t *testing.T) {
		c, peer := newPair(t, true, nil)
		stop := errors.New("handler says stop")
		c.SetPingHandler(func([]byte) error { return stop })
		peer.write(peer.mk.frame(true, wsproto.OpPing, nil))
		if _, _, err := c.ReadMessage(nil); !errors.Is(err, stop) {
			t.Fatalf("ReadMessage = %v, want the handler's error", err)
		}
		if !isClosed(c) {
			t.Error("connection not closed")
		}
	})
	for _, server := range []bool{true, false} {
		t.Run(roleName(server)+"/5.5.3 pong handler sees pongs; WritePing sends pings", func(t *testing.T) {
			c, peer := newPair(t, server, nil)
			var got []string
			c.SetPongHandler(func(p []byte) error { got = append(got, string(p)); return nil })
			if err := c.WritePing([]byte("are you there")); err != nil {
				t.Fatal(err)
			}
			f := peer.next()
			if f.Op != wsproto.OpPing || string(f.Payload) != "are you there" {
				t.Fatalf("got %v %q, want the ping", f.Op, f.Payload)
			}
			peer.write(peer.mk.frame(true, wsproto.OpPong, f.Payload), peer.mk.frame(true, wsproto.OpPong, nil), peer.mk.msg(wsproto.OpBinary, "m"))
			if _, _, err := c.ReadMessage(nil); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, []string{"are you there", ""}) {
				t.Fatalf("pong handler got %q", got)
			}
		})
	}
	t.Run("5.5 control payloads over 125 bytes refused", func(t *testing.T) {
		c, _ := newPair(t, true, nil)
		if err := c.WritePing(make([]byte, 126)); !errors.Is(err, wsproto.ErrControlPayload) {
			t.Errorf("WritePing = %v", err)
		}
		if err := c.WritePong(make([]byte, 126)); !errors.Is(err, wsproto.ErrControlPayload) {
			t.Errorf("WritePong = %v", err)
		}
	})
}

// TestNextReader checks streaming a message across its fragments (RFC 6455
// 5.4) with control frames between them, and the discarding of a message
// left unread.
func TestNextReader(t *testing.T) {
	for _, server := range []bool{true, false} {
		t.Run(roleName(server), func(t *testing.T) {
			c, peer := newPair(t, server, &wsproto.ConnOptions{ReadBufferSize: 128})
			m := peer.mk
			go peer.write(
				m.frame(false, wsproto.OpText, []byte("Hel")),
				m.frame(true, wsproto.OpPing, []byte("between")),
				m.frame(false, wsproto.OpContinuation, []byte("lo, ")),
				m.frame(true, wsproto.OpContinuation, []byte("w\u00f6rld "+strings.Repeat("-", 1000))),
				// Read partly, then skipped by the next NextReader.
				m.frame(false, wsproto.OpBinary, []byte(strings.Repeat("s", 500))),
				m.frame(true, wsproto.OpContinuation, []byte(strings.Repeat("t", 500))),
				m.msg(wsproto.OpBinary, "third"),
			)
			op, rd, err := c.NextReader()
			if err != nil || op != wsproto.OpText {
				t.Fatalf("NextReader = %v, %v", op, err)
			}
			var got []byte
			buf := make([]byte, 7)
			for {
				n, err := rd.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if want := "Hello, w\u00f6rld " + strings.Repeat("-", 1000); string(got) != want {
				t.Fatalf("read %q", got)
			}
			if n, err := rd.Read(buf); n != 0 || err != io.EOF {
				t.Errorf("Read after the end = %d, %v, want io.EOF", n, err)
			}
			if f := peer.next(); f.Op != wsproto.OpPong || string(f.Payload) != "between" {
				t.Errorf("got %v %q, want the pong", f.Op, f.Payload)
			}

			op, rd, err = c.NextReader()
			if err != nil || op != wsproto.OpBinary {
				t.Fatalf("NextReader = %v, %v", op, err)
			}
			if _, err := io.ReadFull(rd, buf); err != nil || string(buf) != "sssssss" {
				t.Fatalf("ReadFull = %q, %v", buf, err)
			}
			op, p, err := c.ReadMessage(nil)
			if err != nil || op != wsproto.OpBinary || string(p) != "third" {
				t.Fatalf("ReadMessage after a partly read message = %v %q %v", op, p, err)
			}
		})
	}
}

// TestNextReaderFailsFast checks that a reader of a text message fails at the
// first invalid byte (RFC 6455 8.1), after returning the valid ones before it.
func TestNextReaderFailsFast(t *testing.T) {
	c, peer := newPair(t, true, nil)
	peer.write(peer.mk.frame(false, wsproto.OpText, []byte("valid \xff")))
	_, rd, err := c.NextReader()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(rd)
		done <- err
	}()
	peer.expectClose(wsproto.CloseInvalidPayload)
	peer.expectEOF()
	peer.conn.Close()
	select {
	case err := <-done:
		if !errors.Is(err, wsproto.ErrInvalidUTF8) {
			t.Fatalf("ReadAll = %v, want ErrInvalidUTF8", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Read did not return")
	}
}

// TestWriteMessage checks the frames WriteMessage puts on the wire: one
// final frame, the minimal length encoding (RFC 6455 5.2), masked by a
// client with a fresh key each time and unmasked by a server (5.1, 5.3),
// the caller's payload unchanged.
func TestWriteMessage(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 4095, 4096, 4097, 65535, 65536, 200000}
	wantForm := func(n int) int {
		switch {
		case n <= 125:
			return 7
		case n <= 65535:
			return 16
		}
		return 64
	}
	for _, server := range []bool{true, false} {
		t.Run(roleName(server), func(t *testing.T) {
			c, peer := newPair(t, server, nil)
			keys := map[[4]byte]bool{}
			for i, n := range sizes {
				payload := make([]byte, n)
				for j := range payload {
					payload[j] = byte(j*7 + i)
				}
				orig := slices.Clone(payload)
				op := wsproto.OpBinary
				if i%2 == 0 {
					op = wsproto.OpText
					for j := range payload {
						payload[j] &= 0x7F
						orig[j] &= 0x7F
					}
				}
				if err := c.WriteMessage(op, payload); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(payload, orig) {
					t.Fatalf("WriteMessage modified the caller's payload of %d bytes", n)
				}
				f := peer.next()
				if !f.Fin || f.Op != op || f.Rsv != 0 || !bytes.Equal(f.Payload, orig) {
					t.Fatalf("size %d: got fin=%v op=%v rsv=%d %d bytes", n, f.Fin, f.Op, f.Rsv, len(f.Payload))
				}
				if f.LenForm != wantForm(n) {
					t.Errorf("size %d: %d-bit length, want %d-bit", n, f.LenForm, wantForm(n))
				}
				keys[f.Key] = true
			}
			if !server && len(keys) < len(sizes)-1 {
				t.Errorf("%d distinct masking keys in %d frames: keys must be fresh (RFC 6455 5.3)", len(keys), len(sizes))
			}
		})
	}
	t.Run("invalid opcodes refused", func(t *testing.T) {
		c, _ := newPair(t, true, nil)
		for _, op := range []wsproto.Opcode{wsproto.OpContinuation, wsproto.OpClose, wsproto.OpPing, wsproto.OpPong, 3} {
			if err := c.WriteMessage(op, nil); !errors.Is(err, wsproto.ErrInvalidOpcode) {
				t.Errorf("WriteMessage(%v) = %v", op, err)
			}
			if _, err := c.NextWriter(op); !errors.Is(err, wsproto.ErrInvalidOpcode) {
				t.Errorf("NextWriter(%v) = %v", op, err)
			}
		}
	})
}

// TestWriteFrames checks prepared frames: written unchanged by a server,
// refused on a client, whose frames must be masked (RFC 6455 5.1).
func TestWriteFrames(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		c, peer := newPair(t, true, nil)
		f1 := wsproto.AppendFrame(nil, wsproto.OpText, []byte("broadcast"))
		f2 := wsproto.AppendFrame(nil, wsproto.OpBinary, make([]byte, 70000))
		frames := [][]byte{f1, f2}
		c1, c2 := slices.Clone(f1), slices.Clone(f2)
		for range 2 {
			if err := c.WriteFrames(frames); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(frames[0], c1) || !bytes.Equal(frames[1], c2) || len(frames) != 2 {
			t.Fatal("WriteFrames modified the frames")
		}
		for range 2 {
			if f := peer.next(); f.Op != wsproto.OpText || string(f.Payload) != "broadcast" {
				t.Fatalf("got %v %q", f.Op, f.Payload)
			}
			if f := peer.next(); f.Op != wsproto.OpBinary || len(f.Payload) != 70000 {
				t.Fatalf("got %v of %d bytes", f.Op, len(f.Payload))
			}
		}
	})
	t.Run("same frames to many connections at once", func(t *testing.T) {
		// Run with -race: WriteFrames must only read the shared frames.
		frames := [][]byte{
			wsproto.AppendFrame(nil, wsproto.OpText, []byte("to everyone")),
			wsproto.AppendFrame(nil, wsproto.OpBinary, make([]byte, 3000)),
		}
		const conns = 8
		var wg sync.WaitGroup
		peers := make([]*rawPeer, conns)
		for i := range conns {
			c, peer := newPair(t, true, nil)
			peers[i] = peer
			wg.Go(func() {
				for range 20 {
					if err := c.WriteFrames(frames); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		for _, peer := range peers {
			for range 20 {
				if f := peer.next(); string(f.Payload) != "to everyone" {
					t.Fatalf("got %v %q", f.Op, f.Payload)
				}
				if f := peer.next(); f.Op != wsproto.OpBinary || len(f.Payload) != 3000 {
					t.Fatalf("got %v of %d bytes", f.Op, len(f.Payload))
				}
			}
		}
	})
	t.Run("client", func(t *testing.T) {
		c, _ := newPair(t, false, nil)
		if err := c.WriteFrames([][]byte{wsproto.AppendFrame(nil, wsproto.OpText, nil)}); !errors.Is(err, wsproto.ErrPreparedByClient) {
			t.Fatalf("WriteFrames on a client = %v, want ErrPreparedByClient", err)
		}
	})
}

// TestNextWriter checks the fragments NextWriter sends (RFC 6455 5.4): the
// first with the message's opcode, the rest continuations, only the last
// final, each at most WriteBufferSize, masked by a client.
// TestNextWriterOpen checks that no data frame can be written inside a
// message whose writer is still open (RFC 6455 5.4: fragments of one message
// are not interleaved with another).
func TestNextWriterOpen(t *testing.T) {
	c, _ := newPair(t, true, nil)
	w, err := c.NextWriter(wsproto.OpText)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.NextWriter(wsproto.OpText); !errors.Is(err, wsproto.ErrMessageOpen) {
		t.Errorf("second NextWriter: %v, want ErrMessageOpen", err)
	}
	if err := c.WriteMessage(wsproto.OpText, []byte("x")); !errors.Is(err, wsproto.ErrMessageOpen) {
		t.Errorf("WriteMessage: %v, want ErrMessageOpen", err)
	}
	if err := c.WriteFrames([][]byte{wsproto.AppendFrame(nil, wsproto.OpText, []byte("x"))}); !errors.Is(err, wsproto.ErrMessageOpen) {
		t.Errorf("WriteFrames: %v, want ErrMessageOpen", err)
	}
	_ = w
}

func TestNextWriter(t *testing.T) {
	const bufSize = 100
	cases := []struct {
		name   string
		writes []int // sizes of the Write calls
		want   []int // payload sizes of the fragments
	}{
		{"empty message", nil, []int{0}},
		{"under one buffer", []int{10, 20}, []int{30}},
		{"exactly one buffer, no empty final fragment", []int{bufSize}, []int{bufSize}},
		{"two and a half buffers in small writes", slices.Repeat([]int{7}, 36), []int{100, 100, 52}},
		{"one large write", []int{350}, []int{100, 100, 100, 50}},
		{"exactly two buffers", []int{150, 50}, []int{100, 100}},
	}
	for _, server := range []bool{true, false} {
		for _, tc := range cases {
			t.Run(roleName(server)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				c, peer := newPair(t, server, &wsproto.ConnOptions{WriteBufferSize: bufSize})
				w, err := c.NextWriter(wsproto.OpBinary)
				if err != nil {
					t.Fatal(err)
				}
				var sent []byte
				for i, n := range tc.writes {
					p := bytes.Repeat([]byte{byte('a' + i%26)}, n)
					if m, err := w.Write(p); m != n || err != nil {
						t.Fatalf("Write = %d, %v", m, err)
					}
					sent = append(sent, p...)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write([]byte("x")); err == nil {
					t.Error("Write after Close succeeded")
				}
				var got []byte
				for i, size := range tc.want {
					f := peer.next()
					wantOp := wsproto.OpContinuation
					if i == 0 {
						wantOp = wsproto.OpBinary
					}
					if f.Op != wantOp || f.Fin != (i == len(tc.want)-1) || len(f.Payload) != size {
						t.Fatalf("fragment %d: op=%v fin=%v %d bytes, want op=%v fin=%v %d bytes",
							i, f.Op, f.Fin, len(f.Payload), wantOp, i == len(tc.want)-1, size)
					}
					got = append(got, f.Payload...)
				}
				if !bytes.Equal(got, sent) {
					t.Fatal("fragments do not add up to what was written")
				}
				// The next message starts afresh.
				if err := c.WriteMessage(wsproto.OpText, []byte("next")); err != nil {
					t.Fatal(err)
				}
				if f := peer.next(); f.Op != wsproto.OpText || !f.Fin || string(f.Payload) != "next" {
					t.Fatalf("got %v fin=%v %q", f.Op, f.Fin, f.Payload)
				}
			})
		}
	}
}

// TestControlBetweenDataFrames writes data messages from one goroutine while
// other goroutines send pings and pongs, and the reader answers the peer's
// pings: on the wire every frame must stay whole (RFC 6455 5.4: control
// frames may come between fragments, never inside a frame). Run with -race.
func TestControlBetweenDataFrames(t *testing.T) {
	const (
		messages  = 30
		fragments = 5
		controls  = 100
	)
	for _, server := range []bool{true, false} {
		t.Run(roleName(server), func(t *testing.T) {
			t.Parallel()
			c, peer := newPair(t, server, &wsproto.ConnOptions{WriteBufferSize: 1000})
			r := startReader(t, c)
			var wg sync.WaitGroup
			big := bytes.Repeat([]byte{'d'}, 20000)
			wg.Go(func() {
				for range messages {
					if err := c.WriteMessage(wsproto.OpBinary, big); err != nil {
						t.Error(err)
						return
					}
					w, _ := c.NextWriter(wsproto.OpText)
					for range fragments {
						w.Write(big[:1000])
					}
					if err := w.Close(); err != nil {
						t.Error(err)
						return
					}
				}
			})
			wg.Go(func() {
				for i := range controls {
					if err := c.WritePong(fmt.Appendf(nil, "pong-%d", i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
			wg.Go(func() {
				for i := range controls {
					if err := c.WritePing(fmt.Appendf(nil, "ping-%d", i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
			wg.Go(func() {
				for i := range controls {
					if _, err := peer.conn.Write(peer.mk.frame(true, wsproto.OpPing, fmt.Appendf(nil, "peer-%d", i))); err != nil {
						t.Error(err)
						return
					}
				}
			})
			wg.Wait()
			peer.write(peer.mk.frame(true, wsproto.OpClose, closePayload(wsproto.CloseNormal, "")))

			next := map[string]int{} // next number expected per control stream
			var bigs, texts, frag int
			for {
				f := peer.next()
				if f.Rsv != 0 {
					t.Fatalf("frame with RSV %d: the stream is corrupt", f.Rsv)
				}
				switch f.Op {
				case wsproto.OpPing, wsproto.OpPong:
					prefix, num, ok := strings.Cut(string(f.Payload), "-")
					stream := f.Op.String() + "/" + prefix
					if !ok || !f.Fin || num != fmt.Sprint(next[stream]) {
						t.Fatalf("control frame %v %q out of order or mangled", f.Op, f.Payload)
					}
					next[stream]++
					continue
				case wsproto.OpClose:
				case wsproto.OpBinary:
					if frag != 0 || !f.Fin || !bytes.Equal(f.Payload, big) {
						t.Fatalf("binary frame fin=%v %d bytes inside a fragmented message or mangled", f.Fin, len(f.Payload))
					}
					bigs++
					continue
				case wsproto.OpText, wsproto.OpContinuation:
					wantOp := wsproto.OpContinuation
					if frag == 0 {
						wantOp = wsproto.OpText
					}
					if f.Op != wantOp || !bytes.Equal(f.Payload, big[:len(f.Payload)]) {
						t.Fatalf("fragment %d: %v of %d bytes, want %v of 'd'", frag, f.Op, len(f.Payload), wantOp)
					}
					frag++
					if f.Fin {
						texts++
						frag = 0
					}
					continue
				default:
					t.Fatalf("unexpected %v frame", f.Op)
				}
				break // the close frame
			}
			if bigs != messages || texts != messages || next["ping/ping"] != controls || next["pong/pong"] != controls || next["pong/peer"] != controls {
				t.Fatalf("got %d binary, %d text messages and control streams %v", bigs, texts, next)
			}
			if server {
				peer.expectEOF()
			} else {
				peer.expectEOF()
				peer.conn.Close()
			}
			for {
				res := r.next()
				if res.err != nil {
					if wsproto.CloseStatus(res.err) != wsproto.CloseNormal {
						t.Fatalf("reader ended with %v", res.err)
					}
					break
				}
			}
		})
	}
}

// TestWriteTimeout checks ConnOptions.WriteTimeout: a peer that reads
// nothing fails the write and closes the connection; a slow peer that keeps
// reading is never cut off, however long the whole write takes.
func TestWriteTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, server := range []bool{true, false} {
		t.Run(roleName(server)+"/peer reads nothing", func(t *testing.T) {
			t.Parallel()
			a, b := tcpPair(t)
			a.SetWriteBuffer(16 << 10)
			b.SetReadBuffer(16 << 10)
			c := wsproto.NewConnForTest(a, server, nil, &wsproto.ConnOptions{WriteTimeout: timeout})
			start := time.Now()
			err := c.WriteMessage(wsproto.OpBinary, make([]byte, 8<<20))
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("WriteMessage = %v, want a timeout", err)
			}
			if el := time.Since(start); el < timeout-10*time.Millisecond || el > waitLong {
				t.Errorf("gave up after %v with WriteTimeout %v", el, timeout)
			}
			if !isClosed(c) {
				t.Error("connection not closed after the write timed out")
			}
		})
		t.Run(roleName(server)+"/slow peer keeps reading", func(t *testing.T) {
			t.Parallel()
			// net.Pipe has no buffer: the write progresses exactly as fast
			// as the peer reads, with no kernel in between whose window
			// probes could stall a tiny TCP connection by themselves.
			a, b := net.Pipe()
			defer b.Close()
			c := wsproto.NewConnForTest(a, server, nil, &wsproto.ConnOptions{WriteTimeout: timeout})
			defer c.CloseNow()
			// Each pipe Read returns at most one Write: a server writes its
			// payload whole, a client in WriteBufferSize chunks.
			size := 1 << 20
			if !server {
				size = 256 << 10
			}
			read := make(chan int, 1)
			go func() {
				// Read up to 16 KiB every 10 ms: the whole message takes longer
				// than WriteTimeout, but no pause comes near it.
				buf := make([]byte, 16<<10)
				total := 0
				for total < size {
					n, err := b.Read(buf)
					total += n
					if err != nil {
						break
					}
					time.Sleep(10 * time.Millisecond) // the slowness under test
				}
				read <- total
			}()
			start := time.Now()
			if err := c.WriteMessage(wsproto.OpBinary, make([]byte, size)); err != nil {
				t.Fatalf("WriteMessage to a slow but steady reader = %v after %v", err, time.Since(start))
			}
			if el := time.Since(start); el < timeout {
				t.Errorf("the write took %v, under WriteTimeout %v: the test proves nothing", el, timeout)
			}
			if total := <-read; total < size {
				t.Errorf("peer read %d bytes", total)
			}
		})
	}
}

// TestReadDeadline checks that a read that hits the deadline set with
// SetReadDeadline fails with a timeout and closes the connection.
func TestReadDeadline(t *testing.T) {
	c, _ := newPair(t, true, nil)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, _, err := c.ReadMessage(nil)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadMessage = %v, want a timeout", err)
	}
	if !isClosed(c) {
		t.Error("connection not closed")
	}
	if _, _, again := c.ReadMessage(nil); again != err {
		t.Errorf("second ReadMessage = %v, want the same error", again)
	}
}

// An idle connection's Conn is a good part of its memory: at tens of
// thousands of connections each byte counts, and 384 is the size class it
// fills now (fields used only during a call live in pooled structs, see
// rawCall). A field added here should push one out.
func TestConnSize(t *testing.T) {
	var c wsproto.Conn
	if got := unsafe.Sizeof(c); got > 384 {
		t.Errorf("Conn is %d bytes, want at most 384 (the allocator's size class)", got)
	}
}
