package wsproto_test

// Tests of permessage-deflate (RFC 7692): reading compressed messages by
// both reader kinds (their cases join TestReadRules and TestReadValid),
// the handshake's negotiation through Accept and Dial, writing, the
// inflation limit, and fuzz targets. Compressed test frames are made with
// compress/flate directly, not with the package's own compressor.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"ringchat/wsproto"
)

// proseWords are common English words, from which proseOf makes text
// for compressed payloads: repeated letters, or one paragraph repeated,
// would flatter the ratio.
var proseWords = strings.Fields(`the of and to in a is that for it as was with be by on not he I this are or his from at which but
have an they you were her she there one all we their been has when who will more no if out so said what up its about into
than them can only other new some time could these two may then do first any my now such like our over man me even most made
after also did many before must through back years where much your way well down should because each just those people how
too little state good very make world still own see men work long get here between both life being under never day same another
know while last might us great old year off come since against go came right used take three sea harbour boat fog morning
night mother brother letter station road river house window door table bread coffee rain wind winter summer garden town street`)

// proseOf returns n bytes of text: words from proseWords in an order
// drawn from a fixed seed, with commas and full stops, as chat prose.
func proseOf(n int) string {
	var b strings.Builder
	x := uint32(2463534242)
	for b.Len() < n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteString(proseWords[x%uint32(len(proseWords))])
		switch x >> 28 {
		case 0:
			b.WriteString(". ")
		case 1:
			b.WriteString(", ")
		default:
			b.WriteByte(' ')
		}
	}
	return b.String()[:n]
}

// deflate compresses p as one message of RFC 7692 7.2.1: DEFLATE,
// sync-flushed, without the trailing 0x00 0x00 0xff 0xff.
func deflate(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	w.Write(p)
	w.Flush()
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		panic(fmt.Sprintf("a sync flush ended with %x", out[max(0, len(out)-4):]))
	}
	return out[:len(out)-4]
}

// deflateFinal compresses p ending with a final block (BFINAL set), which
// RFC 7692 7.2.3.4 also allows.
func deflateFinal(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	w.Close()
	return b.Bytes()
}

// inflateRef decompresses a message of RFC 7692 the plain way.
func inflateRef(z []byte) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(z), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	return io.ReadAll(r)
}

// zframe encodes a frame with RSV1 set: the first frame of a compressed
// message.
func (m frameMaker) zframe(fin bool, op wsproto.Opcode, z []byte) []byte {
	return encodeFrame(wireFrame{Fin: fin, Rsv: 4, Op: op, Masked: m.mask, Key: testKey, Payload: z})
}

// zmsg encodes payload compressed, in one frame.
func (m frameMaker) zmsg(op wsproto.Opcode, payload string) []byte {
	return m.zframe(true, op, deflate([]byte(payload)))
}

