package wsproto_test

// Tests of the opening handshake, RFC 6455 section 4: Accept against raw
// requests written by hand (4.2), Dial against real and raw servers (4.1).

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ringchat/wsproto"
)

// rfcKey and rfcAccept are the example of RFC 6455 section 1.3.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

func TestAcceptKey(t *testing.T) {
	if got := wsproto.AcceptKey(rfcKey); got != rfcAccept {
		t.Fatalf("AcceptKey(%q) = %q, want %q (RFC 6455 1.3)", rfcKey, got, rfcAccept)
	}
}

// acceptResult is what one call of Accept returned.
type acceptResult struct {
	c   *wsproto.Conn
	err error
}

// newAcceptServer starts an httptest server whose handler calls Accept with
// opts and reports each outcome on the returned channel. Accepted
// connections are closed when the test ends.
func newAcceptServer(t testing.TB, opts *wsproto.AcceptOptions) (*httptest.Server, chan acceptResult) {
	results := make(chan acceptResult, 16)
	var mu sync.Mutex
	var conns []*wsproto.Conn
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsproto.Accept(w, r, opts)
		if c != nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		results <- acceptResult{c, err}
	}))
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.CloseNow()
		}
	})
	return srv, results
}

// awaitAccept returns the outcome of the next Accept.
func awaitAccept(t testing.TB, results chan acceptResult) acceptResult {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(waitLong):
		t.Fatal("the handler never ran Accept")
	}
	panic("unreachable")
}

// rawRequest sends raw (a request written by hand, perhaps followed by
// frames) over a new connection to addr and reads the response. The
// connection is returned for the WebSocket traffic after a 101.
func rawRequest(t testing.TB, addr, raw string) (*http.Response, string, net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(waitLong))
	if _, err := io.WriteString(nc, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	var body string
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading the body: %v", err)
		}
		body = string(b)
	}
	return resp, body, nc, br
}

// handshake is a request under construction.
type handshake struct {
	method, target, proto string
	header                [][2]string // in order; repeated names allowed
}

func goodHandshake(host string) *handshake {
	return &handshake{
		method: "GET", target: "/ws", proto: "HTTP/1.1",
		header: [][2]string{
			{"Host", host},
			{"Upgrade", "websocket"},
			{"Connection", "Upgrade"},
			{"Sec-WebSocket-Key", rfcKey},
			{"Sec-WebSocket-Version", "13"},
		},
	}
}

// set replaces every value of name with values (none: deletes the header).
func (h *handshake) set(name string, values ...string) *handshake {
	h.header = slices.DeleteFunc(h.header, func(kv [2]string) bool { return strings.EqualFold(kv[0], name) })
	for _, v := range values {
		h.header = append(h.header, [2]string{name, v})
	}
	return h
}

func (h *handshake) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\n", h.method, h.target, h.proto)
	for _, kv := range h.header {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[0], kv[1])
	}
	b.WriteString("\r\n")
	return b.String()
}

// checkRefusal checks the form RFC 6455 4.2.1 and our doc give a refusal:
// the status, a text/plain body of one line, and a *HandshakeError from
// Accept with the same status.
func checkRefusal(t *testing.T, resp *http.Response, body string, res acceptResult, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	if strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") || len(strings.TrimSpace(body)) == 0 || strings.Contains(body, "\r") {
		t.Errorf("body %q is not one line", body)
	}
	var he *wsproto.HandshakeError
	if !errors.As(res.err, &he) || he.Status != status || !errors.Is(res.err, wsproto.ErrBadHandshake) {
		t.Errorf("Accept returned %v, want a *HandshakeError with status %d", res.err, status)
	}
	if he != nil && !strings.Contains(body, he.Reason) {
		t.Errorf("body %q does not say %q", body, he.Reason)
	}
	if res.c != nil {
		t.Error("Accept returned a Conn with its error")
	}
}

