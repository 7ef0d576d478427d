package redis_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"context"

	"ringchat/chat/store"
	"ringchat/chat/store/redis"
	"ringchat/internal/redistest"
	"ringchat/internal/resp"
)

// node is one chat process's store with one room open in it.
type node struct {
	s    *redis.Store
	log  store.Log
	sink *orderSink
}

// openNode makes a store of o and opens room in it.
func openNode(t testing.TB, o redis.Options, room string) *node {
	t.Helper()
	s := newStore(t, o)
	sink := newOrderSink(0)
	l := mustOpen(t, s, room, sink)
	sink.first = l.Last() + 1
	return &node{s: s, log: l, sink: sink}
}

// appended is what one appender got back.
type appended struct {
	text string
	id   uint64
	err  error
	took time.Duration
}

// appender appends events named prefix-0, prefix-1... to l until stop is
// closed or it has made n (0: no limit), pausing between them, and
// returns what it got.
func appender(l store.Log, prefix string, n int, pause time.Duration, stop <-chan struct{}) []appended {
	var out []appended
	for i := 0; n == 0 || i < n; i++ {
		select {
		case <-stop:
			return out
		default:
		}
		text := fmt.Sprintf("%s-%d", prefix, i)
		start := time.Now()
		id, err := l.Append(event(text))
		out = append(out, appended{text, id, err, time.Since(start)})
		if errors.Is(err, store.ErrClosed) {
			return out
		}
		if pause > 0 {
			time.Sleep(pause)
		}
	}
	return out
}

// checkSame fails t unless every node's sink has every id from..to once,
// in order, the same frames everywhere, and every acknowledged append at
// its id; it returns the frames of the first node by id.
func checkSame(t *testing.T, from, to uint64, nodes []*node, acked []appended) map[uint64][]byte {
	t.Helper()
	for i, n := range nodes {
		n.sink.waitFor(t, to, 20*time.Second)
		if lost := n.sink.check(t, from, to); lost > 0 {
			t.Fatalf("node %d: %d events delivered as lost", i, lost)
		}
	}
	first := nodes[0].sink
	first.mu.Lock()
	defer first.mu.Unlock()
	for i, n := range nodes[1:] {
		n.sink.mu.Lock()
		for id := from; id <= to; id++ {
			if !bytes.Equal(n.sink.frames[id], first.frames[id]) {
				n.sink.mu.Unlock()
				t.Fatalf("id %d: node %d got %q, node 0 got %q", id, i+1, n.sink.frames[id], first.frames[id])
			}
		}
		n.sink.mu.Unlock()
	}
	for _, a := range acked {
		if a.err != nil {
			continue
		}
		if want := wantBody(a.id, a.text); !bytes.HasSuffix(first.frames[a.id], []byte(want)) {
			t.Fatalf("id %d: frame %q, want the body %s", a.id, first.frames[a.id], want)
		}
	}
	return first.frames
}