// compressedRuleCases are the rules of RFC 7692 a peer can break, and the
// limits on what a compressed message inflates to.
func compressedRuleCases() []ruleCase {
	z := func(p string) []byte { return deflate([]byte(p)) }
	zeros := deflate(make([]byte, 16<<20)) // 16 MiB of zeros in about 16 KiB
	return []ruleCase{
		{
			name:     "RFC 7692 6 RSV1 without the extension negotiated",
			send:     func(m frameMaker) [][]byte { return [][]byte{m.zframe(true, wsproto.OpText, z("hello"))} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrReservedBits,
		},
		{
			name:     "RFC 7692 6 RSV2 with the extension",
			deflate:  true,
			send:     func(m frameMaker) [][]byte { return [][]byte{m.header(0xA1, 0)} },
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrReservedBits,
		},
		{
			name:    "RFC 7692 6.1 RSV1 on a continuation frame",
			deflate: true,
			send: func(m frameMaker) [][]byte {
				zz := z("hello there")
				return [][]byte{m.zframe(false, wsproto.OpText, zz[:3]), m.zframe(true, wsproto.OpContinuation, zz[3:])}
			},
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrCompressedContinuation,
		},
		{
			name:    "RFC 7692 6.1 RSV1 on a ping",
			deflate: true,
			send: func(m frameMaker) [][]byte {
				return [][]byte{encodeFrame(wireFrame{Fin: true, Rsv: 4, Op: wsproto.OpPing, Masked: m.mask, Key: testKey})}
			},
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrCompressedControl,
		},
		{
			name:    "RFC 7692 6.1 RSV1 on a close frame",
			deflate: true,
			send: func(m frameMaker) [][]byte {
				return [][]byte{encodeFrame(wireFrame{Fin: true, Rsv: 4, Op: wsproto.OpClose, Masked: m.mask, Key: testKey, Payload: closePayload(1000, "")})}
			},
			wantCode: wsproto.CloseProtocolError, wantErr: wsproto.ErrCompressedControl,
		},
		{
			name:    "RFC 7692 7.2.2 not DEFLATE data",
			deflate: true,
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.zframe(true, wsproto.OpBinary, []byte{0xff, 0xff, 0xff, 0xff})}
			},
			wantCode: wsproto.CloseInvalidPayload, wantErr: wsproto.ErrCorruptCompressed,
		},
		{
			name:    "RFC 7692 7.2.2 DEFLATE data cut short",
			deflate: true,
			send: func(m frameMaker) [][]byte {
				zz := deflateFinal([]byte(proseOf(2000)))
				return [][]byte{m.zframe(true, wsproto.OpText, zz[:len(zz)/2])}
			},
			wantCode: wsproto.CloseInvalidPayload, wantErr: wsproto.ErrCorruptCompressed,
		},
		{
			name:     "8.1 invalid UTF-8 once inflated",
			deflate:  true,
			send:     func(m frameMaker) [][]byte { return [][]byte{m.zframe(true, wsproto.OpText, z("bad \xff byte"))} },
			wantCode: wsproto.CloseInvalidPayload, wantErr: wsproto.ErrInvalidUTF8,
		},
		{
			name:    "8.1 fragmented compressed text ending in the middle of a code point",
			deflate: true,
			send: func(m frameMaker) [][]byte {
				zz := z("euro \xe2\x82")
				return [][]byte{m.zframe(false, wsproto.OpText, zz[:2]), m.frame(true, wsproto.OpContinuation, zz[2:])}
			},
			wantCode: wsproto.CloseInvalidPayload, wantErr: wsproto.ErrInvalidUTF8,
		},
		{
			name:    "10.4 inflates past MaxMessageSize",
			deflate: true,
			opts:    wsproto.ConnOptions{MaxMessageSize: 1000},
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.zframe(true, wsproto.OpBinary, z(proseOf(1001)))}
			},
			wantCode: wsproto.CloseMessageTooBig, wantErr: wsproto.ErrMessageTooBig,
		},
		{
			name:    "10.4 16 MiB of zeros in 16 KiB, the default limit",
			deflate: true,
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.zframe(true, wsproto.OpBinary, zeros)}
			},
			wantCode: wsproto.CloseMessageTooBig, wantErr: wsproto.ErrMessageTooBig,
		},
		{
			name:    "10.4 compressed size on the wire past MaxMessageSize",
			deflate: true,
			opts:    wsproto.ConnOptions{MaxMessageSize: 100},
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.zframe(true, wsproto.OpBinary, make([]byte, 101))}
			},
			wantCode: wsproto.CloseMessageTooBig, wantErr: wsproto.ErrMessageTooBig,
		},
	}
}

