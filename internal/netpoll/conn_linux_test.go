package netpoll_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"ringchat/internal/netpoll"
)

// detachedPair returns the two ends of a loopback TCP connection, both
// taken out of package net, waiting through one Poller.
func detachedPair(t *testing.T, waits *netpoll.Poller) (net.Conn, net.Conn) {
	t.Helper()
	a, b := tcpPair(t)
	da, err := netpoll.Detach(a, waits)
	if err != nil {
		t.Fatal(err)
	}
	db, err := netpoll.Detach(b, waits)
	if err != nil {
		t.Fatal(err)
	}
	return da, db
}

// TestConnConformance runs x/net's conformance tests for net.Conn — basic
// I/O, racing reads and writes, deadlines in the past and the future,
// Close waking a blocked call, concurrent methods — on two detached ends.
func TestConnConformance(t *testing.T) {
	waits := newPoller(t)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		a, d, err := dialLoopback()
		if err != nil {
			return nil, nil, nil, err
		}
		if c1, err = netpoll.Detach(a, waits); err != nil {
			a.Close()
			d.Close()
			return nil, nil, nil, err
		}
		if c2, err = netpoll.Detach(d, waits); err != nil {
			c1.Close()
			d.Close()
			return nil, nil, nil, err
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
	// nettest leaves its copying goroutines to end by themselves once stop
	// has closed the ends; nothing signals it, so the count is polled.
	for deadline := time.Now().Add(waitLong); waits.Len() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the wait poller holds %d registrations after the tests, want 0", waits.Len())
		}
	}
}

// TestDetach checks that the original connection is closed, the socket
// stays open under the new Conn, with the same addresses.
func TestDetach(t *testing.T) {
	waits := newPoller(t)
	a, b := tcpPair(t)
	local, remote := a.LocalAddr().String(), a.RemoteAddr().String()
	d, err := netpoll.Detach(a, waits)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("writing the original after Detach: %v, want net.ErrClosed", err)
	}
	if got := d.LocalAddr().String(); got != local {
		t.Errorf("LocalAddr = %s, want %s", got, local)
	}
	if got := d.RemoteAddr().String(); got != remote {
		t.Errorf("RemoteAddr = %s, want %s", got, remote)
	}
	if _, err := d.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
	b.Write([]byte("back"))
	if _, err := io.ReadFull(d, buf[:4]); err != nil || string(buf[:4]) != "back" {
		t.Fatalf("detached read %q, %v", buf[:4], err)
	}
	b.Close()
	if _, err := d.Read(buf); err != io.EOF {
		t.Errorf("read after the peer closed: %v, want io.EOF", err)
	}
}

// TestDetachRefusesNonSockets: a net.Conn without a descriptor stays as
// it was.
func TestDetachRefusesNonSockets(t *testing.T) {
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if _, err := netpoll.Detach(p1, newPoller(t)); !errors.Is(err, netpoll.ErrUnsupported) {
		t.Fatalf("Detach(net.Pipe) = %v, want ErrUnsupported", err)
	}
}

// fillSendBuffer writes to c until its socket is full, so that the next
// write waits. It shrinks the buffers first so that it is quick.
func fillSendBuffer(t *testing.T, c net.Conn) {
	t.Helper()
	rc, _ := c.(syscall.Conn).SyscallConn()
	rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) })
	chunk := make([]byte, 64<<10)
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	defer c.SetWriteDeadline(time.Time{})
	for {
		if _, err := c.Write(chunk); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestBlockedWriteResumes writes far more than the socket holds to a peer
// that reads slowly: the write waits for room again and again, and every
// byte arrives in order.
func TestBlockedWriteResumes(t *testing.T) {
	waits := newPoller(t)
	a, b := detachedPair(t, waits)
	defer a.Close()
	defer b.Close()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	got := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		chunk := make([]byte, 8<<10)
		for buf.Len() < len(payload) {
			n, err := b.Read(chunk)
			buf.Write(chunk[:n])
			if err != nil {
				break
			}
		}
		got <- buf.Bytes()
	}()
	if n, err := a.Write(payload); err != nil || n != len(payload) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(payload))
	}
	if r := <-got; !bytes.Equal(r, payload) {
		t.Fatalf("peer got %d bytes, not the %d written", len(r), len(payload))
	}
	if n := waits.Len(); n != 0 {
		t.Errorf("the wait poller holds %d registrations after the write, want 0", n)
	}
}