func TestTwoNodes(t *testing.T) {
	srv := redistest.Start(t)
	o := options(srv, freshPrefix())
	a, b := openNode(t, o, "lobby"), openNode(t, o, "lobby")
	if a.log.Epoch() != b.log.Epoch() {
		t.Fatalf("two nodes, two epochs: %q and %q", a.log.Epoch(), b.log.Epoch())
	}
	const each = 300
	var mu sync.Mutex
	var all []appended
	var wg sync.WaitGroup
	for i, n := range []*node{a, a, b, b} {
		wg.Go(func() {
			got := appender(n.log, fmt.Sprintf("w%d", i), each, 0, nil)
			mu.Lock()
			all = append(all, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	seen := make(map[uint64]bool)
	for _, x := range all {
		if x.err != nil {
			t.Fatalf("append %s: %v", x.text, x.err)
		}
		if seen[x.id] {
			t.Fatalf("id %d given twice", x.id)
		}
		seen[x.id] = true
	}
	checkSame(t, 1, 4*each, []*node{a, b}, all)
	if a.log.Last() != 4*each || b.log.Last() != 4*each {
		t.Fatalf("Last() = %d and %d, want %d", a.log.Last(), b.log.Last(), 4*each)
	}
	// A third node opening now starts after the newest and reads the rest.
	c := openNode(t, o, "lobby")
	if c.log.Last() != 4*each || c.log.Epoch() != a.log.Epoch() {
		t.Fatalf("a node opening later: Last() %d, epoch %q", c.log.Last(), c.log.Epoch())
	}
	recs, err := c.log.Read(1, make([]store.Record, 0, 50))
	if err != nil || len(recs) != 50 || recs[0].ID != 1 {
		t.Fatalf("the new node read %d records from 1, %v", len(recs), err)
	}
}

// dialGate makes a store's connections fail to dial while it is shut.
type dialGate struct{ shut atomic.Bool }

func (g *dialGate) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if g.shut.Load() {
		return nil, errors.New("dial gate shut by the test")
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// killSubscriber kills the pub/sub connection of the store whose client
// name is name, as Redis does to a subscriber that falls behind, and
// reports whether it found one.
func killSubscriber(t testing.TB, c *resp.Client, name string) bool {
	t.Helper()
	list, err := resp.String(c.Do(ctxFor(t, 5*time.Second), "CLIENT", "LIST", "TYPE", "pubsub"))
	if err != nil {
		t.Fatal(err)
	}
	killed := false
	for _, line := range strings.Split(list, "\n") {
		var id string
		var named bool
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if f == "name="+name {
				named = true
			}
		}
		if named && id != "" {
			if _, err := c.Do(ctxFor(t, 5*time.Second), "CLIENT", "KILL", "ID", id); err == nil {
				killed = true
			}
		}
	}
	return killed
}

// TestPubSubLoss kills one node's pub/sub connection again and again while
// both nodes append: the messages published meanwhile are lost to it, and
// it fills the gaps from the stream.
func TestPubSubLoss(t *testing.T) {
	srv := redistest.Start(t)
	admin := client(t, srv)
	o := options(srv, freshPrefix())
	a := openNode(t, o, "lobby")
	ob := o
	ob.Redis.ClientName = "node-b"
	b := openNode(t, ob, "lobby")

	stop := make(chan struct{})
	var mu sync.Mutex
	var all []appended
	var wg sync.WaitGroup
	for i, n := range []*node{a, a, b} {
		wg.Go(func() {
			got := appender(n.log, fmt.Sprintf("w%d", i), 0, time.Millisecond, stop)
			mu.Lock()
			all = append(all, got...)
			mu.Unlock()
		})
	}
	kills := 0
	for range 15 {
		time.Sleep(40 * time.Millisecond)
		if killSubscriber(t, admin, "node-b") {
			kills++
		}
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if kills < 5 {
		t.Fatalf("only %d of 15 kills found the subscriber", kills)
	}
	var newest uint64
	for _, x := range all {
		if x.err != nil {
			t.Fatalf("append %s: %v", x.text, x.err)
		}
		newest = max(newest, x.id)
	}
	if newest != uint64(len(all)) {
		t.Fatalf("%d appends, newest id %d", len(all), newest)
	}
	checkSame(t, 1, newest, []*node{a, b}, all)
	st := b.s.Stats()
	if st.Fetched == 0 || st.Lost != 0 {
		t.Fatalf("node B: %+v; want events fetched from the stream, none lost", st)
	}
	t.Logf("%d events, node B's subscriber killed %d times: %+v", newest, kills, st)
}

// TestTrimmedDeliveredAsLost keeps a node away from Redis while the other
// appends and the stream is trimmed: the node delivers what the stream
// still holds, and the rest as lost, in order.
func TestTrimmedDeliveredAsLost(t *testing.T) {
	srv := redistest.Start(t)
	admin := client(t, srv)
	o := options(srv, freshPrefix())
	a := openNode(t, o, "lobby")
	var gate dialGate
	ob := o
	ob.Redis.ClientName = "node-b"
	ob.Redis.Dial = gate.dial
	b := openNode(t, ob, "lobby")

	appender(a.log, "x", 10, 0, nil)
	b.sink.waitFor(t, 10, 10*time.Second)
	gate.shut.Store(true)
	if !killSubscriber(t, admin, "node-b") {
		t.Fatal("node B's subscriber not found")
	}
	for _, x := range appender(a.log, "y", 50, 0, nil) {
		if x.err != nil {
			t.Fatal(x.err)
		}
	}
	_, events, _, _ := b.s.Keys("lobby")
	if _, err := admin.Do(ctxFor(t, 5*time.Second), "XTRIM", events, "MAXLEN", "=", 5); err != nil {
		t.Fatal(err)
	}
	gate.shut.Store(false)
	b.sink.waitFor(t, 60, 10*time.Second)
	if lost := b.sink.check(t, 1, 60); lost != 45 {
		t.Fatalf("%d events delivered as lost, want the 45 trimmed", lost)
	}
	for id := uint64(56); id <= 60; id++ {
		if want := wantBody(id, "y-"+strconv.Itoa(int(id-11))); !bytes.HasSuffix(b.sink.frames[id], []byte(want)) {
			t.Fatalf("id %d: %q, want %s", id, b.sink.frames[id], want)
		}
	}
}

// TestForgedMessage: a message on a room's channel that names an id Redis
// never gave (someone else publishing there) is not believed: nothing is
// delivered as lost for it, and the next real event comes next.
func TestForgedMessage(t *testing.T) {
	srv := redistest.Start(t)
	admin := client(t, srv)
	o := options(srv, freshPrefix())
	n := openNode(t, o, "lobby")
	appender(n.log, "x", 3, 0, nil)
	n.sink.waitFor(t, 3, 10*time.Second)
	_, _, _, channel := n.s.Keys("lobby")
	ctx := ctxFor(t, 5*time.Second)
	for _, m := range []string{"1000 " + n.log.Epoch() + ` {"forged":1}`, "garbage", "4 otherepoch {}"} {
		if _, err := admin.Do(ctx, "PUBLISH", channel, m); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	id, err := n.log.Append(event("real"))
	if err != nil || id != 4 {
		t.Fatalf("Append after the forged messages: %d, %v", id, err)
	}
	n.sink.waitFor(t, 4, 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	if lost := n.sink.check(t, 1, 4); lost != 0 {
		t.Fatalf("%d events delivered as lost", lost)
	}
	if n.log.Last() != 4 {
		t.Fatalf("Last() = %d", n.log.Last())
	}
}

// TestReopenQuickly closes and opens a room again and again: the
// unsubscription of a close never undoes the subscription of the open
// after it, so every reopened log gets its events.
func TestReopenQuickly(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, options(srv, freshPrefix()))
	for i := range 100 {
		sink := newOrderSink(uint64(i + 1))
		l, err := s.Open("lobby", sink)
		if err != nil {
			t.Fatal(err)
		}
		if id, err := l.Append(event(fmt.Sprint("e", i))); err != nil || id != uint64(i+1) {
			t.Fatalf("append %d: id %d, %v", i, id, err)
		}
		sink.waitFor(t, uint64(i+1), 5*time.Second)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
