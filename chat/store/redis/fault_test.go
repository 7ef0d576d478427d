package redis_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"ringchat/chat/store"
	"ringchat/chat/store/redis"
	"ringchat/internal/redistest"
)

// appendAll runs one appender per node until stop is closed and returns
// what they all got.
func appendAll(nodes []*node, pause time.Duration, stop <-chan struct{}) func() []appended {
	var mu sync.Mutex
	var all []appended
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			got := appender(n.log, fmt.Sprintf("n%d", i), 0, pause, stop)
			mu.Lock()
			all = append(all, got...)
			mu.Unlock()
		})
	}
	return func() []appended { wg.Wait(); return all }
}

// waitAppend appends to l until it works, for at most d.
func waitAppend(t *testing.T, l store.Log, text string, d time.Duration) uint64 {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		id, err := l.Append(event(text))
		if err == nil {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("appends still fail %v later: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisPaused stops Redis (SIGSTOP) for three seconds while two nodes
// append: appends fail promptly with ErrUnavailable and store nothing;
// afterwards appends work and both nodes have every stored event once, in
// order.
func TestRedisPaused(t *testing.T) {
	srv := redistest.Start(t)
	o := options(srv, freshPrefix())
	a, b := openNode(t, o, "lobby"), openNode(t, o, "lobby")
	stop := make(chan struct{})
	wait := appendAll([]*node{a, a, b}, 2*time.Millisecond, stop)
	time.Sleep(200 * time.Millisecond)
	srv.Pause()
	time.Sleep(3 * time.Second)
	srv.Resume()
	resumed := time.Now()
	time.Sleep(200 * time.Millisecond)
	waitAppend(t, a.log, "after", 3*time.Second)
	t.Logf("appends work again %v after SIGCONT", time.Since(resumed).Round(time.Millisecond))
	time.Sleep(100 * time.Millisecond)
	close(stop)
	all := wait()

	var failed, ok int
	var slowest time.Duration
	var newest uint64
	for _, x := range all {
		if x.err == nil {
			ok++
			newest = max(newest, x.id)
			continue
		}
		failed++
		slowest = max(slowest, x.took)
		if !errors.Is(x.err, store.ErrUnavailable) {
			t.Fatalf("append %s: %v, want ErrUnavailable", x.text, x.err)
		}
	}
	if failed == 0 || ok == 0 {
		t.Fatalf("%d appends failed, %d worked; want both", failed, ok)
	}
	if slowest > 2*time.Second {
		t.Fatalf("a failed append took %v", slowest)
	}
	newest = max(newest, a.log.Last())
	frames := checkSame(t, 1, newest, []*node{a, b}, all)
	// A failed append stored nothing — unless Redis ran it just before
	// SIGSTOP and the reply was stuck (see the package's doc): then it
	// was one in flight at that moment, which waited the whole timeout.
	// TestLateAppendRefused shows that one sent while Redis was stopped
	// is never stored.
	for _, x := range all {
		if x.err == nil {
			continue
		}
		for id, f := range frames {
			if strings.Contains(string(f), fmt.Sprintf("%q", x.text)) {
				if x.took < 900*time.Millisecond {
					t.Fatalf("the append %s, refused after %v, was stored as id %d", x.text, x.took, id)
				}
				t.Logf("the append %s timed out after %v, and had been stored as id %d before Redis stopped", x.text, x.took, id)
			}
		}
	}
	t.Logf("%d appends stored, %d refused (the slowest refusal took %v)", ok, failed, slowest.Round(time.Millisecond))
}

// TestLateAppendRefused sends appends while Redis is stopped, so that they
// time out: when Redis goes on, it refuses them, past their deadline, so
// that an Append that returned an error has not stored its event behind
// the caller's back.
func TestLateAppendRefused(t *testing.T) {
	srv := redistest.Start(t)
	o := options(srv, freshPrefix())
	a, b := openNode(t, o, "lobby"), openNode(t, o, "lobby")
	appender(a.log, "before", 3, 0, nil)
	srv.Pause()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			start := time.Now()
			_, err := a.log.Append(event(fmt.Sprint("late", i)))
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("append while Redis is stopped: %v", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("append while Redis is stopped took %v", took)
			}
		})
	}
	wg.Wait()
	srv.Resume()
	id := waitAppend(t, b.log, "after", 5*time.Second)
	if id != 4 {
		t.Fatalf("the first append after SIGCONT got id %d, want 4: the late ones were stored", id)
	}
	for _, n := range []*node{a, b} {
		n.sink.waitFor(t, 4, 10*time.Second)
		n.sink.check(t, 1, 4)
	}
}