// TestAcceptRequest checks Accept's checks of the client's request (RFC 6455
// 4.2.1) and its answer to a good one (4.2.2).
func TestAcceptRequest(t *testing.T) {
	srv, results := newAcceptServer(t, nil)
	host := srv.Listener.Addr().String()
	key15 := base64.StdEncoding.EncodeToString(make([]byte, 15))
	key17 := base64.StdEncoding.EncodeToString(make([]byte, 17))
	key100 := base64.StdEncoding.EncodeToString(make([]byte, 100))
	cases := []struct {
		name   string
		req    *handshake
		status int
	}{
		{"4.2.2 good request", goodHandshake(host), 101},
		{"4.2.1 Connection as a list", goodHandshake(host).set("Connection", "keep-alive, Upgrade"), 101},
		{"4.2.1 Connection in two headers", goodHandshake(host).set("Connection", "keep-alive", "upgrade"), 101},
		{"4.2.1 tokens compared case-insensitively", goodHandshake(host).set("Connection", "UPGRADE").set("Upgrade", "WebSocket"), 101},
		{"4.2.1 Upgrade as a list", goodHandshake(host).set("Upgrade", "foo/2, websocket"), 101},
		{"4.2.1 version with spaces", goodHandshake(host).set("Sec-WebSocket-Version", " 13 "), 101},

		{"4.2.1 POST", func() *handshake { h := goodHandshake(host); h.method = "POST"; return h }(), 405},
		{"4.2.1 PUT", func() *handshake { h := goodHandshake(host); h.method = "PUT"; return h }(), 405},
		{"4.2.1 HTTP/1.0", func() *handshake { h := goodHandshake(host); h.proto = "HTTP/1.0"; return h }(), 400},
		{"4.2.1 no Upgrade", goodHandshake(host).set("Upgrade"), 400},
		{"4.2.1 Upgrade to another protocol", goodHandshake(host).set("Upgrade", "h2c"), 400},
		{"4.2.1 Upgrade websocketx", goodHandshake(host).set("Upgrade", "websocketx"), 400},
		{"4.2.1 no Connection", goodHandshake(host).set("Connection"), 400},
		{"4.2.1 Connection without upgrade", goodHandshake(host).set("Connection", "keep-alive"), 400},
		{"4.2.1 Connection upgraded", goodHandshake(host).set("Connection", "upgraded"), 400},
		{"4.4 no version", goodHandshake(host).set("Sec-WebSocket-Version"), 426},
		{"4.4 version 12", goodHandshake(host).set("Sec-WebSocket-Version", "12"), 426},
		{"4.4 version 8", goodHandshake(host).set("Sec-WebSocket-Version", "8"), 426},
		{"4.4 versions 13, 8", goodHandshake(host).set("Sec-WebSocket-Version", "13, 8"), 426},
		{"4.4 version 13 twice", goodHandshake(host).set("Sec-WebSocket-Version", "13", "13"), 426},
		{"4.2.1 no key", goodHandshake(host).set("Sec-WebSocket-Key"), 400},
		{"4.2.1 empty key", goodHandshake(host).set("Sec-WebSocket-Key", ""), 400},
		{"4.2.1 key not base64", goodHandshake(host).set("Sec-WebSocket-Key", "not base64 at all!!!!!!!"), 400},
		{"4.2.1 key of 15 bytes", goodHandshake(host).set("Sec-WebSocket-Key", key15), 400},
		{"4.2.1 key of 17 bytes", goodHandshake(host).set("Sec-WebSocket-Key", key17), 400},
		{"4.2.1 key of 100 bytes", goodHandshake(host).set("Sec-WebSocket-Key", key100), 400},
		{"4.2.1 key without padding", goodHandshake(host).set("Sec-WebSocket-Key", strings.TrimRight(rfcKey, "=")), 400},
		{"4.2.1 key in URL-safe base64", goodHandshake(host).set("Sec-WebSocket-Key", "_-_-_-_-_-_-_-_-_-_-_w=="), 400},
		{"4.2.1 two keys", goodHandshake(host).set("Sec-WebSocket-Key", rfcKey, rfcKey), 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, _, _ := rawRequest(t, host, tc.req.String())
			res := awaitAccept(t, results)
			if tc.status != 101 {
				checkRefusal(t, resp, body, res, tc.status)
				switch tc.status {
				case 405:
					if got := resp.Header.Get("Allow"); got != "GET" {
						t.Errorf("Allow: %q, want GET", got)
					}
				case 426:
					if got := resp.Header.Values("Sec-WebSocket-Version"); !slices.Equal(got, []string{"13"}) {
						t.Errorf("Sec-WebSocket-Version: %q, want 13 (RFC 6455 4.4)", got)
					}
				}
				return
			}
			if res.err != nil {
				t.Fatalf("Accept: %v", res.err)
			}
			if resp.StatusCode != 101 {
				t.Fatalf("status %d (%q), want 101", resp.StatusCode, body)
			}
			for name, want := range map[string]string{
				"Upgrade":                  "websocket",
				"Connection":               "Upgrade",
				"Sec-WebSocket-Accept":     rfcAccept,
				"Sec-WebSocket-Protocol":   "",
				"Sec-WebSocket-Extensions": "",
			} {
				if got := resp.Header.Get(name); !strings.EqualFold(got, want) {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
		})
	}
}

// TestAcceptFirstFrameInSameWrite checks that frames the client sends in the
// same packet as its request, which the HTTP server has already read into
// its buffer, reach the Conn.
func TestAcceptFirstFrameInSameWrite(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testFirstFrameInSameWrite(t, nil) })
	// With WrapNetConn the Conn reads and writes through the wrapper, and
	// the bytes the handshake reader took are still the Conn's.
	t.Run("wrapped", func(t *testing.T) {
		var wrapped atomic.Pointer[countingConn]
		testFirstFrameInSameWrite(t, &wrapped)
		w := wrapped.Load()
		if w == nil {
			t.Fatal("WrapNetConn was not called")
		}
		if w.read.Load() == 0 || w.written.Load() == 0 {
			t.Errorf("through the wrapper: %d bytes read, %d written; want both above 0", w.read.Load(), w.written.Load())
		}
	})
}

