package redis_test

import (
	"strconv"
	"testing"
	"time"

	"ringchat/chat/store/redis"
	"ringchat/internal/redistest"
	"ringchat/internal/resp"
)

// TestWireFormat pins what every node of a cluster relies on, whatever its
// version: the keys' names and contents and the channel's messages.
func TestWireFormat(t *testing.T) {
	srv := redistest.Start(t)
	admin := client(t, srv)
	ctx := ctxFor(t, 10*time.Second)
	o := options(srv, "tenant7:")
	o.Redis.DB = 3
	n := openNode(t, o, "lobby")
	seq, events, epoch, channel := n.s.Keys("lobby")
	for got, want := range map[string]string{
		seq: "tenant7:{lobby}:seq", events: "tenant7:{lobby}:events",
		epoch: "tenant7:{lobby}:epoch", channel: "tenant7:{lobby}@3",
	} {
		if got != want {
			t.Fatalf("key %q, want %q", got, want)
		}
	}
	msgs := make(chan string, 10)
	sub, err := resp.NewSubscriber(resp.Options{Addr: srv.Addr()}, func(ev resp.Event) {
		if ev.Kind == resp.EventMessage {
			msgs <- ev.Payload
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe(ctx, channel); err != nil {
		t.Fatal(err)
	}
	e := event("hi")
	id, err := n.log.Append(e)
	if err != nil || id != 1 {
		t.Fatalf("Append: %d, %v", id, err)
	}
	body := e.AppendBody(nil, 1)
	if got, want := <-msgs, string(redis.AppendMessage(nil, 1, n.log.Epoch(), body)); got != want {
		t.Fatalf("message %q, want %q", got, want)
	}

	c3, err := resp.NewClient(resp.Options{Addr: srv.Addr(), DB: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if s, err := resp.String(c3.Do(ctx, "GET", seq)); s != "1" || err != nil {
		t.Fatalf("GET %s = %q, %v", seq, s, err)
	}
	if s, err := resp.String(c3.Do(ctx, "GET", epoch)); s != n.log.Epoch() || err != nil {
		t.Fatalf("GET %s = %q, %v", epoch, s, err)
	}
	v, err := c3.Do(ctx, "XRANGE", events, "-", "+")
	if err != nil || len(v.Elems) != 1 {
		t.Fatalf("XRANGE: %v, %v", v, err)
	}
	en := v.Elems[0]
	fields, _ := resp.Strings(en.Elems[1], nil)
	if en.Elems[0].Str != "1-0" || len(fields) != 4 || fields[0] != "time" || fields[2] != "body" || fields[3] != string(body) {
		t.Fatalf("stream entry %q %q", en.Elems[0].Str, fields)
	}
	if fields[1] != strconv.FormatInt(e.Time, 10) {
		t.Fatalf("time field %q, want %d", fields[1], e.Time)
	}
	// Database 0 is another world.
	if n, err := resp.Int64(admin.Do(ctx, "EXISTS", seq)); n != 0 || err != nil {
		t.Fatalf("EXISTS %s on database 0: %d, %v", seq, n, err)
	}
}
