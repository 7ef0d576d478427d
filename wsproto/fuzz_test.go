package wsproto_test

// Fuzz targets for every parser: frames as a Conn reads them, the UTF-8
// validator, the opening handshake and the frame header. Their seed corpora
// (the f.Add calls) run with every go test; go test -fuzz=FuzzX explores.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"ringchat/wsproto"
)

// memConn is a net.Conn over memory: reads return in, at most chunk bytes at
// a time, then io.EOF; writes are recorded. Deadlines are accepted and
// ignored: nothing it does can block.
type memConn struct {
	mu     sync.Mutex
	in     []byte
	chunk  int
	out    bytes.Buffer
	closed bool
}

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *memConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *memConn) SetDeadline(t time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

// refOutcome is what RFC 6455 says a Conn must do with an input stream.
type refOutcome struct {
	msgs      []readResult
	pongs     [][]byte               // payloads of the pongs the Conn sends
	protoErr  *wsproto.ProtocolError // the rule broken, if any
	peerClose *wsproto.CloseError    // the peer's close frame, if it ended so
}

// refRead decodes in as a stream from a client (server true) or a server,
// with a message size limit (0: none), independently of the package. Where
// a frame breaks several rules at once, RFC 6455 does not say which one to
// report; refRead checks them in the order the Conn does: the encoding of
// the header, then the frame's own fields, then its place in the message,
// then its payload.
func refRead(in []byte, server bool, limit int64) refOutcome {
	var out refOutcome
	fail := func(pe *wsproto.ProtocolError) refOutcome { out.protoErr = pe; return out }
	var open wsproto.Opcode
	var msg []byte
	var msgLen int64
	for {
		if len(in) < 2 {
			return out // ends without a close frame: 1006
		}
		b0, b1 := in[0], in[1]
		size := 2
		switch b1 & 0x7F {
		case 126:
			size += 2
		case 127:
			size += 8
		}
		masked := b1&0x80 != 0
		if masked {
			size += 4
		}
		if len(in) < size {
			return out
		}
		length := uint64(b1 & 0x7F)
		switch length {
		case 126:
			length = uint64(binary.BigEndian.Uint16(in[2:]))
			if length < 126 {
				return fail(wsproto.ErrNonMinimalLength)
			}
		case 127:
			length = binary.BigEndian.Uint64(in[2:])
			if length>>63 != 0 {
				return fail(wsproto.ErrLengthOverflow)
			}
			if length < 65536 {
				return fail(wsproto.ErrNonMinimalLength)
			}
		}
		var key [4]byte
		if masked {
			copy(key[:], in[size-4:])
		}
		fin, rsv, op := b0&0x80 != 0, b0>>4&7, wsproto.Opcode(b0&0xF)
		control := op >= 8
		switch {
		case rsv != 0:
			return fail(wsproto.ErrReservedBits)
		case op >= 3 && op <= 7 || op >= 0xB:
			return fail(wsproto.ErrReservedOpcode)
		case server && !masked:
			return fail(wsproto.ErrUnmaskedFrame)
		case !server && masked:
			return fail(wsproto.ErrMaskedFrame)
		case control && !fin:
			return fail(wsproto.ErrControlFragmented)
		case control && length > 125:
			return fail(wsproto.ErrControlTooLong)
		}
		in = in[size:]
		if control {
			if uint64(len(in)) < length {
				return out
			}
			p := slices.Clone(in[:length])
			if masked {
				maskNaive(key, 0, p)
			}
			in = in[length:]
			switch op {
			case wsproto.OpPing:
				out.pongs = append(out.pongs, p)
			case wsproto.OpClose:
				switch {
				case len(p) == 0:
					out.peerClose = &wsproto.CloseError{Code: wsproto.CloseNoStatus}
					return out
				case len(p) == 1:
					return fail(wsproto.ErrClosePayloadTooShort)
				}
				code := wsproto.CloseCode(binary.BigEndian.Uint16(p))
				if !(code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999) {
					return fail(wsproto.ErrInvalidCloseCode)
				}
				if !utf8.Valid(p[2:]) {
					return fail(wsproto.ErrInvalidCloseReason)
				}
				out.peerClose = &wsproto.CloseError{Code: code, Reason: string(p[2:])}
				return out
			}
			continue
		}
		if op == wsproto.OpContinuation {
			if open == 0 {
				return fail(wsproto.ErrUnexpectedContinuation)
			}
		} else {
			if open != 0 {
				return fail(wsproto.ErrExpectedContinuation)
			}
			open, msg, msgLen = op, nil, 0
		}
		if limit > 0 && int64(length) > limit-msgLen {
			return fail(wsproto.ErrMessageTooBig)
		}
		msgLen += int64(length)
		avail := min(length, uint64(len(in)))
		p := slices.Clone(in[:avail])
		if masked {
			maskNaive(key, 0, p)
		}
		in = in[avail:]
		msg = append(msg, p...)
		if open == wsproto.OpText && !validPrefix(msg) {
			return fail(wsproto.ErrInvalidUTF8) // fail fast, RFC 6455 8.1
		}
		if avail < length {
			return out
		}
		if fin {
			if open == wsproto.OpText && !utf8.Valid(msg) {
				return fail(wsproto.ErrInvalidUTF8)
			}
			out.msgs = append(out.msgs, readResult{op: open, p: msg})
			open = 0
		}
	}
}

// fuzzConfig reads the settings of one FuzzReadFrames run from the first two
// bytes of its input.
type fuzzConfig struct {
	chunk      int // largest read the memConn returns
	server     bool
	nextReader bool // read with NextReader instead of ReadMessage
	limit      int64
	readBuf    int
}

func parseFuzzConfig(b0, b1 byte) fuzzConfig {
	return fuzzConfig{
		chunk:      1 + int(b0),
		server:     b1&1 == 0,
		nextReader: b1&2 != 0,
		limit:      []int64{0, 100, 4096, -1}[b1>>2&3],
		readBuf:    []int{0, 128, 200, 1000}[b1>>4&3],
	}
}

// readSeeds are the seed inputs of FuzzReadFrames and FuzzFeed: two bytes
// of configuration (see parseFuzzConfig), then what the peer sends.
func readSeeds() [][]byte {
	client := frameMaker{mask: true}
	srv := frameMaker{}
	cfg := func(chunk, bits byte) []byte { return []byte{chunk, bits} }
	return [][]byte{
		slices.Concat(cfg(255, 0), client.msg(wsproto.OpText, "hello"), client.frame(true, wsproto.OpClose, closePayload(1000, "bye"))),
		slices.Concat(cfg(0, 0), client.frame(false, wsproto.OpText, []byte("he")), client.frame(true, wsproto.OpPing, []byte("p")),
			client.frame(true, wsproto.OpContinuation, []byte("llo \xe2\x82\xac"))),
		slices.Concat(cfg(3, 2), client.frame(false, wsproto.OpBinary, bytes.Repeat([]byte{1}, 300)), client.frame(true, wsproto.OpContinuation, bytes.Repeat([]byte{2}, 70000))),
		slices.Concat(cfg(7, 1), srv.msg(wsproto.OpText, "from server"), srv.frame(true, wsproto.OpPing, nil), srv.frame(true, wsproto.OpClose, nil)),
		slices.Concat(cfg(255, 4), client.frame(true, wsproto.OpBinary, make([]byte, 101))),
		slices.Concat(cfg(255, 0), client.msg(wsproto.OpText, "bad \xff utf8")),
		slices.Concat(cfg(1, 0), client.frame(false, wsproto.OpText, []byte("\xf0\x9f")), client.frame(true, wsproto.OpContinuation, []byte("\x98\x80"))),
		slices.Concat(cfg(255, 0), client.header(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0)),
		slices.Concat(cfg(255, 0), client.header(0x82, 126, 0, 5), []byte("12345")),
		slices.Concat(cfg(255, 0), client.header(0x82, 127, 0, 0, 0, 0, 0x40, 0, 0, 0)),
		slices.Concat(cfg(255, 12), client.header(0x82, 127, 0, 0, 0, 0, 0x40, 0, 0, 0), []byte("only a little")),
		slices.Concat(cfg(255, 0), client.header(0xC1, 0)),
		slices.Concat(cfg(255, 0), client.header(0x83, 0)),
		slices.Concat(cfg(255, 0), client.frame(false, wsproto.OpPing, nil)),
		slices.Concat(cfg(255, 0), client.frame(true, wsproto.OpPong, make([]byte, 126))),
		slices.Concat(cfg(255, 0), client.frame(true, wsproto.OpContinuation, nil)),
		slices.Concat(cfg(255, 0), client.frame(true, wsproto.OpClose, []byte{3})),
		slices.Concat(cfg(255, 0), client.frame(true, wsproto.OpClose, closePayload(1005, ""))),
		slices.Concat(cfg(255, 0), client.frame(true, wsproto.OpClose, closePayload(1000, "\xc0"))),
		slices.Concat(cfg(255, 0), encodeFrame(wireFrame{Fin: true, Op: wsproto.OpText, Payload: []byte("unmasked")})),
		slices.Concat(cfg(255, 0), client.msg(wsproto.OpText, "abc")[:5]),
		{},
		{0},
	}
}

// FuzzReadFrames feeds arbitrary bytes from the peer to a Conn. The Conn must
// never panic or hang, must end with a *ProtocolError or *CloseError, and
// must do what the reference decoder says RFC 6455 requires: the same
// messages, a pong per ping, the same failure and close frame on the wire.
func FuzzReadFrames(f *testing.F) {
	for _, s := range readSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		conf := parseFuzzConfig(data[0], data[1])
		in := data[2:]
		refLimit := conf.limit // as ConnOptions.MaxMessageSize reads it
		switch {
		case refLimit == 0:
			refLimit = wsproto.DefaultMaxMessageSize
		case refLimit < 0:
			refLimit = 0
		}
		want := refRead(in, conf.server, refLimit)

		nc := &memConn{in: slices.Clone(in), chunk: conf.chunk}
		c := wsproto.NewConnForTest(nc, conf.server, nil, &wsproto.ConnOptions{
			MaxMessageSize: conf.limit,
			ReadBufferSize: conf.readBuf,
			CloseTimeout:   time.Second,
		})
		type result struct {
			msgs []readResult
			err  error
		}
		done := make(chan result, 1)
		go func() {
			var res result
			var buf []byte
			for {
				var op wsproto.Opcode
				var p []byte
				var err error
				if conf.nextReader {
					var r io.Reader
					op, r, err = c.NextReader()
					if err == nil {
						p, err = readAllSmall(r)
					}
				} else {
					op, p, err = c.ReadMessage(buf)
					buf = p
				}
				if err != nil {
					res.err = err
					done <- res
					return
				}
				res.msgs = append(res.msgs, readResult{op: op, p: slices.Clone(p)})
			}
		}()
		var got result
		select {
		case got = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the Conn hung on this input")
		}

		checkReadOutcome(t, want, got.msgs, got.err, nc, conf.server, c)
	})
}

