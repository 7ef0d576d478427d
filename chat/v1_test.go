package chat_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"ringchat/chat"
	"ringchat/wsproto"
)

var v1 = &wsproto.DialOptions{Subprotocols: []string{chat.SubprotocolV1}}

// joinV1 connects speaking ringchat.v1 and reads up to the welcome.
func (ts *testServer) joinV1(t *testing.T, query string) (*testClient, chat.Event) {
	t.Helper()
	c := ts.dialWith(t, query, v1)
	if got := c.ws.Subprotocol(); got != chat.SubprotocolV1 {
		t.Fatalf("subprotocol %q, want %s", got, chat.SubprotocolV1)
	}
	c.startReading()
	w := c.next()
	if w.Type != chat.TypeWelcome {
		t.Fatalf("first event is %+v, want welcome", w)
	}
	return c, w
}

// sendV1 sends a ringchat.v1 send frame.
func (c *testClient) sendV1(cid, text string) {
	c.t.Helper()
	b, _ := json.Marshal(chat.SendFrame{Type: "send", CID: cid, Text: text})
	c.send(string(b))
}

// answer returns the next ack or error, skipping room events.
func (c *testClient) answer() chat.Event {
	c.t.Helper()
	for {
		e := c.next()
		if e.Type == chat.TypeAck || e.Type == chat.TypeError {
			return e
		}
	}
}

// The welcome carries the session and the limits, whichever protocol.
func TestWelcomeSessionAndLimits(t *testing.T) {
	ts := startServer(t, chat.Options{MessageRate: 10, MessageBurst: 20, MaxMessageBytes: 4096})
	for _, dial := range []func() chat.Event{
		func() chat.Event { _, w := ts.join(t, "name=plain"); return w },
		func() chat.Event { _, w := ts.joinV1(t, "name=structured"); return w },
	} {
		w := dial()
		if len(w.Session) < 16 || len(w.Session) > 64 || w.Limits == nil || *w.Limits != (chat.Limits{Rate: 10, Burst: 20, MaxMessage: 4096}) {
			t.Fatalf("welcome %+v: want a session and limits 10/20/4096", w)
		}
	}
	unlimited := startServer(t, chat.Options{MessageRate: -1})
	if _, w := unlimited.join(t, ""); w.Limits == nil || w.Limits.Rate != 0 || w.Limits.MaxMessage != 4096 {
		t.Fatalf("welcome of a server without a rate limit: %+v; want rate 0", w.Limits)
	}
}

// Every send gets exactly one answer with its cid: an ack with the room
// event's id, or an error with a reason.
func TestV1Answers(t *testing.T) {
	ts := startServer(t, chat.Options{MaxMessageBytes: 100, AnnounceLimit: 1})
	c, _ := ts.joinV1(t, "name=alice")
	tests := []struct {
		name, frame string
		wantType    string
		wantReason  string
		wantCID     string
		roomEvent   bool
	}{
		{"a message", `{"type":"send","cid":"c1","text":"hi"}`, chat.TypeAck, "", "c1", true},
		{"/me", `{"type":"send","cid":"c2","text":"/me waves"}`, chat.TypeAck, "", "c2", true},
		{"/who", `{"type":"send","cid":"c3","text":"/who"}`, chat.TypeAck, "", "c3", false},
		{"//x is a message", `{"type":"send","cid":"c4","text":"//x"}`, chat.TypeAck, "", "c4", true},
		{"too long", `{"type":"send","cid":"c5","text":"` + strings.Repeat("x", 101) + `"}`, chat.TypeError, chat.ReasonTooLong, "c5", false},
		{"empty", `{"type":"send","cid":"c6","text":"  "}`, chat.TypeError, chat.ReasonEmpty, "c6", false},
		{"unknown command", `{"type":"send","cid":"c7","text":"/nope"}`, chat.TypeError, chat.ReasonBadCommand, "c7", false},
		{"bad nick", `{"type":"send","cid":"c8","text":"/nick a b"}`, chat.TypeError, chat.ReasonBadCommand, "c8", false},
		{"usage", `{"type":"send","cid":"c9","text":"/join"}`, chat.TypeError, chat.ReasonBadCommand, "c9", false},
		{"not JSON", `hello`, chat.TypeError, chat.ReasonBadFrame, "", false},
		{"no cid", `{"type":"send","text":"x"}`, chat.TypeError, chat.ReasonBadFrame, "", false},
		{"cid too long", `{"type":"send","cid":"` + strings.Repeat("c", 65) + `","text":"x"}`, chat.TypeError, chat.ReasonBadFrame, "", false},
		{"cid with a space", `{"type":"send","cid":"c 1","text":"x"}`, chat.TypeError, chat.ReasonBadFrame, "", false},
		{"unknown type", `{"type":"shout","cid":"c10","text":"x"}`, chat.TypeError, chat.ReasonBadFrame, "c10", false},
		{"unknown field", `{"type":"send","cid":"c11","text":"x","to":"bob"}`, chat.TypeError, chat.ReasonBadFrame, "c11", false},
		{"two objects", `{"type":"send","cid":"c12","text":"x"}{}`, chat.TypeError, chat.ReasonBadFrame, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.send(tt.frame)
			var echo chat.Event
			for {
				e := c.next()
				if e.Type == chat.TypeMessage || e.Type == chat.TypeMe {
					echo = e
					continue
				}
				if e.Type == chat.TypeWho || e.Type == chat.TypeJoin {
					continue
				}
				if e.Type != tt.wantType || e.Reason != tt.wantReason || e.CID != tt.wantCID {
					t.Fatalf("answer %+v; want %s, reason %q, cid %q", e, tt.wantType, tt.wantReason, tt.wantCID)
				}
				if e.Type == chat.TypeError && e.Text == "" {
					t.Fatalf("refusal without words: %+v", e)
				}
				if tt.roomEvent {
					if e.ID == 0 || e.Room != "lobby" {
						t.Fatalf("ack %+v: want the room event's id and room", e)
					}
					for echo.ID == 0 {
						echo = c.next()
					}
					if echo.ID != e.ID {
						t.Fatalf("ack id %d, the event's %d", e.ID, echo.ID)
					}
				} else if e.ID != 0 {
					t.Fatalf("answer %+v carries an id for no room event", e)
				}
				return
			}
		})
	}
}