// compressedValidCases are compressed streams a Conn with the extension
// must read (RFC 7692 7.2.2).
func compressedValidCases() []validCase {
	text := proseOf(3000)
	z := deflate([]byte(text))
	return []validCase{
		{
			name:    "RFC 7692 compressed text and binary, beside plain messages",
			deflate: true,
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.zmsg(wsproto.OpText, text), m.msg(wsproto.OpText, "plain"), m.zmsg(wsproto.OpBinary, "\x00\xff\x80 binary")}
			},
			want: []wantMsg{{wsproto.OpText, text}, {wsproto.OpText, "plain"}, {wsproto.OpBinary, "\x00\xff\x80 binary"}},
		},
		{
			name:    "RFC 7692 6.1 compressed message in fragments, RSV1 on the first, a ping between",
			deflate: true,
			send: func(m frameMaker) [][]byte {
				return [][]byte{
					m.zframe(false, wsproto.OpText, z[:10]),
					m.frame(true, wsproto.OpPing, []byte("p")),
					m.frame(false, wsproto.OpContinuation, z[10:20]),
					m.frame(true, wsproto.OpContinuation, z[20:]),
				}
			},
			want:      []wantMsg{{wsproto.OpText, text}},
			wantPongs: []string{"p"},
		},
		{
			name:    "RFC 7692 7.2.3.6 an empty message compressed",
			deflate: true,
			send: func(m frameMaker) [][]byte {
				// A stored block and a fixed-Huffman block, both empty.
				return [][]byte{m.zframe(true, wsproto.OpText, []byte{0x00}), m.zframe(true, wsproto.OpText, []byte{0x02, 0x00})}
			},
			want: []wantMsg{{wsproto.OpText, ""}, {wsproto.OpText, ""}},
		},
		{
			name:    "RFC 7692 7.2.3.4 a message ending with a final block",
			deflate: true,
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.zframe(true, wsproto.OpText, deflateFinal([]byte("final block")))}
			},
			want: []wantMsg{{wsproto.OpText, "final block"}},
		},
		{
			name:    "RFC 7692 7.2.3.2 the same message twice, each standing alone",
			deflate: true,
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.zmsg(wsproto.OpText, "Hello"), m.zmsg(wsproto.OpText, "Hello")}
			},
			want: []wantMsg{{wsproto.OpText, "Hello"}, {wsproto.OpText, "Hello"}},
		},
		{
			name:    "10.4 inflated to exactly MaxMessageSize",
			deflate: true,
			opts:    wsproto.ConnOptions{MaxMessageSize: 5000},
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.zmsg(wsproto.OpText, proseOf(5000))}
			},
			want: []wantMsg{{wsproto.OpText, proseOf(5000)}},
		},
		{
			name:    "10.4 no limit: 8 MiB from a small frame",
			deflate: true,
			opts:    wsproto.ConnOptions{MaxMessageSize: -1},
			send: func(m frameMaker) [][]byte {
				return [][]byte{m.zmsg(wsproto.OpBinary, string(make([]byte, 8<<20)))}
			},
			want: []wantMsg{{wsproto.OpBinary, string(make([]byte, 8<<20))}},
		},
	}
}

// TestInflateBombCostsLittle checks that a small frame declaring nothing
// unusual but inflating to 1 GiB is refused with 1009 having done work and
// allocation bounded by the read limit, not by what it would inflate to.
func TestInflateBombCostsLittle(t *testing.T) {
	// 256 MiB of zeros deflate to about 256 KiB.
	z := deflate(make([]byte, 256<<20))
	for _, rk := range readerKinds {
		t.Run(rk.name, func(t *testing.T) {
			c, peer := newPair(t, true, &wsproto.ConnOptions{MaxMessageSize: 64 << 10})
			wsproto.EnableCompressionForTest(c)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			r := rk.start(t, c)
			go peer.conn.Write(peer.mk.zframe(true, wsproto.OpBinary, z))
			peer.expectClose(wsproto.CloseMessageTooBig)
			peer.expectEOF()
			peer.conn.Close()
			err := r.failure()
			el := time.Since(start)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, wsproto.ErrMessageTooBig) {
				t.Fatalf("err = %v, want ErrMessageTooBig", err)
			}
			// The wire bytes (256 KiB) are read whole; the inflated side must stay near the limit.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
				t.Errorf("allocated %d bytes refusing a message that inflates to 256 MiB", grew)
			}
			t.Logf("refused in %v", el)
		})
	}
}

