package wsproto

import (
	"syscall"
	"unsafe"
)

// unacked returns how many bytes the socket has taken from writes that the
// peer's TCP has not yet acknowledged (SIOCOUTQ: sent but unacknowledged,
// plus not yet sent), and false when the kernel cannot say: no file
// descriptor, a closed socket. The count falls only when the peer
// acknowledges bytes, which a peer whose receive buffer is full does only as
// its application reads. The caller holds wmu.
func (c *Conn) unacked() (int, bool) {
	if c.rawConn == nil {
		return 0, false
	}
	r := getRawCall()
	defer r.put()
	if err := c.rawConn.Control(r.readOutq); err != nil || r.outq < 0 {
		return 0, false
	}
	return int(r.outq), true
}

// outqCallback is the syscall.RawConn.Control callback of unacked. On a
// socket, TIOCOUTQ is SIOCOUTQ.
func (r *rawCall) outqCallback(fd uintptr) {
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&r.outq)))
	if errno != 0 {
		r.outq = -1
	}
}
