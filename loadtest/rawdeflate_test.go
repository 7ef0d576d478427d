package loadtest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// deflateMsg compresses p as one message of RFC 7692 7.2.1.
func deflateMsg(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// dialDeflate connects the raw client to addr offering permessage-deflate.
func dialDeflate(t *testing.T, addr string, limit int) (*rawConn, error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	u := &url.URL{Scheme: "ws", Host: addr, Path: "/ws"}
	return dialRaw(nc, u, "http://"+addr, limit, true)
}

// answering is switching with a Sec-WebSocket-Extensions answer.
func answering(ext string) func(req *http.Request) string {
	return func(req *http.Request) string {
		return strings.TrimSuffix(switching(req), "\r\n") + "Sec-WebSocket-Extensions: " + ext + "\r\n\r\n"
	}
}

// The raw client's side of RFC 7692's negotiation: what it offers, and
// which answers it takes.
func TestRawDeflateHandshake(t *testing.T) {
	for _, tc := range []struct {
		name     string
		response func(req *http.Request) string
		want     bool   // compression in use
		msg      string // in the error; "" for none
	}{
		{"taken", answering("permessage-deflate; server_no_context_takeover; client_no_context_takeover"), true, ""},
		{"taken, server window named", answering("permessage-deflate; server_no_context_takeover; server_max_window_bits=10"), true, ""},
		{"declined", switching, false, ""},
		{"without server_no_context_takeover", answering("permessage-deflate"), false, "not offered"},
		{"an unknown parameter", answering("permessage-deflate; server_no_context_takeover; x=1"), false, "not offered"},
		{"a repeated parameter", answering("permessage-deflate; server_no_context_takeover; server_no_context_takeover"), false, "not offered"},
		{"another extension", answering("x-webkit-deflate-frame"), false, "not offered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			offer := make(chan string, 1)
			addr := wireServer(t, func(c net.Conn, br *bufio.Reader, req *http.Request) {
				offer <- req.Header.Get("Sec-WebSocket-Extensions")
				io.WriteString(c, tc.response(req))
				io.Copy(io.Discard, br)
			})
			c, err := dialDeflate(t, addr, 1000)
			if got := <-offer; got != deflateOffer {
				t.Errorf("offered %q, want %q", got, deflateOffer)
			}
			if tc.msg != "" {
				if !errors.Is(err, errRawHandshake) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("dialRaw: %v, want a bad handshake with %q", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.rd.deflate != tc.want {
				t.Fatalf("deflate %v, want %v", c.rd.deflate, tc.want)
			}
		})
	}
}

// TestRawDeflateMessages reads compressed messages, whole and in
// fragments, beside plain ones, and fails the connection with the code
// RFC 7692 and 6455 name for the rest.
func TestRawDeflateMessages(t *testing.T) {
	text := Prose(700)
	z := deflateMsg(text)
	for _, tc := range []struct {
		name  string
		send  []byte
		want  []string // messages read before the end
		err   error    // how reading ends; nil: a close from the server
		close []byte   // the client's close frame
	}{
		{"compressed, plain, compressed in fragments",
			bytes.Join([][]byte{serverFrame(0xC1, z), serverFrame(0x81, []byte("plain")), serverFrame(0x41, z[:5]), serverFrame(0x80, z[5:]), serverFrame(0x88, []byte{0x03, 0xE8})}, nil),
			[]string{string(text), "plain", string(text)}, nil, []byte{0x03, 0xE8}},
		{"RSV1 on a continuation (RFC 7692 6.1)", append(serverFrame(0x41, z[:5]), serverFrame(0xC0, z[5:])...), nil, errCompressedControl, []byte{0x03, 0xEA}},
		{"RSV1 on a ping (RFC 7692 6.1)", serverFrame(0xC9, nil), nil, errCompressedControl, []byte{0x03, 0xEA}},
		{"RSV2", serverFrame(0xA1, []byte("x")), nil, errReservedBits, []byte{0x03, 0xEA}},
		{"not DEFLATE data", serverFrame(0xC1, []byte{0xff, 0xff, 0xff}), nil, errRawCorrupt, []byte{0x03, 0xEF}},
		{"inflates past the limit", serverFrame(0xC1, deflateMsg(make([]byte, 5000))), nil, errFrameTooLarge, []byte{0x03, 0xF1}},
		{"invalid UTF-8 once inflated", serverFrame(0xC1, deflateMsg([]byte("a\xffb"))), nil, errRawInvalidUTF8, []byte{0x03, 0xEF}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			closed := make(chan clientFrame, 1)
			addr := wireServer(t, func(c net.Conn, br *bufio.Reader, req *http.Request) {
				io.WriteString(c, answering(deflateOffer)(req))
				c.Write(tc.send)
				closed <- readClientFrame(t, br)
				io.Copy(io.Discard, br)
			})
			c, err := dialDeflate(t, addr, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				m, err := c.readMessage()
				if err != nil || string(m) != w {
					t.Fatalf("message %d: %.30q (%v), want %.30q", i, m, err, w)
				}
			}
			_, err = c.readMessage()
			var ce *rawCloseError
			if tc.err != nil && !errors.Is(err, tc.err) || tc.err == nil && !errors.As(err, &ce) {
				t.Fatalf("readMessage: %v, want %v", err, tc.err)
			}
			if f := <-closed; f.b0 != 0x88 || !bytes.Equal(f.payload, tc.close) {
				t.Errorf("the client sent %#x % x, want a close % x", f.b0, f.payload, tc.close)
			}
		})
	}
}

// Prose compresses about as English does, and needs no JSON escape.
func TestProse(t *testing.T) {
	p := Prose(2048)
	if len(p) != 2048 {
		t.Fatalf("%d bytes", len(p))
	}
	if z := len(deflateMsg(p)); z < 700 || z > 1300 {
		t.Errorf("2 KiB of prose deflate to %d bytes; English does to about half", z)
	}
	for _, c := range p {
		if c < ' ' || c > '~' || c == '"' || c == '\\' {
			t.Fatalf("byte %q would need a JSON escape", c)
		}
	}
	pl := newPayload(2048, "0a1b2c3d", 7)
	pl.prose()
	a := string(pl.text(1, 123456789))
	b := string(pl.text(123456789, 1))
	if a[100:] != string(p[100:]) || b[100:] != string(p[100:]) {
		t.Error("the padding is not the prose")
	}
	if s, ours, ok := parseText([]byte(b), "0a1b2c3d"); !ours || !ok || s.seq != 123456789 {
		t.Errorf("parseText = %+v %v %v", s, ours, ok)
	}
}
