package resp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ringchat/internal/redistest"
	"ringchat/internal/resp"
)

// subscriber starts a Subscriber whose events go to a channel, and closes
// it when the test ends.
func subscriber(t *testing.T, o resp.Options) (*resp.Subscriber, <-chan resp.Event) {
	t.Helper()
	events := make(chan resp.Event, 10000)
	s, err := resp.NewSubscriber(o, func(ev resp.Event) { events <- ev })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, events
}

// waitFor returns the next event, which must be of kind.
func waitFor(t *testing.T, events <-chan resp.Event, kind resp.EventKind) resp.Event {
	t.Helper()
	select {
	case ev := <-events:
		if ev.Kind != kind {
			t.Fatalf("got %v event %+v, want %v", ev.Kind, ev, kind)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no %v event within 10 s", kind)
	}
	panic("unreachable")
}

func publish(t *testing.T, c *resp.Client, channel, msg string) int64 {
	t.Helper()
	n, err := resp.Int64(c.Do(ctxFor(t, 5*time.Second), "PUBLISH", channel, msg))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSubscriber(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, resp.Options{Addr: srv.Addr()})
	ctx := ctxFor(t, 20*time.Second)
	s, events := subscriber(t, resp.Options{Addr: srv.Addr(), ClientName: "sub"})
	waitFor(t, events, resp.EventConnected)

	if err := s.Subscribe(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.PSubscribe(ctx, "room.*"); err != nil {
		t.Fatal(err)
	}
	// Once Subscribe has returned, the server counts the subscriber in.
	if n := publish(t, c, "a", "1"); n != 1 {
		t.Fatalf("PUBLISH a reached %d subscribers", n)
	}
	publish(t, c, "b", "2\r\n\x00binary")
	publish(t, c, "room.7", "3")
	publish(t, c, "other", "not for us")
	for _, want := range []resp.Event{
		{Kind: resp.EventMessage, Channel: "a", Payload: "1"},
		{Kind: resp.EventMessage, Channel: "b", Payload: "2\r\n\x00binary"},
		{Kind: resp.EventMessage, Channel: "room.7", Pattern: "room.*", Payload: "3"},
	} {
		if got := waitFor(t, events, resp.EventMessage); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}

	if err := s.Unsubscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.PUnsubscribe(ctx, "room.*"); err != nil {
		t.Fatal(err)
	}
	if n := publish(t, c, "a", "x"); n != 0 {
		t.Fatalf("PUBLISH after Unsubscribe reached %d", n)
	}
	if n := publish(t, c, "room.8", "x"); n != 0 {
		t.Fatalf("PUBLISH after PUnsubscribe reached %d", n)
	}
	publish(t, c, "b", "still")
	if got := waitFor(t, events, resp.EventMessage); got.Payload != "still" {
		t.Fatalf("got %+v", got)
	}

	// However many channels, one connection.
	var many []string
	for i := range 500 {
		many = append(many, fmt.Sprintf("room:%d", i))
	}
	if err := s.Subscribe(ctx, many...); err != nil {
		t.Fatal(err)
	}
	list, err := resp.String(c.Do(ctx, "CLIENT", "LIST"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(list, "name=sub "); n != 1 || !strings.Contains(list, "name=sub age") || !strings.Contains(list, "sub=501") {
		t.Fatalf("want one connection subscribed to 501 channels:\n%s", list)
	}
	// A name given twice is confirmed twice, and counted once.
	if err := s.Subscribe(ctx, "d", "d"); err != nil {
		t.Fatal(err)
	}
	if n := publish(t, c, "d", "once"); n != 1 {
		t.Fatalf("PUBLISH d reached %d", n)
	}
	if got := waitFor(t, events, resp.EventMessage); got.Payload != "once" {
		t.Fatalf("got %+v", got)
	}
	if err := s.Subscribe(ctx); err == nil {
		t.Fatal("Subscribe of nothing succeeded")
	}
	s.Close()
	if err := s.Subscribe(ctx, "x"); err != resp.ErrClosed {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

// A server restart: the Subscriber notices, reconnects and subscribes
// again by itself, and its events frame the window in which messages were
// lost, which a sequence number in the messages makes visible.
func TestSubscriberRestart(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, resp.Options{Addr: srv.Addr(), MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	ctx := ctxFor(t, 30*time.Second)
	// The test holds the Subscriber's reconnects off for a while, so that
	// messages are certainly published while it is away.
	var away atomic.Bool
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if away.Load() {
			return nil, errors.New("held off by the test")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	s, events := subscriber(t, resp.Options{Addr: srv.Addr(), Dial: dial, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	waitFor(t, events, resp.EventConnected)
	if err := s.Subscribe(ctx, "seq"); err != nil {
		t.Fatal(err)
	}

	seq := 0
	receivers := map[int]int64{}
	send := func() {
		seq++
		n, err := resp.Int64(c.Do(ctx, "PUBLISH", "seq", seq))
		if err != nil {
			receivers[seq] = -1 // not published
			return
		}
		receivers[seq] = n
	}
	var got []int
	take := func(ev resp.Event) {
		n, _ := strconv.Atoi(ev.Payload)
		got = append(got, n)
	}
	for range 10 {
		send()
	}
	for range 10 {
		take(waitFor(t, events, resp.EventMessage))
	}

	away.Store(true)
	srv.Restart()
	ev := waitFor(t, events, resp.EventDisconnected)
	if !errors.Is(ev.Err, resp.ErrDisconnected) {
		t.Fatalf("EventDisconnected.Err = %v", ev.Err)
	}
	lostFrom := seq + 1
	for range 5 {
		send() // while the Subscriber is held off
	}
	// Published into the window, to nobody.
	for i := lostFrom; i <= seq; i++ {
		if receivers[i] != 0 {
			t.Fatalf("message %d published to %d subscribers during the window", i, receivers[i])
		}
	}
	away.Store(false)
	waitFor(t, events, resp.EventConnected)
	lostTo := seq
	for range 10 {
		send()
	}
	for range 10 {
		take(waitFor(t, events, resp.EventMessage))
	}
	// Everything outside the window arrived, in order; the jump in the
	// sequence is the window.
	want := []int{}
	for i := 1; i <= seq; i++ {
		if i < lostFrom || i > lostTo {
			want = append(want, i)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	if got[10] != lostTo+1 || got[9] != lostFrom-1 {
		t.Fatalf("no gap around the restart: %v", got)
	}
}

// A server that stops answering (SIGSTOP) is found out by the pings, and
// the Subscriber comes back when the server does.
func TestSubscriberStoppedServer(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, resp.Options{Addr: srv.Addr()})
	ctx := ctxFor(t, 30*time.Second)
	o := resp.Options{Addr: srv.Addr(), PingInterval: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond,
		DialTimeout: 200 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	s, events := subscriber(t, o)
	waitFor(t, events, resp.EventConnected)
	if err := s.Subscribe(ctx, "ch"); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	start := time.Now()
	waitFor(t, events, resp.EventDisconnected)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a stopped server noticed only after %v", d)
	}
	// While it is away, Subscribe waits for it; given up, it keeps the
	// channel all the same.
	if err := s.Subscribe(ctxFor(t, 100*time.Millisecond), "ch2"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Subscribe while disconnected: %v", err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- s.Subscribe(ctx, "ch3") }()
	srv.Resume()
	waitFor(t, events, resp.EventConnected)
	if err := <-waiting; err != nil {
		t.Fatalf("Subscribe waiting for the server: %v", err)
	}
	if n := publish(t, c, "ch3", "x"); n != 1 {
		t.Fatalf("PUBLISH to the channel that waited reached %d", n)
	}
	waitFor(t, events, resp.EventMessage)
	if n := publish(t, c, "ch", "back"); n != 1 {
		t.Fatalf("PUBLISH after resume reached %d", n)
	}
	if n := publish(t, c, "ch2", "too"); n != 1 {
		t.Fatalf("PUBLISH to the channel subscribed while away reached %d", n)
	}
	for _, want := range []string{"back", "too"} {
		if ev := waitFor(t, events, resp.EventMessage); ev.Payload != want {
			t.Fatalf("got %+v, want %q", ev, want)
		}
	}
}

// A refused subscription (an ACL user without channel rights) comes back
// as the server's error, and the Subscriber goes on.
func TestSubscriberRefused(t *testing.T) {
	srv := redistest.StartConfig(t, redistest.Config{Args: []string{
		"--user", "bob", "on", ">pw", "~*", "resetchannels", "&ok*", "+@all",
	}})
	ctx := ctxFor(t, 10*time.Second)
	s, events := subscriber(t, resp.Options{Addr: srv.Addr(), Username: "bob", Password: "pw"})
	waitFor(t, events, resp.EventConnected)
	if err := s.Subscribe(ctx, "secret"); !resp.HasPrefix(err, "NOPERM") {
		t.Fatalf("Subscribe without the right: %v, want NOPERM", err)
	}
	if err := s.Subscribe(ctx, "ok1"); err != nil {
		t.Fatalf("Subscribe after a refusal: %v", err)
	}
}

// Many goroutines subscribing and unsubscribing at once, with messages
// flowing, keep the Subscriber's books straight (run with -race).
func TestSubscriberConcurrent(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, resp.Options{Addr: srv.Addr()})
	ctx := ctxFor(t, 30*time.Second)
	var got atomic.Int64
	s, err := resp.NewSubscriber(resp.Options{Addr: srv.Addr()}, func(ev resp.Event) {
		if ev.Kind == resp.EventMessage {
			got.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Subscribe(ctx, "always"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			ch := fmt.Sprintf("w%d", w)
			for range 50 {
				if err := s.Subscribe(ctx, ch); err != nil {
					t.Error(err)
					return
				}
				if err := s.Unsubscribe(ctx, ch); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			if _, err := c.Do(ctx, "PUBLISH", "always", "x"); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() < 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got.Load() != 200 {
		t.Fatalf("%d of 200 messages arrived", got.Load())
	}
	v, err := c.Do(ctx, "PUBSUB", "NUMSUB", "always", "w0")
	if err != nil || len(v.Elems) != 4 || v.Elems[1].Int != 1 || v.Elems[3].Int != 0 {
		t.Fatalf("PUBSUB NUMSUB = %#v, %v", v, err)
	}
}

// A Subscriber closed while it cannot connect ends at once.
func TestSubscriberCloseWhileAway(t *testing.T) {
	s, err := resp.NewSubscriber(resp.Options{Addr: "127.0.0.1:1"}, func(resp.Event) { t.Error("event from nowhere") })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(ctxFor(t, 50*time.Millisecond), "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Subscribe with no server: %v", err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- s.Subscribe(context.Background(), "y") }()
	time.Sleep(20 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	if err := <-waiting; err != resp.ErrClosed {
		t.Fatalf("Subscribe waiting at Close: %v", err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close took more than 2 s")
	}
}
