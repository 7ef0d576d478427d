package chat_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"ringchat/chat"
	"ringchat/chat/store/file"
)

// A resume from further back than the ring holds is served from the room's
// log: every missed event, in order, once, and then live ones.
func TestResumeOlderThanTheRing(t *testing.T) {
	// No rate limit: one client stands for a room's worth of talk.
	ts := startServer(t, chat.Options{RingCapacity: 8, AnnounceLimit: 1, MessageRate: -1})
	owner, w := ts.join(t, "name=owner")
	const n = 50
	for i := 1; i <= n; i++ {
		owner.send(fmt.Sprint("m", i))
	}
	var ids []uint64
	for range n {
		ids = append(ids, owner.nextOf(chat.TypeMessage).ID)
	}
	c, _ := ts.join(t, fmt.Sprintf("name=late&since=%d&epoch=%s", ids[0], w.Epoch))
	for i := 2; i <= n; i++ {
		e := c.next()
		if e.Type != chat.TypeMessage || e.Text != fmt.Sprint("m", i) || e.ID != ids[i-1] {
			t.Fatalf("replay: got %+v, want m%d with id %d", e, i, ids[i-1])
		}
	}
	owner.send("live")
	if e := c.nextOf(chat.TypeMessage); e.Text != "live" {
		t.Fatalf("after the replay got %+v, want live", e)
	}
}

// /metrics names the node and carries the history store's own figures.
func TestMetricsNodeAndStore(t *testing.T) {
	st, err := file.Open(file.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, chat.Options{Store: st, Node: "n7"})
	t.Cleanup(func() { st.Close() }) // after the server stops
	c, _ := ts.join(t, "name=a")
	c.send("hi")
	c.nextOf(chat.TypeMessage)
	resp, err := http.Get(ts.HTTPURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`ringchat_node_info{node="n7"} 1`, "ringchat_store_file_up 1", "ringchat_sessions 1", `ringchat_sends_refused_total{reason="rate_limited"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
