package wsproto

import (
	"encoding/base64"
	"net"

	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// AcceptOptions configure Accept. The zero value accepts same-origin
// browsers and all non-browser clients, with no subprotocol.
type AcceptOptions struct {
	ConnOptions

	// Subprotocols lists the subprotocols the server speaks, in order of
	// preference. The first one that the client also offers is selected
	// (RFC 6455 4.2.2); if none matches, the connection proceeds without one.
	Subprotocols []string

	// OriginPatterns lists the origins besides the server's own from which
	// browsers may connect. A pattern with a scheme ("https://chat.example")
	// must match the Origin's scheme and host; one without ("chat.example",
	// "*.example:8443") matches the Origin's host and port. Matching is
	// case-insensitive, with path.Match wildcards.
	OriginPatterns []string

	// InsecureSkipOriginCheck accepts every Origin. A page on any site can
	// then open a connection with the user's cookies (cross-site WebSocket
	// hijacking); use it only in development or when the connection carries
	// no ambient authority.
	InsecureSkipOriginCheck bool

	// CheckOrigin, when set, replaces the origin policy above.
	CheckOrigin func(r *http.Request) bool

	// Compression takes the client's offer of permessage-deflate (RFC 7692)
	// when it is one the server can take, answering with
	// server_no_context_takeover and client_no_context_takeover: every
	// compressed message stands alone, so a server frame can go to many
	// connections and nothing is kept per connection between messages.
	// Offers that limit the server's window below 15 bits are declined
	// (compress/flate always uses a 32 KiB window), as are malformed
	// ones; the connection then proceeds uncompressed.
	Compression bool

	// HandshakeTimeout bounds writing the 101 response, so a client that
	// stops reading cannot hold the handler. The request itself is bounded
	// by http.Server's ReadHeaderTimeout. 0 means 10 seconds.
	HandshakeTimeout time.Duration

	// WrapNetConn, when set, is given the hijacked connection once the 101
	// response is written, and the Conn reads and writes through the
	// net.Conn it returns: the same byte stream, held another way — for
	// example the socket taken out of package net, to be polled by the
	// server itself. Bytes the handshake reader took past the request are
	// kept by the Conn, not the wrapper. It returns the connection it was
	// given to leave it as it is.
	WrapNetConn func(net.Conn) net.Conn
}

// Accept completes the opening handshake of RFC 6455 section 4.2 for a
// request that arrived at an ordinary http.Handler, takes over its
// connection through http.Hijacker and returns it as a WebSocket connection.
// Bytes the client sent after its request, which may include its first
// frames, are kept.
//
// A request that is not a valid WebSocket handshake is refused with the
// status RFC 6455 names and a one-line plain-text body saying what was
// wrong: 405 for a method other than GET, 426 with "Sec-WebSocket-Version:
// 13" for another version, 403 for a refused Origin, 400 otherwise. Accept
// then returns a *HandshakeError, and the handler must not write to w.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	if err := checkRequest(r); err != nil {
		return nil, refuse(w, err)
	}
	if !originAllowed(r, opts) {
		return nil, refuse(w, &HandshakeError{http.StatusForbidden, "origin " + r.Header.Get("Origin") + " not allowed"})
	}
	subprotocol := selectSubprotocol(r, opts.Subprotocols)
	var extension string
	if opts.Compression {
		if exts, err := ParseExtensions(r.Header.Values("Sec-WebSocket-Extensions")); err == nil {
			extension, _ = negotiateDeflate(exts)
		}
	}

	netConn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, refuse(w, &HandshakeError{http.StatusInternalServerError, "connection cannot be taken over: " + err.Error()})
	}
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ = brw.Reader.Peek(n)
	}

	var resp [256]byte
	b := append(resp[:0], "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = append(b, AcceptKey(r.Header.Get("Sec-WebSocket-Key"))...)
	if subprotocol != "" {
		b = append(b, "\r\nSec-WebSocket-Protocol: "...)
		b = append(b, subprotocol...)
	}
	if extension != "" {
		b = append(b, "\r\nSec-WebSocket-Extensions: "...)
		b = append(b, extension...)
	}
	b = append(b, "\r\n\r\n"...)

	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	_ = netConn.SetDeadline(time.Now().Add(timeout))
	if _, err := netConn.Write(b); err != nil {
		netConn.Close()
		return nil, &HandshakeError{0, "writing the 101 response: " + err.Error()}
	}
	_ = netConn.SetDeadline(time.Time{})
	if opts.WrapNetConn != nil {
		netConn = opts.WrapNetConn(netConn)
	}
	c := newConn(netConn, true, buffered, subprotocol, &opts.ConnOptions)
	c.deflate = extension != ""
	return c, nil
}

