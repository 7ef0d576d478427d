package wsproto

import "errors"

// ProtocolError is a rule of RFC 6455 that the peer broke. When a read method
// returns one, the connection has been failed: a close frame with Code was
// sent and the TCP connection closed (RFC 6455 7.1.7).
//
// The package's sentinels below are the only values; test for them with
// errors.Is.
type ProtocolError struct {
	Code CloseCode // the close code sent to the peer
	Rule string    // the rule broken, naming its section of RFC 6455
}

// Error returns the rule that was broken.
func (e *ProtocolError) Error() string { return "wsproto: " + e.Rule }

// The rules of RFC 6455 a peer can break, each failing the connection with
// the close code it names.
var (
	ErrUnmaskedFrame          = &ProtocolError{CloseProtocolError, "client frame is not masked (RFC 6455 5.1)"}
	ErrMaskedFrame            = &ProtocolError{CloseProtocolError, "server frame is masked (RFC 6455 5.1)"}
	ErrReservedBits           = &ProtocolError{CloseProtocolError, "reserved bits set without a negotiated extension (RFC 6455 5.2)"}
	ErrReservedOpcode         = &ProtocolError{CloseProtocolError, "reserved opcode (RFC 6455 5.2)"}
	ErrLengthOverflow         = &ProtocolError{CloseProtocolError, "64-bit payload length with the most significant bit set (RFC 6455 5.2)"}
	ErrNonMinimalLength       = &ProtocolError{CloseProtocolError, "payload length not in its minimal encoding (RFC 6455 5.2)"}
	ErrControlTooLong         = &ProtocolError{CloseProtocolError, "control frame payload longer than 125 bytes (RFC 6455 5.5)"}
	ErrControlFragmented      = &ProtocolError{CloseProtocolError, "fragmented control frame (RFC 6455 5.5)"}
	ErrUnexpectedContinuation = &ProtocolError{CloseProtocolError, "continuation frame without a message to continue (RFC 6455 5.4)"}
	ErrExpectedContinuation   = &ProtocolError{CloseProtocolError, "new data frame inside a fragmented message (RFC 6455 5.4)"}
	ErrClosePayloadTooShort   = &ProtocolError{CloseProtocolError, "close frame payload of 1 byte (RFC 6455 5.5.1)"}
	ErrInvalidCloseCode       = &ProtocolError{CloseProtocolError, "close frame with an invalid status code (RFC 6455 7.4)"}
	ErrInvalidCloseReason     = &ProtocolError{CloseInvalidPayload, "close reason is not valid UTF-8 (RFC 6455 5.5.1)"}
	ErrInvalidUTF8            = &ProtocolError{CloseInvalidPayload, "text message is not valid UTF-8 (RFC 6455 8.1)"}
	ErrMessageTooBig          = &ProtocolError{CloseMessageTooBig, "message longer than the read limit (RFC 6455 10.4)"}
)

// Errors from the local side's use of a connection.
var (
	// ErrBadHandshake is wrapped by every *HandshakeError.
	ErrBadHandshake = errors.New("wsproto: bad handshake")

	// ErrCloseSent is returned by writes after this side sent its close frame:
	// RFC 6455 5.5.1 allows no data frames after it.
	ErrCloseSent = errors.New("wsproto: close frame already sent")

	// ErrControlPayload is returned when a ping, pong or close payload given
	// to a write method is longer than a control frame can carry (125 bytes).
	ErrControlPayload = errors.New("wsproto: control frame payload longer than 125 bytes")

	// ErrPreparedByClient is returned by WriteFrames on a client connection:
	// a client's frames are masked with a fresh key each, so they cannot be
	// encoded once and shared.
	ErrPreparedByClient = errors.New("wsproto: prepared frames are for servers; client frames must be masked")

	// ErrMessageOpen is returned when a message is written while the writer
	// from NextWriter is still open: its frames would land inside that
	// message.
	ErrMessageOpen = errors.New("wsproto: the previous message's writer is still open")

	// ErrInvalidOpcode is returned when a message is written with an opcode
	// other than OpText or OpBinary.
	ErrInvalidOpcode = errors.New("wsproto: messages are OpText or OpBinary")
)
