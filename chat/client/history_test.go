package client_test

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"ringchat/chat"
	"ringchat/chat/client"
	"ringchat/chat/store/file"
	"ringchat/internal/chattest"
)

// startHistory is start with the client asking for history recent events.
func startHistory(t *testing.T, url, name string, history int) *session {
	t.Helper()
	return startWith(t, client.Config{URL: url, Name: name, History: history})
}

// A client that asks for history shows the room's recent events on
// joining, each once, then live ones.
func TestHistoryOnJoin(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	serve(t, ln)
	url := "ws://" + ln.Addr().String() + "/ws"
	a := start(t, url, "alice")
	for i := 1; i <= 30; i++ {
		a.say(t, fmt.Sprint("m", i))
	}
	a.out.waitFor(t, "alice: m30", 1)
	b := startHistory(t, url, "bob", 5)
	b.out.waitFor(t, "--> bob joined", 1)
	a.say(t, "live")
	b.out.waitFor(t, "alice: live", 1)
	out := b.out.String()
	// The last five events before bob's join: m26..m30.
	for i := 1; i <= 30; i++ {
		want := 0
		if i >= 26 {
			want = 1
		}
		if n := strings.Count(out, fmt.Sprintf("alice: m%d\n", i)); n != want {
			t.Fatalf("m%d shown %d times, want %d:\n%s", i, n, want, out)
		}
	}
	if strings.Index(out, "alice: m26") > strings.Index(out, "alice: live") {
		t.Fatalf("history after live events:\n%s", out)
	}
}

// The scenario of a restart with the history kept on disk: three terminal
// clients are connected when the server restarts; carol comes back late
// (her network is down for a while); meanwhile dave connects, says
// something and leaves, so the room is empty for a moment. When carol is
// back, she sees what dave said, once, and nothing twice.
func TestLateReconnectAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ln := listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	url := "ws://" + addr + "/ws"
	srv := serveWithFileStore(t, ln, dir)
	p := newProxy(t, addr)
	a := start(t, url, "alice")
	a.out.waitFor(t, "--> alice joined", 1)
	b := start(t, url, "bob")
	a.out.waitFor(t, "--> bob joined", 1)
	c := start(t, "ws://"+p.addr+"/ws", "carol")
	a.out.waitFor(t, "--> carol joined", 1)
	a.say(t, "before the restart")
	for _, s := range []*session{a, b, c} {
		s.out.waitFor(t, "alice: before the restart", 1)
	}

	p.pause() // carol's network goes down with the server
	srv.Stop()
	serveWithFileStore(t, listen(t, addr), dir)
	a.out.waitFor(t, "connected to #lobby as alice", 2)
	b.out.waitFor(t, "connected to #lobby as bob", 2)
	d := start(t, url, "dave")
	d.say(t, "dave was here")
	d.out.waitFor(t, "dave: dave was here", 1)
	if err := d.end(t); err != nil {
		t.Fatalf("dave: %v", err)
	}
	a.out.waitFor(t, "<-- dave left", 1)
	a.say(t, "carol, are you there?")
	a.out.waitFor(t, "alice: carol, are you there?", 1)

	p.resume()
	c.out.waitFor(t, "alice: carol, are you there?", 1)
	out := c.out.String()
	for _, line := range []string{"alice: before the restart", "dave: dave was here", "alice: carol, are you there?", "--> dave joined", "<-- dave left"} {
		if n := strings.Count(out, line); n != 1 {
			t.Fatalf("carol shows %q %d times:\n%s", line, n, out)
		}
	}
	if strings.Contains(out, "missed") || strings.Contains(out, "restarted") {
		t.Fatalf("carol's resume reported a loss:\n%s", out)
	}
}

// fileServer is a chat server with its history on disk, as cmd/server
// runs by default.
type fileServer struct {
	*chattest.Server
	st *file.Store
}

// serveWithFileStore runs a chat server on ln with its history in dir
// until the test ends or Stop.
func serveWithFileStore(t *testing.T, ln net.Listener, dir string) *fileServer {
	t.Helper()
	st, err := file.Open(file.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // runs after the server's own cleanup
	return &fileServer{chattest.Start(t, ln, chat.Options{Store: st}), st}
}

// Stop stops the server, then closes its store, as cmd/server does.
func (s *fileServer) Stop() {
	s.Server.Stop()
	s.st.Close()
}
