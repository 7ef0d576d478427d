package wsproto

import (
	"syscall"
	"unsafe"
)

// maxIovecs is the most buffers one non-blocking writev takes; what is left
// over is sent like any other remainder.
const maxIovecs = 64

// canWriteNow reports whether TryWriteFrames can write to this connection
// without waiting.
func (c *Conn) canWriteNow() bool { return c.rawConn != nil }

// writeNowCallback is the syscall.RawConn.Write callback of TryWriteFrames:
// one write or writev of r.frames on the non-blocking socket, never
// waiting. It records the bytes taken (0 when the socket buffer is full) and
// any error in r.n and r.err.
func (r *rawCall) writeNowCallback(fd uintptr) bool {
	v := r.frames
	for {
		var n uintptr
		var errno syscall.Errno
		if len(v) == 1 {
			n, _, errno = syscall.Syscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(v[0]))), uintptr(len(v[0])))
		} else {
			var iov [maxIovecs]syscall.Iovec
			cnt := 0
			for _, b := range v {
				if cnt == maxIovecs {
					break
				}
				if len(b) == 0 {
					continue
				}
				iov[cnt].Base = &b[0]
				iov[cnt].SetLen(len(b))
				cnt++
			}
			n, _, errno = syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(cnt))
		}
		switch errno {
		case 0:
			r.n, r.err = int(n), nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			r.n, r.err = 0, nil
		default:
			r.n, r.err = 0, errno
		}
		return true
	}
}