// A cid the session accepted is not published again: the answer is the
// original ack, and the room sees the message once.
func TestV1ExactlyOnce(t *testing.T) {
	ts := startServer(t, chat.Options{AnnounceLimit: 1})
	watcher, _ := ts.join(t, "name=watcher")
	c, _ := ts.joinV1(t, "name=alice")
	c.sendV1("c1", "once")
	first := c.answer()
	c.sendV1("c1", "once")
	again := c.answer()
	if first.Type != chat.TypeAck || again.Type != chat.TypeAck || again.ID != first.ID || again.CID != "c1" {
		t.Fatalf("answers %+v then %+v: want the same ack twice", first, again)
	}
	c.sendV1("c2", "after")
	c.answer()
	if e := watcher.nextOf(chat.TypeMessage); e.Text != "once" || e.ID != first.ID {
		t.Fatalf("watcher got %+v", e)
	}
	if e := watcher.nextOf(chat.TypeMessage); e.Text != "after" {
		t.Fatalf("watcher got %+v after the first message: a duplicate", e)
	}
}

// Rate-limited sends are each refused with when to retry; a retry after
// that passes, with the same cid.
func TestV1RateLimited(t *testing.T) {
	ts := startServer(t, chat.Options{MessageRate: 5, MessageBurst: 2})
	c, _ := ts.joinV1(t, "name=alice")
	for i := range 3 {
		c.sendV1(fmt.Sprint("c", i), "hi")
	}
	c.answer()
	c.answer()
	refusal := c.answer()
	if refusal.Type != chat.TypeError || refusal.Reason != chat.ReasonRateLimited || refusal.CID != "c2" || refusal.RetryAfterMs <= 0 || refusal.RetryAfterMs > 200 {
		t.Fatalf("third send: %+v; want rate_limited with cid c2 and retry_after_ms in (0, 200]", refusal)
	}
	time.Sleep(time.Duration(refusal.RetryAfterMs)*time.Millisecond + 20*time.Millisecond) // as told: the wait is the test
	c.sendV1("c2", "hi")
	if e := c.answer(); e.Type != chat.TypeAck || e.CID != "c2" {
		t.Fatalf("retry after retry_after_ms: %+v; want the ack", e)
	}
}

