package wsproto

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf8"
)

// CloseCode is the status code carried by a close frame (RFC 6455 7.4).
type CloseCode uint16

// The close codes of RFC 6455 section 7.4.1 and the IANA registry.
const (
	CloseNormal             CloseCode = 1000 // the purpose of the connection is fulfilled
	CloseGoingAway          CloseCode = 1001 // server shutting down or browser leaving the page
	CloseProtocolError      CloseCode = 1002 // the peer broke RFC 6455
	CloseUnsupportedData    CloseCode = 1003 // a message type the endpoint cannot accept
	CloseNoStatus           CloseCode = 1005 // the close frame had no code; never sent on the wire
	CloseAbnormal           CloseCode = 1006 // the connection ended without a close frame; never sent
	CloseInvalidPayload     CloseCode = 1007 // data inconsistent with its type, such as invalid UTF-8
	ClosePolicyViolation    CloseCode = 1008 // a message that violates the endpoint's policy
	CloseMessageTooBig      CloseCode = 1009 // a message too big to process
	CloseMandatoryExtension CloseCode = 1010 // the client needed an extension the server did not offer
	CloseInternalError      CloseCode = 1011 // an unexpected condition in the server
	CloseServiceRestart     CloseCode = 1012 // the service is restarting
	CloseTryAgainLater      CloseCode = 1013 // temporary overload
	CloseBadGateway         CloseCode = 1014 // a gateway got an invalid response upstream
	CloseTLSHandshake       CloseCode = 1015 // the TLS handshake failed; never sent
)

// maxCloseReason is the longest reason that fits a control frame's 125 bytes
// beside the 2-byte code (RFC 6455 5.5).
const maxCloseReason = maxControlPayload - 2

// IsValid reports whether c may appear in a close frame on the wire: 1000-1003,
// 1007-1014 (registered with IANA), or 3000-4999 (libraries and applications).
// 1005, 1006 and 1015 are reserved for reporting and are never sent
// (RFC 6455 7.4.1, 7.4.2).
func (c CloseCode) IsValid() bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// String returns the code's number and, for the codes RFC 6455 names, its name.
func (c CloseCode) String() string {
	name := ""
	switch c {
	case CloseNormal:
		name = "normal closure"
	case CloseGoingAway:
		name = "going away"
	case CloseProtocolError:
		name = "protocol error"
	case CloseUnsupportedData:
		name = "unsupported data"
	case CloseNoStatus:
		name = "no status"
	case CloseAbnormal:
		name = "abnormal closure"
	case CloseInvalidPayload:
		name = "invalid payload data"
	case ClosePolicyViolation:
		name = "policy violation"
	case CloseMessageTooBig:
		name = "message too big"
	case CloseMandatoryExtension:
		name = "mandatory extension"
	case CloseInternalError:
		name = "internal error"
	case CloseServiceRestart:
		name = "service restart"
	case CloseTryAgainLater:
		name = "try again later"
	case CloseBadGateway:
		name = "bad gateway"
	case CloseTLSHandshake:
		name = "TLS handshake"
	}
	if name == "" {
		return strconv.Itoa(int(c))
	}
	return strconv.Itoa(int(c)) + " (" + name + ")"
}

// CloseError reports how a connection ended: the code and reason of the
// close frame the peer sent, CloseNoStatus when its close frame had no code,
// or CloseAbnormal when the connection ended without any close frame.
type CloseError struct {
	Code   CloseCode
	Reason string
	err    error // the underlying cause of an abnormal closure
}

// Error describes the closure.
func (e *CloseError) Error() string {
	s := "wsproto: connection closed: " + e.Code.String()
	if e.Reason != "" {
		s += ": " + strconv.Quote(e.Reason)
	}
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

// Unwrap returns the cause of an abnormal closure, such as io.ErrUnexpectedEOF.
func (e *CloseError) Unwrap() error { return e.err }

// CloseStatus returns the close code of the *CloseError in err's chain, or 0
// when there is none.
func CloseStatus(err error) CloseCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// parseClosePayload reads the body of a received close frame (RFC 6455 5.5.1).
// An empty body means CloseNoStatus.
func parseClosePayload(p []byte) (CloseCode, string, error) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, "", nil
	case len(p) == 1:
		return 0, "", ErrClosePayloadTooShort
	}
	code := CloseCode(binary.BigEndian.Uint16(p))
	if !code.IsValid() {
		return 0, "", ErrInvalidCloseCode
	}
	reason := p[2:]
	if !utf8.Valid(reason) {
		return 0, "", ErrInvalidCloseReason
	}
	return code, string(reason), nil
}

// appendClosePayload appends the body of a close frame. CloseNoStatus gives an
// empty body; a reason too long for a control frame is cut on a rune boundary.
func appendClosePayload(dst []byte, code CloseCode, reason string) []byte {
	if code == CloseNoStatus {
		return dst
	}
	if len(reason) > maxCloseReason {
		cut := maxCloseReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}