// checkRequest applies the rules of RFC 6455 4.2.1 to the client's request.
func checkRequest(r *http.Request) *HandshakeError {
	if r.Method != http.MethodGet {
		return &HandshakeError{http.StatusMethodNotAllowed, "method " + r.Method + " not allowed: a WebSocket handshake is a GET"}
	}
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return &HandshakeError{http.StatusBadRequest, "a WebSocket handshake needs HTTP/1.1, not " + r.Proto}
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		return &HandshakeError{http.StatusBadRequest, `missing "Upgrade: websocket" header`}
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return &HandshakeError{http.StatusBadRequest, `missing "Connection: Upgrade" header`}
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return &HandshakeError{http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version " + strings.Join(v, ",") + ": only 13 is supported"}
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return &HandshakeError{http.StatusBadRequest, "need exactly one Sec-WebSocket-Key header"}
	}
	// The base64 of 16 bytes is 24 characters long. The length is checked
	// before decoding: a longer key would overflow the buffer.
	k := strings.TrimSpace(keys[0])
	var key [18]byte
	if len(k) != 24 {
		return &HandshakeError{http.StatusBadRequest, "Sec-WebSocket-Key is not the base64 of 16 bytes"}
	}
	if n, err := base64.StdEncoding.Decode(key[:], []byte(k)); err != nil || n != 16 {
		return &HandshakeError{http.StatusBadRequest, "Sec-WebSocket-Key is not the base64 of 16 bytes"}
	}
	return nil
}

// refuse answers a handshake that cannot go on.
func refuse(w http.ResponseWriter, err *HandshakeError) error {
	if err.Status == http.StatusUpgradeRequired {
		w.Header().Set("Sec-WebSocket-Version", "13")
	}
	if err.Status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodGet)
	}
	http.Error(w, err.Reason, err.Status)
	return err
}

// originAllowed applies the origin policy (RFC 6455 10.2). A request
// without an Origin header does not come from a browser and is allowed.
func originAllowed(r *http.Request, opts *AcceptOptions) bool {
	if opts.CheckOrigin != nil {
		return opts.CheckOrigin(r)
	}
	if opts.InsecureSkipOriginCheck {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if sameHost(u, r.Host) {
		return true
	}
	for _, pattern := range opts.OriginPatterns {
		if originMatches(pattern, u) {
			return true
		}
	}
	return false
}

// sameHost reports whether the origin u names the host the request was sent
// to, with default ports made explicit: "http://h" is the origin of a page
// from "h:80".
func sameHost(u *url.URL, requestHost string) bool {
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	host, reqPort, err := net.SplitHostPort(requestHost)
	if err != nil {
		host, reqPort = requestHost, port // no port in Host: the scheme's default
	}
	return strings.EqualFold(u.Hostname(), strings.Trim(host, "[]")) && port == reqPort
}

// originMatches reports whether the origin u matches one OriginPatterns entry.
func originMatches(pattern string, u *url.URL) bool {
	pattern = strings.ToLower(pattern)
	host := strings.ToLower(u.Host)
	if scheme, rest, ok := strings.Cut(pattern, "://"); ok {
		if scheme != strings.ToLower(u.Scheme) {
			return false
		}
		pattern = rest
	}
	ok, err := path.Match(pattern, host)
	return err == nil && ok
}

// selectSubprotocol returns the first of the server's subprotocols that the
// client offered.
func selectSubprotocol(r *http.Request, supported []string) string {
	if len(supported) == 0 {
		return ""
	}
	offered := headerTokens(r.Header, "Sec-WebSocket-Protocol")
	for _, p := range supported {
		if slices.Contains(offered, p) {
			return p
		}
	}
	return ""
}
