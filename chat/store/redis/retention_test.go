package redis_test

import (
	"fmt"
	"testing"
	"time"

	"ringchat/chat/store"
	"ringchat/internal/redistest"
	"ringchat/internal/resp"
)

// TestTrimByAge: the housekeeping trim removes from Redis the events past
// the age, reads never return them trimmed or not, and the stream expires
// the age after its newest event.
func TestTrimByAge(t *testing.T) {
	srv := redistest.Start(t)
	admin := client(t, srv)
	o := options(srv, freshPrefix())
	o.Retention = store.Retention{Age: time.Hour}
	n := openNode(t, o, "lobby")
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	for i := range 250 {
		e := event(fmt.Sprint("old", i))
		e.Time = old
		if _, err := n.log.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, err := n.log.Append(event(fmt.Sprint("new", i))); err != nil {
			t.Fatal(err)
		}
	}
	n.sink.waitFor(t, 255, 10*time.Second)
	_, events, _, _ := n.s.Keys("lobby")
	ctx := ctxFor(t, 10*time.Second)
	length := func() int64 {
		v, err := resp.Int64(admin.Do(ctx, "XLEN", events))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := length(); got != 255 {
		t.Fatalf("XLEN %d before the trim", got)
	}
	if got := n.log.Oldest(); got != 251 {
		t.Fatalf("Oldest() = %d before the trim, want 251", got)
	}
	recs, err := n.log.Read(1, make([]store.Record, 0, 100))
	if err != nil || len(recs) != 5 || recs[0].ID != 251 {
		t.Fatalf("Read(1) before the trim: %d records from %v, %v", len(recs), recs, err)
	}
	n.s.TrimNow()
	if got := length(); got != 5 {
		t.Fatalf("XLEN %d after the trim, want the 5 within the age", got)
	}
	if got := n.log.Oldest(); got != 251 {
		t.Fatalf("Oldest() = %d after the trim, want 251", got)
	}
	recs, err = n.log.Read(1, make([]store.Record, 0, 100))
	if err != nil || len(recs) != 5 || recs[0].ID != 251 {
		t.Fatalf("Read(1) after the trim: %d records, %v", len(recs), err)
	}
	ttl, err := resp.Int64(admin.Do(ctx, "PTTL", events))
	if err != nil || ttl <= 0 || ttl > time.Hour.Milliseconds() {
		t.Fatalf("PTTL of the stream: %d, %v; want at most an hour", ttl, err)
	}
	seq, _, epoch, _ := n.s.Keys("lobby")
	for _, key := range []string{seq, epoch} {
		if ttl, err := resp.Int64(admin.Do(ctx, "PTTL", key)); err != nil || ttl != -1 {
			t.Fatalf("PTTL of %s: %d, %v; want none: ids and epochs stay", key, ttl, err)
		}
	}
}

// TestRetentionCountApproximate: Redis trims the stream in whole nodes
// (MAXLEN ~), keeping more than Events; reads and Oldest keep exactly
// Events.
func TestRetentionCountApproximate(t *testing.T) {
	srv := redistest.Start(t)
	admin := client(t, srv)
	o := options(srv, freshPrefix())
	o.Retention = store.Retention{Events: 150}
	n := openNode(t, o, "lobby")
	for i := range 1000 {
		if _, err := n.log.Append(event(fmt.Sprint("e", i))); err != nil {
			t.Fatal(err)
		}
	}
	n.sink.waitFor(t, 1000, 10*time.Second)
	_, events, _, _ := n.s.Keys("lobby")
	xlen, err := resp.Int64(admin.Do(ctxFor(t, 5*time.Second), "XLEN", events))
	if err != nil || xlen < 150 || xlen > 400 {
		t.Fatalf("XLEN %d, %v; want 150 and a bit", xlen, err)
	}
	if got := n.log.Oldest(); got != 851 {
		t.Fatalf("Oldest() = %d, want 851", got)
	}
	recs, err := n.log.Read(1, make([]store.Record, 0, 10))
	if err != nil || len(recs) != 10 || recs[0].ID != 851 {
		t.Fatalf("Read(1): %d records, %v", len(recs), err)
	}
}
