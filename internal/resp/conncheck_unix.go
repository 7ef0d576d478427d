//go:build linux || darwin || freebsd || netbsd || openbsd

package resp

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
)

var errUnexpectedData = errors.New("resp: data arrived unasked")

// connCheck peeks at an idle connection without blocking: io.EOF if the
// server has closed it, an error if data arrived that nobody asked for,
// nil if it is quiet, as an idle connection should be. Under TLS, pending
// bytes are taken as quiet: they may be a session ticket.
func connCheck(nc net.Conn) error {
	tc, isTLS := nc.(*tls.Conn)
	if isTLS {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var buf [1]byte
	var checkErr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, e := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n == 0 && e == nil:
			checkErr = io.EOF
		case n > 0 && !isTLS:
			checkErr = errUnexpectedData
		case n > 0, e == syscall.EAGAIN, e == syscall.EWOULDBLOCK:
			checkErr = nil
		default:
			checkErr = e
		}
		return true
	})
	if err != nil {
		return err
	}
	return checkErr
}