// checkReadOutcome compares what a Conn read (msgs, ending with err) and
// wrote to nc with what the reference decoder says it should have: the
// same messages, a pong per ping, the same failure and close frame, and
// the connection closed.
func checkReadOutcome(t *testing.T, want refOutcome, msgs []readResult, gotErr error, nc *memConn, server bool, c *wsproto.Conn) {
	t.Helper()
	if len(msgs) != len(want.msgs) {
		t.Fatalf("read %d messages, the reference %d (err %v, want %v/%v)", len(msgs), len(want.msgs), gotErr, want.protoErr, want.peerClose)
	}
	for i := range msgs {
		if msgs[i].op != want.msgs[i].op || !bytes.Equal(msgs[i].p, want.msgs[i].p) {
			t.Fatalf("message %d: %v %q, want %v %q", i, msgs[i].op, msgs[i].p, want.msgs[i].op, want.msgs[i].p)
		}
	}
	var pe *wsproto.ProtocolError
	var ce *wsproto.CloseError
	switch {
	case want.protoErr != nil:
		if !errors.As(gotErr, &pe) || pe != want.protoErr {
			t.Fatalf("err = %v, want %v", gotErr, want.protoErr)
		}
	case want.peerClose != nil:
		if !errors.As(gotErr, &ce) || ce.Code != want.peerClose.Code || ce.Reason != want.peerClose.Reason {
			t.Fatalf("err = %v, want %v", gotErr, want.peerClose)
		}
	default:
		if !errors.As(gotErr, &ce) || ce.Code != wsproto.CloseAbnormal {
			t.Fatalf("err = %v, want a 1006 closure", gotErr)
		}
	}

	// What the Conn wrote: the pongs, then the close frame, if any.
	wire := bytes.NewReader(nc.out.Bytes())
	for i, p := range want.pongs {
		fr, err := readWireFrame(wire)
		if err != nil || fr.Op != wsproto.OpPong || !bytes.Equal(fr.Payload, p) || fr.Masked == server {
			t.Fatalf("pong %d: got %v %q (%v), want pong %q", i, fr.Op, fr.Payload, err, p)
		}
	}
	var wantClose []byte
	switch {
	case want.protoErr != nil:
		wantClose = binary.BigEndian.AppendUint16(nil, uint16(want.protoErr.Code))
	case want.peerClose != nil && want.peerClose.Code != wsproto.CloseNoStatus:
		wantClose = binary.BigEndian.AppendUint16(nil, uint16(want.peerClose.Code))
	case want.peerClose != nil:
		wantClose = []byte{}
	}
	if wantClose != nil {
		fr, err := readWireFrame(wire)
		if err != nil || fr.Op != wsproto.OpClose || !bytes.HasPrefix(fr.Payload, wantClose) || len(wantClose) == 0 && len(fr.Payload) != 0 {
			t.Fatalf("got %v %q (%v), want a close frame starting %q", fr.Op, fr.Payload, err, wantClose)
		}
	}
	if wire.Len() != 0 {
		t.Fatalf("%d more bytes written after the expected frames", wire.Len())
	}
	if !isClosed(c) {
		t.Fatal("connection not closed after the read error")
	}
}

