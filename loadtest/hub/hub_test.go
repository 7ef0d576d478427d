package hub

import (
	"encoding/json"
	"testing"
	"time"

	"ringchat/wsproto"
)

// payload returns the payload of a short unmasked server frame.
func payload(t *testing.T, frame []byte) []byte {
	t.Helper()
	if len(frame) < 2 || frame[0] != 0x81 || frame[1]&0x80 != 0 || int(frame[1]) > 125 || len(frame) != 2+int(frame[1]) {
		t.Fatalf("not a short final text frame: % x", frame)
	}
	return frame[2:]
}

func TestFrames(t *testing.T) {
	var ev struct {
		Type, Name, Room, From, Text, Epoch string
		ID                                  uint64
	}
	text := `<b>"&é\` + "\t"
	b := payload(t, messageFrame(7, "lobby", "ann", []byte(text)))
	if err := json.Unmarshal(b, &ev); err != nil || ev.Type != "message" || ev.ID != 7 || ev.Room != "lobby" || ev.From != "ann" || ev.Text != text {
		t.Errorf("message %s: %+v, %v", b, ev, err)
	}
	if s := string(b); s != `{"type":"message","id":7,"room":"lobby","from":"ann","text":"<b>\"&é\\\t"}` {
		t.Errorf("message %s: want no HTML escapes", s)
	}
	ev.Text = ""
	b = payload(t, welcomeFrame("bob", "r1", 41))
	if err := json.Unmarshal(b, &ev); err != nil || ev.Type != "welcome" || ev.Name != "bob" || ev.Room != "r1" || ev.ID != 41 || ev.Epoch != "hub" {
		t.Errorf("welcome %s: %+v, %v", b, ev, err)
	}
}

// TestHubDropsFullClient checks the hub's policy, the example's: a client
// whose channel is full when a message comes is dropped (its channel
// closed), and the others get everything, in id order.
func TestHubDropsFullClient(t *testing.T) {
	quit := make(chan struct{})
	h := &room{name: "r", register: make(chan *client), unregister: make(chan *client), broadcast: make(chan message)}
	done := make(chan struct{})
	go func() { h.run(quit); close(done) }()
	defer func() { close(quit); <-done }()

	stuck := &client{name: "stuck", send: make(chan []byte, sendBuffer)}
	h.register <- stuck
	reader := &client{name: "reader", send: make(chan []byte, sendBuffer)}
	h.register <- reader
	got := make(chan []uint64)
	go func() {
		var ids []uint64
		for f := range reader.send {
			var ev struct{ ID uint64 }
			json.Unmarshal(f[2:], &ev)
			ids = append(ids, ev.ID)
		}
		got <- ids
	}()
	const n = sendBuffer + 10
	for range n {
		h.broadcast <- message{from: "x", text: []byte("hi")}
	}
	h.unregister <- reader // after the broadcasts: the hub has handled them all

	// The welcome and sendBuffer-1 messages fit; the next one dropped it.
	count := 0
	for range stuck.send {
		count++
	}
	if count != sendBuffer {
		t.Errorf("the stuck client's channel held %d frames before it was closed, want %d", count, sendBuffer)
	}
	select {
	case ids := <-got:
		if len(ids) != n+1 || ids[0] != 0 || ids[n] != n {
			t.Fatalf("the reader got %d events, ids %v…", len(ids), ids[:min(3, len(ids))])
		}
		for i, id := range ids {
			if id != uint64(i) {
				t.Fatalf("event %d has id %d", i, id)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reader's channel was not closed")
	}
}

// TestDropClosesConnection runs a real server with a client that never
// reads: once the socket buffers and its 256-message channel are full,
// the hub drops it, and the server ends the connection once its writer's
// blocked write times out, while the server goes on serving others.
func TestDropClosesConnection(t *testing.T) {
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.writeWait = time.Second // the stuck writer's write fails sooner
	ctx := t.Context()
	stuck, _, err := wsproto.Dial(ctx, s.URL()+"?room=r&name=stuck", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.CloseNow()
	sender, _, err := wsproto.Dial(ctx, s.URL()+"?room=r&name=sender", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.CloseNow()
	var buf []byte
	if _, buf, err = sender.ReadMessage(buf); err != nil { // welcome
		t.Fatal(err)
	}
	big := make([]byte, 60<<10) // fills the stuck client's socket buffers fast
	for i := range big {
		big[i] = 'x'
	}
	deadline := time.Now().Add(20 * time.Second)
	for !stuckGone(s) {
		if time.Now().After(deadline) {
			t.Fatal("the stuck client was not dropped")
		}
		if err := sender.WriteMessage(wsproto.OpText, big); err != nil {
			t.Fatal(err)
		}
		if _, buf, err = sender.ReadMessage(buf); err != nil { // its own message back
			t.Fatalf("the sender, who reads, was affected: %v", err)
		}
	}
}

// stuckGone reports whether the server has closed the connection of the
// client named stuck: whether it has one connection left.
func stuckGone(s *Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) == 1
}