// countingConn counts the bytes read and written through it.
type countingConn struct {
	net.Conn
	read, written atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

func testFirstFrameInSameWrite(t *testing.T, wrapped *atomic.Pointer[countingConn]) {
	var opts *wsproto.AcceptOptions
	if wrapped != nil {
		opts = &wsproto.AcceptOptions{WrapNetConn: func(nc net.Conn) net.Conn {
			w := &countingConn{Conn: nc}
			wrapped.Store(w)
			return w
		}}
	}
	srv, results := newAcceptServer(t, opts)
	host := srv.Listener.Addr().String()
	m := frameMaker{mask: true}
	big := strings.Repeat("b", 6000) // partly in the HTTP server's buffer, partly not
	raw := goodHandshake(host).String() + string(m.msg(wsproto.OpText, "first")) + string(m.msg(wsproto.OpBinary, big))
	resp, _, nc, br := rawRequest(t, host, raw)
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	res := awaitAccept(t, results)
	if res.err != nil {
		t.Fatal(res.err)
	}
	for _, want := range []string{"first", big} {
		_, p, err := res.c.ReadMessage(nil)
		if err != nil || string(p) != want {
			t.Fatalf("ReadMessage = %.20q (%d bytes), %v; want %.20q", p, len(p), err, want)
		}
	}
	// And the server's frames reach the client after the 101.
	if err := res.c.WriteMessage(wsproto.OpText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if f, err := readWireFrame(br); err != nil || string(f.Payload) != "hello" {
		t.Fatalf("client read %q, %v", f.Payload, err)
	}
	_ = nc
}

// TestAcceptSubprotocol checks the subprotocol selection of RFC 6455 4.2.2:
// the server's first preference among those the client offered.
func TestAcceptSubprotocol(t *testing.T) {
	cases := []struct {
		name      string
		supported []string
		offered   []string // header values
		want      string
	}{
		{"offered and supported", []string{"chat"}, []string{"chat"}, "chat"},
		{"server preference wins", []string{"v2.chat", "chat"}, []string{"chat, v2.chat"}, "v2.chat"},
		{"offered in two headers", []string{"chat"}, []string{"other", "chat"}, "chat"},
		{"list with spaces", []string{"chat"}, []string{"  other ,chat  "}, "chat"},
		{"no match", []string{"chat"}, []string{"other"}, ""},
		{"server speaks none", nil, []string{"chat"}, ""},
		{"client offers none", []string{"chat"}, nil, ""},
		{"no prefix match", []string{"chat"}, []string{"chat2, xchat"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, results := newAcceptServer(t, &wsproto.AcceptOptions{Subprotocols: tc.supported})
			host := srv.Listener.Addr().String()
			resp, body, _, _ := rawRequest(t, host, goodHandshake(host).set("Sec-WebSocket-Protocol", tc.offered...).String())
			res := awaitAccept(t, results)
			if res.err != nil || resp.StatusCode != 101 {
				t.Fatalf("Accept: %v, status %d %q", res.err, resp.StatusCode, body)
			}
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); tc.want == "" && len(got) != 0 || tc.want != "" && !slices.Equal(got, []string{tc.want}) {
				t.Errorf("Sec-WebSocket-Protocol: %q, want %q", got, tc.want)
			}
			if got := res.c.Subprotocol(); got != tc.want {
				t.Errorf("Subprotocol() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestAcceptOriginDefaultPort checks that an Origin with an explicit default
// port is the same origin as a Host without one, and the other way round.
func TestAcceptOriginDefaultPort(t *testing.T) {
	cases := []struct {
		host, origin string
		wantCode     int
	}{
		{"chat.example", "http://chat.example:80", 101},
		{"chat.example:80", "http://chat.example", 101},
		{"chat.example:443", "https://chat.example", 101},
		{"chat.example:443", "http://chat.example", 403},
		{"[::1]:8080", "http://[::1]:8080", 101},
	}
	for _, tc := range cases {
		t.Run(tc.host+" from "+tc.origin, func(t *testing.T) {
			srv, results := newAcceptServer(t, &wsproto.AcceptOptions{})
			req := goodHandshake(tc.host)
			req.set("Origin", tc.origin)
			resp, body, _, _ := rawRequest(t, srv.Listener.Addr().String(), req.String())
			awaitAccept(t, results) // the server closes accepted connections at the end
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, body, tc.wantCode)
			}
		})
	}
}

// TestAcceptOrigin checks the origin policy (RFC 6455 10.2, 4.2.2 step 4):
// same host allowed, other origins refused with 403 unless a pattern or the
// options allow them, non-browser clients without Origin allowed.
func TestAcceptOrigin(t *testing.T) {
	const host = "chat.example:8080"
	cases := []struct {
		name     string
		opts     wsproto.AcceptOptions
		origin   string // "" for none
		wantCode int
	}{
		{"no Origin: not a browser", wsproto.AcceptOptions{}, "", 101},
		{"same host", wsproto.AcceptOptions{}, "http://chat.example:8080", 101},
		{"same host over https", wsproto.AcceptOptions{}, "https://chat.example:8080", 101},
		{"same host, other case", wsproto.AcceptOptions{}, "http://CHAT.Example:8080", 101},
		{"same name, other port", wsproto.AcceptOptions{}, "http://chat.example", 403},
		{"other origin", wsproto.AcceptOptions{}, "https://evil.example", 403},
		{"host as a subdomain of the attacker", wsproto.AcceptOptions{}, "https://chat.example:8080.evil.example", 403},
		{"null origin", wsproto.AcceptOptions{}, "null", 403},
		{"pattern without scheme", wsproto.AcceptOptions{OriginPatterns: []string{"app.example"}}, "https://app.example", 101},
		{"pattern without scheme, any scheme", wsproto.AcceptOptions{OriginPatterns: []string{"app.example"}}, "http://app.example", 101},
		{"pattern without port, origin with port", wsproto.AcceptOptions{OriginPatterns: []string{"app.example"}}, "https://app.example:8443", 403},
		{"pattern with port", wsproto.AcceptOptions{OriginPatterns: []string{"*.example:8443"}}, "https://x.example:8443", 101},
		{"pattern with port, other port", wsproto.AcceptOptions{OriginPatterns: []string{"*.example:8443"}}, "https://x.example:9443", 403},
		{"wildcard subdomain", wsproto.AcceptOptions{OriginPatterns: []string{"*.app.example"}}, "https://eu.app.example", 101},
		{"wildcard does not match the bare domain", wsproto.AcceptOptions{OriginPatterns: []string{"*.app.example"}}, "https://app.example", 403},
		{"wildcard does not match another suffix", wsproto.AcceptOptions{OriginPatterns: []string{"*.app.example"}}, "https://eu.app.example.evil", 403},
		{"pattern with scheme", wsproto.AcceptOptions{OriginPatterns: []string{"https://app.example"}}, "https://app.example", 101},
		{"pattern with scheme, other scheme", wsproto.AcceptOptions{OriginPatterns: []string{"https://app.example"}}, "http://app.example", 403},
		{"pattern with scheme and wildcard", wsproto.AcceptOptions{OriginPatterns: []string{"HTTPS://*.App.Example"}}, "https://eu.app.example", 101},
		{"second pattern matches", wsproto.AcceptOptions{OriginPatterns: []string{"a.example", "b.example"}}, "https://b.example", 101},
		{"malformed pattern", wsproto.AcceptOptions{OriginPatterns: []string{"[app.example"}}, "https://app.example", 403},
		{"InsecureSkipOriginCheck", wsproto.AcceptOptions{InsecureSkipOriginCheck: true}, "https://evil.example", 101},
		{"CheckOrigin refuses", wsproto.AcceptOptions{CheckOrigin: func(*http.Request) bool { return false }}, "", 403},
		{"CheckOrigin allows", wsproto.AcceptOptions{CheckOrigin: func(*http.Request) bool { return true }}, "https://evil.example", 101},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, results := newAcceptServer(t, &tc.opts)
			req := goodHandshake(host)
			if tc.origin != "" {
				req.set("Origin", tc.origin)
			}
			resp, body, _, _ := rawRequest(t, srv.Listener.Addr().String(), req.String())
			res := awaitAccept(t, results)
			if tc.wantCode == 101 {
				if res.err != nil || resp.StatusCode != 101 {
					t.Fatalf("Accept: %v, status %d %q; want 101", res.err, resp.StatusCode, body)
				}
				return
			}
			checkRefusal(t, resp, body, res, tc.wantCode)
		})
	}
}

// rawServer listens on loopback and runs handle for every connection, with
// the request already read. It returns the address.
func rawServer(t testing.TB, handle func(nc net.Conn, br *bufio.Reader, req *http.Request)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() {
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					nc.Close()
					return
				}
				handle(nc, br, req)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// answer101 writes a correct 101 for req plus extra header lines.
func answer101(nc net.Conn, req *http.Request, extra string) {
	fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
		wsproto.AcceptKey(req.Header.Get("Sec-WebSocket-Key")), extra)
}

// TestDial checks a client against an Accept server, plain and over TLS
// (RFC 6455 4.1, 11.1.2).
func TestDial(t *testing.T) {
	echo := func(c *wsproto.Conn) {
		defer c.CloseNow()
		var buf []byte
		for {
			op, p, err := c.ReadMessage(buf)
			if err != nil {
				return
			}
			if c.WriteMessage(op, p) != nil {
				return
			}
			buf = p
		}
	}
	for _, secure := range []bool{false, true} {
		name := "ws"
		if secure {
			name = "wss"
		}
		t.Run(name, func(t *testing.T) {
			var gotHeader http.Header
			var wg sync.WaitGroup
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotHeader = r.Header.Clone()
				c, err := wsproto.Accept(w, r, &wsproto.AcceptOptions{Subprotocols: []string{"v2", "v1"}, InsecureSkipOriginCheck: true})
				if err != nil {
					return
				}
				wg.Go(func() { echo(c) })
			})
			var srv *httptest.Server
			opts := &wsproto.DialOptions{
				Subprotocols: []string{"v1", "v2"},
				Header:       http.Header{"Origin": {"https://app.example"}, "X-Trace": {"abc"}},
			}
			if secure {
				srv = httptest.NewTLSServer(handler)
				pool := x509.NewCertPool()
				pool.AddCert(srv.Certificate())
				opts.TLSConfig = &tls.Config{RootCAs: pool}
			} else {
				srv = httptest.NewServer(handler)
			}
			defer wg.Wait()
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			url := name + "://" + srv.Listener.Addr().String() + "/chat?room=1"
			c, resp, err := wsproto.Dial(ctx, url, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 0 {
				t.Errorf("response body %q, %v; want empty", b, err)
			}
			if resp.StatusCode != 101 || c.Subprotocol() != "v2" {
				t.Errorf("status %d, subprotocol %q; want 101 and v2", resp.StatusCode, c.Subprotocol())
			}
			if gotHeader.Get("Origin") != "https://app.example" || gotHeader.Get("X-Trace") != "abc" {
				t.Errorf("server saw headers %v", gotHeader)
			}
			for _, n := range []int{0, 1, 125, 126, 65536, 300000} {
				msg := []byte(strings.Repeat("z", n))
				if err := c.WriteMessage(wsproto.OpText, msg); err != nil {
					t.Fatal(err)
				}
				op, p, err := c.ReadMessage(nil)
				if err != nil || op != wsproto.OpText || string(p) != string(msg) {
					t.Fatalf("echo of %d bytes: %v %d bytes %v", n, op, len(p), err)
				}
			}
			if err := c.Close(wsproto.CloseNormal, "done"); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
	t.Run("wss with an unknown certificate", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.NotFoundHandler())
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused certificate is expected
		srv.StartTLS()
		defer srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		_, _, err := wsproto.Dial(ctx, "wss://"+srv.Listener.Addr().String(), nil)
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("Dial = %v, want an x509.UnknownAuthorityError", err)
		}
	})
}

// TestDialRequest checks the client's handshake request (RFC 6455 4.1): a
// GET over HTTP/1.1 with the required headers and a fresh key that is the
// base64 of 16 random bytes.
func TestDialRequest(t *testing.T) {
	reqs := make(chan *http.Request, 2)
	addr := rawServer(t, func(nc net.Conn, _ *bufio.Reader, req *http.Request) {
		reqs <- req
		answer101(nc, req, "")
	})
	var keys []string
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		c, _, err := wsproto.Dial(ctx, "ws://"+addr+"/path?q=1", nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		c.CloseNow()
		req := <-reqs
		if req.Method != "GET" || req.Proto != "HTTP/1.1" || req.RequestURI != "/path?q=1" || req.Host != addr {
			t.Errorf("request line %s %s %s, Host %s", req.Method, req.RequestURI, req.Proto, req.Host)
		}
		for name, want := range map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"} {
			if got := req.Header.Get(name); !strings.EqualFold(got, want) {
				t.Errorf("%s: %q, want %q", name, got, want)
			}
		}
		key := req.Header.Get("Sec-WebSocket-Key")
		if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
			t.Errorf("Sec-WebSocket-Key %q is not the base64 of 16 bytes", key)
		}
		if len(req.Header.Values("Sec-WebSocket-Extensions")) != 0 {
			t.Error("client offered an extension")
		}
		keys = append(keys, key)
	}
	if keys[0] == keys[1] {
		t.Errorf("two handshakes used the same key %q", keys[0])
	}
}

