package wsproto_test

import (
	"errors"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"ringchat/internal/netpoll"
	"ringchat/wsproto"
)

func init() {
	readerKinds = append(readerKinds, readerKind{name: "Feed", start: startFeeder})
}

// startFeeder reads c as a server without a goroutine per connection does:
// it waits for readiness from a poller, reads what the socket holds with
// ReadAvailable, in reads smaller than most messages so that frames span
// them, pushes it into Feed and rearms; a close of the connection is
// readiness too (AfterClose). It reports what it reads as startReader does.
func startFeeder(t testing.TB, c *wsproto.Conn) *reader {
	t.Helper()
	r := &reader{t: t, results: make(chan readResult, 1024)}
	p, err := netpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex // one feeding at a time: a close and a readiness may meet
		ended bool
		key   netpoll.Key
	)
	onMessage := func(op wsproto.Opcode, payload []byte) error {
		r.results <- readResult{op: op, p: slices.Clone(payload)}
		return nil
	}
	fail := func(err error) {
		ended = true
		r.results <- readResult{err: err}
	}
	buf := make([]byte, 1000)
	feed := func() {
		defer wg.Done()
		mu.Lock()
		defer mu.Unlock()
		for !ended {
			n, err := c.ReadAvailable(buf)
			switch {
			case errors.Is(err, wsproto.ErrWouldBlock):
				if !c.FD(func(fd int) bool { return p.Rearm(fd, key) == nil }) {
					fail(c.FeedEnd(errors.New("cannot rearm")))
				}
				return
			case err != nil:
				fail(c.FeedEnd(err))
			default:
				if err := c.Feed(buf[:n], onMessage); err != nil {
					fail(err)
				}
			}
		}
	}
	// What came with the handshake first, then readiness.
	if err := c.Feed(nil, onMessage); err != nil {
		fail(err)
	}
	if !c.FD(func(fd int) bool {
		key, err = p.Add(fd, func() { wg.Add(1); go feed() })
		return err == nil
	}) {
		t.Fatalf("cannot register the connection: %v", err)
	}
	c.AfterClose(func() { wg.Add(1); go feed() })
	t.Cleanup(func() {
		c.CloseNow()
		p.Close()
		wg.Wait()
	})
	return r
}

// awaitReadable waits, with a poller, until c's socket has something to
// read.
func awaitReadable(t *testing.T, c *wsproto.Conn) {
	t.Helper()
	p, err := netpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ready := make(chan struct{}, 1)
	if !c.FD(func(fd int) bool { _, err = p.Add(fd, func() { ready <- struct{}{} }); return err == nil }) {
		t.Fatalf("cannot register: %v", err)
	}
	select {
	case <-ready:
	case <-time.After(waitLong):
		t.Fatal("the socket never became readable")
	}
}

func TestReadAvailable(t *testing.T) {
	c, peer := newPair(t, true, nil)
	if !c.CanFeed() {
		t.Fatal("a TCP connection cannot feed")
	}
	buf := make([]byte, 64)
	if n, err := c.ReadAvailable(buf); !errors.Is(err, wsproto.ErrWouldBlock) || n != 0 {
		t.Fatalf("nothing sent: ReadAvailable = %d, %v; want 0, ErrWouldBlock", n, err)
	}
	peer.write([]byte("abc"))
	awaitReadable(t, c)
	if n, err := c.ReadAvailable(buf); err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("ReadAvailable = %q, %v; want \"abc\"", buf[:n], err)
	}
	peer.conn.(*net.TCPConn).CloseWrite()
	awaitReadable(t, c)
	if _, err := c.ReadAvailable(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("after the peer's FIN: %v, want io.EOF", err)
	}
	if err := c.FeedEnd(io.EOF); wsproto.CloseStatus(err) != wsproto.CloseAbnormal || !isClosed(c) {
		t.Fatalf("FeedEnd(io.EOF) = %v (closed %v), want a 1006 closure", err, isClosed(c))
	}
	if _, err := c.ReadAvailable(buf); err == nil || errors.Is(err, wsproto.ErrWouldBlock) {
		t.Fatalf("ReadAvailable after the close = %v, want an error", err)
	}

	// A connection without a descriptor of its own cannot.
	a, _ := net.Pipe()
	pc := wsproto.NewConnForTest(a, true, nil, nil)
	defer pc.CloseNow()
	if pc.CanFeed() {
		t.Error("a net.Pipe connection can feed")
	}
	if _, err := pc.ReadAvailable(buf); err == nil {
		t.Error("ReadAvailable on a net.Pipe connection succeeded")
	}
	if pc.FD(func(int) bool { return true }) {
		t.Error("FD on a net.Pipe connection succeeded")
	}
}

