package loadtest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"ringchat/chat"
	"ringchat/chat/store/redis"
	"ringchat/internal/chattest"
	"ringchat/internal/redistest"
	"ringchat/internal/resp"
	"ringchat/loadtest"
	"ringchat/loadtest/internal/runtest"
)

// startCluster starts a real redis-server and n chat servers sharing it,
// and returns the servers' URLs.
func startCluster(t *testing.T, n int) []string {
	t.Helper()
	rs := redistest.Start(t)
	var urls []string
	for i := range n {
		st, err := redis.New(redis.Options{Redis: resp.Options{Addr: rs.Addr()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() }) // after the server's, registered next
		srv := chattest.Start(t, nil, chat.Options{MessageRate: -1, Store: st, Presence: st.Presence(), Node: fmt.Sprintf("n%d", i)})
		urls = append(urls, srv.URL())
	}
	return urls
}

// Two nodes of a cluster, the clients spread over both: every delivery
// arrives, and the latency is split into the deliveries through Redis (to
// the other node's clients) and those on the sender's own node.
func TestRunCluster(t *testing.T) {
	urls := startCluster(t, 2)
	cfg := runtest.QuickConfig("")
	cfg.URLs = urls
	cfg.Clients, cfg.Senders, cfg.Rate = 40, 2, 20
	cfg.SourceAddrs = []string{"127.0.0.1", "127.0.0.2"}
	res := runtest.Run(t, cfg)
	runtest.CheckClean(t, res)
	checkSplit(t, res)
	if res.Config.Nodes != 2 {
		t.Errorf("config nodes %d, want 2", res.Config.Nodes)
	}
}

// checkSplit checks that half the deliveries of a two-node run crossed
// nodes.
func checkSplit(t *testing.T, res loadtest.Result) {
	t.Helper()
	cross, same := res.CrossNode, res.SameNode
	if cross == nil || same == nil {
		t.Fatalf("no cross-node or same-node latency: %+v, %+v", cross, same)
	}
	if cross.Count+same.Count != res.Messages.Delivered || cross.Count != res.Messages.Delivered/2 {
		t.Errorf("cross-node %d, same node %d, delivered %d: want half each", cross.Count, same.Count, res.Messages.Delivered)
	}
}

// The same run in two parts, as separate processes would run it: each
// part holds half the clients, they start sending together once both
// are ready, and Combine makes the whole of their results.
func TestRunClusterInParts(t *testing.T) {
	urls := startCluster(t, 2)
	const all, parts = 40, 2
	var ready sync.WaitGroup
	ready.Add(parts)
	results := make([]loadtest.Result, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		cfg := runtest.QuickConfig("")
		cfg.URLs = urls
		cfg.Clients, cfg.Senders, cfg.Rate = all/parts, 1, 20
		cfg.FirstClient, cfg.AllClients, cfg.RunID = p*all/parts, all, "parts-test"
		cfg.Ready = func(ctx context.Context, connected int) error {
			ready.Done()
			ready.Wait()
			return nil
		}
		wg.Go(func() { results[p], errs[p] = loadtest.Run(context.Background(), cfg) })
	}
	wg.Wait()
	for p, err := range errs {
		if err != nil {
			t.Fatalf("part %d: %v", p, err)
		}
		if results[p].Part == nil || results[p].Messages.Lost != 0 {
			t.Errorf("part %d: part %+v, lost %d", p, results[p].Part, results[p].Messages.Lost)
		}
	}
	if results[1].Messages.Sent != 0 || results[1].Messages.Delivered == 0 {
		t.Errorf("the second part sent %d and got %d: want it only to receive", results[1].Messages.Sent, results[1].Messages.Delivered)
	}
	res, err := loadtest.Combine(results)
	if err != nil {
		t.Fatal(err)
	}
	runtest.CheckClean(t, res)
	checkSplit(t, res)
	if res.Messages.Expected != res.Messages.Sent*all {
		t.Errorf("expected %d of %d messages to %d clients", res.Messages.Expected, res.Messages.Sent, all)
	}
	// The part without the sender stopped draining once it had what the
	// schedule promised, not at the drain's limit.
	if d := results[1].Messages.DrainS; d > 5 {
		t.Errorf("the receiving part drained for %.1fs", d)
	}
}
