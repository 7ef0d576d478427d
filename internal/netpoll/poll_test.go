//go:build linux

package netpoll_test

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"ringchat/internal/netpoll"
)

// waitLong bounds every wait for something that must happen.
const waitLong = 10 * time.Second

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	a, d, err := dialLoopback()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); d.Close() })
	return a, d
}

// dialLoopback connects to a fresh loopback listener: the accepted end,
// then the dialling one.
func dialLoopback() (*net.TCPConn, *net.TCPConn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	a := <-accepted
	if a == nil {
		d.Close()
		return nil, nil, errors.New("accept failed")
	}
	return a.(*net.TCPConn), d.(*net.TCPConn), nil
}

// withFD calls f with c's descriptor, held open for the call.
func withFD(t *testing.T, c *net.TCPConn, f func(fd int) error) error {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// drain reads what c holds now, without waiting.
func drain(t *testing.T, c *net.TCPConn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			c.SetReadDeadline(time.Time{})
			return
		}
	}
}

func newPoller(t *testing.T) *netpoll.Poller {
	t.Helper()
	p, err := netpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func expectCall(t *testing.T, ready chan struct{}, what string) {
	t.Helper()
	select {
	case <-ready:
	case <-time.After(waitLong):
		t.Fatalf("not called: %s", what)
	}
}

// expectNoCall checks that ready stays quiet while a readiness event
// would have had ample time to arrive: the poller's goroutine is given a
// round trip through a second socket that is readable, whose event comes
// after any the first would have produced.
func expectNoCall(t *testing.T, p *netpoll.Poller, ready chan struct{}, what string) {
	t.Helper()
	a, b := tcpPair(t)
	marker := make(chan struct{}, 1)
	if err := withFD(t, a, func(fd int) error {
		_, err := p.Add(fd, func() { marker <- struct{}{} })
		return err
	}); err != nil {
		t.Fatal(err)
	}
	b.Write([]byte("m"))
	expectCall(t, marker, "the marker socket")
	select {
	case <-ready:
		t.Fatalf("called: %s", what)
	default:
	}
}

func TestReadinessIsOneShot(t *testing.T) {
	p := newPoller(t)
	a, b := tcpPair(t)
	ready := make(chan struct{}, 8)
	var k netpoll.Key
	if err := withFD(t, a, func(fd int) (err error) {
		k, err = p.Add(fd, func() { ready <- struct{}{} })
		return err
	}); err != nil {
		t.Fatal(err)
	}
	expectNoCall(t, p, ready, "before the peer sent anything")

	b.Write([]byte("hello"))
	expectCall(t, ready, "after the peer sent")
	b.Write([]byte("more"))
	expectNoCall(t, p, ready, "again before Rearm")

	// Unread bytes: Rearm reports them at once.
	if err := withFD(t, a, func(fd int) error { return p.Rearm(fd, k) }); err != nil {
		t.Fatal(err)
	}
	expectCall(t, ready, "after Rearm with bytes unread")

	// Read out: Rearm waits for new bytes.
	drain(t, a)
	if err := withFD(t, a, func(fd int) error { return p.Rearm(fd, k) }); err != nil {
		t.Fatal(err)
	}
	expectNoCall(t, p, ready, "after Rearm with nothing to read")
	b.Write([]byte("x"))
	expectCall(t, ready, "after Rearm, when the peer sent")

	// The peer's end of sending is readiness too.
	drain(t, a)
	if err := withFD(t, a, func(fd int) error { return p.Rearm(fd, k) }); err != nil {
		t.Fatal(err)
	}
	b.CloseWrite()
	expectCall(t, ready, "after the peer's FIN")
}

func TestRemove(t *testing.T) {
	p := newPoller(t)
	a, b := tcpPair(t)
	ready := make(chan struct{}, 8)
	var k netpoll.Key
	if err := withFD(t, a, func(fd int) (err error) {
		k, err = p.Add(fd, func() { ready <- struct{}{} })
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := p.Len(); got != 1 {
		t.Fatalf("Len = %d, want 1", got)
	}
	if err := withFD(t, a, func(fd int) error { return p.Remove(fd, k) }); err != nil {
		t.Fatal(err)
	}
	b.Write([]byte("hello"))
	expectNoCall(t, p, ready, "after Remove")
	if got := p.Len(); got != 1 { // the marker socket of expectNoCall
		t.Fatalf("Len = %d, want 1", got)
	}
}

// A descriptor number is reused once closed: the new socket's readiness
// must reach the new registration only, however the old one ended.
func TestClosedDescriptorReused(t *testing.T) {
	p := newPoller(t)
	a, _ := tcpPair(t)
	old := make(chan struct{}, 8)
	var oldFD int
	var oldKey netpoll.Key
	if err := withFD(t, a, func(fd int) (err error) {
		oldFD = fd
		oldKey, err = p.Add(fd, func() { old <- struct{}{} })
		return err
	}); err != nil {
		t.Fatal(err)
	}
	a.Close() // the kernel stops watching it
	p.Forget(oldKey)

	// Find a new socket on the same number.
	var c, d *net.TCPConn
	for range 50 {
		c, d = tcpPair(t)
		fd := -1
		withFD(t, c, func(n int) error { fd = n; return nil })
		if fd == oldFD {
			break
		}
		c = nil
	}
	if c == nil {
		t.Skip("the descriptor number was not reused")
	}
	fresh := make(chan struct{}, 8)
	if err := withFD(t, c, func(fd int) error {
		_, err := p.Add(fd, func() { fresh <- struct{}{} })
		return err
	}); err != nil {
		t.Fatal(err)
	}
	d.Write([]byte("hi"))
	expectCall(t, fresh, "the new socket")
	select {
	case <-old:
		t.Fatal("the closed socket's function was called")
	default:
	}
}

func TestClose(t *testing.T) {
	p, err := netpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	a, b := tcpPair(t)
	ready := make(chan struct{}, 8)
	if err := withFD(t, a, func(fd int) error {
		_, err := p.Add(fd, func() { ready <- struct{}{} })
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	b.Write([]byte("after close"))
	select { // Close has ended the poller's goroutine: nothing can call now
	case <-ready:
		t.Fatal("called after Close")
	default:
	}
	if err := withFD(t, a, func(fd int) error { _, err := p.Add(fd, func() {}); return err }); !errors.Is(err, netpoll.ErrClosed) {
		t.Fatalf("Add after Close: %v, want ErrClosed", err)
	}
	if err := p.Close(); !errors.Is(err, netpoll.ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
}

func TestAddBadDescriptor(t *testing.T) {
	p := newPoller(t)
	if _, err := p.Add(-1, func() {}); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Add(-1) = %v, want EBADF", err)
	}
	if got := p.Len(); got != 0 {
		t.Fatalf("a failed Add left %d registrations", got)
	}
}

// Many sockets, each read and rearmed by a goroutine of its own as its
// function is called, as a server would: every byte sent arrives once.
func TestManySockets(t *testing.T) {
	p := newPoller(t)
	const sockets, rounds = 64, 20
	var wg sync.WaitGroup
	type sock struct {
		srv, peer *net.TCPConn
		k         netpoll.Key
		got       chan byte
	}
	socks := make([]*sock, sockets)
	for i := range socks {
		a, b := tcpPair(t)
		s := &sock{srv: a, peer: b, got: make(chan byte, rounds)}
		socks[i] = s
		rc, _ := a.SyscallConn()
		onReady := func() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var buf [64]byte
				rc.Read(func(fd uintptr) bool {
					n, _ := syscall.Read(int(fd), buf[:])
					for _, c := range buf[:max(n, 0)] {
						s.got <- c
					}
					return true
				})
				rc.Control(func(fd uintptr) { p.Rearm(int(fd), s.k) })
			}()
		}
		if err := withFD(t, a, func(fd int) (err error) {
			s.k, err = p.Add(fd, onReady)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	for r := range rounds {
		for _, s := range socks {
			s.peer.Write([]byte{byte(r)})
		}
	}
	for i, s := range socks {
		for r := range rounds {
			select {
			case c := <-s.got:
				if c != byte(r) {
					t.Fatalf("socket %d: byte %d is %d", i, r, c)
				}
			case <-time.After(waitLong):
				t.Fatalf("socket %d: byte %d never read", i, r)
			}
		}
	}
	p.Close()
	wg.Wait()
}
