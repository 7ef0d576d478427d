package loadtest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"testing/iotest"

	"ringchat/wsproto"
)

// serverFrame encodes payload as one unmasked frame with first byte b0
// (FIN, RSV and opcode), its length in the minimal form.
func serverFrame(b0 byte, payload []byte) []byte {
	b := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xFFFF:
		b = binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
	return append(b, payload...)
}

func TestParseFrame(t *testing.T) {
	long := bytes.Repeat([]byte{'a'}, 300)
	huge := bytes.Repeat([]byte{'b'}, 0x10000)
	for _, tc := range []struct {
		name    string
		in      []byte
		limit   int
		err     error
		fin     bool
		op      byte
		payload []byte // with n = len(in) when err is nil and need is 0
		need    int    // the frame is incomplete: the length it needs
	}{
		{name: "empty", in: nil, need: 2},
		{name: "one byte", in: []byte{0x81}, need: 2},
		{name: "short text", in: serverFrame(0x81, []byte("hi")), fin: true, op: opText, payload: []byte("hi")},
		{name: "empty text", in: serverFrame(0x81, nil), fin: true, op: opText, payload: []byte{}},
		{name: "payload incomplete", in: serverFrame(0x81, []byte("hello"))[:4], need: 7},
		{name: "16-bit length", in: serverFrame(0x81, long), fin: true, op: opText, payload: long},
		{name: "16-bit length incomplete", in: serverFrame(0x81, long)[:3], need: 4},
		{name: "16-bit payload incomplete", in: serverFrame(0x81, long)[:100], need: 304},
		{name: "64-bit length", in: serverFrame(0x82, huge), limit: len(huge), fin: true, op: opBinary, payload: huge},
		{name: "64-bit length incomplete", in: serverFrame(0x82, huge)[:9], limit: len(huge), need: 10},
		{name: "fragment", in: serverFrame(0x01, []byte("a")), op: opText, payload: []byte("a")},
		{name: "continuation", in: serverFrame(0x80, []byte("b")), fin: true, op: opContinuation, payload: []byte("b")},
		{name: "ping", in: serverFrame(0x89, []byte("p")), fin: true, op: opPing, payload: []byte("p")},
		{name: "control of 125 bytes", in: serverFrame(0x8A, long[:125]), fin: true, op: opPong, payload: long[:125]},
		{name: "close", in: serverFrame(0x88, []byte{3, 0xE8}), fin: true, op: opClose, payload: []byte{3, 0xE8}},
		{name: "masked (5.1)", in: []byte{0x81, 0x82, 1, 2, 3, 4, 'h', 'i'}, err: errMaskedFrame},
		{name: "RSV1 (5.2)", in: serverFrame(0xC1, []byte("x")), err: errReservedBits},
		{name: "RSV3 (5.2)", in: serverFrame(0x91, []byte("x")), err: errReservedBits},
		{name: "opcode 0x3 (5.2)", in: serverFrame(0x83, nil), err: errReservedOpcode},
		{name: "opcode 0xB (5.2)", in: serverFrame(0x8B, nil), err: errReservedOpcode},
		{name: "16-bit length not minimal (5.2)", in: []byte{0x81, 126, 0, 5, 'a', 'b', 'c', 'd', 'e'}, err: errNonMinimalLength},
		{name: "64-bit length not minimal (5.2)", in: binary.BigEndian.AppendUint64([]byte{0x81, 127}, 300), err: errNonMinimalLength},
		{name: "64-bit length top bit (5.2)", in: binary.BigEndian.AppendUint64([]byte{0x81, 127}, 1<<63), err: errLengthOverflow},
		{name: "ping of 126 bytes (5.5)", in: serverFrame(0x89, long[:126]), err: errControlTooLong},
		{name: "fragmented ping (5.5)", in: serverFrame(0x09, nil), err: errControlFragmented},
		{name: "over the limit, judged by the header", in: serverFrame(0x81, long)[:4], limit: 299, err: errFrameTooLarge},
		{name: "1 TiB declared", in: binary.BigEndian.AppendUint64([]byte{0x81, 127}, 1<<40), err: errFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limit := tc.limit
			if limit == 0 {
				limit = 1 << 10
			}
			f, n, need, err := parseFrame(tc.in, limit, false)
			switch {
			case !errors.Is(err, tc.err):
				t.Fatalf("error %v, want %v", err, tc.err)
			case tc.err != nil:
				return
			case tc.need != 0:
				if n != 0 || need != tc.need {
					t.Fatalf("n %d, need %d; want 0, %d", n, need, tc.need)
				}
				return
			}
			if n != len(tc.in) || f.fin != tc.fin || f.op != tc.op || !bytes.Equal(f.payload, tc.payload) {
				t.Errorf("n %d of %d, fin %v op %#x payload %d bytes; want fin %v op %#x %d bytes", n, len(tc.in), f.fin, f.op, len(f.payload), tc.fin, tc.op, len(tc.payload))
			}
		})
	}
}