// TestDialBadAnswer checks that the client refuses a server answer that
// breaks RFC 6455 4.1 (and 4.2.2), with a *HandshakeError.
func TestDialBadAnswer(t *testing.T) {
	cases := []struct {
		name       string
		answer     func(nc net.Conn, req *http.Request)
		wantStatus int
		wantReason string
	}{
		{
			name: "403 with a body line",
			answer: func(nc net.Conn, req *http.Request) {
				io.WriteString(nc, "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 28\r\n\r\norigin not allowed\nsecond\n\n\n")
			},
			wantStatus: 403, wantReason: "origin not allowed",
		},
		{
			name: "200 OK",
			answer: func(nc net.Conn, req *http.Request) {
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
			},
			wantStatus: 200, wantReason: "hello",
		},
		{
			name: "wrong Sec-WebSocket-Accept",
			answer: func(nc net.Conn, req *http.Request) {
				io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+rfcAccept+"\r\n\r\n")
			},
		},
		{
			name: "no Sec-WebSocket-Accept",
			answer: func(nc net.Conn, req *http.Request) {
				io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			},
		},
		{
			name: "no Upgrade",
			answer: func(nc net.Conn, req *http.Request) {
				fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", wsproto.AcceptKey(req.Header.Get("Sec-WebSocket-Key")))
			},
		},
		{
			name: "no Connection",
			answer: func(nc net.Conn, req *http.Request) {
				fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: %s\r\n\r\n", wsproto.AcceptKey(req.Header.Get("Sec-WebSocket-Key")))
			},
		},
		{
			name: "extension the client did not offer",
			answer: func(nc net.Conn, req *http.Request) {
				answer101(nc, req, "Sec-WebSocket-Extensions: permessage-deflate\r\n")
			},
		},
		{
			name:   "subprotocol the client did not offer",
			answer: func(nc net.Conn, req *http.Request) { answer101(nc, req, "Sec-WebSocket-Protocol: mqtt\r\n") },
		},
		{
			name:   "not HTTP",
			answer: func(nc net.Conn, req *http.Request) { io.WriteString(nc, "SSH-2.0-OpenSSH\r\n\r\n") },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServer(t, func(nc net.Conn, _ *bufio.Reader, req *http.Request) { tc.answer(nc, req) })
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			c, resp, err := wsproto.Dial(ctx, "ws://"+addr, &wsproto.DialOptions{Subprotocols: []string{"chat"}})
			if err == nil {
				c.CloseNow()
				t.Fatalf("Dial succeeded with status %d", resp.StatusCode)
			}
			if tc.name == "not HTTP" {
				return // any error will do
			}
			var he *wsproto.HandshakeError
			if !errors.As(err, &he) || !errors.Is(err, wsproto.ErrBadHandshake) {
				t.Fatalf("Dial = %v, want a *HandshakeError", err)
			}
			if he.Status != tc.wantStatus || tc.wantReason != "" && he.Reason != tc.wantReason {
				t.Fatalf("HandshakeError{%d, %q}, want {%d, %q}", he.Status, he.Reason, tc.wantStatus, tc.wantReason)
			}
		})
	}
	t.Run("403 from an Accept server", func(t *testing.T) {
		srv, results := newAcceptServer(t, nil)
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		_, _, err := wsproto.Dial(ctx, "ws://"+srv.Listener.Addr().String(), &wsproto.DialOptions{Header: http.Header{"Origin": {"https://evil.example"}}})
		<-results
		var he *wsproto.HandshakeError
		if !errors.As(err, &he) || he.Status != 403 || !strings.Contains(he.Reason, "https://evil.example") {
			t.Fatalf("Dial = %v, want 403 naming the origin", err)
		}
	})
}

