package chat_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"ringchat/chat"
	"ringchat/wsproto"
)

// countingConn counts the bytes read from a connection: what came over
// the wire, compressed or not.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// countingDial dials TCP and counts what is read into n.
func countingDial(n *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, n}, nil
	}
}

// chatProse is n bytes of English for messages that compress as chat does.
func chatProse(n int) string {
	const p = "Somebody left the lights on in the lab again, and the heating too, so the plants by the window " +
		"have grown about a foot since Friday. I think Priya is coming in at ten to sort out the cables; " +
		"if anyone needs the projector before lunch, ask her first, because the old one finally gave up. "
	return strings.Repeat(p, n/len(p)+1)[:n]
}

// metric reads one counter from /metrics.
func metric(t *testing.T, ts *testServer, name string) uint64 {
	t.Helper()
	resp, err := http.Get(ts.HTTPURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics lacks %s", name)
	}
	v, _ := strconv.ParseUint(string(m[1]), 10, 64)
	return v
}

// TestCompressionMixedRoom puts clients that compress (wsproto with
// Compression) beside clients that do not (golang.org/x/net/websocket,
// which has no permessage-deflate, and wsproto without it) in one room:
// every one receives the same events, the compressing ones read fewer
// bytes off the wire, and each event is compressed once however many
// members compress.
func TestCompressionMixedRoom(t *testing.T) {
	ts := startServer(t, chat.Options{Compression: true, MessageRate: -1})
	const deflaters = 3
	var zRead, plainRead atomic.Int64

	var zs []*testClient
	for i := range deflaters {
		c := ts.dialWith(t, fmt.Sprintf("name=z%d", i), &wsproto.DialOptions{Compression: true, NetDial: countingDial(&zRead)})
		if !c.ws.Compression() {
			t.Fatal("the server did not take permessage-deflate")
		}
		c.startReading()
		if w := c.next(); w.Type != chat.TypeWelcome {
			t.Fatalf("first event %+v", w)
		}
		zs = append(zs, c)
	}
	plain := ts.dialWith(t, "name=plain", &wsproto.DialOptions{NetDial: countingDial(&plainRead)}).startReading()
	if plain.ws.Compression() {
		t.Fatal("compression without an offer")
	}
	plain.next()

	cfg, err := websocket.NewConfig(ts.url+"?name=xnet", ts.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	xc, err := cfg.DialContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer xc.Close()
	xc.SetDeadline(time.Now().Add(eventTimeout))
	xnext := func() chat.Event {
		t.Helper()
		var e chat.Event
		if err := websocket.JSON.Receive(xc, &e); err != nil {
			t.Fatalf("x/net client: %v", err)
		}
		return e
	}
	if w := xnext(); w.Type != chat.TypeWelcome {
		t.Fatalf("x/net client's first event %+v", w)
	}
	// Everyone is in: the joins are done before the messages begin.
	for _, c := range append(zs, plain) {
		for c.nextOf(chat.TypeJoin).From != "xnet" {
		}
	}

	texts := []string{"hi", chatProse(100), chatProse(300), chatProse(2048), "a\u00e9\u20ac\U0001F600 " + chatProse(1000), "bye"}
	long := 0
	var want []chat.Event
	for i, text := range texts {
		if len(text) >= chat.DefaultCompressionThreshold-150 { // the JSON around it counts too
			long++
		}
		sender := zs[i%deflaters]
		if i%2 == 1 {
			sender = plain
		}
		sender.send(text) // and wait for it: senders on different connections race
		e := xnext()
		for e.Type == chat.TypeJoin {
			e = xnext()
		}
		if e.Type != chat.TypeMessage || e.Text != text {
			t.Fatalf("x/net client: event %d is %s %.30q, want message %.30q", i, e.Type, e.Text, text)
		}
		want = append(want, e)
	}
	for _, c := range append(zs, plain) {
		for i, w := range want {
			got := c.nextOf(chat.TypeMessage)
			if got.ID != w.ID || got.Text != w.Text || got.From != w.From || got.Time != w.Time {
				t.Fatalf("event %d: %+v, the x/net client had %+v", i, got, w)
			}
		}
	}

	if n := metric(t, ts, "ringchat_compressed_events_total"); n == 0 || n > uint64(long) {
		t.Errorf("%d events compressed for %d members; want one for each of the %d long events at most", n, deflaters, long)
	}
	in, out := metric(t, ts, "ringchat_compressed_bytes_in_total"), metric(t, ts, "ringchat_compressed_bytes_out_total")
	if out == 0 || out >= in*3/4 {
		t.Errorf("compressed %d bytes to %d", in, out)
	}
	// Each compressing client read less than the plain one did.
	if z, p := zRead.Load()/deflaters, plainRead.Load(); z >= p*85/100 {
		t.Errorf("a compressing client read %d bytes, the plain one %d", z, p)
	}
}

// TestCompressionOff checks that a server without Compression declines
// the offer, and that Compression's threshold keeps short events plain.
func TestCompressionOff(t *testing.T) {
	tests := []struct {
		name      string
		opts      chat.Options
		wantTaken bool
		wantZ     bool // the long message is compressed
	}{
		{"off", chat.Options{}, false, false},
		{"on", chat.Options{Compression: true}, true, true},
		{"on, threshold above the message", chat.Options{Compression: true, CompressionThreshold: 10000}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.opts)
			c := ts.dialWith(t, "name=a", &wsproto.DialOptions{Compression: true}).startReading()
			if c.ws.Compression() != tt.wantTaken {
				t.Fatalf("Compression() = %v, want %v", c.ws.Compression(), tt.wantTaken)
			}
			c.next()
			text := chatProse(3000)
			c.send(text)
			if e := c.nextOf(chat.TypeMessage); e.Text != text {
				t.Fatalf("got %.40q", e.Text)
			}
			if n := metric(t, ts, "ringchat_compressed_events_total"); (n == 1) != tt.wantZ {
				t.Fatalf("%d events compressed", n)
			}
		})
	}
}

