package wsproto_test

// Benchmarks of the steady-state paths. The in-memory conns measure wsproto
// itself; the loopback TCP ones include the kernel, and are the only place
// where WriteMessage and WriteFrames use writev. Every steady-state path
// must show 0 allocs/op.

import (
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"ringchat/wsproto"
)

// replayConn is a net.Conn whose reads replay one byte stream forever and
// whose writes are discarded.
type replayConn struct {
	data []byte
	pos  int
}

func (c *replayConn) Read(p []byte) (int, error) {
	n := copy(p, c.data[c.pos:])
	c.pos += n
	if c.pos == len(c.data) {
		c.pos = 0
	}
	return n, nil
}

func (c *replayConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *replayConn) Close() error                       { return nil }
func (c *replayConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *replayConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *replayConn) SetDeadline(t time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(t time.Time) error { return nil }

// discardConn is a net.Conn that accepts every write and never has data.
type discardConn struct{ replayConn }

func (c *discardConn) Read(p []byte) (int, error) { return 0, io.EOF }

var benchSizes = []struct {
	name string
	n    int
}{
	{"16B", 16},
	{"1KiB", 1 << 10},
	{"64KiB", 64 << 10},
}

// textPayload returns n bytes of ASCII text.
func textPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// BenchmarkReadMessage measures a server reading masked client frames with
// ReadMessage, reusing its buffer: header parsing, unmasking and, for text,
// UTF-8 validation.
func BenchmarkReadMessage(b *testing.B) {
	for _, op := range []wsproto.Opcode{wsproto.OpBinary, wsproto.OpText} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%v/%s", op, size.name), func(b *testing.B) {
				frame := frameMaker{mask: true}.frame(true, op, textPayload(size.n))
				var stream []byte
				for len(stream) < 256<<10 {
					stream = append(stream, frame...)
				}
				c := wsproto.NewConnForTest(&replayConn{data: stream}, true, nil, nil)
				_, buf, err := c.ReadMessage(nil) // warm up: grow the buffer once
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				for b.Loop() {
					_, buf, err = c.ReadMessage(buf)
					if err != nil || len(buf) != size.n {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkNextReader measures streaming reads of the same frames.
func BenchmarkNextReader(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			frame := frameMaker{mask: true}.frame(true, wsproto.OpText, textPayload(size.n))
			var stream []byte
			for len(stream) < 256<<10 {
				stream = append(stream, frame...)
			}
			c := wsproto.NewConnForTest(&replayConn{data: stream}, true, nil, nil)
			buf := make([]byte, 4096)
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				_, r, err := c.NextReader()
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := r.Read(buf)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// writeBench is one way of sending a message, given a Conn, for the write
// benchmarks.
type writeBench struct {
	name   string
	server bool
	write  func(c *wsproto.Conn, payload, frame []byte) error
}

var writeBenches = []writeBench{
	{"server WriteMessage", true, func(c *wsproto.Conn, p, _ []byte) error { return c.WriteMessage(wsproto.OpBinary, p) }},
	{"server WriteFrames prepared", true, func(c *wsproto.Conn, _, f []byte) error { return c.WriteFrames([][]byte{f}) }},
	{"server TryWriteFrames prepared", true, tryWriteFrames()},
	{"client WriteMessage masked", false, func(c *wsproto.Conn, p, _ []byte) error { return c.WriteMessage(wsproto.OpBinary, p) }},
	{"server NextWriter", true, func(c *wsproto.Conn, p, _ []byte) error {
		w, err := c.NextWriter(wsproto.OpBinary)
		if err != nil {
			return err
		}
		w.Write(p)
		return w.Close()
	}},
}

// tryWriteFrames writes with TryWriteFrames — over TCP on Linux one
// non-blocking write — falling back to the blocking WriteFrames when the
// socket is full, as a caller does. The batch slice is made once per frame,
// as a server reuses its batches: TryWriteFrames hands it to the socket
// through a field, so a new slice literal per call would escape.
func tryWriteFrames() func(c *wsproto.Conn, _, f []byte) error {
	var fs [][]byte
	return func(c *wsproto.Conn, _, f []byte) error {
		if len(fs) == 0 || &fs[0][0] != &f[0] {
			fs = [][]byte{f}
		}
		if ok, err := c.TryWriteFrames(fs); ok || err != nil {
			return err
		}
		return c.WriteFrames(fs)
	}
}

// BenchmarkWrite measures the write paths into a conn that discards: the
// cost of wsproto alone.
func BenchmarkWrite(b *testing.B) {
	benchWrites(b, func(b *testing.B) net.Conn { return &discardConn{} })
}

// BenchmarkWriteTCP measures the same paths over loopback TCP, with a
// goroutine draining the other end: the path where a server's
// WriteMessage and WriteFrames use writev.
func BenchmarkWriteTCP(b *testing.B) {
	benchWrites(b, func(b *testing.B) net.Conn {
		a, peer := tcpPair(b)
		var wg sync.WaitGroup
		wg.Go(func() { io.Copy(io.Discard, peer) })
		b.Cleanup(func() { a.Close(); wg.Wait() })
		return a
	})
}

// benchWrites runs every write path of writeBenches at every size over a
// connection from newConn.
func benchWrites(b *testing.B, newConn func(*testing.B) net.Conn) {
	for _, wb := range writeBenches {
		for _, size := range benchSizes {
			b.Run(wb.name+"/"+size.name, func(b *testing.B) {
				c := wsproto.NewConnForTest(newConn(b), wb.server, nil, nil)
				payload := textPayload(size.n)
				frame := wsproto.AppendFrame(nil, wsproto.OpBinary, payload)
				if err := wb.write(c, payload, frame); err != nil { // warm up
					b.Fatal(err)
				}
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				for b.Loop() {
					if err := wb.write(c, payload, frame); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkBroadcast models a chat room: one message to 1000 subscribers,
// encoded once and written with WriteFrames (our design) beside the
// conventional WriteMessage per subscriber, which encodes a header per
// receiver. Bytes per op count the payload once per subscriber.
func BenchmarkBroadcast(b *testing.B) {
	const subscribers = 1000
	conns := make([]*wsproto.Conn, subscribers)
	for i := range conns {
		conns[i] = wsproto.NewConnForTest(&discardConn{}, true, nil, nil)
	}
	for _, size := range []struct {
		name string
		n    int
	}{{"100B", 100}, {"1KiB", 1 << 10}} {
		payload := textPayload(size.n)
		var frame []byte
		prepared := func() {
			frame = wsproto.AppendFrame(frame[:0], wsproto.OpText, payload)
			frames := [][]byte{frame}
			for _, c := range conns {
				if err := c.WriteFrames(frames); err != nil {
					b.Fatal(err)
				}
			}
		}
		perConn := func() {
			for _, c := range conns {
				if err := c.WriteMessage(wsproto.OpText, payload); err != nil {
					b.Fatal(err)
				}
			}
		}
		for name, broadcast := range map[string]func(){"WriteFrames": prepared, "WriteMessage": perConn} {
			b.Run(name+"/"+size.name, func(b *testing.B) {
				broadcast() // warm up: each Conn keeps its vector between writes
				b.SetBytes(int64(size.n * subscribers))
				b.ReportAllocs()
				for b.Loop() {
					broadcast()
				}
			})
		}
	}
}

// BenchmarkMask compares MaskBytes, eight bytes at a time, with the byte by
// byte loop of RFC 6455 5.3.
func BenchmarkMask(b *testing.B) {
	key := [4]byte{1, 2, 3, 4}
	for _, impl := range []struct {
		name string
		mask func([4]byte, int, []byte) int
	}{
		{"MaskBytes", wsproto.MaskBytes},
		{"naive", maskNaive},
	} {
		for _, size := range benchSizes {
			b.Run(impl.name+"/"+size.name, func(b *testing.B) {
				buf := textPayload(size.n)
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				for b.Loop() {
					impl.mask(key, 1, buf)
				}
			})
		}
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// TestSteadyStateAllocs pins the 0 allocs/op of the benchmarks as a test,
// so that an allocation creeping into a hot path fails go test.
func TestSteadyStateAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts in -short mode")
	}
	payload := textPayload(1 << 10)
	frame := wsproto.AppendFrame(nil, wsproto.OpBinary, payload)
	for _, wb := range writeBenches {
		t.Run(wb.name, func(t *testing.T) {
			if !wb.server && raceEnabled() {
				// The race detector's instrumentation of crypto/rand.Read
				// makes the masking key escape to the heap.
				t.Skip("the masking key escapes under -race")
			}
			c := wsproto.NewConnForTest(&discardConn{}, wb.server, nil, nil)
			wb.write(c, payload, frame)
			if n := testing.AllocsPerRun(100, func() { wb.write(c, payload, frame) }); n != 0 {
				t.Errorf("%v allocations per write, want 0", n)
			}
		})
	}
	t.Run("server ReadMessage", func(t *testing.T) {
		var stream []byte
		for range 4 {
			stream = append(stream, frameMaker{mask: true}.frame(true, wsproto.OpText, payload)...)
		}
		c := wsproto.NewConnForTest(&replayConn{data: stream}, true, nil, nil)
		_, buf, _ := c.ReadMessage(nil)
		if n := testing.AllocsPerRun(100, func() { _, buf, _ = c.ReadMessage(buf) }); n != 0 {
			t.Errorf("%v allocations per read, want 0", n)
		}
	})
	t.Run("server ReadMessage with pings answered", func(t *testing.T) {
		if raceEnabled() {
			// Answering a ping takes a buffer from a sync.Pool, which under
			// the race detector drops a share of what is put back, on
			// purpose. make test runs this test without -race too.
			t.Skip("sync.Pool allocates at random under -race")
		}
		m := frameMaker{mask: true}
		stream := append(m.frame(true, wsproto.OpPing, []byte("keepalive")), m.frame(true, wsproto.OpBinary, payload)...)
		c := wsproto.NewConnForTest(&replayConn{data: stream}, true, nil, nil)
		_, buf, _ := c.ReadMessage(nil)
		if n := testing.AllocsPerRun(100, func() { _, buf, _ = c.ReadMessage(buf) }); n != 0 {
			t.Errorf("%v allocations per read, want 0", n)
		}
	})
}