// FuzzInflate inflates arbitrary bytes with a limit: never a panic, never
// more than the limit, and the same bytes as compress/flate gives when
// the data is valid and fits.
func FuzzInflate(f *testing.F) {
	f.Add([]byte("hello"), uint16(100))
	f.Add(deflate([]byte(proseOf(1000))), uint16(2000))
	f.Add(deflate([]byte(proseOf(1000))), uint16(999))
	f.Add(deflate(make([]byte, 100000)), uint16(65535))
	f.Add(deflateFinal([]byte("final")), uint16(0))
	f.Add([]byte{0x00}, uint16(1))
	f.Add([]byte{}, uint16(1))
	f.Fuzz(func(t *testing.T, z []byte, limit uint16) {
		got, err := wsproto.Inflate(nil, slices.Clone(z), int64(limit))
		if limit > 0 && len(got) > int(limit)+1 {
			t.Fatalf("inflated %d bytes with a limit of %d", len(got), limit)
		}
		want, refErr := inflateRef(z)
		switch {
		case refErr != nil:
			if err == nil {
				// The reference reads on after a final block, where inflate stops.
				if _, again := inflateRef(append(slices.Clone(z), 0)); again == nil {
					t.Fatalf("inflate took %x, which compress/flate refuses: %v", z, refErr)
				}
			}
		case limit > 0 && len(want) > int(limit):
			if !errors.Is(err, wsproto.ErrMessageTooBig) {
				t.Fatalf("%d bytes inflated past a limit of %d: err %v, want ErrMessageTooBig", len(want), limit, err)
			}
		case err != nil:
			t.Fatalf("inflate refused %x (%v); compress/flate gives %d bytes", z, err, len(want))
		case !bytes.Equal(got, want):
			t.Fatalf("inflated %q, compress/flate %q", got, want)
		}
		if err != nil && !errors.Is(err, wsproto.ErrMessageTooBig) && !errors.Is(err, wsproto.ErrCorruptCompressed) {
			t.Fatalf("err = %v", err)
		}
	})
}