// frameStream is frames as a server would send them, with wsproto's
// encoder (an implementation apart from the reader's): events of a few
// sizes, one over the reader's initial buffer, and control frames.
func frameStream() ([]byte, []rawFrame) {
	var b []byte
	var want []rawFrame
	add := func(op wsproto.Opcode, p []byte) {
		b = wsproto.AppendFrame(b, op, p)
		want = append(want, rawFrame{fin: true, op: byte(op), payload: p})
	}
	for i := range 40 {
		add(wsproto.OpText, bytes.Repeat([]byte{'a' + byte(i%26)}, 1+i*37))
		if i%10 == 0 {
			add(wsproto.OpPing, []byte("ping"))
		}
	}
	add(wsproto.OpText, bytes.Repeat([]byte{'z'}, 3*rawBufferSize))
	add(wsproto.OpText, []byte("last"))
	return b, want
}

// TestRawReader reads the same stream of frames from a socket that
// delivers it at once, a byte at a time and in odd pieces.
func TestRawReader(t *testing.T) {
	stream, want := frameStream()
	for _, tc := range []struct {
		name string
		src  func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(stream) }},
		{"one byte per read", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) }},
		{"half of what fits per read", func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRawReader(1 << 20)
			src := tc.src()
			for i, w := range want {
				f, err := r.next(src)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if f.fin != w.fin || f.op != w.op || !bytes.Equal(f.payload, w.payload) {
					t.Fatalf("frame %d: op %#x, %d bytes; want op %#x, %d bytes", i, f.op, len(f.payload), w.op, len(w.payload))
				}
			}
			if _, err := r.next(src); err != io.EOF {
				t.Errorf("after the last frame: %v, want EOF", err)
			}
			if len(r.buf) > 4*rawBufferSize {
				t.Errorf("the buffer grew to %d bytes for a frame of %d", len(r.buf), 3*rawBufferSize+4)
			}
		})
	}
}

// loopReader delivers b over and over, as much as the caller asks for.
type loopReader struct {
	b []byte
	i int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], l.b[l.i:])
		n += m
		l.i = (l.i + m) % len(l.b)
	}
	return n, nil
}

// TestRawReaderAllocs checks that reading frames allocates nothing once
// the buffer has the size of the largest frame.
func TestRawReaderAllocs(t *testing.T) {
	event := []byte(`{"type":"message","id":123456,"room":"loadtest-0","from":"lt-3","text":"lt 0a1b2c3d 3 99 1700000000000000000 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","time":"2024-01-01T00:00:00.000Z"}`)
	src := &loopReader{b: wsproto.AppendFrame(nil, wsproto.OpText, event)}
	r := newRawReader(1 << 20)
	if n := testing.AllocsPerRun(1000, func() {
		if f, err := r.next(src); err != nil || len(f.payload) != len(event) {
			t.Fatalf("%d bytes, %v", len(f.payload), err)
		}
	}); n != 0 {
		t.Errorf("the raw reader allocates %v times per frame", n)
	}
}

