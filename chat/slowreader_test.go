package chat_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"ringchat/chat"
	"ringchat/internal/chattest"
	"ringchat/wsproto"
)

// The load of TestSlowSteadyReaders: issue 11's first finding, as a new
// user met it.
const (
	steadyRate     = 200              // messages a second, from one publisher
	steadyFor      = 18 * time.Second // how long it publishes
	steadyReaders  = 3                // slow readers in the room
	steadyInterval = time.Second      // a slow reader reads one frame this often
)

// A client that reads slowly but steadily — a 4 KiB receive buffer, one
// frame a second, in a room getting 200 messages a second — is not dead:
// the server may send it a gap event, or close it with 1008, but it never
// drops it without a close frame (CONTRACT.md: only a socket that makes no
// progress at all for the write timeout is). A fast client in the same room
// meanwhile receives every event. The server runs with its default options
// but the rate limit (once with the OS's send buffer, once with a short
// keepalive).
//
// What a lapped reader gets first may change (a durable store can serve it
// before it needs a gap), so the test asks only for what the contract
// promises: room events in id order, a gap or a 1008 close allowed, never a
// bare TCP close.
func TestSlowSteadyReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes for 18 s")
	}
	for _, tc := range []struct {
		name string
		text int // bytes of text per message
		opts chat.Options
	}{
		// Small messages, as people write them: a reader of one frame a
		// second takes 200 B/s, and its 4 KiB receive buffer reopens its
		// window only every 13-20 s — the only sign, to the sender's TCP,
		// that it reads. With a 10 s write timeout it was dropped without
		// a close frame at about 12 s.
		{"small messages", 100, chat.Options{}},
		// Long messages (near the default limit of 4096): the reader
		// takes about 4 KB a second and its kernel acknowledges bytes
		// every second or so.
		{"long messages", 4000, chat.Options{}},
		// With the OS's megabytes of send buffer a blocked write wakes
		// only after minutes of this reading, and only the peer's
		// acknowledgements show that it reads.
		{"long messages, the OS send buffer", 4000, chat.Options{SendBufferBytes: -1}},
		// The keepalive: a slow reader's pong waits behind what it has
		// still to read, so it answers a ping too late; its reading is
		// what shows it is alive. The keepalive's times and the write
		// timeout, a quarter or so of their defaults (a ping every 4 s
		// rather than 30, a pong timeout of 2 rather than 10, a write
		// timeout of 8 rather than 30), meet the keepalive within the
		// test's 18 s instead of after 40.
		{"keepalive while reading slowly", 4000, chat.Options{PingInterval: 4 * time.Second, PongTimeout: 2 * time.Second, WriteTimeout: 8 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// No rate limit: the one publisher stands for a busy room.
			tc.opts.MessageRate = -1
			testSlowSteadyReaders(t, tc.opts, tc.text)
		})
	}
}

func testSlowSteadyReaders(t *testing.T, opts chat.Options, text int) {
	srv := chattest.Start(t, nil, opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	fast := startFastReader(t, srv.URL()+"?name=fast")
	pub := dialDraining(t, srv.URL()+"?name=pub")
	var readers []*steadyReader
	for i := range steadyReaders {
		readers = append(readers, dialSteadyReader(t, srv.Addr, fmt.Sprintf("slow%d", i)))
	}
	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(ctx)
		}()
	}

	// Publish at steadyRate on average: a tick that comes late sends what
	// the schedule owes.
	pad := strings.Repeat("x", text)
	start := time.Now()
	tick := time.NewTicker(time.Second / steadyRate)
	sent := 0
	for now := range tick.C {
		elapsed := now.Sub(start)
		if elapsed >= steadyFor {
			break
		}
		for due := int(elapsed.Seconds() * steadyRate); sent < due; sent++ {
			if err := pub.WriteMessage(wsproto.OpText, fmt.Appendf(nil, "m%d %s", sent, pad)); err != nil {
				t.Fatalf("publish: %v", err)
			}
		}
	}
	tick.Stop()
	if err := pub.WriteMessage(wsproto.OpText, []byte("last")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	t.Logf("published %d messages in %v", sent+1, time.Since(start).Round(time.Millisecond))

	select {
	case <-fast.done:
	case <-time.After(eventTimeout):
		t.Errorf("the fast client did not receive the last message within %v of its publication", eventTimeout)
	}

	// A connection the server drops can look alive from the client for
	// minutes: the kernel still delivers what was queued before the close.
	// So ask the server, too, before the test closes anything itself.
	for code, n := range closesByCode(srv.Server) {
		if code != "1008" {
			t.Errorf("the server ended %d of the connections with close code %s (1006: no close frame) while they were reading", n, code)
		}
	}

	fast.ws.CloseNow()
	if err := fast.wait(); err != nil {
		t.Errorf("fast client: %v", err)
	} else if fast.messages != sent+1 {
		t.Errorf("fast client received %d of the %d messages", fast.messages, sent+1)
	}
	cancel()
	for _, r := range readers {
		r.nc.Close()
	}
	wg.Wait()
	for _, r := range readers {
		if r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
			continue
		}
		t.Logf("%s: %d frames in %v, %d gaps, close code %d, last event %v old when read",
			r.name, r.frames, r.lastRead.Sub(r.joined).Round(time.Second), r.gaps, r.closeCode, r.lastAge.Round(time.Second))
	}
}

