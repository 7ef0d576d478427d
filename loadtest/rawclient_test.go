package loadtest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// clientFrame is a frame as the raw client sent it, unmasked.
type clientFrame struct {
	b0      byte // FIN, RSV, opcode
	masked  bool
	key     [4]byte
	payload []byte
}

// readClientFrame reads one client frame from br.
func readClientFrame(t *testing.T, br *bufio.Reader) clientFrame {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("reading a client frame: %v", err)
	}
	f := clientFrame{b0: h[0], masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		io.ReadFull(br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		io.ReadFull(br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	if f.masked {
		io.ReadFull(br, f.key[:])
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(br, f.payload); err != nil {
		t.Fatalf("reading a client frame's payload: %v", err)
	}
	for i := range f.payload {
		f.payload[i] ^= f.key[i&3]
	}
	return f
}

// wireServer accepts one connection on a loopback port and gives it,
// with its buffered reader and the handshake request, to serve in a
// goroutine of its own; the test waits for it at its end.
func wireServer(t *testing.T, serve func(c net.Conn, br *bufio.Reader, req *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Errorf("server: reading the request: %v", err)
			return
		}
		serve(c, br, req)
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// switching is the server's 101 answer to req.
func switching(req *http.Request) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		acceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
}

// dialTest connects the raw client to addr, with a read limit.
func dialTest(t *testing.T, addr string, limit int) (*rawConn, error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	u := &url.URL{Scheme: "ws", Host: addr, Path: "/ws", RawQuery: "name=lt-1&room=loadtest-0"}
	return dialRaw(nc, u, "http://"+addr, limit, false)
}

// hangUp, at the end of a response, makes the server close the connection
// once it has written the rest.
const hangUp = "<hang up>"

func TestRawHandshake(t *testing.T) {
	for _, tc := range []struct {
		name     string
		response func(req *http.Request) string // "" closes the connection
		err      error                          // nil: a valid handshake
		msg      string                         // in the error
	}{
		{"valid", switching, nil, ""},
		{"header names and tokens in other cases, token lists", func(req *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, upgrade\r\nsec-websocket-accept: " +
				acceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\nServer: test\r\n\r\n"
		}, nil, ""},
		{"status 200", func(*http.Request) string { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" }, errRawHandshake, "status 200"},
		{"status 503", func(*http.Request) string { return "HTTP/1.1 503 Service Unavailable\r\n\r\n" }, errRawHandshake, "status 503"},
		{"no Upgrade", func(req *http.Request) string {
			return strings.Replace(switching(req), "Upgrade: websocket\r\n", "", 1)
		}, errRawHandshake, "Upgrade"},
		{"Upgrade not websocket", func(req *http.Request) string {
			return strings.Replace(switching(req), "Upgrade: websocket", "Upgrade: h2c", 1)
		}, errRawHandshake, "Upgrade"},
		{"no Connection", func(req *http.Request) string {
			return strings.Replace(switching(req), "Connection: Upgrade\r\n", "", 1)
		}, errRawHandshake, "Connection"},
		{"wrong accept", func(req *http.Request) string {
			return strings.Replace(switching(req), acceptKey(req.Header.Get("Sec-WebSocket-Key")), acceptKey("another key"), 1)
		}, errRawHandshake, "Sec-WebSocket-Accept"},
		{"no accept", func(req *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		}, errRawHandshake, "Sec-WebSocket-Accept"},
		{"extension not offered", func(req *http.Request) string {
			return strings.Replace(switching(req), "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1)
		}, errRawHandshake, "extension"},
		{"subprotocol not offered", func(req *http.Request) string {
			return strings.Replace(switching(req), "\r\n\r\n", "\r\nSec-WebSocket-Protocol: ringchat.v1\r\n\r\n", 1)
		}, errRawHandshake, "subprotocol"},
		{"not HTTP", func(*http.Request) string { return "SSH-2.0-OpenSSH\r\n\r\n" }, errRawHandshake, "malformed HTTP"},
		{"header never ends", func(*http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("x", 100)+"\r\n", 200)
		}, errResponseHeaderTooLong, "longer than"},
		{"connection ends inside the header", func(*http.Request) string { return "HTTP/1.1 101 Switching" + hangUp }, errResponseHeaderIncomplete, "inside the response header"},
		{"connection ends at once", func(*http.Request) string { return "" }, io.EOF, "reading the handshake response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := wireServer(t, func(c net.Conn, br *bufio.Reader, req *http.Request) {
				key, err := base64.StdEncoding.DecodeString(req.Header.Get("Sec-WebSocket-Key"))
				switch {
				case req.Method != "GET" || req.RequestURI != "/ws?name=lt-1&room=loadtest-0" || req.Host != c.LocalAddr().String():
					t.Errorf("request %s %s, Host %s", req.Method, req.RequestURI, req.Host)
				case !hasToken(req.Header, "Upgrade", "websocket") || !hasToken(req.Header, "Connection", "Upgrade"):
					t.Errorf("request headers %v", req.Header)
				case req.Header.Get("Sec-WebSocket-Version") != "13" || err != nil || len(key) != 16:
					t.Errorf("version %q, key %q", req.Header.Get("Sec-WebSocket-Version"), req.Header.Get("Sec-WebSocket-Key"))
				case req.Header.Get("Origin") != "http://"+c.LocalAddr().String():
					t.Errorf("Origin %q", req.Header.Get("Origin"))
				}
				resp, end := strings.CutSuffix(tc.response(req), hangUp)
				if resp != "" {
					io.WriteString(c, resp)
				}
				if resp != "" && !end {
					io.Copy(io.Discard, c) // until the client has given up
				}
			})
			c, err := dialTest(t, addr, 1<<10)
			if tc.err == nil {
				if err != nil {
					t.Fatalf("dialRaw: %v", err)
				}
				c.nc.Close()
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("dialRaw: %v; want %v with %q", err, tc.err, tc.msg)
			}
			t.Log(err)
		})
	}
}

// TestRawConnMessages runs the raw client against a server that sends the
// welcome in the packet of its 101, a fragmented message with a ping
// inside, a binary message and a close: the client reads every message
// whole, answers the ping and the close, and masks every frame it sends
// with a key of its own.
func TestRawConnMessages(t *testing.T) {
	got := make(chan []clientFrame, 1)
	addr := wireServer(t, func(c net.Conn, br *bufio.Reader, req *http.Request) {
		var b []byte
		b = append(b, switching(req)...)
		b = append(b, serverFrame(0x81, []byte(`{"type":"welcome"}`))...)
		io.WriteString(c, string(b))
		var frames []clientFrame
		frames = append(frames, readClientFrame(t, br)) // the client's text
		b = serverFrame(0x81, []byte("one"))
		b = append(b, serverFrame(0x01, []byte("hel"))...)
		b = append(b, serverFrame(0x89, []byte("p1"))...)
		b = append(b, serverFrame(0x00, []byte("lo "))...)
		b = append(b, serverFrame(0x80, []byte("world"))...)
		b = append(b, serverFrame(0x82, []byte{0, 1, 2})...)
		b = append(b, serverFrame(0x88, append([]byte{0x03, 0xE9}, "bye"...))...)
		c.Write(b)
		frames = append(frames, readClientFrame(t, br), readClientFrame(t, br)) // pong, close
		if n, err := br.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("after its close the client sent %d bytes more (%v), or did not close", n, err)
		}
		got <- frames
	})
	c, err := dialTest(t, addr, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`{"type":"welcome"}`, "", "one", "hello world", "\x00\x01\x02"} {
		if i == 1 {
			if err := c.writeText([]byte("hi there")); err != nil {
				t.Fatal(err)
			}
			continue
		}
		m, err := c.readMessage()
		if err != nil || string(m) != want {
			t.Fatalf("message %d: %q, %v; want %q", i, m, err, want)
		}
	}
	_, err = c.readMessage()
	var ce *rawCloseError
	if !errors.As(err, &ce) || ce.code != 1001 {
		t.Fatalf("after the close: %v, want the server's close with 1001", err)
	}
	frames := <-got
	for i, want := range []struct {
		b0      byte
		payload string
	}{{0x81, "hi there"}, {0x8A, "p1"}, {0x88, "\x03\xe9"}} {
		f := frames[i]
		if f.b0 != want.b0 || string(f.payload) != want.payload || !f.masked {
			t.Errorf("client frame %d: %#x %q masked %v; want %#x %q masked", i, f.b0, f.payload, f.masked, want.b0, want.payload)
		}
	}
	if frames[0].key == frames[1].key || frames[1].key == frames[2].key {
		t.Errorf("mask keys repeat: % x", []any{frames[0].key, frames[1].key, frames[2].key})
	}
	if err := c.writeText([]byte("late")); !errors.Is(err, errRawCloseSent) {
		t.Errorf("a write after the close: %v, want errRawCloseSent", err)
	}
}

// TestRawConnFailures sends the raw client frames that break a rule of
// RFC 6455, and closes: the client fails the connection with the close
// code the rule names (or answers a close in kind) and closes it.
func TestRawConnFailures(t *testing.T) {
	long := bytes.Repeat([]byte{'a'}, 60)
	for _, tc := range []struct {
		name  string
		send  []byte
		err   error  // what readMessage returns; nil: a *rawCloseError
		close []byte // the payload of the client's close frame
	}{
		{"masked frame (5.1)", []byte{0x81, 0x82, 1, 2, 3, 4, 'h', 'i'}, errMaskedFrame, []byte{0x03, 0xEA}},
		{"reserved opcode (5.2)", serverFrame(0x83, nil), errReservedOpcode, []byte{0x03, 0xEA}},
		{"RSV1 (5.2)", serverFrame(0xC1, []byte("x")), errReservedBits, []byte{0x03, 0xEA}},
		{"fragmented ping (5.5)", serverFrame(0x09, nil), errControlFragmented, []byte{0x03, 0xEA}},
		{"continuation without a message (5.4)", serverFrame(0x80, []byte("x")), errUnexpectedContinuation, []byte{0x03, 0xEA}},
		{"new message inside a fragmented one (5.4)", append(serverFrame(0x01, []byte("a")), serverFrame(0x81, []byte("b"))...), errExpectedContinuation, []byte{0x03, 0xEA}},
		{"invalid UTF-8 (8.1)", serverFrame(0x81, []byte{'a', 0xFF}), errRawInvalidUTF8, []byte{0x03, 0xEF}},
		{"invalid UTF-8 across fragments (8.1)", append(serverFrame(0x01, []byte{0xE2, 0x82}), serverFrame(0x80, []byte{'x'})...), errRawInvalidUTF8, []byte{0x03, 0xEF}},
		{"frame over the limit", serverFrame(0x81, bytes.Repeat(long, 2)), errFrameTooLarge, []byte{0x03, 0xF1}},
		{"fragments over the limit", append(serverFrame(0x01, long), serverFrame(0x80, long)...), errFrameTooLarge, []byte{0x03, 0xF1}},
		{"close with a 1-byte body (5.5.1)", serverFrame(0x88, []byte{3}), errClosePayloadTooShort, []byte{0x03, 0xEA}},
		{"close code 999 (7.4)", serverFrame(0x88, []byte{0x03, 0xE7}), errInvalidCloseCode, []byte{0x03, 0xEA}},
		{"close code 1005 on the wire (7.4)", serverFrame(0x88, []byte{0x03, 0xED}), errInvalidCloseCode, []byte{0x03, 0xEA}},
		{"close reason not UTF-8 (5.5.1)", serverFrame(0x88, []byte{0x03, 0xE8, 0xFF}), errRawInvalidUTF8, []byte{0x03, 0xEF}},
		{"close without a code, answered without one", serverFrame(0x88, nil), nil, []byte{}},
		{"close 4000, answered in kind", serverFrame(0x88, []byte{0x0F, 0xA0, 'x'}), nil, []byte{0x0F, 0xA0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			closed := make(chan clientFrame, 1)
			addr := wireServer(t, func(c net.Conn, br *bufio.Reader, req *http.Request) {
				io.WriteString(c, switching(req))
				c.Write(tc.send)
				closed <- readClientFrame(t, br)
				if n, err := br.Read(make([]byte, 1)); err != io.EOF {
					t.Errorf("after its close the client sent %d bytes more (%v), or did not close", n, err)
				}
			})
			c, err := dialTest(t, addr, 100)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.readMessage()
			var ce *rawCloseError
			if tc.err != nil && !errors.Is(err, tc.err) || tc.err == nil && !errors.As(err, &ce) {
				t.Fatalf("readMessage: %v, want %v", err, tc.err)
			}
			f := <-closed
			if f.b0 != 0x88 || !f.masked || !bytes.Equal(f.payload, tc.close) {
				t.Errorf("the client sent %#x % x (masked %v), want a masked close % x", f.b0, f.payload, f.masked, tc.close)
			}
		})
	}
}

func TestAppendMaskedFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 0xFFFF, 0x10000} {
		payload := bytes.Repeat([]byte{'q'}, n)
		key := [4]byte{0xA1, 0xB2, 0xC3, 0xD4}
		b := appendMaskedFrame(nil, opText, key, payload)
		f := readClientFrame(t, bufio.NewReader(bytes.NewReader(b)))
		if f.b0 != 0x81 || !f.masked || f.key != key || !bytes.Equal(f.payload, payload) {
			t.Errorf("%d bytes: %#x masked %v key % x, %d bytes back", n, f.b0, f.masked, f.key, len(f.payload))
		}
		if want := serverFrame(0x81, payload); len(b) != len(want)+4 {
			t.Errorf("%d bytes: frame of %d bytes, want the minimal %d", n, len(b), len(want)+4)
		}
		if n > 0 && bytes.Contains(b, payload) {
			t.Errorf("%d bytes: the payload went out unmasked", n)
		}
	}
}