// FuzzFeedCompressed is a differential check of the two readers on a
// connection with permessage-deflate: ReadMessage and Feed, given the same
// bytes from the peer, read the same messages and end with the same error
// and close frame.
func FuzzFeedCompressed(f *testing.F) {
	client := frameMaker{mask: true}
	cfg := func(chunk, bits byte) []byte { return []byte{chunk, bits} }
	f.Add(slices.Concat(cfg(255, 0), client.zmsg(wsproto.OpText, proseOf(500)), client.msg(wsproto.OpText, "plain")))
	f.Add(slices.Concat(cfg(3, 4), client.zmsg(wsproto.OpText, proseOf(500))))
	f.Add(slices.Concat(cfg(7, 0), client.zframe(false, wsproto.OpBinary, []byte{0x4a}), client.frame(true, wsproto.OpContinuation, []byte{0x04, 0x00})))
	f.Add(slices.Concat(cfg(255, 0), client.zframe(true, wsproto.OpText, []byte{0xff, 0x00})))
	f.Add(slices.Concat(cfg(255, 4), client.zmsg(wsproto.OpBinary, string(make([]byte, 5000)))))
	f.Add(slices.Concat(cfg(1, 1), frameMaker{}.zmsg(wsproto.OpText, "from a server \xff")))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		conf := parseFuzzConfig(data[0], data[1])
		in := data[2:]
		opts := &wsproto.ConnOptions{MaxMessageSize: conf.limit, ReadBufferSize: conf.readBuf, CloseTimeout: time.Second}

		rnc := &memConn{in: slices.Clone(in), chunk: conf.chunk}
		rc := wsproto.NewConnForTest(rnc, conf.server, nil, opts)
		wsproto.EnableCompressionForTest(rc)
		var rmsgs []readResult
		var rerr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				op, p, err := rc.ReadMessage(nil)
				if err != nil {
					rerr = err
					return
				}
				rmsgs = append(rmsgs, readResult{op: op, p: p})
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("ReadMessage hung on this input")
		}

		fnc := &memConn{chunk: 1}
		fc := wsproto.NewConnForTest(fnc, conf.server, nil, opts)
		wsproto.EnableCompressionForTest(fc)
		var fmsgs []readResult
		onMessage := func(op wsproto.Opcode, p []byte) error {
			fmsgs = append(fmsgs, readResult{op: op, p: slices.Clone(p)})
			return nil
		}
		rest := slices.Clone(in)
		var ferr error
		for ferr == nil && len(rest) > 0 {
			n := min(len(rest), conf.chunk)
			ferr = fc.Feed(rest[:n], onMessage)
			rest = rest[n:]
		}
		if ferr == nil {
			ferr = fc.FeedEnd(io.EOF)
		}

		if len(rmsgs) != len(fmsgs) {
			t.Fatalf("ReadMessage read %d messages (%v), Feed %d (%v)", len(rmsgs), rerr, len(fmsgs), ferr)
		}
		for i := range rmsgs {
			if rmsgs[i].op != fmsgs[i].op || !bytes.Equal(rmsgs[i].p, fmsgs[i].p) {
				t.Fatalf("message %d: ReadMessage %v %q, Feed %v %q", i, rmsgs[i].op, rmsgs[i].p, fmsgs[i].op, fmsgs[i].p)
			}
		}
		if wsproto.CloseStatus(rerr) != wsproto.CloseStatus(ferr) {
			t.Fatalf("ReadMessage ended with %v, Feed with %v", rerr, ferr)
		}
		var rpe, fpe *wsproto.ProtocolError
		if errors.As(rerr, &rpe) != errors.As(ferr, &fpe) || rpe != fpe {
			t.Fatalf("ReadMessage ended with %v, Feed with %v", rerr, ferr)
		}
		// A client masks with fresh keys: only a server's bytes compare.
		if conf.server && !bytes.Equal(rnc.out.Bytes(), fnc.out.Bytes()) {
			t.Fatalf("ReadMessage's Conn wrote %q, Feed's %q", rnc.out.Bytes(), fnc.out.Bytes())
		}
	})
}

// TestNegotiation runs the handshake of RFC 7692 7 through Accept against
// raw requests: what the server answers for each offer, and whether the
// connection then uses compression.
func TestNegotiation(t *testing.T) {
	const taken = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	tests := []struct {
		name     string
		server   bool     // Accept with Compression
		offers   []string // Sec-WebSocket-Extensions headers
		want     string   // the answer; "" for none
		wantUsed bool
	}{
		{"no offer", true, nil, "", false},
		{"server without compression", false, []string{"permessage-deflate"}, "", false},
		{"Chromium's offer", true, []string{"permessage-deflate; client_max_window_bits"}, taken, true},
		{"quoted window bits", true, []string{`permessage-deflate; client_max_window_bits="10"`}, taken, true},
		{"quoted server window of 15", true, []string{`permessage-deflate; server_max_window_bits="15"`}, taken + "; server_max_window_bits=15", true},
		{"smaller server window declined, next offer taken", true, []string{"permessage-deflate; server_max_window_bits=9", "permessage-deflate"}, taken, true},
		{"several offers in one header", true, []string{"x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover"}, taken, true},
		{"unknown parameter refused", true, []string{"permessage-deflate; x=1"}, "", false},
		{"repeated parameter refused", true, []string{"permessage-deflate; client_max_window_bits; client_max_window_bits"}, "", false},
		{"quoted value that is not a token refused", true, []string{`permessage-deflate; client_max_window_bits="1 0"`}, "", false},
		{"malformed header: no extension", true, []string{"permessage-deflate;;"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used := make(chan bool, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := wsproto.Accept(w, r, &wsproto.AcceptOptions{Compression: tt.server})
				if err != nil {
					used <- false
					return
				}
				used <- c.Compression()
				c.CloseNow()
			}))
			defer srv.Close()
			nc, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			for _, o := range tt.offers {
				req += "Sec-WebSocket-Extensions: " + o + "\r\n"
			}
			nc.Write([]byte(req + "\r\n"))
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", "); got != tt.want {
				t.Errorf("answer %q, want %q", got, tt.want)
			}
			if u := <-used; u != tt.wantUsed {
				t.Errorf("Compression() = %v, want %v", u, tt.wantUsed)
			}
		})
	}
}