// readAllSmall reads r to its end in small reads, as a streaming consumer
// would.
func readAllSmall(r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// FuzzUTF8 compares the incremental validator with unicode/utf8 on input
// split at fuzzed points: the verdict on the whole must be utf8.Valid's, and
// when it fails in chunk i, the chunks up to i must already be impossible as
// a prefix of valid UTF-8 while those before i must not be (fail fast, but
// never early).
func FuzzUTF8(f *testing.F) {
	f.Add([]byte("hello, world"), []byte{3, 7})
	f.Add([]byte("\xe2\x82\xac\xf0\x9f\x98\x80"), []byte{1, 2, 4, 5, 6})
	f.Add([]byte("abcdefghijklmnop\xc3\xa9"), []byte{16})
	f.Add([]byte("\xed\xa0\x80"), []byte{1})
	f.Add([]byte("\xf4\x90\x80\x80"), []byte{2})
	f.Add([]byte("ok\xe2\x82"), []byte{})
	f.Add([]byte("\xc0\xaf"), []byte{1})
	f.Add([]byte("abcdefgh\x80"), []byte{0, 9})
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		cuts := []int{0, len(data)}
		for _, s := range splits {
			cuts = append(cuts, int(s)%(len(data)+1))
		}
		slices.Sort(cuts)
		var chunks [][]byte
		for i := 1; i < len(cuts); i++ {
			chunks = append(chunks, data[cuts[i-1]:cuts[i]])
		}
		failedAt, complete := wsproto.ValidUTF8Chunks(chunks...)
		valid := utf8.Valid(data)
		if ok := failedAt == -1 && complete; ok != valid {
			t.Fatalf("ValidUTF8Chunks = %d, %v on %q split at %v; utf8.Valid says %v", failedAt, complete, data, cuts, valid)
		}
		if failedAt == -1 {
			if !validPrefix(data) {
				t.Fatalf("%q accepted as a prefix, but it cannot begin valid UTF-8", data)
			}
			return
		}
		if complete {
			t.Fatal("complete after a failure")
		}
		upTo := bytes.Join(chunks[:failedAt+1], nil)
		before := bytes.Join(chunks[:failedAt], nil)
		if validPrefix(upTo) {
			t.Fatalf("failed in chunk %d, but %q is still a valid prefix", failedAt, upTo)
		}
		if !validPrefix(before) {
			t.Fatalf("failed in chunk %d, but %q was already invalid", failedAt, before)
		}
	})
}

