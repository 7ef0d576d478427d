package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ringchat/chat"
	"ringchat/chat/store"
	"ringchat/chat/store/memory"
	"ringchat/internal/chattest"
	"ringchat/wsproto"
)

// eventTimeout bounds every wait for an event: a test that waits longer has
// found a hang.
const eventTimeout = 10 * time.Second

// testServer is a chat server on a loopback port.
type testServer struct {
	*chattest.Server
	url string // ws://127.0.0.1:port/ws
}

func startServer(t *testing.T, opts chat.Options) *testServer {
	t.Helper()
	s := chattest.Start(t, nil, opts)
	return &testServer{Server: s, url: s.URL()}
}

// testClient is one chat connection whose events a goroutine collects.
type testClient struct {
	t      *testing.T
	ws     *wsproto.Conn
	events chan timedEvent
	err    chan error // why reading ended
}

// timedEvent is an event and when it arrived.
type timedEvent struct {
	chat.Event
	at time.Time
}

func (ts *testServer) dial(t *testing.T, query string) *testClient {
	t.Helper()
	return ts.dialWith(t, query, nil)
}

func (ts *testServer) dialWith(t *testing.T, query string, opts *wsproto.DialOptions) *testClient {
	t.Helper()
	u := ts.url
	if query != "" {
		u += "?" + query
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	ws, _, err := wsproto.Dial(ctx, u, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	c := &testClient{t: t, ws: ws, events: make(chan timedEvent, 4096), err: make(chan error, 1)}
	t.Cleanup(func() { ws.CloseNow() })
	return c
}

// startReading collects events until the connection ends.
func (c *testClient) startReading() *testClient {
	go func() {
		var buf []byte
		for {
			_, msg, err := c.ws.ReadMessage(buf)
			if err != nil {
				c.err <- err
				close(c.events)
				return
			}
			var e chat.Event
			if err := json.Unmarshal(msg, &e); err != nil {
				c.err <- fmt.Errorf("bad JSON %q: %v", msg, err)
				close(c.events)
				return
			}
			c.events <- timedEvent{e, time.Now()}
			buf = msg
		}
	}()
	return c
}

// next returns the next event.
func (c *testClient) next() chat.Event {
	c.t.Helper()
	return c.nextTimed().Event
}

// nextTimed returns the next event and when it arrived.
func (c *testClient) nextTimed() timedEvent {
	c.t.Helper()
	select {
	case e, ok := <-c.events:
		if !ok {
			c.t.Fatalf("connection ended: %v", <-c.err)
		}
		return e
	case <-time.After(eventTimeout):
		c.t.Fatalf("no event within %v", eventTimeout)
	}
	panic("unreachable")
}

// nextOf returns the next event of type typ, skipping joins and leaves.
func (c *testClient) nextOf(typ string) chat.Event {
	c.t.Helper()
	return c.nextTimedOf(typ).Event
}

// nextTimedOf returns the next event of type typ and when it arrived,
// skipping joins and leaves.
func (c *testClient) nextTimedOf(typ string) timedEvent {
	c.t.Helper()
	for {
		e := c.nextTimed()
		if e.Type == typ {
			return e
		}
		if e.Type != chat.TypeJoin && e.Type != chat.TypeLeave {
			c.t.Fatalf("want a %s event, got %+v", typ, e)
		}
	}
}

// closed waits for the connection to end and returns the close code.
func (c *testClient) closed() wsproto.CloseCode {
	c.t.Helper()
	for {
		select {
		case _, ok := <-c.events:
			if !ok {
				return wsproto.CloseStatus(<-c.err)
			}
		case <-time.After(eventTimeout):
			c.t.Fatalf("connection still open after %v", eventTimeout)
		}
	}
}

func (c *testClient) send(text string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(wsproto.OpText, []byte(text)); err != nil {
		c.t.Fatalf("send %q: %v", text, err)
	}
}

// join connects and reads up to the welcome.
func (ts *testServer) join(t *testing.T, query string) (*testClient, chat.Event) {
	t.Helper()
	c := ts.dial(t, query).startReading()
	w := c.next()
	if w.Type != chat.TypeWelcome {
		t.Fatalf("first event is %+v, want welcome", w)
	}
	return c, w
}

// The original tutorial: three clients each say hi, and every one of them
// sees all three messages, its own included, with the same ids.
func TestTutorialThreeClients(t *testing.T) {
	ts := startServer(t, chat.Options{})
	names := []string{"A", "B", "C"}
	clients := make([]*testClient, len(names))
	for i, n := range names {
		clients[i], _ = ts.join(t, "name="+n)
	}
	for i, n := range names {
		clients[i].send("hi (client " + n + ")")
		// Wait until everyone has it, so the order of the three is fixed.
		for _, c := range clients {
			if e := c.nextOf(chat.TypeMessage); e.Text != "hi (client "+n+")" || e.From != n || e.Room != "lobby" {
				t.Fatalf("got %+v, want %s's hi", e, n)
			}
		}
	}
	ids := map[uint64]bool{}
	_ = ids
}

// Every member sees every room event exactly once, in id order, with
// consecutive ids, while several clients publish at once.
func TestConcurrentPublishersSameOrderEverywhere(t *testing.T) {
	// No rate limit: the senders publish as fast as they can, to race.
	ts := startServer(t, chat.Options{AnnounceLimit: 1, MessageRate: -1})
	const senders, each = 5, 40
	var clients []*testClient
	for i := range senders + 3 {
		c, _ := ts.join(t, fmt.Sprintf("name=c%d", i))
		clients = append(clients, c)
	}
	var wg sync.WaitGroup
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if err := clients[i].ws.WriteMessage(wsproto.OpText, fmt.Appendf(nil, "%d/%d", i, j)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var first []string
	for ci, c := range clients {
		var got []string
		var prev uint64
		for len(got) < senders*each {
			e := c.nextOf(chat.TypeMessage)
			if prev != 0 && e.ID != prev+1 {
				t.Fatalf("client %d: id %d after %d", ci, e.ID, prev)
			}
			prev = e.ID
			got = append(got, fmt.Sprintf("%d:%s", e.ID, e.Text))
		}
		if ci == 0 {
			first = got
			continue
		}
		for k := range got {
			if got[k] != first[k] {
				t.Fatalf("client %d saw %s where client 0 saw %s", ci, got[k], first[k])
			}
		}
	}
}

// A client whose socket stops accepting bytes is lapped by the ring, while
// 100 others keep receiving at full speed. When it reads again it gets what
// it missed from the room's log; if it fell behind even what the log
// retains, it is told so with a gap event, or closed with 1008.
func TestSlowReaderDoesNotDelayOthers(t *testing.T) {
	for _, tt := range []struct {
		name    string
		policy  chat.SlowPolicy
		history int // events the store retains per room
	}{
		{"gap", chat.SlowGap, 64},
		{"disconnect", chat.SlowDisconnect, 64},
		{"caught up from the log", chat.SlowGap, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			testSlowReader(t, tt.policy, tt.history)
		})
	}
}

func testSlowReader(t *testing.T, policy chat.SlowPolicy, history int) {
	const ringSize, fast, messages, size, window = 64, 100, 200, 1000, 16
	// Small kernel send buffers make a stalled socket fill after a few
	// frames instead of megabytes.
	// No rate limit: the one sender stands for a busy room.
	ts := startServer(t, chat.Options{RingCapacity: ringSize, SlowPolicy: policy, AnnounceLimit: 1, SendBufferBytes: 4096, WriteTimeout: time.Minute,
		Store: memory.New(store.Retention{Events: history}), MessageRate: -1})

	// The slow client asks for a tiny receive buffer too; it reads nothing
	// until the end.
	slow := ts.dialWith(t, "name=slow", &wsproto.DialOptions{NetDial: smallBufferDial})
	var receivers []*testClient
	for i := range fast {
		c, _ := ts.join(t, fmt.Sprintf("name=fast%d", i))
		receivers = append(receivers, c)
	}
	sender, _ := ts.join(t, "name=sender")

	// The test lets at most a window of messages be in flight: at each
	// window's end it waits until every fast reader has them, so a fast
	// reader is never a whole ring behind; only the stalled one can be.
	sentAt := make([]time.Time, messages)
	pad := strings.Repeat("x", size)
	var latencies []time.Duration
	for i := range messages {
		sentAt[i] = time.Now()
		sender.send(fmt.Sprintf("%d %s", i, pad))
		if i%window != window-1 && i != messages-1 {
			continue
		}
		for _, c := range append(receivers, sender) {
			for j := i - i%window; j <= i; j++ {
				e := c.nextTimedOf(chat.TypeMessage)
				if !strings.HasPrefix(e.Text, fmt.Sprint(j)+" ") {
					t.Fatalf("a fast reader got %.10q, want message %d", e.Text, j)
				}
				latencies = append(latencies, e.at.Sub(sentAt[j]))
			}
		}
	}
	slices.Sort(latencies)
	worst := latencies[len(latencies)-1]
	t.Logf("%d deliveries to %d fast readers: p50 %v, p99 %v, max %v", len(latencies), fast, latencies[len(latencies)/2], latencies[len(latencies)*99/100], worst)
	// The bound: had the stalled socket held anyone else back, they would
	// have waited for the write timeout (a minute here) to drop it. 10 s is
	// far below that, and far above what scheduling adds on a loaded 2-core
	// machine under the race detector (p50 ≈ 50 ms, max ≈ 1 s when quiet).
	if worst > 10*time.Second {
		t.Errorf("fast readers were held back: a delivery took %v", worst)
	}

	slow.startReading()
	if w := slow.next(); w.Type != chat.TypeWelcome {
		t.Fatalf("slow client's first event: %+v", w)
	}
	if policy == chat.SlowDisconnect {
		if code := slow.closed(); code != wsproto.ClosePolicyViolation {
			t.Fatalf("slow client closed with %v, want 1008", code)
		}
		return
	}
	if history == 0 { // the log holds everything: the slow client gets it all, in order
		for i := range messages {
			e := slow.nextOf(chat.TypeMessage)
			if !strings.HasPrefix(e.Text, fmt.Sprint(i)+" ") {
				t.Fatalf("slow client got %.10q, want message %d", e.Text, i)
			}
		}
		return
	}
	for {
		e := slow.next()
		if e.Type == chat.TypeGap {
			if e.Missed == 0 {
				t.Fatalf("gap without a count: %+v", e)
			}
			t.Logf("slow client: gap, missed %d", e.Missed)
			return
		}
		if e.Type == chat.TypeMessage && strings.HasPrefix(e.Text, fmt.Sprint(messages-1)+" ") {
			t.Fatal("slow client received everything: the test did not make it fall behind")
		}
	}
}

// smallBufferDial dials with a 4 KiB receive buffer.
func smallBufferDial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return d.DialContext(ctx, network, addr)
}

func TestSinceReplay(t *testing.T) {
	ts := startServer(t, chat.Options{RingCapacity: 8, AnnounceLimit: 1, Store: memory.New(store.Retention{Events: 8})})
	owner, w := ts.join(t, "name=owner")
	for i := 1; i <= 5; i++ {
		owner.send(fmt.Sprint("m", i))
	}
	var last chat.Event
	for range 5 {
		last = owner.nextOf(chat.TypeMessage)
	}
	epoch := w.Epoch

	t.Run("resume", func(t *testing.T) {
		c, w := ts.join(t, fmt.Sprintf("name=r&since=%d&epoch=%s", last.ID-2, epoch))
		if w.ID != last.ID || w.Epoch != epoch {
			t.Fatalf("welcome %+v, want latest id %d in epoch %s", w, last.ID, epoch)
		}
		for _, want := range []string{"m4", "m5"} {
			if e := c.nextOf(chat.TypeMessage); e.Text != want {
				t.Fatalf("replay gave %+v, want %s", e, want)
			}
		}
		owner.send("live")
		if e := c.nextOf(chat.TypeMessage); e.Text != "live" {
			t.Fatalf("after replay got %+v, want live", e)
		}
		owner.nextOf(chat.TypeMessage)
	})
	t.Run("up to date", func(t *testing.T) {
		c, w := ts.join(t, fmt.Sprintf("name=u&since=%d&epoch=%s", 0, epoch)) // since 0: everything retained
		_ = w
		if e := c.nextOf(chat.TypeMessage); e.Text != "m1" {
			t.Fatalf("since=0 replay started with %+v, want m1", e)
		}
	})
	t.Run("too old", func(t *testing.T) {
		var latest chat.Event
		for i := range 10 { // push m1.. out of the 8 events retained, one at a time
			owner.send(fmt.Sprint("n", i))
			latest = owner.nextOf(chat.TypeMessage)
		}
		c, _ := ts.join(t, fmt.Sprintf("name=o&since=1&epoch=%s", epoch))
		gap := c.next()
		oldest := latest.ID - 8 + 1
		if gap.Type != chat.TypeGap || gap.Missed != oldest-2 {
			t.Fatalf("got %+v, want a gap of %d", gap, oldest-2)
		}
		if e := c.next(); e.ID != oldest {
			t.Fatalf("after the gap got id %d, want the oldest retained %d", e.ID, oldest)
		}
	})
	t.Run("other epoch", func(t *testing.T) {
		c, _ := ts.join(t, "name=e&since=3&epoch=not-this-one")
		gap := c.next()
		if gap.Type != chat.TypeGap || gap.Missed != 0 {
			t.Fatalf("got %+v, want a gap with unknown count", gap)
		}
		if e := c.next(); e.ID == 0 || e.ID > 8 && e.ID < last.ID {
			t.Fatalf("after the gap got %+v, want the oldest retained event", e)
		}
	})
	t.Run("from the future", func(t *testing.T) {
		c, _ := ts.join(t, fmt.Sprintf("name=f&since=%d&epoch=%s", 1000, epoch))
		if gap := c.next(); gap.Type != chat.TypeGap {
			t.Fatalf("since beyond the latest id gave %+v, want a gap", gap)
		}
	})
}

func TestRoomsAndJoin(t *testing.T) {
	ts := startServer(t, chat.Options{})
	a, _ := ts.join(t, "name=a&room=one")
	b, _ := ts.join(t, "name=b&room=two")
	a.nextOf(chat.TypeJoin)
	b.nextOf(chat.TypeJoin)

	a.send("in one")
	b.send("in two")
	if e := a.nextOf(chat.TypeMessage); e.Text != "in one" || e.Room != "one" {
		t.Fatalf("a got %+v", e)
	}
	if e := b.nextOf(chat.TypeMessage); e.Text != "in two" || e.Room != "two" {
		t.Fatalf("b got %+v", e)
	}

	a.send("/join #TWO")
	w := a.nextOf(chat.TypeWelcome)
	if w.Room != "two" || w.Name != "a" {
		t.Fatalf("after /join: %+v", w)
	}
	if e := b.next(); e.Type != chat.TypeJoin || e.From != "a" {
		t.Fatalf("b saw %+v, want a's join", e)
	}
	if e := a.next(); e.Type != chat.TypeJoin || e.From != "a" || e.Room != "two" {
		t.Fatalf("a saw %+v, want its own join in two", e)
	}
	b.send("hello a")
	if e := a.nextOf(chat.TypeMessage); e.Text != "hello a" {
		t.Fatalf("a got %+v", e)
	}
	a.send("/join two")
	if e := a.nextOf(chat.TypeError); !strings.Contains(e.Text, "already") {
		t.Fatalf("second /join gave %+v", e)
	}
	a.send("/join bad room")
	if e := a.nextOf(chat.TypeError); e.Text == "" {
		t.Fatalf("bad room gave %+v", e)
	}
}

func TestLeaveAndSilentBigRooms(t *testing.T) {
	ts := startServer(t, chat.Options{AnnounceLimit: 2})
	a, _ := ts.join(t, "name=a")
	a.nextOf(chat.TypeJoin)
	b, _ := ts.join(t, "name=b")
	if e := a.next(); e.Type != chat.TypeJoin || e.From != "b" {
		t.Fatalf("a saw %+v, want b's join", e)
	}
	b.nextOf(chat.TypeJoin)
	c, _ := ts.join(t, "name=c") // the third member: silent
	c.ws.Close(wsproto.CloseNormal, "")
	for { // wait until the server has seen c go
		a.send("/who")
		if e := a.nextOf(chat.TypeWho); e.Count == 2 {
			break
		}
	}
	b.ws.Close(wsproto.CloseNormal, "") // leaves a room of 2: announced
	if e := a.next(); e.Type != chat.TypeLeave || e.From != "b" {
		t.Fatalf("a saw %+v, want only b's leave", e)
	}
	a.send("/who")
	if e := a.nextOf(chat.TypeWho); e.Count != 1 || len(e.Names) != 1 || e.Names[0] != "a" {
		t.Fatalf("who: %+v", e)
	}
}

func TestNames(t *testing.T) {
	ts := startServer(t, chat.Options{})
	a, wa := ts.join(t, "name=alice")
	_, wb := ts.join(t, "name=Alice")
	_, wc := ts.join(t, "name=%D0%B0lice") // Cyrillic а
	_, wg := ts.join(t, "")
	if wa.Name != "alice" || wb.Name != "Alice-2" || wc.Name != "аlice-3" || !strings.HasPrefix(wg.Name, "guest-") {
		t.Fatalf("names: %q %q %q %q", wa.Name, wb.Name, wc.Name, wg.Name)
	}
	a.send("/nick Alice-2")
	if e := a.nextOf(chat.TypeError); !strings.Contains(e.Text, "taken") {
		t.Fatalf("taken nick: %+v", e)
	}
	a.send("/nick bad name")
	a.nextOf(chat.TypeError)
	a.send("/nick carol")
	if e := a.nextOf(chat.TypeNick); e.From != "alice" || e.Name != "carol" {
		t.Fatalf("nick event %+v", e)
	}
	a.send("hi")
	if e := a.nextOf(chat.TypeMessage); e.From != "carol" {
		t.Fatalf("message after /nick from %q", e.From)
	}

	for _, q := range []string{"name=a%20b", "name=" + strings.Repeat("x", 40), "room=no%2Fslash", "since=-1"} {
		resp, err := http.Get(ts.HTTPURL() + "/ws?" + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Count(string(body), "\n") != 1 {
			t.Errorf("%s: %d %q, want 400 and one line", q, resp.StatusCode, body)
		}
	}
}

func TestCommands(t *testing.T) {
	ts := startServer(t, chat.Options{})
	a, _ := ts.join(t, "name=a")
	a.send("/help")
	if e := a.nextOf(chat.TypeHelp); !strings.Contains(e.Text, "/nick") {
		t.Fatalf("help: %+v", e)
	}
	a.send("/me waves")
	if e := a.nextOf(chat.TypeMe); e.Text != "waves" || e.From != "a" || e.ID == 0 {
		t.Fatalf("me: %+v", e)
	}
	a.send("//not a command")
	if e := a.nextOf(chat.TypeMessage); e.Text != "/not a command" {
		t.Fatalf("escape: %+v", e)
	}
	a.send("/dance")
	if e := a.nextOf(chat.TypeError); !strings.Contains(e.Text, "/dance") {
		t.Fatalf("unknown: %+v", e)
	}
	a.send("<img src=x onerror=alert(1)>")
	if e := a.nextOf(chat.TypeMessage); e.Text != "<img src=x onerror=alert(1)>" {
		t.Fatalf("html: %+v", e)
	}
}

func TestLimits(t *testing.T) {
	t.Run("message too long keeps the connection", func(t *testing.T) {
		ts := startServer(t, chat.Options{MaxMessageBytes: 100})
		a, _ := ts.join(t, "name=a")
		a.send(strings.Repeat("x", 101))
		if e := a.nextOf(chat.TypeError); !strings.Contains(e.Text, "too long") {
			t.Fatalf("got %+v", e)
		}
		a.send(strings.Repeat("y", 100))
		if e := a.nextOf(chat.TypeMessage); len(e.Text) != 100 {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("frame too large closes 1009", func(t *testing.T) {
		ts := startServer(t, chat.Options{MaxMessageBytes: 100, MaxFrameBytes: 1000})
		a, _ := ts.join(t, "name=a")
		a.send(strings.Repeat("x", 1001))
		if code := a.closed(); code != wsproto.CloseMessageTooBig {
			t.Fatalf("closed with %v, want 1009", code)
		}
	})
	t.Run("binary closes 1003", func(t *testing.T) {
		ts := startServer(t, chat.Options{})
		a, _ := ts.join(t, "name=a")
		if err := a.ws.WriteMessage(wsproto.OpBinary, []byte{1, 2}); err != nil {
			t.Fatal(err)
		}
		if code := a.closed(); code != wsproto.CloseUnsupportedData {
			t.Fatalf("closed with %v, want 1003", code)
		}
	})
	t.Run("rate limit refuses each line with a reason, then closes a flood 1008", func(t *testing.T) {
		ts := startServer(t, chat.Options{MessageRate: 0.001, MessageBurst: 3})
		a, _ := ts.join(t, "name=a")
		for i := range 20 {
			if a.ws.WriteMessage(wsproto.OpText, fmt.Append(nil, i)) != nil {
				break // closed under us: fine
			}
		}
		var got, errs int
		for {
			e, ok := <-a.events
			if !ok {
				break
			}
			switch e.Type {
			case chat.TypeMessage:
				got++
			case chat.TypeError:
				errs++
				if e.Reason != chat.ReasonRateLimited || e.RetryAfterMs <= 0 || e.CID != "" {
					t.Fatalf("refusal %+v: want reason rate_limited, a retry_after_ms and no cid", e.Event)
				}
			}
		}
		if code := wsproto.CloseStatus(<-a.err); code != wsproto.ClosePolicyViolation {
			t.Fatalf("closed with %v, want 1008", code)
		}
		// The burst passes; each of the next burst lines is refused with
		// an error of its own; one more refused in a row is a flood.
		if got != 3 || errs != 3 {
			t.Fatalf("%d messages through and %d errors, want 3 and 3", got, errs)
		}
	})
	t.Run("max connections 503", func(t *testing.T) {
		ts := startServer(t, chat.Options{MaxConnections: 2})
		ts.join(t, "name=a")
		ts.join(t, "name=b")
		_, _, err := wsproto.Dial(context.Background(), ts.url+"?name=c", nil)
		var he *wsproto.HandshakeError
		if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
			t.Fatalf("third connection: %v, want 503", err)
		}
	})
	t.Run("per-IP cap 429", func(t *testing.T) {
		ts := startServer(t, chat.Options{MaxConnsPerIP: 1})
		ts.join(t, "name=a")
		_, _, err := wsproto.Dial(context.Background(), ts.url+"?name=b", nil)
		var he *wsproto.HandshakeError
		if !errors.As(err, &he) || he.Status != http.StatusTooManyRequests {
			t.Fatalf("second connection from one IP: %v, want 429", err)
		}
	})
}

func TestKeepaliveDropsSilentClient(t *testing.T) {
	ts := startServer(t, chat.Options{PingInterval: 100 * time.Millisecond, PongTimeout: 200 * time.Millisecond})
	// A client that answers pings stays.
	alive, _ := ts.join(t, "name=alive")
	// A client that never answers is dropped after about a ping interval
	// plus the pong timeout.
	silent := ts.dial(t, "name=silent")
	silent.ws.SetPingHandler(func([]byte) error { return nil })
	silent.startReading()
	start := time.Now()
	silent.closed()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("silent client dropped after %v", d)
	}
	alive.send("still here")
	if e := alive.nextOf(chat.TypeMessage); e.Text != "still here" {
		t.Fatalf("got %+v", e)
	}
}

func TestShutdownSends1001(t *testing.T) {
	ts := startServer(t, chat.Options{})
	a, _ := ts.join(t, "name=a")
	b, _ := ts.join(t, "name=b")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- ts.Shutdown(ctx)
	}()
	for _, c := range []*testClient{a, b} {
		if code := c.closed(); code != wsproto.CloseGoingAway {
			t.Fatalf("closed with %v, want 1001", code)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	resp, err := http.Get(ts.HTTPURL() + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after shutdown: %d, want 503", resp.StatusCode)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	ts := startServer(t, chat.Options{})
	a, _ := ts.join(t, "name=a")
	a.send("hi")
	a.nextOf(chat.TypeMessage)
	get := func(path string) (int, string) {
		resp, err := http.Get(ts.HTTPURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body := get("/metrics")
	for _, want := range []string{"ringchat_connections 1", "ringchat_messages_in_total 1", "ringchat_fanout_latency_seconds_count", `ringchat_handshake_refusals_total`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	// The tutorial's bare ws://host:port works too.
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	ws, _, err := wsproto.Dial(ctx, "ws"+strings.TrimPrefix(ts.HTTPURL(), "http")+"/?name=bare", nil)
	if err != nil {
		t.Fatalf("bare address: %v", err)
	}
	ws.CloseNow()
	// A plain GET of /ws is refused with a reason.
	if code, body := get("/ws"); code != http.StatusBadRequest || !strings.Contains(body, "Upgrade") {
		t.Errorf("GET /ws: %d %q", code, body)
	}
	// Cross-site pages are refused.
	req, _ := http.NewRequest("GET", ts.HTTPURL()+"/ws", nil)
	for k, v := range map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": "https://evil.example"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site origin: %d, want 403", resp.StatusCode)
	}
	_ = url.Values{}
}

// A room larger than one fan-out bucket (256 members): every member gets
// every event, also after members in the middle of a bucket leave.
func TestManyMembersAcrossBuckets(t *testing.T) {
	const members = 600
	ts := startServer(t, chat.Options{AnnounceLimit: 1})
	clients := make([]*testClient, members)
	for i := range clients {
		clients[i], _ = ts.join(t, fmt.Sprintf("name=m%d", i))
	}
	clients[0].send("first")
	for i, c := range clients {
		if e := c.nextOf(chat.TypeMessage); e.Text != "first" {
			t.Fatalf("member %d got %+v", i, e)
		}
	}
	// Members leave from the middle of each bucket, moving others around.
	left := map[int]bool{}
	for i := 3; i < members; i += 7 {
		clients[i].ws.Close(wsproto.CloseNormal, "")
		left[i] = true
	}
	for {
		clients[0].send("/who")
		if e := clients[0].nextOf(chat.TypeWho); e.Count == members-len(left) {
			break
		}
	}
	clients[1].send("second")
	for i, c := range clients {
		if left[i] {
			continue
		}
		if e := c.nextOf(chat.TypeMessage); e.Text != "second" {
			t.Fatalf("member %d got %+v", i, e)
		}
	}
}
