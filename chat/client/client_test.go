package client_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"ringchat/chat"
	"ringchat/chat/client"
	"ringchat/internal/chattest"
)

const waitLimit = 10 * time.Second

// output is a writer whose contents a test can wait on.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	close(o.changed)
	o.changed = make(chan struct{})
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until the output holds s n times.
func (o *output) waitFor(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		o.mu.Lock()
		got := strings.Count(o.buf.String(), s)
		ch := o.changed
		o.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("output never held %q %d times:\n%s", s, n, o.String())
		}
	}
}

// serve runs a chat server on ln until the test ends or its Stop, which
// shuts it down the way SIGTERM does: 1001 to every client.
func serve(t *testing.T, ln net.Listener) *chattest.Server {
	t.Helper()
	return chattest.Start(t, ln, chat.Options{})
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// session is a client.Run in the background with input the test types.
type session struct {
	in     *io.PipeWriter
	out    *output
	log    *output
	result chan error
	cancel context.CancelFunc
}

func start(t *testing.T, url, name string) *session {
	t.Helper()
	return startWith(t, client.Config{URL: url, Name: name})
}

// startWith runs the client with cfg, its input, output and log the
// session's.
func startWith(t *testing.T, cfg client.Config) *session {
	t.Helper()
	r, w := io.Pipe()
	s := &session{in: w, out: newOutput(), log: newOutput(), result: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	cfg.In, cfg.Out, cfg.Log, cfg.Location = r, s.out, s.log, time.UTC
	go func() {
		s.result <- client.Run(ctx, cfg)
	}()
	t.Cleanup(func() {
		cancel()
		w.Close()
		select {
		case <-s.result:
		case <-time.After(waitLimit):
			t.Error("client did not stop")
		}
	})
	return s
}

func (s *session) say(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (s *session) end(t *testing.T) error {
	t.Helper()
	s.in.Close()
	select {
	case err := <-s.result:
		s.result <- err // for the cleanup
		return err
	case <-time.After(waitLimit):
		t.Fatal("client did not exit after its input ended")
	}
	return nil
}

// Piped input: the client sends, waits for its message to come back, and
// exits cleanly.
func TestPipedInputSendsAndExits(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	serve(t, ln)
	watcher := start(t, "ws://"+ln.Addr().String()+"/ws", "watcher")
	watcher.out.waitFor(t, "connected to #lobby", 1)

	var out bytes.Buffer
	err := client.Run(context.Background(), client.Config{
		URL: "ws://" + ln.Addr().String() + "/ws", Name: "bot",
		In: strings.NewReader("hi\n/me waves\n//slash\n"), Out: &out, Location: time.UTC,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, want := range []string{"-- connected to #lobby as bot", "bot: hi", "* bot waves", "bot: /slash"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	watcher.out.waitFor(t, "bot: /slash", 1)
	watcher.out.waitFor(t, "<-- bot left #lobby", 1)
}

// A refused message makes a piped client fail instead of waiting forever.
func TestPipedInputRefusedMessage(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	serve(t, ln)
	var out bytes.Buffer
	err := client.Run(context.Background(), client.Config{
		URL: "ws://" + ln.Addr().String() + "/ws", Name: "bot",
		In: strings.NewReader(strings.Repeat("x", 5000) + "\n"), Out: &out, Location: time.UTC,
	})
	if err == nil || !strings.Contains(out.String(), "too long") {
		t.Fatalf("Run = %v, output:\n%s\nwant an error and the server's reason", err, out.String())
	}
}

func TestShowsEventsSafely(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	serve(t, ln)
	url := "ws://" + ln.Addr().String() + "/ws"
	a := start(t, url, "alice")
	a.out.waitFor(t, "connected", 1)
	b := start(t, url, "bob")
	a.out.waitFor(t, "--> bob joined #lobby", 1)
	b.say(t, "evil \x1b[2J\x1b]0;pwned\x07 text")
	a.out.waitFor(t, `bob: evil \x1b[2J\x1b]0;pwned\a text`, 1)
	b.say(t, "/nick robert")
	a.out.waitFor(t, "-- bob is now known as robert", 1)
	a.say(t, "/who")
	a.out.waitFor(t, "-- in #lobby (2): alice, robert", 1)
	a.say(t, "/nope")
	a.out.waitFor(t, "!! unknown command /nope", 1)
}

// A server restart: the client reconnects, learns that the room's history
// began again (a new epoch), and delivers what was typed meanwhile.
func TestReconnectAfterServerRestart(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	first := serve(t, ln)
	a := start(t, "ws://"+addr+"/ws", "alice")
	a.say(t, "before")
	a.out.waitFor(t, "alice: before", 1)

	first.Stop()
	a.log.waitFor(t, "connection lost", 1)
	a.say(t, "during") // typed while the server is down
	serve(t, listen(t, addr))
	a.out.waitFor(t, "connected to #lobby as alice", 2)
	a.out.waitFor(t, "alice: during", 1)
	a.out.waitFor(t, "restarted its history", 1)
	a.say(t, "after")
	a.out.waitFor(t, "alice: after", 1)
	if n := strings.Count(a.out.String(), "alice: during"); n != 1 {
		t.Fatalf("'during' shown %d times:\n%s", n, a.out.String())
	}
	if err := a.end(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// A dropped connection (the server stays up): the client resumes after the
// last event it saw, so it shows what was said meanwhile exactly once.
func TestReconnectResumesSince(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	serve(t, ln)
	p := newProxy(t, ln.Addr().String())
	a := start(t, "ws://"+p.addr+"/ws", "alice")
	a.out.waitFor(t, "connected", 1)
	b := start(t, "ws://"+ln.Addr().String()+"/ws", "bob")
	a.out.waitFor(t, "--> bob joined", 1)
	b.say(t, "one")
	a.out.waitFor(t, "bob: one", 1)

	p.pause() // cut alice off, and keep her off until b has spoken
	a.log.waitFor(t, "connection lost", 1)
	b.say(t, "two")
	b.say(t, "three")
	b.out.waitFor(t, "bob: three", 1)
	p.resume()
	a.out.waitFor(t, "bob: three", 1)
	out := a.out.String()
	for _, line := range []string{"bob: one", "bob: two", "bob: three"} {
		if n := strings.Count(out, line); n != 1 {
			t.Fatalf("%q shown %d times:\n%s", line, n, out)
		}
	}
	if strings.Contains(out, "missed") || strings.Contains(out, "restarted") {
		t.Fatalf("resume reported a loss:\n%s", out)
	}
}

// proxy forwards TCP connections to a target; pause cuts them and refuses
// new ones until resume.
type proxy struct {
	addr   string
	mu     sync.Mutex
	paused bool
	muted  bool // what the server sends is dropped on the floor
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln := listen(t, "127.0.0.1:0")
	p := &proxy{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close(); p.pause() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.paused {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(&mutable{p, c}, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused, p.muted = true, false
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// mute drops what the server sends from now on, until the next pause: a
// connection whose downstream died first.
func (p *proxy) mute() {
	p.mu.Lock()
	p.muted = true
	p.mu.Unlock()
}

// mutable writes to w unless the proxy is muted.
type mutable struct {
	p *proxy
	w io.Writer
}

func (m *mutable) Write(b []byte) (int, error) {
	m.p.mu.Lock()
	muted := m.p.muted
	m.p.mu.Unlock()
	if muted {
		return len(b), nil
	}
	return m.w.Write(b)
}

func (p *proxy) resume() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
}

// Finding 4 of issue 11: a connection dies after the server stored a line
// but before the client heard back. The client sends it again on its next
// connection, with the same id, and the server answers it without
// publishing it twice: everyone sees it once. (The reconnect is quick, the
// old connection still open on the server: the session keeps the name.)
func TestResendAfterLostAnswerIsNotDuplicated(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	serve(t, ln)
	p := newProxy(t, ln.Addr().String())
	a := start(t, "ws://"+p.addr+"/ws", "alice")
	a.out.waitFor(t, "--> alice joined", 1)
	b := start(t, "ws://"+ln.Addr().String()+"/ws", "bob")
	a.out.waitFor(t, "--> bob joined", 1)

	p.mute() // alice's downstream dies: she will hear nothing back
	a.say(t, "only once")
	b.out.waitFor(t, "alice: only once", 1) // the server stored and published it
	p.pause()                               // now her connection is cut
	a.log.waitFor(t, "connection lost", 1)
	p.resume()
	a.out.waitFor(t, "connected to #lobby as alice", 2)
	a.out.waitFor(t, "alice: only once", 1)
	a.say(t, "and then this")
	b.out.waitFor(t, "alice: and then this", 1)
	a.out.waitFor(t, "alice: and then this", 1)
	for who, out := range map[string]string{"alice": a.out.String(), "bob": b.out.String()} {
		if n := strings.Count(out, "alice: only once"); n != 1 {
			t.Fatalf("%s shows the line %d times:\n%s", who, n, out)
		}
		if strings.Contains(out, "alice-2") {
			t.Fatalf("%s shows a renamed alice:\n%s", who, out)
		}
	}
}

// Finding 2 of issue 11, in the terminal client: thirty lines piped at once
// to a server with the default limits (10 a second, a burst of 20) all get
// through, once each, without a refusal: the client paces itself by the
// limits its welcome advertises.
func TestPipedBurstAtDefaultLimits(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	chattest.Start(t, ln, chat.Options{MessageRate: 10, MessageBurst: 20}) // the server's defaults
	var in strings.Builder
	for i := range 30 {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	var out bytes.Buffer
	err := client.Run(context.Background(), client.Config{
		URL: "ws://" + ln.Addr().String() + "/ws", Name: "bot", In: strings.NewReader(in.String()), Out: &out, Location: time.UTC,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	for i := range 30 {
		if n := strings.Count(out.String(), fmt.Sprintf("bot: line %d\n", i)); n != 1 {
			t.Fatalf("line %d shown %d times:\n%s", i, n, out.String())
		}
	}
	if strings.Contains(out.String(), "!!") {
		t.Fatalf("a refusal:\n%s", out.String())
	}
}