// TestCloseWakesBoth: a Read waiting for bytes and a Write waiting for
// room at the same time on one Conn both return net.ErrClosed on Close,
// and nothing is left registered.
func TestCloseWakesBoth(t *testing.T) {
	waits := newPoller(t)
	a, b := detachedPair(t, waits)
	defer b.Close()
	fillSendBuffer(t, a)
	errs := make(chan error, 2)
	go func() { _, err := a.Read(make([]byte, 1)); errs <- err }()
	go func() { _, err := a.Write(make([]byte, 1<<20)); errs <- err }()
	// Both are waiting once the poller holds the registration for both.
	for deadline := time.Now().Add(waitLong); waits.Len() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("nothing waited")
		}
		time.Sleep(time.Millisecond) // polling a condition with no signal to wait on
	}
	a.Close()
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked call after Close: %v, want net.ErrClosed", err)
			}
		case <-time.After(waitLong):
			t.Fatal("a blocked call was not woken by Close")
		}
	}
	if n := waits.Len(); n != 0 {
		t.Errorf("the wait poller holds %d registrations after Close, want 0", n)
	}
}

// TestReadAndWriteWaitTogether: a Read and a Write wait at once on one
// Conn, and each is woken by its own readiness — the write by room, the
// read by bytes — in either order.
func TestReadAndWriteWaitTogether(t *testing.T) {
	waits := newPoller(t)
	a, b := detachedPair(t, waits)
	defer a.Close()
	defer b.Close()
	fillSendBuffer(t, a)
	readDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 5)
		_, err := io.ReadFull(a, buf)
		if err == nil && string(buf) != "hello" {
			err = errors.New("read " + string(buf))
		}
		readDone <- err
	}()
	writeDone := make(chan error, 1)
	go func() { _, err := a.Write(make([]byte, 1<<20)); writeDone <- err }()
	b.Write([]byte("hello")) // wakes the read; the write still waits
	select {
	case err := <-readDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLong):
		t.Fatal("the read was not woken by bytes while a write waited")
	}
	select {
	case err := <-writeDone:
		t.Fatalf("the write returned (%v) with the peer's buffer still full", err)
	default:
	}
	go io.Copy(io.Discard, b) // room: the write ends
	select {
	case err := <-writeDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLong):
		t.Fatal("the write was not woken by room")
	}
}

// TestCloseUnderControl: Close while a RawConn call is using the
// descriptor leaves it open until the call returns, and later calls fail.
func TestCloseUnderControl(t *testing.T) {
	waits := newPoller(t)
	a, b := detachedPair(t, waits)
	defer b.Close()
	rc, err := a.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var inside error
	var once sync.Once
	if err := rc.Control(func(fd uintptr) {
		once.Do(func() {
			a.Close()
			_, err := syscall.Write(int(fd), []byte("still open"))
			inside = err
		})
	}); err != nil {
		t.Fatal(err)
	}
	if inside != nil {
		t.Errorf("writing the descriptor after Close, inside Control: %v", inside)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "still open" {
		t.Errorf("peer read %q, %v", buf, err)
	}
	if err := rc.Control(func(uintptr) {}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Control after Close: %v, want net.ErrClosed", err)
	}
	if _, err := b.Read(buf); err != io.EOF {
		t.Errorf("peer read after Close: %v, want io.EOF (the socket closed once Control returned)", err)
	}
}

// TestWriteBuffers writes many buffers, more than one writev takes and
// more than the socket holds, some empty: every byte arrives in order and
// the vector is consumed.
func TestWriteBuffers(t *testing.T) {
	waits := newPoller(t)
	a, b := detachedPair(t, waits)
	defer a.Close()
	defer b.Close()
	var v net.Buffers
	var want []byte
	for i := range 300 {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, (i*7919)%30000)
		v = append(v, p)
		want = append(want, p...)
	}
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, len(want))
		n, _ := io.ReadFull(b, buf)
		got <- buf[:n]
	}()
	n, err := a.(interface {
		WriteBuffers(*net.Buffers) (int64, error)
	}).WriteBuffers(&v)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("WriteBuffers = %d, %v; want %d, nil", n, err, len(want))
	}
	if len(v) != 0 {
		t.Errorf("%d buffers left in the vector, want 0", len(v))
	}
	if r := <-got; !bytes.Equal(r, want) {
		t.Fatalf("peer got %d bytes, not the %d written in order", len(r), len(want))
	}
}
