package wsproto_test

import (
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
	"time"

	"ringchat/wsproto"
)

// numbered returns a binary frame of size bytes that starts with i.
func numbered(i, size int) []byte {
	p := make([]byte, size)
	binary.BigEndian.PutUint32(p, uint32(i))
	return wsproto.AppendFrame(nil, wsproto.OpBinary, p)
}

func TestTryWriteFrames(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("writes without waiting are implemented on Linux only")
	}
	t.Run("all taken", func(t *testing.T) {
		c, peer := newPair(t, true, nil)
		frames := [][]byte{numbered(0, 10), numbered(1, 2000), numbered(2, 10)}
		ok, err := c.TryWriteFrames(frames)
		if !ok || err != nil {
			t.Fatalf("TryWriteFrames = %v, %v", ok, err)
		}
		for i := range frames {
			if f := peer.next(); binary.BigEndian.Uint32(f.Payload) != uint32(i) {
				t.Fatalf("frame %d arrived as %d", i, binary.BigEndian.Uint32(f.Payload))
			}
		}
	})
	t.Run("client", func(t *testing.T) {
		c, _ := newPair(t, false, nil)
		if _, err := c.TryWriteFrames([][]byte{numbered(0, 4)}); !errors.Is(err, wsproto.ErrPreparedByClient) {
			t.Fatalf("client TryWriteFrames: %v", err)
		}
	})
	t.Run("after a timed write", func(t *testing.T) {
		// The deadline a WriteTimeout sets must not outlive its write and
		// fail a later write that does not wait.
		c, peer := newPair(t, true, &wsproto.ConnOptions{WriteTimeout: 20 * time.Millisecond})
		if err := c.WriteMessage(wsproto.OpBinary, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		peer.next()
		time.Sleep(50 * time.Millisecond) // let the old deadline pass
		if ok, err := c.TryWriteFrames([][]byte{numbered(7, 4)}); !ok || err != nil {
			t.Fatalf("TryWriteFrames = %v, %v", ok, err)
		}
		if f := peer.next(); binary.BigEndian.Uint32(f.Payload) != 7 {
			t.Fatal("wrong frame")
		}
	})
}

// A socket that fills up: TryWriteFrames takes a batch the socket cannot
// hold, a goroutine of the Conn sends the rest when the peer reads, and
// nothing — neither another batch nor a control frame — lands inside it.
func TestTryWriteFramesFullSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("writes without waiting are implemented on Linux only")
	}
	a, b := tcpPair(t)
	a.SetWriteBuffer(4096)
	b.SetReadBuffer(4096)
	c := wsproto.NewConnForTest(a, true, nil, nil)
	t.Cleanup(func() { c.CloseNow() })

	const size = 1000
	sent := 0
	partial := false
	for !partial {
		batch := [][]byte{numbered(sent, size), numbered(sent+1, size), numbered(sent+2, size)}
		ok, err := c.TryWriteFrames(batch)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			partial = true // the previous batch is still going out
			break
		}
		sent += len(batch)
		if sent > 1<<20/size {
			t.Fatal("the socket never filled up")
		}
	}
	if ok, _ := c.TryWriteFrames([][]byte{numbered(sent, size)}); ok {
		t.Fatal("a batch was taken while the rest of another was waiting")
	}
	pinged := make(chan error, 1)
	go func() { pinged <- c.WritePing([]byte("after")) }() // waits for the lock
	peer := newRawPeer(t, b, true)
	for i := range sent {
		f := peer.next()
		if f.Op != wsproto.OpBinary || len(f.Payload) != size || binary.BigEndian.Uint32(f.Payload) != uint32(i) {
			t.Fatalf("frame %d: %v of %d bytes starting %v", i, f.Op, len(f.Payload), f.Payload[:4])
		}
	}
	if f := peer.next(); f.Op != wsproto.OpPing || string(f.Payload) != "after" {
		t.Fatalf("after the data: %v %q, want the ping", f.Op, f.Payload)
	}
	if err := <-pinged; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d frames of %d bytes taken before the socket was full", sent, size)
}

func TestWaitReadable(t *testing.T) {
	c, peer := newPair(t, true, nil)
	if wsproto.ReadBufferHeld(c) {
		t.Fatal("a new connection holds a read buffer")
	}
	woke := make(chan error, 1)
	go func() { woke <- c.WaitReadable() }()
	select {
	case err := <-woke:
		if runtime.GOOS == "linux" {
			t.Fatalf("WaitReadable returned %v before anything was sent", err)
		}
	case <-time.After(50 * time.Millisecond):
	}
	// Two messages in one write: the second is buffered after the first.
	peer.write(append(peer.mk.msg(wsproto.OpText, "one"), peer.mk.msg(wsproto.OpText, "two")...))
	if err := <-woke; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one", "two"} {
		if err := c.WaitReadable(); err != nil {
			t.Fatal(err)
		}
		_, msg, err := c.ReadMessage(nil)
		if err != nil || string(msg) != want {
			t.Fatalf("ReadMessage = %q, %v; want %q", msg, err, want)
		}
	}
	if wsproto.ReadBufferHeld(c) {
		t.Fatal("the read buffer is held after every message was read")
	}

	t.Run("deadline", func(t *testing.T) {
		c, _ := newPair(t, true, nil)
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		err := c.WaitReadable()
		if runtime.GOOS == "linux" && err == nil {
			t.Fatal("WaitReadable ignored the read deadline")
		}
		if err != nil && c.WaitReadable() == nil {
			t.Fatal("the error was not final")
		}
	})
	t.Run("close arrives", func(t *testing.T) {
		c, peer := newPair(t, true, nil)
		peer.write(peer.mk.frame(true, wsproto.OpClose, []byte{0x03, 0xE8}))
		if err := c.WaitReadable(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.ReadMessage(nil); wsproto.CloseStatus(err) != wsproto.CloseNormal {
			t.Fatalf("ReadMessage after the close: %v", err)
		}
	})
}

// Done is made on demand, before or after the connection closes.
func TestDoneAndClosed(t *testing.T) {
	c, _ := newPair(t, true, nil)
	before := c.Done()
	if c.Closed() {
		t.Fatal("Closed before CloseNow")
	}
	c.CloseNow()
	for _, ch := range []<-chan struct{}{before, c.Done()} {
		select {
		case <-ch:
		default:
			t.Fatal("Done not closed after CloseNow")
		}
	}
	if !c.Closed() {
		t.Fatal("not Closed after CloseNow")
	}
}
