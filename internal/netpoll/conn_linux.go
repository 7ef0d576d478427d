package netpoll

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Conn is a TCP socket taken out of package net by Detach: a net.Conn of a
// few dozen bytes that reads and writes its descriptor without waiting and,
// when the socket is empty or full, waits through a Poller shared by all
// such sockets. Package net keeps per socket a runtime poll descriptor with
// two timers, a finalizer and both addresses — about 0.9 KiB in all, more
// than the rest of an idle chat connection's heap — which a server holding
// tens of thousands of idle connections does without.
//
// Its methods are safe for concurrent use, with the net.Conn contract: one
// Read and one Write may wait at once; Close and the deadline setters wake
// them. The addresses are asked of the kernel on each call.
type Conn struct {
	fd    int32
	waits *Poller

	// refs counts the system calls in progress on fd, with closedFlag set
	// once Close was called: fd is closed when both say so, so that a
	// descriptor number is never closed under a call using it.
	refs atomic.Uint64

	readDeadline  atomic.Int64 // Unix nanoseconds; 0: none
	writeDeadline atomic.Int64

	// readMu and writeMu let one Read and one Write at a time use the
	// socket, as package net does: the others wait their turn.
	readMu, writeMu sync.Mutex

	mu   sync.Mutex
	wait *waitState // under mu; nil while nothing waits
}

// closedFlag marks Conn.refs once Close has been called.
const closedFlag = 1 << 63

// waitState is what a Conn keeps while a Read or Write waits: its
// registration with the Poller and the channels that wake the two waiters.
type waitState struct {
	key     Key           // 0: not registered
	reading chan struct{} // non-nil while a read waits
	writing chan struct{} // non-nil while a write waits
}

// Detach takes the TCP connection nc out of package net: it duplicates the
// socket's descriptor, closes nc and returns a Conn on the duplicate, which
// waits through waits when it must (a Poller of its own: not the one a
// socket is registered with for readiness, for epoll watches a descriptor
// once per instance). nc must not be in use; bytes it had buffered are not
// carried over (a *net.TCPConn buffers none). On failure nc is left as it
// was, still usable.
func Detach(nc net.Conn, waits *Poller) (net.Conn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(orig uintptr) {
		fd, dupErr = dupCloseOnExec(int(orig))
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, os.NewSyscallError("dup", dupErr)
	}
	// The duplicate shares the open socket, non-blocking as net made it;
	// closing the original leaves it open. net removes the original from
	// the runtime's epoll before closing it.
	nc.Close()
	return &Conn{fd: int32(fd), waits: waits}, nil
}

func dupCloseOnExec(fd int) (int, error) {
	for {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
		if errno != syscall.EINTR {
			if errno != 0 {
				return -1, errno
			}
			return int(r), nil
		}
	}
}