// closesByCode returns the server's ringchat_closes_total counters that are
// not zero, by code.
func closesByCode(s *chat.Server) map[string]int {
	var b strings.Builder
	s.Metrics().WriteTo(&b)
	closes := map[string]int{}
	for _, line := range strings.Split(b.String(), "\n") {
		var code string
		var n int
		if _, err := fmt.Sscanf(line, "ringchat_closes_total{code=%q} %d", &code, &n); err == nil && n > 0 {
			closes[code] = n
		}
	}
	return closes
}

// steadyReader is a raw TCP client with a 4 KiB receive buffer that reads
// one frame every steadyInterval straight from the socket, with no buffer of
// its own, so the server's kernel sees exactly the pace at which it reads.
type steadyReader struct {
	name string
	nc   net.Conn
	next uint64 // the id the next room event must have; 0 after a gap: any later one

	// Written by run, read after it returned.
	joined, lastRead time.Time
	lastAge          time.Duration // how old the last event read was
	frames, gaps     int
	closeCode        wsproto.CloseCode // from the server's close frame; 0 if none came
	err              error             // a bare close, an event out of order
}

// dialSteadyReader connects a slow reader and reads its welcome.
func dialSteadyReader(t *testing.T, addr, name string) *steadyReader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	nc, err := smallBufferDial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(eventTimeout))
	fmt.Fprintf(nc, "GET /ws?name=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", name, addr)
	// Read the response a byte at a time: whatever follows it stays in the
	// socket, for the frame reader.
	var resp []byte
	for !strings.HasSuffix(string(resp), "\r\n\r\n") {
		var b [1]byte
		if _, err := io.ReadFull(nc, b[:]); err != nil {
			t.Fatalf("%s: handshake: %v", name, err)
		}
		resp = append(resp, b[0])
	}
	if !strings.HasPrefix(string(resp), "HTTP/1.1 101 ") {
		t.Fatalf("%s: handshake answered %q", name, resp)
	}
	op, p, err := readServerFrame(nc)
	var w chat.Event
	if err != nil || op != wsproto.OpText || json.Unmarshal(p, &w) != nil || w.Type != chat.TypeWelcome {
		t.Fatalf("%s: first frame %v %q %v, want a welcome", name, op, p, err)
	}
	nc.SetDeadline(time.Time{})
	return &steadyReader{name: name, nc: nc, next: w.ID + 1, joined: time.Now()}
}

// run reads a frame every steadyInterval until ctx ends, the server closes
// the connection, or something is wrong.
func (r *steadyReader) run(ctx context.Context) {
	tick := time.NewTicker(steadyInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		op, p, err := readServerFrame(r.nc)
		if err != nil {
			if ctx.Err() == nil {
				r.err = fmt.Errorf("the server dropped the connection without a close frame %v after joining, after %d frames: %v",
					time.Since(r.joined).Round(time.Millisecond), r.frames, err)
			}
			return
		}
		r.frames++
		r.lastRead = time.Now()
		switch op {
		case wsproto.OpText:
			if r.err = r.event(p); r.err != nil {
				return
			}
		case wsproto.OpPing:
			if _, err := r.nc.Write(maskedFrame(wsproto.OpPong, p)); err != nil && ctx.Err() == nil {
				r.err = fmt.Errorf("pong: %v", err)
				return
			}
		case wsproto.OpClose:
			if len(p) >= 2 {
				r.closeCode = wsproto.CloseCode(binary.BigEndian.Uint16(p))
			}
			if r.closeCode != wsproto.ClosePolicyViolation {
				r.err = fmt.Errorf("closed with %d %q, want 1008 if closed at all", r.closeCode, p)
			}
			return
		default:
			r.err = fmt.Errorf("unexpected frame %v", op)
			return
		}
	}
}