// TestDialNegotiation checks the client's side: Dial with Compression
// against a server with and without it, and against servers whose answer
// breaks RFC 7692 (the handshake then fails).
func TestDialNegotiation(t *testing.T) {
	tests := []struct {
		name     string
		answer   string // what the server answers; "accept" runs Accept with Compression, "plain" without
		wantUsed bool
		wantErr  string
	}{
		{"server with compression", "accept", true, ""},
		{"server without", "plain", false, ""},
		{"answer without server_no_context_takeover", "permessage-deflate", false, "server_no_context_takeover"},
		{"answer with an unknown parameter", "permessage-deflate; server_no_context_takeover; x", false, "invalid"},
		{"answer naming another extension", "x-foo", false, "did not offer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch tt.answer {
				case "accept", "plain":
					c, err := wsproto.Accept(w, r, &wsproto.AcceptOptions{Compression: tt.answer == "accept"})
					if err == nil {
						c.CloseNow()
					}
					return
				}
				nc, brw, _ := http.NewResponseController(w).Hijack()
				defer nc.Close()
				fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: %s\r\n\r\n",
					wsproto.AcceptKey(r.Header.Get("Sec-WebSocket-Key")), tt.answer)
				brw.Flush()
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			c, _, err := wsproto.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &wsproto.DialOptions{Compression: true})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, wsproto.ErrBadHandshake) {
					t.Fatalf("Dial = %v, want a bad handshake naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if c.Compression() != tt.wantUsed {
				t.Fatalf("Compression() = %v, want %v", c.Compression(), tt.wantUsed)
			}
		})
	}
}

// TestCompressedEcho sends messages of several sizes both ways between a
// Dial client and an Accept server that both compress, and checks what is
// on the wire: RSV1 on messages at or over the threshold only, with
// payloads that inflate to the message.
func TestCompressedEcho(t *testing.T) {
	for _, server := range []bool{true, false} {
		t.Run(roleName(server), func(t *testing.T) {
			c, peer := newPair(t, server, &wsproto.ConnOptions{CompressionThreshold: 100})
			wsproto.EnableCompressionForTest(c)
			for _, n := range []int{0, 99, 100, 5000, 70000} {
				msg := proseOf(n)
				if err := c.WriteMessage(wsproto.OpText, []byte(msg)); err != nil {
					t.Fatal(err)
				}
				f := peer.next()
				if wantRsv := byte(0); n >= 100 {
					wantRsv = 4
					if f.Rsv != wantRsv {
						t.Fatalf("%d bytes: RSV %03b, want %03b", n, f.Rsv, wantRsv)
					}
					p, err := inflateRef(f.Payload)
					if err != nil || string(p) != msg {
						t.Fatalf("%d bytes: inflated to %d bytes (%v)", n, len(p), err)
					}
					if len(f.Payload) >= n {
						t.Errorf("%d bytes of prose compressed to %d", n, len(f.Payload))
					}
				} else if f.Rsv != 0 || string(f.Payload) != msg {
					t.Fatalf("%d bytes: RSV %03b, payload of %d bytes; want them plain", n, f.Rsv, len(f.Payload))
				}
			}
		})
	}
}

