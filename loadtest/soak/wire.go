package soak

import (
	"bufio"
	"context"
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
	"strings"
	"syscall"
	"time"
)

// The soak's hostile clients speak WebSocket themselves, on a raw TCP
// connection: x/net/websocket cannot send a broken frame, and it does not
// report the close code a server sends. This file holds that small client:
// the handshake, a frame writer that can break any rule, and a reader of
// server frames that returns the close code.

// Opcodes and close codes of RFC 6455 that the soak sends or expects.
const (
	opContinuation byte = 0x0
	opText         byte = 0x1
	opBinary       byte = 0x2
	opClose        byte = 0x8
	opPing         byte = 0x9
	opPong         byte = 0xA

	codeNormal       = 1000
	codeProtocol     = 1002
	codeUnsupported  = 1003
	codeNoStatus     = 1005 // no code in the close frame
	codeAbnormal     = 1006 // the connection ended without a close frame
	codeInvalidUTF8  = 1007
	codePolicy       = 1008
	codeMessageLarge = 1009
)

// wireFrame is a client frame to send, rules and all: Mask false sends it
// unmasked, Length >= 0 declares a length other than the payload's, and
// Long16/Long64 force a longer length encoding than needed.
type wireFrame struct {
	Fin     bool
	Rsv     byte // the three RSV bits, already shifted: 0x40, 0x20, 0x10
	Op      byte
	Payload []byte
	Mask    bool
	Length  int64 // declared length; -1: len(Payload)
	Long16  bool  // encode the length in 16 bits even if it fits in 7
	TopBit  bool  // 64-bit length with the most significant bit set
}

// goodFrame returns a final, masked frame with op and payload: what a
// well-behaved client sends.
func goodFrame(op byte, payload []byte) wireFrame {
	return wireFrame{Fin: true, Op: op, Payload: payload, Mask: true, Length: -1}
}

// appendWireFrame appends f as bytes on the wire (RFC 6455 5.2).
func appendWireFrame(dst []byte, f wireFrame) []byte {
	b0 := f.Op&0x0F | f.Rsv&0x70
	if f.Fin {
		b0 |= 0x80
	}
	var maskBit byte
	if f.Mask {
		maskBit = 0x80
	}
	n := f.Length
	if n < 0 {
		n = int64(len(f.Payload))
	}
	switch {
	case f.TopBit:
		dst = append(dst, b0, maskBit|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n)|1<<63)
	case n <= 125 && !f.Long16:
		dst = append(dst, b0, maskBit|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, maskBit|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, maskBit|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if !f.Mask {
		return append(dst, f.Payload...)
	}
	var key [4]byte
	rand.Read(key[:])
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, f.Payload...)
	for i := range f.Payload {
		dst[start+i] ^= key[i&3]
	}
	return dst
}

// serverFrame is one frame read from the server.
type serverFrame struct {
	Fin     bool
	Op      byte
	Payload []byte
}

// maxServerFrame bounds what readServerFrame accepts: the chat server's
// frames are small JSON events.
const maxServerFrame = 1 << 20

var (
	errServerMasked = errors.New("loadtest: the server sent a masked frame (RFC 6455 5.1)")
	errServerLarge  = errors.New("loadtest: the server sent a frame longer than 1 MiB")
	errServerRsv    = errors.New("loadtest: the server set reserved bits without an extension")
)

// readServerFrame reads one frame as a client must receive it: unmasked,
// no reserved bits.
func readServerFrame(br *bufio.Reader) (serverFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return serverFrame{}, err
	}
	if h[0]&0x70 != 0 {
		return serverFrame{}, errServerRsv
	}
	if h[1]&0x80 != 0 {
		return serverFrame{}, errServerMasked
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return serverFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return serverFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > maxServerFrame {
		return serverFrame{}, errServerLarge
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return serverFrame{}, err
	}
	return serverFrame{Fin: h[0]&0x80 != 0, Op: h[0] & 0x0F, Payload: p}, nil
}

