package client

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"ringchat/chat"
)

// A line refused as rate limited goes back on the pending list, in its
// place, not to be sent before the server's wait; any other refusal takes
// it off and counts it.
func TestRefusal(t *testing.T) {
	var out bytes.Buffer
	s := &session{cfg: Config{Out: &out, Location: time.UTC}}
	for _, line := range []string{"one", "two", "three"} {
		s.queue(line)
	}
	for _, p := range s.pending {
		p.sent = true
	}
	before := time.Now()
	s.show(chat.Event{Type: chat.TypeError, CID: "c2", Reason: chat.ReasonRateLimited, RetryAfterMs: 400, Text: "slow down"})
	if len(s.pending) != 3 || s.pending[1].cid != "c2" || s.pending[1].sent || s.pending[1].retryAt.Before(before.Add(400*time.Millisecond)) {
		t.Fatalf("after a rate-limit refusal: %+v", s.pending[1])
	}
	if !strings.Contains(out.String(), "!! not sent: rate limited, retry in 0.4 s (retrying by itself): two") {
		t.Fatalf("output %q", out.String())
	}
	s.show(chat.Event{Type: chat.TypeError, CID: "c3", Reason: chat.ReasonTooLong, Text: "message too long"})
	if len(s.pending) != 2 || s.refused != 1 || !strings.Contains(out.String(), "!! message too long") {
		t.Fatalf("after a too-long refusal: %d pending, %d refused, output %q", len(s.pending), s.refused, out.String())
	}
}
