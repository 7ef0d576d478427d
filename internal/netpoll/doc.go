// Package netpoll tells when sockets have bytes to read without a goroutine
// waiting on each: one epoll instance and one goroutine that waits on it for
// every socket registered. It is how a server parks thousands of idle
// connections at the cost of their kernel state alone.
//
// A socket is registered with Add and a function to call when it becomes
// readable (or its peer hangs up, or it fails). Registrations are one-shot:
// after the function has been called for a socket, the socket is not
// watched again until Rearm — so whoever handles the readiness owns the
// socket's reading until it rearms, and a socket that is readable after
// Rearm is reported again at once (level-triggered), so nothing that
// arrived meanwhile is missed.
//
// The function runs on the poller's goroutine, so it must return quickly:
// start a goroutine, or hand the work to one. A socket is known by a Key,
// never by its descriptor alone, for a descriptor number is reused once
// closed: a readiness event for a socket that was forgotten finds no
// function and is dropped. Calls that take a descriptor (Add, Rearm,
// Remove) must be made while it is certain to be open, for example inside
// syscall.RawConn.Control.
//
// Detach takes a TCP socket out of package net: the Conn it returns reads
// and writes the descriptor itself and waits, when it must, through a
// Poller of its own, which spares what net keeps per socket (a runtime
// poll descriptor with two timers, a finalizer, both addresses).
//
// Only Linux has a Poller; elsewhere New returns ErrUnsupported and callers
// keep a goroutine per socket, and their sockets in package net.
package netpoll

import "errors"

// ErrUnsupported is New's error where there is no epoll.
var ErrUnsupported = errors.New("netpoll: not supported on this system")

// ErrClosed is the error of calls on a closed Poller.
var ErrClosed = errors.New("netpoll: poller closed")

// Key identifies one registration of a socket.
type Key uint64