// closeCode returns the code of a close frame's payload: codeNoStatus for
// an empty one, 0 for one too short to hold a code.
func closeCode(payload []byte) int {
	switch len(payload) {
	case 0:
		return codeNoStatus
	case 1:
		return 0
	}
	return int(binary.BigEndian.Uint16(payload))
}

// closePayload returns the body of a close frame with code and reason.
func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// rawConn is a WebSocket client connection without a library: the soak's
// hostile clients write to it what they like. Its reader and writer may
// be used from two goroutines, one each.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

// handshakeRequest is an HTTP request for the chat endpoint, as bytes, so
// that it can be as wrong as a test needs: edit replaces or removes header
// lines (an empty value removes one) before it is written.
type handshakeRequest struct {
	Method  string
	Target  string // path and query
	Proto   string
	Host    string
	Headers [][2]string
}

// newHandshake returns a correct handshake for path?query on host, and its
// key.
func newHandshake(host, target string) (handshakeRequest, string) {
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	return handshakeRequest{
		Method: "GET", Target: target, Proto: "HTTP/1.1", Host: host,
		Headers: [][2]string{
			{"Upgrade", "websocket"},
			{"Connection", "Upgrade"},
			{"Sec-WebSocket-Key", key},
			{"Sec-WebSocket-Version", "13"},
		},
	}, key
}

// set replaces header name's value, adds it if absent, or removes it when
// value is "".
func (h *handshakeRequest) set(name, value string) {
	for i, kv := range h.Headers {
		if strings.EqualFold(kv[0], name) {
			if value == "" {
				h.Headers = append(h.Headers[:i], h.Headers[i+1:]...)
			} else {
				h.Headers[i][1] = value
			}
			return
		}
	}
	if value != "" {
		h.Headers = append(h.Headers, [2]string{name, value})
	}
}

func (h handshakeRequest) bytes() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\nHost: %s\r\n", h.Method, h.Target, h.Proto, h.Host)
	for _, kv := range h.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[0], kv[1])
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// websocketGUID is the key suffix of RFC 6455 section 1.3.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey is the Sec-WebSocket-Accept a server must answer key with
// (RFC 6455 4.2.2).
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// chatTarget returns the path and query of a chat connection.
func chatTarget(path string, q url.Values) string {
	if path == "" {
		path = "/"
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// dialTCP opens a TCP connection to hostPort within ctx. rcvbuf, when
// positive, sets SO_RCVBUF before connecting, so that the window the
// client advertises stays small.
func dialTCP(ctx context.Context, hostPort string, rcvbuf int) (*net.TCPConn, error) {
	d := net.Dialer{KeepAlive: -1}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}
	}
	c, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// rawHandshake sends req on c and reads the response, all within ctx. It
// returns the response; the body of a refusal is read (up to 4 KiB) and
// the status checked by the caller. On 101 it checks the accept key.
func rawHandshake(ctx context.Context, c net.Conn, req handshakeRequest, key string) (*rawConn, *http.Response, error) {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write(req.bytes()); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(c, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, resp, nil
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(key) {
		return nil, resp, fmt.Errorf("loadtest: Sec-WebSocket-Accept %q, want %q", got, acceptKey(key))
	}
	if ctx.Err() != nil {
		return nil, resp, ctx.Err()
	}
	return &rawConn{c: c, br: br}, resp, nil
}

// write sends frames in one write.
func (r *rawConn) write(frames ...wireFrame) error {
	var b []byte
	for _, f := range frames {
		b = appendWireFrame(b, f)
	}
	_, err := r.c.Write(b)
	return err
}

// read reads the next server frame.
func (r *rawConn) read() (serverFrame, error) { return readServerFrame(r.br) }

// reset closes the connection with a TCP reset instead of a FIN: SO_LINGER
// 0, as a client that vanishes (a crash, a pulled cable seen by a
// middlebox) does.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