// FuzzRawFrames checks the raw client's frame parser on any input: it
// never panics, reads nothing past a frame, accepts only frames in their
// one valid encoding (re-encoding a parsed frame gives back its bytes),
// and reading the input through rawReader a byte at a time gives the same
// frames and the same verdict as parsing it whole.
func FuzzRawFrames(f *testing.F) {
	stream, _ := frameStream()
	f.Add(stream[:600])
	f.Add(serverFrame(0x01, []byte("frag")))
	f.Add(append(serverFrame(0x88, []byte{3, 0xE8}), serverFrame(0x81, []byte("after"))...))
	f.Add([]byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'})
	const limit = 4096
	f.Fuzz(func(t *testing.T, b []byte) {
		var whole []rawFrame
		var verdict error
		for rest := b; ; {
			fr, n, need, err := parseFrame(rest, limit, false)
			if err != nil {
				verdict = err
				break
			}
			if n == 0 {
				if need <= len(rest) {
					t.Fatalf("incomplete frame needs %d bytes of %d", need, len(rest))
				}
				verdict = io.EOF
				break
			}
			if n > len(rest) || len(fr.payload) > limit || (isControl(fr.op) && len(fr.payload) > 125) {
				t.Fatalf("frame of %d bytes (payload %d) from %d", n, len(fr.payload), len(rest))
			}
			b0 := fr.op
			if fr.fin {
				b0 |= 0x80
			}
			if enc := serverFrame(b0, fr.payload); !bytes.Equal(enc, rest[:n]) {
				t.Fatalf("frame % x re-encodes as % x", rest[:n], enc)
			}
			whole = append(whole, rawFrame{fin: fr.fin, op: fr.op, payload: bytes.Clone(fr.payload)})
			rest = rest[n:]
		}
		r := newRawReader(limit)
		src := iotest.OneByteReader(bytes.NewReader(b))
		for i := 0; ; i++ {
			fr, err := r.next(src)
			if err != nil {
				if i != len(whole) || err != verdict {
					t.Fatalf("reader: %v after %d frames; whole: %v after %d", err, i, verdict, len(whole))
				}
				break
			}
			if i >= len(whole) || fr.op != whole[i].op || fr.fin != whole[i].fin || !bytes.Equal(fr.payload, whole[i].payload) {
				t.Fatalf("reader's frame %d differs", i)
			}
		}
	})
}

// fuzzConn is a connection whose peer sent b and then closed; what the
// client writes is kept.
type fuzzConn struct {
	net.Conn // nil: only the methods below are used
	r        *bytes.Reader
	written  bytes.Buffer
	closed   bool
}

func (c *fuzzConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *fuzzConn) Write(p []byte) (int, error) { return c.written.Write(p) }
func (c *fuzzConn) Close() error                { c.closed = true; return nil }

// FuzzRawConn feeds the raw client any bytes after its handshake: it never
// panics, hands over only whole messages within its limit and text that
// is UTF-8, and ends with the connection closed and, if it sent a close
// frame, exactly one, last.
func FuzzRawConn(f *testing.F) {
	stream, _ := frameStream()
	f.Add(stream[:900])
	f.Add(append(append(serverFrame(0x01, []byte("he")), serverFrame(0x89, []byte("p"))...), serverFrame(0x80, []byte("llo"))...))
	f.Add(serverFrame(0x88, []byte{0x03, 0xE9, 'b', 'y', 'e'}))
	f.Add(serverFrame(0x81, []byte{0xE2, 0x82, 0xAC}))
	const limit = 512
	f.Fuzz(func(t *testing.T, b []byte) {
		nc := &fuzzConn{r: bytes.NewReader(b)}
		c := &rawConn{nc: nc, rd: newRawReader(limit)}
		for {
			m, err := c.readMessage()
			if err != nil {
				break
			}
			if len(m) > limit {
				t.Fatalf("a message of %d bytes, over the limit of %d", len(m), limit)
			}
		}
		if !nc.closed {
			t.Fatalf("the connection was not closed")
		}
		out := bufio.NewReader(&nc.written)
		closes := 0
		for out.Buffered() > 0 || nc.written.Len() > 0 {
			fr := readClientFrame(t, out)
			if !fr.masked {
				t.Fatalf("an unmasked frame %#x", fr.b0)
			}
			if closes > 0 {
				t.Fatalf("a frame %#x after the close", fr.b0)
			}
			if fr.b0 == 0x88 {
				closes++
			}
		}
	})
}