// TestRedisRestartAOF restarts Redis (SIGTERM, append-only file) under two
// open nodes: ids continue, the epoch holds, nothing is lost or repeated.
func TestRedisRestartAOF(t *testing.T) {
	srv := redistest.StartConfig(t, redistest.Config{AppendOnly: true, AppendFsync: "everysec"})
	o := options(srv, freshPrefix())
	a, b := openNode(t, o, "lobby"), openNode(t, o, "lobby")
	epoch := a.log.Epoch()
	stop := make(chan struct{})
	wait := appendAll([]*node{a, b}, 2*time.Millisecond, stop)
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	waitAppend(t, b.log, "after", 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	all := wait()
	var newest uint64
	for _, x := range all {
		if x.err == nil {
			newest = max(newest, x.id)
		}
	}
	newest = max(newest, b.log.Last())
	checkSame(t, 1, newest, []*node{a, b}, all)

	c := openNode(t, o, "lobby")
	if c.log.Epoch() != epoch || c.log.Last() < newest {
		t.Fatalf("after the restart: epoch %q, Last() %d; want %q, %d", c.log.Epoch(), c.log.Last(), epoch, newest)
	}
}

// TestRedisKilledAOFAlways kills Redis (SIGKILL) under appends with
// appendfsync always: every acknowledged append is there after it comes
// back.
func TestRedisKilledAOFAlways(t *testing.T) {
	srv := redistest.StartConfig(t, redistest.Config{AppendOnly: true, AppendFsync: "always"})
	o := options(srv, freshPrefix())
	a := openNode(t, o, "lobby")
	epoch := a.log.Epoch()
	stop := make(chan struct{})
	wait := appendAll([]*node{a, a, a}, 0, stop)
	time.Sleep(300 * time.Millisecond)
	srv.Kill()
	close(stop)
	all := wait()
	srv.Restart()

	b := openNode(t, o, "lobby")
	if b.log.Epoch() != epoch {
		t.Fatalf("epoch %q after the crash, want %q", b.log.Epoch(), epoch)
	}
	acked := 0
	byID := make(map[uint64]string)
	for _, x := range all {
		if x.err == nil {
			acked++
			byID[x.id] = x.text
		}
	}
	if acked < 10 {
		t.Fatalf("only %d appends acknowledged before the kill", acked)
	}
	for from := uint64(1); ; {
		recs, err := b.log.Read(from, make([]store.Record, 0, 100))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if text, ok := byID[r.ID]; ok {
				if string(r.Body) != wantBody(r.ID, text) {
					t.Fatalf("id %d: %s, want %s", r.ID, r.Body, wantBody(r.ID, text))
				}
				delete(byID, r.ID)
			}
		}
		from = recs[len(recs)-1].ID + 1
	}
	if len(byID) > 0 {
		t.Fatalf("%d of %d acknowledged appends lost", len(byID), acked)
	}
	// The node that was open goes on at the next id.
	stored := b.log.Last()
	if id := waitAppend(t, a.log, "after", 5*time.Second); id != stored+1 {
		t.Fatalf("after the crash the next id was %d, the newest stored %d", id, stored)
	}
	t.Logf("%d appends acknowledged before SIGKILL, all there after", acked)
}

