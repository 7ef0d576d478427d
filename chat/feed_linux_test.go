package chat_test

import (
	"bytes"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"

	"ringchat/chat"
	"ringchat/internal/chattest"
)

// readingGoroutines counts the goroutines that read a chat connection:
// parked in the goroutine reader, or running a wake-up of a fed one.
func readingGoroutines(t *testing.T) (goroutine, fed int) {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	for _, g := range strings.Split(b.String(), "\n\n") {
		switch {
		case strings.Contains(g, "ringchat/chat.(*conn).read("):
			goroutine++
		case strings.Contains(g, "ringchat/chat.(*conn).feed("):
			fed++
		}
	}
	return goroutine, fed
}

// On Linux, at the defaults, a connection whose client is silent has no
// goroutine reading it and its socket is out of package net; it still
// hears and is heard, and a read on a goroutine of its own, on a socket
// net keeps, is what ReadGoroutines asks for.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	want, wantDetached := 0, 12
	if os.Getenv(chattest.ReadersEnv) == "goroutine" {
		want, wantDetached = 12, 0 // the environment asks for a goroutine per connection
	}
	ts := startServer(t, chat.Options{})
	var clients []*testClient
	for range 12 {
		c, _ := ts.join(t, "")
		clients = append(clients, c)
	}
	clients[0].send("anyone?")
	for _, c := range clients {
		if ev := c.nextOf(chat.TypeMessage); ev.Text != "anyone?" {
			t.Fatalf("got %q", ev.Text)
		}
	}
	// The wake-up that read "anyone?" may still be ending: wait for it to
	// park, as its goroutine leaves by itself.
	for {
		g, fed := readingGoroutines(t)
		if fed == 0 {
			if g != want {
				t.Fatalf("%d connections read by a goroutine of their own, want %d", g, want)
			}
			break
		}
		runtime.Gosched()
	}
	if detached, all := ts.DetachedSockets(); detached != wantDetached || all != 12 {
		t.Errorf("%d of %d sockets out of package net, want %d of 12", detached, all, wantDetached)
	}
	clients[5].send("still here")
	for _, c := range clients {
		if ev := c.nextOf(chat.TypeMessage); ev.Text != "still here" {
			t.Fatalf("got %q", ev.Text)
		}
	}
}