// TestFeedHoldsNothingIdle checks what an idle connection read with Feed
// keeps: no read buffer and no part of a frame, after a message, a ping
// and a message in pieces; and that a part of a header counts as not idle.
func TestFeedHoldsNothingIdle(t *testing.T) {
	c, peer := newPair(t, true, nil)
	var got []string
	onMessage := func(op wsproto.Opcode, p []byte) error { got = append(got, string(p)); return nil }
	feedAll := func(p []byte) {
		t.Helper()
		for len(p) > 0 {
			n := min(len(p), 3)
			if err := c.Feed(slices.Clone(p[:n]), onMessage); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
	}
	feedAll(slices.Concat(peer.mk.msg(wsproto.OpText, "one"), peer.mk.frame(true, wsproto.OpPing, []byte("p")),
		peer.mk.frame(false, wsproto.OpText, []byte("tw")), peer.mk.frame(true, wsproto.OpContinuation, []byte("o"))))
	if !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("messages %q, want one, two", got)
	}
	if f := peer.next(); f.Op != wsproto.OpPong || string(f.Payload) != "p" {
		t.Fatalf("got %v %q, want the pong", f.Op, f.Payload)
	}
	if c.Feeding() || wsproto.ReadBufferHeld(c) {
		t.Fatalf("idle: Feeding %v, read buffer held %v; want neither", c.Feeding(), wsproto.ReadBufferHeld(c))
	}
	msg := peer.mk.msg(wsproto.OpText, "three")
	if err := c.Feed(msg[:1], onMessage); err != nil {
		t.Fatal(err)
	}
	if !c.Feeding() {
		t.Fatal("one byte of a header: Feeding is false")
	}
	if err := c.Feed(msg[1:], onMessage); err != nil || c.Feeding() || got[len(got)-1] != "three" {
		t.Fatalf("rest of the message: err %v, Feeding %v, messages %q", err, c.Feeding(), got)
	}
}

// TestFeedHandshakeBytes checks that what arrived with the handshake is
// fed before anything read later.
func TestFeedHandshakeBytes(t *testing.T) {
	mk := frameMaker{mask: true}
	first := mk.msg(wsproto.OpText, "with the handshake")
	a, b := tcpPair(t)
	c := wsproto.NewConnForTest(a, true, first[:len(first)-2], nil)
	defer c.CloseNow()
	b.Write(slices.Concat(first[len(first)-2:], mk.msg(wsproto.OpText, "later")))
	awaitReadable(t, c)
	var got []string
	onMessage := func(op wsproto.Opcode, p []byte) error { got = append(got, string(p)); return nil }
	buf := make([]byte, 4096)
	for len(got) < 2 {
		n, err := c.ReadAvailable(buf)
		if err != nil {
			t.Fatalf("ReadAvailable: %v (messages so far %q)", err, got)
		}
		if err := c.Feed(buf[:n], onMessage); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, []string{"with the handshake", "later"}) {
		t.Fatalf("messages %q", got)
	}
}

// TestFeedTooBigNotRead is TestTooBigNotRead for Feed: a header declaring
// 1 GiB fails with 1009 before any payload, allocating nothing near it.
func TestFeedTooBigNotRead(t *testing.T) {
	c, peer := newPair(t, true, nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	done := make(chan error, 1)
	go func() {
		done <- c.Feed(peer.mk.header(0x82, 127, 0, 0, 0, 0, 0x40, 0, 0, 0), func(wsproto.Opcode, []byte) error {
			return errors.New("a message")
		})
	}()
	peer.expectClose(wsproto.CloseMessageTooBig)
	peer.expectEOF() // the Conn half-closed, and waits for the peer to go
	peer.conn.Close()
	var err error
	select {
	case err = <-done:
	case <-time.After(waitLong):
		t.Fatal("Feed did not return")
	}
	runtime.ReadMemStats(&after)
	if !errors.Is(err, wsproto.ErrMessageTooBig) {
		t.Fatalf("err = %v, want ErrMessageTooBig", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("allocated %d bytes while refusing a 1 GiB frame", grew)
	}
}

// TestFeedMessageError checks that an error from onMessage is final and
// closes the connection, as an error of the read methods does.
func TestFeedMessageError(t *testing.T) {
	c, peer := newPair(t, true, nil)
	stop := errors.New("no more")
	err := c.Feed(slices.Concat(peer.mk.msg(wsproto.OpText, "a"), peer.mk.msg(wsproto.OpText, "b")), func(wsproto.Opcode, []byte) error { return stop })
	if !errors.Is(err, stop) || !isClosed(c) {
		t.Fatalf("err = %v (closed %v), want %v and the connection closed", err, isClosed(c), stop)
	}
	if again := c.Feed(nil, nil); again != err {
		t.Fatalf("next Feed = %v, want the same error", again)
	}
}

func TestAfterClose(t *testing.T) {
	c, _ := newPair(t, true, nil)
	calls := 0
	c.AfterClose(func() { calls++ })
	if calls != 0 {
		t.Fatal("called before the close")
	}
	c.CloseNow()
	c.CloseNow()
	if calls != 1 {
		t.Fatalf("called %d times, want once", calls)
	}
	c.AfterClose(func() { calls += 10 })
	if calls != 11 {
		t.Fatal("set on a closed connection: not called at once")
	}
}