// hijackWriter is an http.ResponseWriter and http.Hijacker over memory, for
// running Accept on a request without a server.
type hijackWriter struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	conn     *memConn
	br       *bufio.Reader
	hijacked bool
}

func (w *hijackWriter) Header() http.Header { return w.header }

func (w *hijackWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *hijackWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.status != 0 {
		return nil, nil, http.ErrHijacked
	}
	w.hijacked = true
	return w.conn, bufio.NewReadWriter(w.br, bufio.NewWriter(w.conn)), nil
}

// FuzzHandshake runs Accept on arbitrary request bytes. It must never panic,
// and every outcome must be a correct 101 (RFC 6455 4.2.2) or a refusal with
// a 4xx status and a one-line plain-text body (4.2.1).
func FuzzHandshake(f *testing.F) {
	good := goodHandshake("chat.example.com")
	f.Add(good.String())
	f.Add(goodHandshake("chat.example.com").set("Sec-WebSocket-Protocol", "superchat, chat").set("Origin", "https://chat.example.com").String())
	f.Add(goodHandshake("h").set("Origin", "https://a.example.com").String() + "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")
	f.Add(goodHandshake("h").set("Origin", "http://evil.example").String())
	f.Add(goodHandshake("h").set("Sec-WebSocket-Version", "13, 8").String())
	f.Add(goodHandshake("h").set("Sec-WebSocket-Key", strings.Repeat("QUFB", 40)).String())
	f.Add(goodHandshake("h").set("Connection", "keep-alive, Upgrade").String())
	f.Add(strings.Replace(good.String(), "GET", "POST", 1))
	f.Add(strings.Replace(good.String(), "HTTP/1.1", "HTTP/1.0", 1))
	f.Add("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		br := bufio.NewReader(strings.NewReader(raw))
		req, err := http.ReadRequest(br)
		if err != nil {
			return // net/http answers what it cannot parse before any handler runs
		}
		w := &hijackWriter{header: make(http.Header), conn: &memConn{chunk: 1 << 20}, br: br}
		c, err := wsproto.Accept(w, req, &wsproto.AcceptOptions{
			Subprotocols:   []string{"chat", "superchat"},
			OriginPatterns: []string{"*.example.com"},
		})
		if err != nil {
			var he *wsproto.HandshakeError
			if !errors.As(err, &he) || he.Status != w.status || w.hijacked {
				t.Fatalf("Accept = %v; status written %d, hijacked %v", err, w.status, w.hijacked)
			}
			switch w.status {
			case 400, 403:
			case 405:
				if req.Method == "GET" || w.header.Get("Allow") != "GET" {
					t.Fatalf("405 for %q, Allow %q", req.Method, w.header.Get("Allow"))
				}
			case 426:
				if v := req.Header.Values("Sec-WebSocket-Version"); len(v) == 1 && strings.TrimSpace(v[0]) == "13" || w.header.Get("Sec-WebSocket-Version") != "13" {
					t.Fatalf("426 for version %q, answering %q", v, w.header.Get("Sec-WebSocket-Version"))
				}
			default:
				t.Fatalf("refused with status %d", w.status)
			}
			body := w.body.String()
			if strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") || strings.Contains(body, "\r") {
				t.Fatalf("body %q is not one line", body)
			}
			if !strings.HasPrefix(w.header.Get("Content-Type"), "text/plain") {
				t.Fatalf("Content-Type %q", w.header.Get("Content-Type"))
			}
			return
		}
		defer c.CloseNow()
		if w.status != 0 || !w.hijacked {
			t.Fatalf("accepted, but status %d written, hijacked %v", w.status, w.hijacked)
		}
		if req.Method != "GET" || req.ProtoMajor != 1 || req.ProtoMinor < 1 {
			t.Fatalf("accepted %s %s", req.Method, req.Proto)
		}
		key := req.Header.Get("Sec-WebSocket-Key")
		if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
			t.Fatalf("accepted key %q", key)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(w.conn.out.Bytes())), req)
		if err != nil {
			t.Fatalf("the 101 does not parse: %v\n%s", err, w.conn.out.Bytes())
		}
		if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != wsproto.AcceptKey(key) ||
			!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
			t.Fatalf("bad 101:\n%s", w.conn.out.Bytes())
		}
		if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != c.Subprotocol() || p != "" && p != "chat" && p != "superchat" {
			t.Fatalf("subprotocol %q, Subprotocol() %q", p, c.Subprotocol())
		}
	})
}