// TestRedisLostData restarts Redis without persistence under two open
// nodes: the rooms' data is gone, but the open nodes keep the epoch and
// their ids go on above the newest they delivered, so that no id means two
// events.
func TestRedisLostData(t *testing.T) {
	srv := redistest.Start(t)
	o := options(srv, freshPrefix())
	a, b := openNode(t, o, "lobby"), openNode(t, o, "lobby")
	appender(a.log, "x", 20, 0, nil)
	b.sink.waitFor(t, 20, 10*time.Second)
	epoch := a.log.Epoch()
	srv.Restart()
	id := waitAppend(t, b.log, "after", 5*time.Second)
	if id != 21 {
		t.Fatalf("the first append after the data was lost got id %d, want 21", id)
	}
	for _, n := range []*node{a, b} {
		n.sink.waitFor(t, 21, 10*time.Second)
		n.sink.check(t, 1, 21)
	}
	c := openNode(t, o, "lobby")
	if c.log.Epoch() != epoch || c.log.Last() != 21 || c.log.Oldest() != 21 {
		t.Fatalf("a node opening after: epoch %q, Last() %d, Oldest() %d; want %q, 21, 21", c.log.Epoch(), c.log.Last(), c.log.Oldest(), epoch)
	}
}

// TestRoomReset: Redis lost the room's data and another process opened it
// afresh, with a new epoch, before the open node noticed: the open node
// refuses appends and reads with ErrReset rather than mix two epochs' ids.
func TestRoomReset(t *testing.T) {
	srv := redistest.Start(t)
	admin := client(t, srv)
	o := options(srv, freshPrefix())
	a := openNode(t, o, "lobby")
	appender(a.log, "x", 5, 0, nil)
	a.sink.waitFor(t, 5, 10*time.Second)
	if _, err := admin.Do(ctxFor(t, 5*time.Second), "FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	b := openNode(t, o, "lobby")
	if b.log.Epoch() == a.log.Epoch() || b.log.Last() != 0 {
		t.Fatalf("the fresh room: epoch %q, Last() %d", b.log.Epoch(), b.log.Last())
	}
	if _, err := a.log.Append(event("y")); !errors.Is(err, redis.ErrReset) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Append on the reset room: %v, want ErrReset", err)
	}
	if _, err := a.log.Read(1, make([]store.Record, 0, 10)); !errors.Is(err, redis.ErrReset) {
		t.Fatalf("Read on the reset room: %v, want ErrReset", err)
	}
	// The new epoch's events never reach the old log's sink.
	appender(b.log, "z", 3, 0, nil)
	b.sink.waitFor(t, 3, 10*time.Second)
	time.Sleep(50 * time.Millisecond)
	a.sink.check(t, 1, 5)
	// Reopened, the room follows the new epoch.
	a.log.Close()
	a2 := openNode(t, o, "lobby")
	if a2.log.Epoch() != b.log.Epoch() || a2.log.Last() != 3 {
		t.Fatalf("reopened: epoch %q, Last() %d; want %q, 3", a2.log.Epoch(), a2.log.Last(), b.log.Epoch())
	}
}

// TestUnreachable: a store whose Redis is gone refuses at once, and New
// says so.
func TestUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	o := options(srv, freshPrefix())
	a := openNode(t, o, "lobby")
	srv.Kill()
	for i := range 5 {
		start := time.Now()
		_, err := a.log.Append(event("x"))
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("append %d with Redis gone: %v", i, err)
		}
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Fatalf("append %d took %v to fail", i, took)
		}
	}
	if _, err := a.log.Read(1, make([]store.Record, 0, 10)); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Read with Redis gone: %v", err)
	}
	if _, err := a.s.Open("other", newOrderSink(0)); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open with Redis gone: %v", err)
	}
	if _, err := redis.New(o); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("New with Redis gone: %v", err)
	}
}