// TestRawConnEach reads a stream of frames that arrives in pieces of
// every size, some with pauses between — so that the reader both drains
// the socket and waits for the poller, inside one frame and between
// frames — and a frame larger than the buffer: each hands over every
// message whole and in order, and ends with the server's close.
func TestRawConnEach(t *testing.T) {
	stream, frames := frameStream()
	stream = append(stream, serverFrame(0x88, []byte{0x03, 0xE8})...)
	var want []string
	for _, f := range frames {
		if f.op == opText {
			want = append(want, string(f.payload))
		}
	}
	addr := wireServer(t, func(c net.Conn, br *bufio.Reader, req *http.Request) {
		io.WriteString(c, switching(req))
		go io.Copy(io.Discard, br) // the pongs and the close; ends with the connection
		for i, rest := 0, stream; len(rest) > 0; i++ {
			n := min(len(rest), 1+(i*131)%700)
			if _, err := c.Write(rest[:n]); err != nil {
				t.Errorf("server: %v", err)
				return
			}
			rest = rest[n:]
			if i%7 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(100 * time.Millisecond) // for the client's close
	})
	c, err := dialTest(t, addr, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = c.each(func(m []byte) { got = append(got, string(m)) })
	var ce *rawCloseError
	if !errors.As(err, &ce) || ce.code != 1000 {
		t.Errorf("each ended with %v, want the server's close with 1000", err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d: %d bytes, want %d", i, len(got[i]), len(want[i]))
		}
	}
	if _, err := c.nc.Write([]byte{0}); err == nil {
		t.Errorf("the connection is still open after each")
	}
}
