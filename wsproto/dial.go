package wsproto

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DialOptions configure Dial. The zero value is ready to use.
type DialOptions struct {
	ConnOptions

	// Header holds extra request headers, such as Origin or Cookie.
	Header http.Header

	// Subprotocols lists the subprotocols to offer, in order of preference.
	Subprotocols []string

	// TLSConfig configures wss:// connections. nil means the defaults, with
	// the server name taken from the URL.
	TLSConfig *tls.Config

	// Compression offers permessage-deflate (RFC 7692) without context
	// takeover either way; Conn.Compression reports whether the server
	// took it. An answer that breaks RFC 7692's rules fails the handshake.
	Compression bool

	// NetDial, when set, opens the TCP connection instead of a net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Dial opens a WebSocket connection to a ws:// or wss:// URL (RFC 6455 4.1).
// ctx bounds the whole opening handshake — TCP, TLS and HTTP — but not the
// connection after it. It checks the server's 101 answer: status, Upgrade,
// Connection, Sec-WebSocket-Accept, and any subprotocol or extension, and
// returns the response for its headers (its body is empty).
//
// A server that answers with another status gives a *HandshakeError with
// that status and the first line of its body; one whose answer breaks the
// handshake rules gives a *HandshakeError with Status 0 naming the rule.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, &HandshakeError{0, "bad URL: " + err.Error()}
	}
	var secure bool
	switch u.Scheme {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, nil, &HandshakeError{0, "URL scheme must be ws or wss, not " + u.Scheme}
	}
	if u.Host == "" {
		return nil, nil, &HandshakeError{0, "URL has no host: " + rawURL}
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}

	dial := opts.NetDial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	netConn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	// Bound the handshake by ctx: when it is done, whether by deadline or by
	// cancellation, the read or write under way is interrupted, and fail
	// reports ctx.Err(). (Copying ctx's deadline to the connection instead
	// would let the I/O time out a moment before ctx is done, and report a
	// bare i/o timeout.) The function gets the TCP connection itself:
	// netConn is reassigned below, under TLS.
	rawConn := netConn
	stop := context.AfterFunc(ctx, func() { _ = rawConn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*Conn, *http.Response, error) {
		stop()
		netConn.Close()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}

	if secure {
		cfg := opts.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = u.Hostname()
		}
		tlsConn := tls.Client(netConn, cfg)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return fail(err)
		}
		netConn = tlsConn
	}

	var keyBytes [16]byte
	_, _ = rand.Read(keyBytes[:])
	key := base64.StdEncoding.EncodeToString(keyBytes[:])
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header),
		Host:       u.Host,
	}
	for k, v := range opts.Header {
		req.Header[k] = slices.Clone(v)
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	if opts.Compression {
		req.Header.Set("Sec-WebSocket-Extensions", deflateOffer)
	}
	if err := req.Write(netConn); err != nil {
		return fail(err)
	}

	br := bufio.NewReaderSize(netConn, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(err)
	}
	deflate, err := checkResponse(resp, key, opts.Subprotocols, opts.Compression)
	if err != nil {
		return fail(err)
	}
	stop()
	if ctx.Err() != nil {
		netConn.Close()
		return nil, nil, ctx.Err()
	}
	_ = netConn.SetDeadline(time.Time{})
	var buffered []byte
	if n := br.Buffered(); n > 0 {
		buffered, _ = br.Peek(n)
	}
	resp.Body = http.NoBody
	c := newConn(netConn, false, buffered, resp.Header.Get("Sec-WebSocket-Protocol"), &opts.ConnOptions)
	c.deflate = deflate
	return c, resp, nil
}

// checkResponse applies the rules of RFC 6455 4.1 to the server's answer,
// and reports whether it took the offer of permessage-deflate (deflate:
// whether the client made one).
func checkResponse(resp *http.Response, key string, offered []string, deflate bool) (bool, error) {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		line, _ := bufio.NewReader(io.LimitReader(resp.Body, 512)).ReadString('\n')
		resp.Body.Close()
		return false, &HandshakeError{resp.StatusCode, strings.TrimSpace(line)}
	}
	exts := resp.Header.Values("Sec-WebSocket-Extensions")
	switch {
	case !headerHasToken(resp.Header, "Upgrade", "websocket"):
		return false, &HandshakeError{0, `server answered without "Upgrade: websocket"`}
	case !headerHasToken(resp.Header, "Connection", "upgrade"):
		return false, &HandshakeError{0, `server answered without "Connection: Upgrade"`}
	case resp.Header.Get("Sec-WebSocket-Accept") != AcceptKey(key):
		return false, &HandshakeError{0, "server answered with a wrong Sec-WebSocket-Accept"}
	case len(exts) > 0 && !deflate:
		return false, &HandshakeError{0, "server selected an extension the client did not offer"}
	}
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "" && !slices.Contains(offered, p) {
		return false, &HandshakeError{0, "server selected subprotocol " + p + ", which the client did not offer"}
	}
	if !deflate {
		return false, nil
	}
	took, err := checkDeflateResponse(exts)
	if err != nil {
		return false, &HandshakeError{0, strings.TrimPrefix(err.Error(), "wsproto: ")}
	}
	return took, nil
}
