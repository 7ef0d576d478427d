package chat_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"ringchat/chat"
	"ringchat/internal/chattest"
	"ringchat/wsproto"
)

// liveServer runs a chat server behind its own HTTPServer (the limits
// cmd/server runs with) on a loopback port, and returns its address.
func liveServer(t *testing.T, opts chat.Options) (*chat.Server, string) {
	t.Helper()
	s := chattest.Start(t, nil, opts)
	return s.Server, s.Addr
}

// chatter connects a well-behaved client and checks it can talk.
func chatter(t *testing.T, addr, name string) *testClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	ws, _, err := wsproto.Dial(ctx, "ws://"+addr+"/ws?name="+name, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := (&testClient{t: t, ws: ws, events: make(chan timedEvent, 4096), err: make(chan error, 1)}).startReading()
	c.nextOf(chat.TypeWelcome)
	return c
}

// say sends text and waits for it to come back.
func (c *testClient) say(text string) time.Duration {
	c.t.Helper()
	start := time.Now()
	c.send(text)
	for {
		if e := c.nextOf(chat.TypeMessage); e.Text == text {
			return time.Since(start)
		}
	}
}

// waitClosed waits until the server closes nc, reading and dropping what
// it sends, and returns how long that took.
func waitClosed(t *testing.T, nc net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	nc.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, nc)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server did not close the connection within %v", limit)
	}
	return time.Since(start)
}

// A client that sends its handshake a byte at a time is cut off after the
// handshake timeout and meanwhile delays no one.
func TestSlowlorisCutOff(t *testing.T) {
	_, addr := liveServer(t, chat.Options{HandshakeTimeout: 300 * time.Millisecond})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		req := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := nc.Write([]byte{req[i%len(req)]}); err != nil {
				return
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	a := chatter(t, addr, "a")
	if d := a.say("not held up"); d > 2*time.Second {
		t.Errorf("a chat message took %v while a slowloris was connecting", d)
	}
	if d := waitClosed(t, nc, 5*time.Second); d > 3*time.Second {
		t.Errorf("slowloris cut off after %v, want about the 300 ms handshake timeout", d)
	}
}

func TestHeaderTooLarge431(t *testing.T) {
	_, addr := liveServer(t, chat.Options{MaxHeaderBytes: 4096})
	req, _ := http.NewRequest("GET", "http://"+addr+"/ws", nil)
	req.Header.Set("X-Padding", strings.Repeat("x", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

// rawClient completes a handshake by hand and returns the connection, for
// clients that misbehave below the WebSocket layer.
func rawClient(t *testing.T, addr, query string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "GET /ws?%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", query, addr)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return nc, br
}

// maskedFrame encodes a client frame.
func maskedFrame(op wsproto.Opcode, payload []byte) []byte {
	key := [4]byte{1, 2, 3, 4}
	b := wsproto.AppendHeader(nil, wsproto.Header{Fin: true, Opcode: op, Masked: true, MaskKey: key, Length: int64(len(payload))})
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// A client that floods pings and never reads the pongs: answering must not
// queue without bound. The server stops reading from it when its pongs no
// longer fit in the socket, drops it after the write timeout, and no one
// else notices.
func TestPingFlood(t *testing.T) {
	srv, addr := liveServer(t, chat.Options{WriteTimeout: 500 * time.Millisecond, SendBufferBytes: 4096})
	nc, _ := rawClient(t, addr, "name=flooder")
	nc.(*net.TCPConn).SetReadBuffer(4096)
	ping := maskedFrame(wsproto.OpPing, bytes.Repeat([]byte("p"), 125))
	batch := bytes.Repeat(ping, 64)
	flooded := make(chan int, 1)
	go func() {
		sent := 0
		nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for sent < 1<<17 {
			if _, err := nc.Write(batch); err != nil {
				break
			}
			sent += 64
		}
		flooded <- sent
	}()
	a := chatter(t, addr, "a")
	if d := a.say("during the flood"); d > 2*time.Second {
		t.Errorf("a chat message took %v during a ping flood", d)
	}
	sent := <-flooded
	if sent >= 1<<17 {
		t.Fatalf("the server read all %d pings without the client reading a pong", sent)
	}
	t.Logf("the flooder got %d pings in before the server stopped reading", sent)
	waitClosed(t, nc, 10*time.Second)
	a.say("after the flood")
	var buf bytes.Buffer
	srv.Metrics().WriteTo(&buf)
	if !strings.Contains(buf.String(), "ringchat_connections 1") {
		t.Errorf("after the flooder was dropped:\n%s", buf.String())
	}
}

// Garbage after the handshake fails that connection with a close code and
// harms no one else.
func TestGarbageFrames(t *testing.T) {
	_, addr := liveServer(t, chat.Options{})
	a := chatter(t, addr, "a")
	for i := range 20 {
		nc, _ := rawClient(t, addr, fmt.Sprintf("name=junk%d", i))
		junk := make([]byte, 4096)
		rand.Read(junk)
		nc.Write(junk)
		// Random bytes can begin a valid frame longer than they are (a
		// masked text frame of 60,000 bytes, say), which the server rightly
		// waits for: the client's FIN then tells it no more is coming.
		nc.(*net.TCPConn).CloseWrite()
		waitClosed(t, nc, 10*time.Second)
	}
	a.say("still fine")
}

// Nothing a client sends reaches the logs unescaped: a close reason with
// line breaks cannot forge a log record.
func TestLogInjection(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, addr := liveServer(t, chat.Options{Logger: logger})
	a := chatter(t, addr, "a")
	a.ws.Close(4000, "bye\nlevel=ERROR msg=\"forged record\"")
	a.closed()
	logs.waitFor(t, "disconnected")
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.HasPrefix(line, "time=") {
			t.Errorf("a log line does not start a record: %q", line)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use, whose contents a
// test can wait on.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return b.buf.Write(p)
}

// waitFor waits until the buffer holds s.
func (b *syncBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		b.mu.Lock()
		if strings.Contains(b.buf.String(), s) {
			b.mu.Unlock()
			return
		}
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("never logged %q:\n%s", s, b.String())
		}
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