// TestDialContext checks that ctx bounds the handshake with a server that
// never answers, by deadline and by cancellation.
func TestDialContext(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn, _ *bufio.Reader, _ *http.Request) {
		// Never answer; the connection stays open until the test ends.
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := wsproto.Dial(ctx, "ws://"+addr, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v, want context.DeadlineExceeded", err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("Dial took %v", el)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, _, err := wsproto.Dial(ctx, "ws://"+addr, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Dial = %v, want context.Canceled", err)
		}
	})
	t.Run("tls handshake never answered", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() {
			nc, err := ln.Accept()
			if err == nil {
				io.Copy(io.Discard, nc) // reads the ClientHello, never answers
				nc.Close()
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, _, err = wsproto.Dial(ctx, "wss://"+ln.Addr().String(), nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v, want context.DeadlineExceeded", err)
		}
	})
}

// TestDialFirstFrameInSameWrite checks that a frame the server sends in the
// same packet as its 101 is not lost by the client.
func TestDialFirstFrameInSameWrite(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn, _ *bufio.Reader, req *http.Request) {
		var b strings.Builder
		fmt.Fprintf(&b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			wsproto.AcceptKey(req.Header.Get("Sec-WebSocket-Key")))
		b.Write(frameMaker{}.msg(wsproto.OpText, "welcome"))
		b.Write(frameMaker{}.msg(wsproto.OpBinary, strings.Repeat("w", 5000)))
		io.WriteString(nc, b.String())
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	c, _, err := wsproto.Dial(ctx, "ws://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for _, want := range []string{"welcome", strings.Repeat("w", 5000)} {
		if _, p, err := c.ReadMessage(nil); err != nil || string(p) != want {
			t.Fatalf("ReadMessage = %.20q, %v", p, err)
		}
	}
}

// TestDialURL checks the URLs Dial refuses before connecting.
func TestDialURL(t *testing.T) {
	for _, url := range []string{"ftp://example.com/", "ws://", "ws:///path", "://x", "example.com"} {
		t.Run(url, func(t *testing.T) {
			_, _, err := wsproto.Dial(context.Background(), url, nil)
			if !errors.Is(err, wsproto.ErrBadHandshake) {
				t.Fatalf("Dial(%q) = %v, want a handshake error", url, err)
			}
		})
	}
}