// Finding 3 of issue 11: a quick reconnect with the session keeps the name,
// while the old connection has not timed out yet — it is closed with 1000 —
// and nobody sees the user leave and come back. The session's cids come
// along: a resend of an accepted send is answered with its original id.
func TestSessionReconnectKeepsName(t *testing.T) {
	ts := startServer(t, chat.Options{})
	watcher, _ := ts.join(t, "name=watcher")
	old, w := ts.joinV1(t, "name=alice")
	watcher.nextOf(chat.TypeJoin)
	old.sendV1("c1", "before")
	ack := old.answer()

	// The old connection is still open (its client does not know yet that
	// its network changed) when the client comes back.
	back, w2 := ts.joinV1(t, "name=whatever&session="+w.Session)
	if w2.Name != "alice" || w2.Session != w.Session {
		t.Fatalf("welcome after a reconnect: %+v; want name alice and the same session", w2)
	}
	if code := old.closed(); code != wsproto.CloseNormal {
		t.Fatalf("the old connection closed with %v, want 1000", code)
	}
	back.sendV1("c1", "before")
	if e := back.answer(); e.Type != chat.TypeAck || e.ID != ack.ID {
		t.Fatalf("resend of c1: %+v; want the original ack (id %d)", e, ack.ID)
	}
	back.sendV1("c2", "after")
	back.answer()
	watcher.nextOf(chat.TypeMessage) // before
	if e := watcher.next(); e.Type != chat.TypeMessage || e.Text != "after" || e.From != "alice" {
		t.Fatalf("watcher got %+v; want alice's next message, no leave, join or duplicate", e)
	}
	watcher.send("/who")
	if e := watcher.nextOf(chat.TypeWho); e.Count != 2 || !strings.Contains(strings.Join(e.Names, ","), "alice") {
		t.Fatalf("who: %+v", e)
	}
}

// A session outlives its connection for a while: a client that comes back
// after its old connection ended keeps its name too. A token the server
// does not know starts a new session — under that token when it is one a
// server could have made (another node of a cluster, which this one has
// no memory of), with the name the client asks for.
func TestSessionAfterTheConnectionEnded(t *testing.T) {
	ts := startServer(t, chat.Options{})
	c, w := ts.join(t, "name=bob")
	c.ws.Close(wsproto.CloseNormal, "bye")
	c.closed()
	_, w2 := ts.join(t, "name=other&session="+w.Session)
	if w2.Name != "bob" {
		t.Fatalf("name %q after coming back, want bob", w2.Name)
	}
	_, w3 := ts.join(t, "name=carol&session=AAAAAAAAAAAAAAAAAAAAAA")
	if w3.Name != "carol" || w3.Session != "AAAAAAAAAAAAAAAAAAAAAA" {
		t.Fatalf("welcome with an unknown session: %+v; want it carried on, with the name asked for", w3)
	}
	_, w4 := ts.join(t, "name=dave&session=short")
	if w4.Name != "dave" || w4.Session == "short" || len(w4.Session) != 22 {
		t.Fatalf("welcome with a token no server makes: %+v; want a new session", w4)
	}
}

// Plain lines (no subprotocol): every refused line gets an error event of
// its own, with its reason.
func TestPlainRefusalsEach(t *testing.T) {
	ts := startServer(t, chat.Options{MaxMessageBytes: 10})
	c, _ := ts.join(t, "name=a")
	for _, tt := range []struct{ line, reason string }{
		{"far too long a line", chat.ReasonTooLong},
		{" ", chat.ReasonEmpty},
		{"/nope", chat.ReasonBadCommand},
		{"again too long", chat.ReasonTooLong},
	} {
		c.send(tt.line)
		if e := c.nextOf(chat.TypeError); e.Reason != tt.reason || e.CID != "" {
			t.Fatalf("%q refused with %+v; want reason %s", tt.line, e, tt.reason)
		}
	}
}

func TestBadSessionParameter(t *testing.T) {
	ts := startServer(t, chat.Options{})
	for _, tok := range []string{strings.Repeat("a", 65), "no%20spaces", "dots.are.not.in.tokens"} {
		_, _, err := wsproto.Dial(t.Context(), ts.url+"?session="+tok, nil)
		var he *wsproto.HandshakeError
		if !errors.As(err, &he) || he.Status != 400 {
			t.Fatalf("session=%s: %v, want 400", tok, err)
		}
	}
}

// A session's new connection in another room (the web page switches rooms
// by reconnecting) is a leave and a join: the old room sees the user go.
func TestSessionMovesRoom(t *testing.T) {
	ts := startServer(t, chat.Options{})
	watcher, _ := ts.join(t, "name=watcher")
	a, w := ts.join(t, "name=alice")
	for e := watcher.nextOf(chat.TypeJoin); e.From != "alice"; e = watcher.nextOf(chat.TypeJoin) {
	}
	_, w2 := ts.join(t, "room=side&session="+w.Session)
	if w2.Name != "alice" || w2.Room != "side" {
		t.Fatalf("welcome %+v", w2)
	}
	if e := watcher.next(); e.Type != chat.TypeLeave || e.From != "alice" {
		t.Fatalf("watcher got %+v; want alice's leave", e)
	}
	a.closed()
}
