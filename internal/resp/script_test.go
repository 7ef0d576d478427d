package resp_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ringchat/internal/redistest"
	"ringchat/internal/resp"
)

// commandCalls returns how often the server ran a command, from INFO
// commandstats.
func commandCalls(t *testing.T, c *resp.Client, cmd string) int {
	t.Helper()
	info, err := resp.String(c.Do(ctxFor(t, 5*time.Second), "INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

func TestScriptFallback(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, resp.Options{Addr: srv.Addr()})
	ctx := ctxFor(t, 10*time.Second)
	s := resp.NewScript("return KEYS[1] .. ':' .. ARGV[1]")
	if len(s.Hash()) != 40 {
		t.Fatalf("Hash() = %q", s.Hash())
	}
	run := func() {
		t.Helper()
		if got, err := resp.String(s.Run(ctx, c, []string{"k"}, 7)); got != "k:7" || err != nil {
			t.Fatalf("Run = %q, %v", got, err)
		}
	}
	exists := func() int64 {
		t.Helper()
		v, err := c.Do(ctx, "SCRIPT", "EXISTS", s.Hash())
		if err != nil || len(v.Elems) != 1 {
			t.Fatalf("SCRIPT EXISTS: %#v, %v", v, err)
		}
		return v.Elems[0].Int
	}
	run() // NOSCRIPT, then EVAL
	if exists() != 1 {
		t.Fatal("EVAL did not leave the script cached")
	}
	run() // EVALSHA alone
	if _, err := c.Do(ctx, "SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	if exists() != 0 {
		t.Fatal("SCRIPT FLUSH left the script")
	}
	run() // NOSCRIPT again, then EVAL
	if n := commandCalls(t, c, "eval"); n != 2 {
		t.Fatalf("EVAL ran %d times, want 2 (once after each NOSCRIPT)", n)
	}
	if n := commandCalls(t, c, "evalsha"); n != 3 {
		t.Fatalf("EVALSHA ran %d times, want 3", n)
	}

	// Load caches it ahead; a Lua error comes back as an *Error.
	bad := resp.NewScript("return redis.call('INCR', KEYS[1])")
	if err := bad.Load(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Do(ctx, "SET", "word", "x")
	if _, err := bad.Run(ctx, c, []string{"word"}); !resp.HasPrefix(err, "ERR") {
		t.Fatalf("INCR of a word in Lua: %v", err)
	}
}

// publishScript is the publishing step of issue 12's design, to show that
// the client carries it: the next id of a room, the event appended to the
// room's stream under that id with approximate retention, and the event
// published with its id, all in one atomic script.
var publishScript = resp.NewScript(`
local id = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id .. '-0', 'e', ARGV[1])
redis.call('PUBLISH', ARGV[3], id .. ' ' .. ARGV[1])
return id
`)

func TestPublishScript(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, resp.Options{Addr: srv.Addr()})
	ctx := ctxFor(t, 20*time.Second)
	sub, events := subscriber(t, resp.Options{Addr: srv.Addr()})
	waitFor(t, events, resp.EventConnected)
	if err := sub.Subscribe(ctx, "room:lobby"); err != nil {
		t.Fatal(err)
	}

	const senders, each = 4, 50
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				event := fmt.Sprintf(`{"from":"s%d","text":"m%d"}`, s, i)
				if _, err := resp.Int64(publishScript.Run(ctx, c, []string{"room:lobby:seq", "room:lobby:log"}, event, 1000, "room:lobby")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	// Pub/sub delivers every event once, in id order...
	published := map[int]string{}
	for want := 1; want <= senders*each; want++ {
		ev := waitFor(t, events, resp.EventMessage)
		idText, payload, _ := strings.Cut(ev.Payload, " ")
		if id, _ := strconv.Atoi(idText); id != want || ev.Channel != "room:lobby" {
			t.Fatalf("message %q on %q, want id %d", ev.Payload, ev.Channel, want)
		}
		published[want] = payload
	}
	// ...and the stream holds the same events under the same ids, for
	// XRANGE to fill a gap: here the ids after 150.
	v, err := c.Do(ctx, "XRANGE", "room:lobby:log", "151-0", "+")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Elems) != 50 {
		t.Fatalf("XRANGE from 151 gave %d entries, want 50", len(v.Elems))
	}
	for i, entry := range v.Elems {
		if len(entry.Elems) != 2 || len(entry.Elems[1].Elems) != 2 {
			t.Fatalf("entry %d: %#v", i, entry)
		}
		id, fields := entry.Elems[0].Str, entry.Elems[1].Elems
		if want := fmt.Sprintf("%d-0", 151+i); id != want || fields[0].Str != "e" || fields[1].Str != published[151+i] {
			t.Fatalf("entry %s = %q, want %s = %q", id, fields[1].Str, want, published[151+i])
		}
	}

	// Retention: with MAXLEN ~ 10 the stream is trimmed, in whole nodes.
	for range 300 {
		if _, err := publishScript.Run(ctx, c, []string{"room:small:seq", "room:small:log"}, "x", 10, "room:small"); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := resp.Int64(c.Do(ctx, "XLEN", "room:small:log")); err != nil || n < 10 || n >= 300 {
		t.Fatalf("XLEN with MAXLEN ~ 10 after 300 events = %d, %v", n, err)
	}
}

// With the append-only file on, a restarted Redis continues the ids and
// keeps the stream: what the Redis store's epoch rests on.
func TestPublishScriptAOFRestart(t *testing.T) {
	srv := redistest.StartConfig(t, redistest.Config{AppendOnly: true, AppendFsync: "always"})
	c := newClient(t, resp.Options{Addr: srv.Addr(), MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	ctx := ctxFor(t, 20*time.Second)
	keys := []string{"room:a:seq", "room:a:log"}
	for want := int64(1); want <= 3; want++ {
		if id, err := resp.Int64(publishScript.Run(ctx, c, keys, "x", 1000, "room:a")); id != want || err != nil {
			t.Fatalf("id %d, %v; want %d", id, err, want)
		}
	}
	srv.Kill() // no shutdown save: only the AOF brings the ids back
	srv.Restart()
	var id int64
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		// The first calls may meet the backoff of the failed dial.
		if id, err = resp.Int64(publishScript.Run(ctx, c, keys, "y", 1000, "room:a")); err == nil {
			break
		}
	}
	if id != 4 || err != nil {
		t.Fatalf("after the restart: id %d, %v; want 4", id, err)
	}
	if n, err := resp.Int64(c.Do(ctx, "XLEN", "room:a:log")); n != 4 || err != nil {
		t.Fatalf("XLEN after the restart = %d, %v", n, err)
	}
}