// TestDialAcceptCompressed runs a compressing client against a compressing
// server over a real handshake: messages both ways, through both writers.
func TestDialAcceptCompressed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsproto.Accept(w, r, &wsproto.AcceptOptions{Compression: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			op, p, err := c.ReadMessage(nil)
			if err != nil {
				return
			}
			// Echo once as a message, once as a prepared compressed frame.
			c.WriteMessage(op, p)
			c.WriteFrames([][]byte{wsproto.AppendCompressedFrame(nil, op, p)})
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	c, resp, err := wsproto.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &wsproto.DialOptions{Compression: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if !c.Compression() {
		t.Fatalf("not negotiated: answer %q", resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	for _, n := range []int{1, 300, 40000} {
		msg, _ := json.Marshal(map[string]string{"text": proseOf(n)})
		if err := c.WriteMessage(wsproto.OpText, msg); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			op, p, err := c.ReadMessage(nil)
			if err != nil || op != wsproto.OpText || !bytes.Equal(p, msg) {
				t.Fatalf("%d bytes: got %v %d bytes (%v)", n, op, len(p), err)
			}
		}
	}
	c.Close(wsproto.CloseNormal, "")
}

// BenchmarkCompress measures what compressing one chat event costs and
// saves, at the sizes that decide CompressionThreshold: run with
// -bench Compress -benchmem and read wire-B/op beside the payload size.
func BenchmarkCompress(b *testing.B) {
	for _, n := range []int{100, 256, 1024, 2048, 4096} {
		// A chat event as the server frames it: JSON around prose.
		event, _ := json.Marshal(map[string]any{"type": "message", "id": 123456, "room": "lobby", "from": "alice",
			"text": proseOf(max(0, n-110)), "time": "2026-12-03T18:50:59.123Z"})
		event = event[:min(len(event), n)]
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			var frame []byte
			for b.Loop() {
				frame = wsproto.AppendCompressedFrame(frame[:0], wsproto.OpText, event)
			}
			plain := len(wsproto.AppendFrame(nil, wsproto.OpText, event))
			b.ReportMetric(float64(plain), "plain-B/op")
			b.ReportMetric(float64(len(frame)), "wire-B/op")
		})
	}
}

// CompressFrame compresses the whole, final, unmasked text and binary
// frames AppendFrame makes, as AppendCompressedFrame does their payload,
// and leaves every other frame, and short payloads, alone.
func TestCompressFrame(t *testing.T) {
	long := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog. ", 20))
	text := wsproto.AppendFrame(nil, wsproto.OpText, long)
	masked := wsproto.AppendHeader(nil, wsproto.Header{Fin: true, Opcode: wsproto.OpText, Masked: true, Length: int64(len(long))})
	masked = append(masked, long...)
	fragment := wsproto.AppendHeader(nil, wsproto.Header{Opcode: wsproto.OpText, Length: int64(len(long))})
	fragment = append(fragment, long...)
	for _, tc := range []struct {
		name       string
		frame      []byte
		minPayload int
		ok         bool
	}{
		{"text", text, 256, true},
		{"binary", wsproto.AppendFrame(nil, wsproto.OpBinary, long), 0, true},
		{"shorter than the threshold", text, len(long) + 1, false},
		{"masked", masked, 0, false},
		{"not final", fragment, 0, false},
		{"compressed already", wsproto.AppendCompressedFrame(nil, wsproto.OpText, long), 0, false},
		{"ping", wsproto.AppendFrame(nil, wsproto.OpPing, []byte("p")), 0, false},
		{"cut short", text[:len(text)-1], 0, false},
		{"header cut short", text[:3], 0, false},
		{"empty", nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("x")
			got, ok := wsproto.CompressFrame(dst, tc.frame, tc.minPayload)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				if string(got) != "x" {
					t.Fatalf("dst changed to %q", got)
				}
				return
			}
			want := wsproto.AppendCompressedFrame([]byte("x"), wsproto.Opcode(tc.frame[0]&0xF), long)
			if !bytes.Equal(got, want) {
				t.Fatalf("got %x, want AppendCompressedFrame's %x", got, want)
			}
		})
	}
}
