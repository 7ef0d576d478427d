package wsproto

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
)

// acceptGUID is the fixed string of RFC 6455 1.3 that the server appends to
// the client's key before hashing it.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value that answers the
// Sec-WebSocket-Key key: base64(SHA-1(key + GUID)) (RFC 6455 4.2.2).
func AcceptKey(key string) string {
	var in [64]byte
	b := append(append(in[:0], key...), acceptGUID...)
	sum := sha1.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// HandshakeError is a refused or failed opening handshake: on the server, the
// HTTP status Accept answered with and why; on the client, the status the
// server answered with and the first line of its body, or what was wrong
// with its answer. It wraps ErrBadHandshake.
type HandshakeError struct {
	Status int    // the HTTP status of the refusal, or of the server's answer
	Reason string // one line saying what was wrong
}

// Error returns the status and reason.
func (e *HandshakeError) Error() string {
	if e.Status == 0 {
		return "wsproto: bad handshake: " + e.Reason
	}
	return "wsproto: bad handshake: " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status) + ": " + e.Reason
}

// Unwrap returns ErrBadHandshake.
func (e *HandshakeError) Unwrap() error { return ErrBadHandshake }

// headerHasToken reports whether any value of the header name in h, read as
// a comma-separated list, holds token, compared case-insensitively
// (RFC 9110 5.6.1), as in "Connection: keep-alive, Upgrade". The name is
// canonicalized: net/http stores "Sec-WebSocket-Protocol" under
// "Sec-Websocket-Protocol".
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for item := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(item), token) {
				return true
			}
		}
	}
	return false
}

// headerTokens returns the comma-separated items of every value of the
// header name in h, trimmed, in order.
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}