// BenchmarkCompressedFanout is the cost a room event adds for its members
// that compress: once per event, whatever their number — compare ns/op at
// 1 and 1000 members.
func BenchmarkCompressedFanout(b *testing.B) {
	frame := wsproto.AppendFrame(nil, wsproto.OpText, mustJSON(chat.Event{Type: chat.TypeMessage, ID: 1, Room: "lobby", From: "alice", Text: chatProse(2048)}))
	for _, members := range []int{1, 1000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			r, _ := chat.NewRing(1024, 0)
			var z chat.FrameCompressor
			dst := make([][]byte, 0, 1)
			id := uint64(0)
			for b.Loop() {
				id++
				r.Put(id, frame)
				for range members {
					dst, _, _ = r.ReadCompressed(id, dst, &z)
				}
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// inflateFrame returns the payload of a compressed server frame.
func inflateFrame(t *testing.T, f []byte) []byte {
	t.Helper()
	if f[0] != 0xC1 {
		t.Fatalf("frame starts %#x, want a final compressed text frame (0xC1)", f[0])
	}
	h := 2
	switch f[1] {
	case 126:
		h = 4
	case 127:
		h = 10
	}
	r := flate.NewReader(io.MultiReader(bytes.NewReader(f[h:]), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	p, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRingReadCompressed checks the ring's compressed frames: made on the
// first read, shared by every later one, plain below the threshold, and
// made once when many readers want the same event at the same moment.
func TestRingReadCompressed(t *testing.T) {
	long := mustJSON(chat.Event{Type: chat.TypeMessage, ID: 1, Text: chatProse(1000)})
	short := []byte(`{"type":"message","id":2,"text":"hi"}`)
	r, _ := chat.NewRing(8, 0)
	r.Put(1, wsproto.AppendFrame(nil, wsproto.OpText, long))
	r.Put(2, wsproto.AppendFrame(nil, wsproto.OpText, short))
	var z chat.FrameCompressor
	got, next, missed := r.ReadCompressed(1, make([][]byte, 0, 4), &z)
	if len(got) != 2 || next != 3 || missed != 0 {
		t.Fatalf("ReadCompressed = %d frames, next %d, missed %d", len(got), next, missed)
	}
	if p := inflateFrame(t, got[0]); !bytes.Equal(p, long) {
		t.Fatalf("inflated to %.40q", p)
	}
	plain, _, _ := r.Read(1, make([][]byte, 0, 4))
	if !bytes.Equal(got[1], plain[1]) || &got[1][0] != &plain[1][0] {
		t.Fatal("a short event's frame is not the plain one")
	}
	again, _, _ := r.ReadCompressed(1, make([][]byte, 0, 1), &z)
	if &again[0][0] != &got[0][0] {
		t.Fatal("a second reader got another compressed frame, not the shared one")
	}

	// Many readers at once: one compression, and each reader gets either
	// that frame or the plain one.
	r.Put(3, wsproto.AppendFrame(nil, wsproto.OpText, long))
	var z2 chat.FrameCompressor
	frames := make(chan []byte, 64)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			f, _, _ := r.ReadCompressed(3, make([][]byte, 0, 1), &z2)
			frames <- f[0]
		})
	}
	wg.Wait()
	close(frames)
	var zframe []byte
	for f := range frames {
		if f[0] == 0x81 {
			continue // plain, while another reader compressed it
		}
		if zframe != nil && &f[0] != &zframe[0] {
			t.Fatal("two compressed frames made for one event")
		}
		zframe = f
	}
	if zframe == nil || !bytes.Equal(inflateFrame(t, zframe), long) {
		t.Fatal("no reader got the compressed frame")
	}
}