// acquire marks a system call on fd as in progress; false once closed.
func (c *Conn) acquire() bool {
	for {
		v := c.refs.Load()
		if v&closedFlag != 0 {
			return false
		}
		if c.refs.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// release ends what acquire began, closing fd if Close came meanwhile and
// this was the last call.
func (c *Conn) release() {
	if c.refs.Add(^uint64(0)) == closedFlag {
		syscall.Close(int(c.fd))
	}
}

// Close closes the socket once no call is using it, and wakes a Read or
// Write that waits: they return net.ErrClosed.
func (c *Conn) Close() error {
	for {
		v := c.refs.Load()
		if v&closedFlag != 0 {
			return c.opError("close", net.ErrClosed)
		}
		if c.refs.CompareAndSwap(v, v|closedFlag) {
			if v == 0 {
				syscall.Close(int(c.fd))
			}
			break
		}
	}
	c.wake()
	return nil
}

// CloseWrite shuts down the sending side of the socket (a TCP half-close).
func (c *Conn) CloseWrite() error {
	if !c.acquire() {
		return c.opError("close", net.ErrClosed)
	}
	defer c.release()
	if err := syscall.Shutdown(int(c.fd), syscall.SHUT_WR); err != nil {
		return c.opError("close", os.NewSyscallError("shutdown", err))
	}
	return nil
}

// Read reads what the socket holds into p, waiting for bytes if there are
// none; io.EOF once the peer has closed its side.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var rerr error
	if err := c.rawCall(false, func(fd uintptr) bool {
		n, rerr = retryEINTR(func() (int, error) { return syscall.Read(int(fd), p) })
		return rerr != syscall.EAGAIN
	}); err != nil {
		return 0, c.opError("read", err)
	}
	switch {
	case rerr != nil:
		return 0, c.opError("read", os.NewSyscallError("read", rerr))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p, waiting while the socket's buffer is full; it
// returns how much was written before an error.
func (c *Conn) Write(p []byte) (int, error) {
	written := 0
	var werr error
	err := c.rawCall(true, func(fd uintptr) bool {
		n, err := retryEINTR(func() (int, error) { return syscall.Write(int(fd), p[written:]) })
		written += max(n, 0)
		werr = err
		return err != syscall.EAGAIN && (err != nil || written == len(p))
	})
	return written, c.writeError(err, werr, "write")
}

// maxIovecs is the most buffers one writev of WriteBuffers takes.
const maxIovecs = 64

// WriteBuffers writes the buffers of v in order with writev, waiting while
// the socket's buffer is full, and consumes what it wrote from v, as
// net.Buffers.WriteTo does for a *net.TCPConn (which cannot know this
// type): a batch of frames is one system call, not one per frame.
func (c *Conn) WriteBuffers(v *net.Buffers) (int64, error) {
	var written int64
	var werr error
	var iov [maxIovecs]syscall.Iovec
	err := c.rawCall(true, func(fd uintptr) bool {
		for {
			cnt := 0
			for _, b := range *v {
				if cnt == maxIovecs {
					break
				}
				if len(b) > 0 {
					iov[cnt].Base = &b[0]
					iov[cnt].SetLen(len(b))
					cnt++
				}
			}
			if cnt == 0 {
				*v = (*v)[:0]
				return true
			}
			n, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(cnt))
			switch errno {
			case 0:
				written += int64(n)
				consume(v, int64(n))
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				werr = errno
				return true
			}
		}
	})
	return written, c.writeError(err, werr, "writev")
}

// writeError is the error of a write whose rawCall returned err and whose
// last system call failed with errno.
func (c *Conn) writeError(err, errno error, syscallName string) error {
	switch {
	case err != nil:
		return c.opError("write", err)
	case errno != nil:
		return c.opError("write", os.NewSyscallError(syscallName, errno))
	}
	return nil
}

// retryEINTR calls f again while a signal interrupted it.
func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// consume drops the first n bytes of v.
func consume(v *net.Buffers, n int64) {
	for len(*v) > 0 && n > 0 {
		if b := (*v)[0]; int64(len(b)) > n {
			(*v)[0] = b[n:]
			return
		} else {
			n -= int64(len(b))
			*v = (*v)[1:]
		}
	}
}

// expired returns os.ErrDeadlineExceeded when the deadline d holds has
// passed: as in package net, a past deadline fails a call even when it
// could go on without waiting.
func (c *Conn) expired(d *atomic.Int64) error {
	if t := d.Load(); t != 0 && time.Now().UnixNano() >= t {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// waitFor waits until the socket may be written (write) or read, the
// deadline passes, a deadline changes or the Conn is closed; it returns an
// error only for the last two, or when the Poller fails. The caller tries
// its call again after a nil return. The caller holds readMu or writeMu:
// one waiter of each kind at most.
func (c *Conn) waitFor(write bool, deadline *atomic.Int64) error {
	var timeout <-chan time.Time
	if t := deadline.Load(); t != 0 {
		d := time.Until(time.Unix(0, t))
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		timer := time.NewTimer(d)
		defer timer.Stop()
		timeout = timer.C
	}
	if !c.acquire() { // the descriptor stays open while registered
		return net.ErrClosed
	}
	defer c.release()
	ready := make(chan struct{}, 1)
	c.mu.Lock()
	if c.refs.Load()&closedFlag != 0 {
		c.mu.Unlock()
		return net.ErrClosed
	}
	w := c.wait
	if w == nil {
		w = new(waitState)
		c.wait = w
	}
	if write {
		w.writing = ready
	} else {
		w.reading = ready
	}
	err := c.watchLocked(w)
	c.mu.Unlock()
	if err == nil {
		select {
		case <-ready:
		case <-timeout:
		}
	}
	c.mu.Lock()
	if write {
		w.writing = nil
	} else {
		w.reading = nil
	}
	if err2 := c.watchLocked(w); err == nil {
		err = err2
	}
	c.mu.Unlock()
	return err
}

// watchLocked makes the registration with the Poller match the waiters of
// w: what they wait for, or no registration when none waits. The caller
// holds mu and a reference to fd.
func (c *Conn) watchLocked(w *waitState) error {
	var events uint32
	if w.reading != nil {
		events |= syscall.EPOLLIN | syscall.EPOLLRDHUP
	}
	if w.writing != nil {
		events |= syscall.EPOLLOUT
	}
	fd := int(c.fd)
	switch {
	case events == 0:
		c.wait = nil
		if w.key == 0 {
			return nil
		}
		k := w.key
		w.key = 0
		return c.waits.Remove(fd, k)
	case w.key == 0:
		k, err := c.waits.add(fd, events|syscall.EPOLLONESHOT, c.wake)
		w.key = k
		return err
	}
	return c.waits.ctl(syscall.EPOLL_CTL_MOD, fd, w.key, events|syscall.EPOLLONESHOT)
}

// wake wakes whatever waits: the socket is ready, a deadline changed or
// the Conn was closed. Each waiter tries its call again and waits anew if
// it must. It runs on the Poller's goroutine too, and does not block.
func (c *Conn) wake() {
	c.mu.Lock()
	if w := c.wait; w != nil {
		notify(w.reading)
		notify(w.writing)
	}
	c.mu.Unlock()
}

func notify(ch chan struct{}) {
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.setDeadline(&c.readDeadline, t)
	c.setDeadline(&c.writeDeadline, t)
	return nil
}

// SetReadDeadline bounds the waiting of Read, now and later; the zero
// time removes the bound.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.setDeadline(&c.readDeadline, t)
	return nil
}

// SetWriteDeadline bounds the waiting of Write, now and later; the zero
// time removes the bound.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(&c.writeDeadline, t)
	return nil
}

func (c *Conn) setDeadline(d *atomic.Int64, t time.Time) {
	var ns int64
	if !t.IsZero() {
		ns = max(t.UnixNano(), 1) // 0 means none
	}
	d.Store(ns)
	c.wake() // a waiter measures its wait again
}

// LocalAddr returns the socket's own address, or an empty *net.TCPAddr once
// it is closed.
func (c *Conn) LocalAddr() net.Addr { return c.addr(syscall.Getsockname) }

// RemoteAddr returns the peer's address, or an empty *net.TCPAddr once the
// socket is closed or the peer gone.
func (c *Conn) RemoteAddr() net.Addr { return c.addr(syscall.Getpeername) }

func (c *Conn) addr(get func(int) (syscall.Sockaddr, error)) net.Addr {
	if !c.acquire() {
		return &net.TCPAddr{}
	}
	sa, err := get(int(c.fd))
	c.release()
	if err != nil {
		return &net.TCPAddr{}
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
	case *syscall.SockaddrInet6:
		a := &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	}
	return &net.TCPAddr{}
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Err: err}
}

// SyscallConn gives the socket's descriptor to functions, as for a
// *net.TCPConn (see syscall.RawConn): Read and Write call theirs until it
// returns true, waiting between calls for the socket to be readable or
// writable.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return (*rawConn)(c), nil }

// rawConn is a Conn as a syscall.RawConn.
type rawConn Conn

func (r *rawConn) Control(f func(fd uintptr)) error {
	c := (*Conn)(r)
	if !c.acquire() {
		return net.ErrClosed
	}
	defer c.release()
	f(uintptr(c.fd))
	return nil
}

func (r *rawConn) Read(f func(fd uintptr) bool) error  { return (*Conn)(r).rawCall(false, f) }
func (r *rawConn) Write(f func(fd uintptr) bool) error { return (*Conn)(r).rawCall(true, f) }

// rawCall runs f for RawConn's Read (write false) or Write, and for the
// Conn's own Read, Write and WriteBuffers: with the deadline checked before
// each call of f, the descriptor held open during it, one reader or writer
// at a time, and a wait for readiness whenever f returns false.
func (c *Conn) rawCall(write bool, f func(fd uintptr) bool) error {
	deadline, turn := &c.readDeadline, &c.readMu
	if write {
		deadline, turn = &c.writeDeadline, &c.writeMu
	}
	turn.Lock()
	defer turn.Unlock()
	for {
		if err := c.expired(deadline); err != nil {
			return err
		}
		if !c.acquire() {
			return net.ErrClosed
		}
		done := f(uintptr(c.fd))
		c.release()
		if done {
			return nil
		}
		if err := c.waitFor(write, deadline); err != nil {
			return err
		}
	}
}