// FuzzHeader checks that AppendHeader and ParseHeader are inverse: any
// header round-trips, and any bytes that parse re-encode to themselves,
// since only the minimal length encoding is accepted (RFC 6455 5.2).
func FuzzHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x05}, true, byte(0), byte(1), false, uint32(0), int64(5))
	f.Add([]byte{0x82, 126, 0, 126}, false, byte(7), byte(0xF), true, uint32(0xdeadbeef), int64(126))
	f.Add([]byte{0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}, true, byte(0), byte(2), true, uint32(1), int64(65536))
	f.Add([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, true, byte(0), byte(8), false, uint32(0), int64(-1))
	f.Add([]byte{0x82, 126, 0, 5}, true, byte(0), byte(9), false, uint32(0), int64(1<<62))
	f.Fuzz(func(t *testing.T, raw []byte, fin bool, rsv, op byte, masked bool, key uint32, length int64) {
		// Header → bytes → header.
		h := wsproto.Header{Fin: fin, Rsv: rsv & 7, Opcode: wsproto.Opcode(op & 0xF), Masked: masked, Length: max(length, 0)}
		if masked {
			binary.BigEndian.PutUint32(h.MaskKey[:], key)
		}
		enc := wsproto.AppendHeader(nil, h)
		if len(enc) != h.Size() {
			t.Fatalf("AppendHeader wrote %d bytes, Size() says %d", len(enc), h.Size())
		}
		back, n, err := wsproto.ParseHeader(enc)
		if err != nil || n != len(enc) || back != h {
			t.Fatalf("ParseHeader(AppendHeader(%+v)) = %+v, %d, %v", h, back, n, err)
		}

		// Bytes → header → bytes.
		h, n, err = wsproto.ParseHeader(raw)
		if n == 0 {
			if err != nil {
				t.Fatalf("error %v without a whole header", err)
			}
			return
		}
		if err != nil {
			// Only the length encoding can be wrong; check it independently.
			var length uint64
			switch raw[1] & 0x7F {
			case 126:
				length = uint64(binary.BigEndian.Uint16(raw[2:]))
				if length >= 126 || !errors.Is(err, wsproto.ErrNonMinimalLength) {
					t.Fatalf("length %d refused with %v", length, err)
				}
			case 127:
				length = binary.BigEndian.Uint64(raw[2:])
				switch {
				case length>>63 != 0:
					if !errors.Is(err, wsproto.ErrLengthOverflow) {
						t.Fatalf("length %#x refused with %v", length, err)
					}
				case length >= 65536 || !errors.Is(err, wsproto.ErrNonMinimalLength):
					t.Fatalf("length %d refused with %v", length, err)
				}
			default:
				t.Fatalf("7-bit length refused with %v", err)
			}
			return
		}
		if again := wsproto.AppendHeader(nil, h); !bytes.Equal(again, raw[:n]) {
			t.Fatalf("% x parsed as %+v, which encodes as % x", raw[:n], h, again)
		}
	})
}

