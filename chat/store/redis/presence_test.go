package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"ringchat/chat/store/redis"
	"ringchat/internal/redistest"
	"ringchat/internal/resp"
)

// A refresh extends every claim of the node, however many batches they
// take, and only the node's own.
func TestRefreshInBatches(t *testing.T) {
	for _, batch := range []int{1, 3, 500} {
		t.Run(fmt.Sprint(batch), func(t *testing.T) {
			defer redis.SetRefreshBatch(redis.SetRefreshBatch(batch))
			srv := redistest.Start(t)
			prefix := freshPrefix()
			a, b := newStore(t, options(srv, prefix)), newStore(t, options(srv, prefix))
			pa, pb := a.Presence(), b.Presence()
			const n = 7
			for i := range n {
				key := fmt.Sprintf("m%d", i)
				if held, _, err := pa.Claim("lobby", key, key, "h"+key, "c"+key); err != nil || !held {
					t.Fatalf("claim %s: %v, %v", key, held, err)
				}
			}
			if held, _, err := pb.Claim("lobby", "other", "other", "hother", "cother"); err != nil || !held {
				t.Fatalf("claim on b: %v, %v", held, err)
			}
			c := client(t, srv)
			ctx := context.Background()
			present := prefix + "{lobby}:present"
			// Every claim made to expire in a second, as if not refreshed
			// for most of the TTL.
			now := time.Now().UnixMilli()
			soon := now + 1000
			for i := range n {
				mustDo(t, c, "ZADD", present, "XX", soon, fmt.Sprintf("m%d", i))
			}
			mustDo(t, c, "ZADD", present, "XX", soon, "other")
			calls := scriptCalls(t, c)
			pa.RefreshNow()
			if got, want := scriptCalls(t, c)-calls, (n+batch-1)/batch; got != want {
				t.Errorf("the refresh of %d claims made %d script calls, want %d of at most %d claims", n, got, want, batch)
			}
			for i := range n {
				key := fmt.Sprintf("m%d", i)
				score, err := resp.Int64(c.Do(ctx, "ZSCORE", present, key))
				if err != nil {
					t.Fatal(err)
				}
				if score < now+redis.PresenceTTL.Milliseconds()-5000 {
					t.Errorf("claim %s expires in %d ms after the refresh, want about %v", key, score-now, redis.PresenceTTL)
				}
			}
			if score, err := resp.Int64(c.Do(ctx, "ZSCORE", present, "other")); err != nil || score != soon {
				t.Errorf("the other node's claim: %d, %v; want it untouched at %d", score, err, soon)
			}
		})
	}
}

// Releases that arrive together go out a batch at a time, each released
// only if it is still the caller's claim.
func TestReleaseInBatches(t *testing.T) {
	defer redis.SetRefreshBatch(redis.SetRefreshBatch(3))
	srv := redistest.Start(t)
	prefix := freshPrefix()
	st := newStore(t, options(srv, prefix))
	p := st.Presence()
	const n = 7
	var keys, claims []string
	for i := range n {
		key := fmt.Sprintf("m%d", i)
		if held, _, err := p.Claim("lobby", key, key, "h"+key, "c"+key); err != nil || !held {
			t.Fatalf("claim %s: %v, %v", key, held, err)
		}
		keys, claims = append(keys, key), append(claims, "c"+key)
	}
	claims[4] = "stale" // a connection whose claim a newer one took over
	c := client(t, srv)
	calls := scriptCalls(t, c)
	got := p.ReleaseTogether("lobby", keys, claims)
	if calls := scriptCalls(t, c) - calls; calls != 3 {
		t.Errorf("%d releases made %d script calls, want 3 of at most 3", n, calls)
	}
	for i, released := range got {
		if released != (i != 4) {
			t.Errorf("release of %s: %v", keys[i], released)
		}
	}
	if _, count, err := p.Members("lobby", 0); err != nil || count != 1 {
		t.Errorf("members after the releases: %d, %v; want the one whose claim was not the caller's", count, err)
	}
	// One on its own goes at once, and answers as the batch does.
	if !p.Release("lobby", "m4", "cm4") || p.Release("lobby", "m4", "cm4") {
		t.Error("a single release of a held claim, then of a released one")
	}
}

// scriptCalls returns how many EVALSHA calls Redis has served.
func scriptCalls(t *testing.T, c *resp.Client) int {
	t.Helper()
	info, err := resp.String(c.Do(context.Background(), "INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(info, "cmdstat_evalsha:calls=")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	return n
}

func mustDo(t *testing.T, c *resp.Client, args ...any) {
	t.Helper()
	v, err := c.Do(context.Background(), args...)
	if err == nil {
		err = v.Err()
	}
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
}