// event checks one event: room events in id order, a gap allowed.
func (r *steadyReader) event(p []byte) error {
	var e chat.Event
	if err := json.Unmarshal(p, &e); err != nil {
		return fmt.Errorf("bad JSON %q: %v", p, err)
	}
	if at, err := time.Parse(chat.TimeLayout, e.Time); err == nil {
		r.lastAge = time.Since(at)
	}
	switch e.Type {
	case chat.TypeGap:
		r.gaps++
		r.next = 0
	case chat.TypeMessage, chat.TypeMe, chat.TypeJoin, chat.TypeLeave, chat.TypeNick:
		if r.next != 0 && e.ID != r.next || e.ID == 0 {
			return fmt.Errorf("room event id %d, want %d (no gap event came between)", e.ID, r.next)
		}
		r.next = e.ID + 1
	default:
		return fmt.Errorf("unexpected event %+v", e)
	}
	return nil
}

// readServerFrame reads one unmasked, unfragmented frame from nc.
func readServerFrame(nc net.Conn) (wsproto.Opcode, []byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(nc, h[:2]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("frame header %x: want FIN and no mask from a server", h[:2])
	}
	op, n := wsproto.Opcode(h[0]&0x0f), uint64(h[1]&0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(nc, h[:2]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err := io.ReadFull(nc, h[:8]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(h[:8])
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(nc, p)
	return op, p, err
}

// fastReader is a client that reads everything as fast as it comes and
// checks that it gets every room event, in order.
type fastReader struct {
	ws       *wsproto.Conn
	done     chan struct{} // closed when the message "last" arrived
	result   chan error
	messages int // messages received; read after wait
}

func startFastReader(t *testing.T, url string) *fastReader {
	t.Helper()
	ws := dialWS(t, url)
	_, msg, err := ws.ReadMessage(nil)
	var w chat.Event
	if err != nil || json.Unmarshal(msg, &w) != nil || w.Type != chat.TypeWelcome {
		t.Fatalf("fast client's first frame %q %v, want a welcome", msg, err)
	}
	f := &fastReader{ws: ws, done: make(chan struct{}), result: make(chan error, 1)}
	go func() {
		next := w.ID + 1
		var buf []byte
		for {
			_, msg, err := ws.ReadMessage(buf)
			if err != nil {
				select {
				case <-f.done:
					err = nil // closed by the test, after the last message
				default:
				}
				f.result <- err
				return
			}
			buf = msg
			var e chat.Event
			if err := json.Unmarshal(msg, &e); err != nil {
				f.result <- fmt.Errorf("bad JSON %q: %v", msg, err)
				return
			}
			if e.Type == chat.TypeGap {
				f.result <- fmt.Errorf("gap after id %d: %+v", next-1, e)
				return
			}
			if e.ID != next {
				f.result <- fmt.Errorf("%s event with id %d, want %d", e.Type, e.ID, next)
				return
			}
			next++
			if e.Type == chat.TypeMessage && e.From == "pub" {
				f.messages++
				if e.Text == "last" {
					close(f.done)
				}
			}
		}
	}()
	return f
}

// wait returns why the fast reader stopped: nil when the test closed it
// after the last message.
func (f *fastReader) wait() error {
	return <-f.result
}

// dialDraining connects a client whose events are read and dropped, so
// that it never becomes a slow reader itself.
func dialDraining(t *testing.T, url string) *wsproto.Conn {
	t.Helper()
	ws := dialWS(t, url)
	go func() {
		var buf []byte
		for {
			_, msg, err := ws.ReadMessage(buf)
			if err != nil {
				return
			}
			buf = msg
		}
	}()
	return ws
}

func dialWS(t *testing.T, url string) *wsproto.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	ws, _, err := wsproto.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}