// FuzzFeed pushes arbitrary bytes from the peer into a Conn with Feed, cut
// into pieces of random sizes (a frame header split anywhere, a payload
// across many calls), after some of them arrived with the handshake. It
// must do exactly what the reference decoder says, as FuzzReadFrames does
// for ReadMessage.
func FuzzFeed(f *testing.F) {
	for _, s := range readSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		conf := parseFuzzConfig(data[0], data[1])
		in := data[2:]
		refLimit := conf.limit
		switch {
		case refLimit == 0:
			refLimit = wsproto.DefaultMaxMessageSize
		case refLimit < 0:
			refLimit = 0
		}
		want := refRead(in, conf.server, refLimit)

		// Some bytes came with the handshake: none, one, a few, many.
		handshake := min(len(in), []int{0, 1, 7, 100}[data[0]&3])
		nc := &memConn{chunk: 1}
		c := wsproto.NewConnForTest(nc, conf.server, slices.Clone(in[:handshake]), &wsproto.ConnOptions{
			MaxMessageSize: conf.limit,
			ReadBufferSize: conf.readBuf,
			CloseTimeout:   time.Second,
		})
		var msgs []readResult
		onMessage := func(op wsproto.Opcode, p []byte) error {
			msgs = append(msgs, readResult{op: op, p: slices.Clone(p)})
			return nil
		}
		rng := rand.New(rand.NewPCG(uint64(data[0]), uint64(len(in))))
		rest := slices.Clone(in[handshake:]) // Feed unmasks in place
		var err error
		for err == nil && len(rest) > 0 {
			n := 1 + rng.IntN(min(len(rest), conf.chunk))
			err = c.Feed(rest[:n], onMessage)
			rest = rest[n:]
		}
		if err == nil && handshake > 0 && len(in) == handshake {
			err = c.Feed(nil, onMessage) // the handshake's bytes alone
		}
		if err == nil {
			err = c.FeedEnd(io.EOF)
		}
		checkReadOutcome(t, want, msgs, err, nc, conf.server, c)
		if again := c.Feed([]byte{0x81}, onMessage); again != err {
			t.Fatalf("Feed after the end = %v, want the same error %v", again, err)
		}
	})
}
