package resp

import (
	"errors"
	"strings"
)

// Error is an error reply of the server ("-WRONGTYPE Operation against a
// key holding the wrong kind of value"). The command was received and
// refused; the connection stays usable. Test for it with errors.As, and for
// one kind of refusal with Prefix or HasPrefix.
type Error struct {
	// Msg is the reply's text without the leading '-'.
	Msg string
}

// Error returns the reply's text, prefixed with the package name.
func (e *Error) Error() string { return "resp: " + e.Msg }

// Prefix returns the error code the message begins with, by Redis's
// convention the first word in capitals: "ERR", "WRONGTYPE", "NOSCRIPT",
// "NOAUTH", "WRONGPASS", "LOADING", "BUSY", "READONLY"...
func (e *Error) Prefix() string {
	code, _, _ := strings.Cut(e.Msg, " ")
	return code
}

// HasPrefix reports whether err is or wraps an *Error whose Prefix is
// prefix.
func HasPrefix(err error, prefix string) bool {
	var e *Error
	return errors.As(err, &e) && e.Prefix() == prefix
}

var (
	// ErrProtocol is wrapped by every error about a reply that breaks
	// RESP's rules. The connection it came from is closed, never reused.
	ErrProtocol = errors.New("resp: protocol error")

	// ErrLimit is wrapped by the error about a reply larger than the
	// Limits allow (a bulk string, an array, a line or the nesting). The
	// connection is closed, as after ErrProtocol.
	ErrLimit = errors.New("resp: reply over limit")

	// ErrNil is returned by the conversions (String, Int64, ...) for a
	// null reply: a key that does not exist.
	ErrNil = errors.New("resp: nil reply")

	// ErrPoolBusy is wrapped by the error of a call whose context ended
	// while it waited for one of the Client's PoolSize connections, every
	// one busy with other calls: the client is congested, which says
	// nothing of the server, whose answers the calls under way may still
	// be getting.
	ErrPoolBusy = errors.New("resp: every connection of the pool busy")

	// ErrClosed is returned by a Client or Subscriber used after Close.
	ErrClosed = errors.New("resp: closed")

	// ErrDisconnected is wrapped by the Err of EventDisconnected: the
	// Subscriber's connection was lost.
	ErrDisconnected = errors.New("resp: pub/sub connection lost")
)
