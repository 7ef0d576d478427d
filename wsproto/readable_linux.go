package wsproto

import (
	"syscall"
	"unsafe"
)

// waitReadable is the callback for syscall.RawConn.Read that waits until the
// socket has bytes to read (or an end or error to report) without reading
// them: it peeks at one byte. Returning false makes the runtime wait for the
// socket to become readable and ask again; it is checked before each wait,
// so bytes that arrived before the wait began are not missed.
func waitReadable(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if errno != syscall.EINTR {
			return errno != syscall.EAGAIN
		}
	}
}

// canReadNow: readNow is implemented.
const canReadNow = true

// readNow is one read(2) of the non-blocking socket fd into p, retried only
// when a signal interrupted it.
func readNow(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
