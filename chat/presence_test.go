package chat_test

import (
	"sync/atomic"
	"testing"

	"ringchat/chat"
	"ringchat/chat/store/redis"
	"ringchat/internal/redistest"
	"ringchat/internal/resp"
	"ringchat/wsproto"
)

// countingPresence is a real presence that counts the member counts asked
// of it (Members with no names wanted: the announce rule's question).
type countingPresence struct {
	chat.Presence
	counts atomic.Int64
}

func (p *countingPresence) Members(room string, max int) ([]string, int, error) {
	if max == 0 {
		p.counts.Add(1)
	}
	return p.Presence.Members(room, max)
}

// A room above the announce limit asks the presence nothing as members
// come and go: its joins and leaves are silent whatever the other nodes
// hold. Only the members that come or go while this node has no more than
// the limit make the server ask, and the announcements are those of a
// room counted every time.
func TestBigRoomAsksPresenceNothing(t *testing.T) {
	const limit = 3
	rs := redistest.Start(t)
	st, err := redis.New(redis.Options{Redis: resp.Options{Addr: rs.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the server's, registered next
	p := &countingPresence{Presence: st.Presence()}
	ts := startServer(t, chat.Options{AnnounceLimit: limit, Store: st, Presence: p, Node: "n0"})

	a, _ := ts.join(t, "name=a")
	a.nextOf(chat.TypeJoin)
	names := []string{"b", "c", "d", "e", "f", "g", "h"}
	others := make([]*testClient, len(names))
	for i, name := range names {
		others[i], _ = ts.join(t, "name="+name)
		if i < limit-1 { // the second and third members: announced
			if e := a.next(); e.Type != chat.TypeJoin || e.From != name {
				t.Fatalf("a saw %+v, want %s's join", e, name)
			}
		}
	}
	// Every member leaves but a, the last first, each once the server has
	// seen the one before go; a sees only the leaves from a room of at
	// most the limit.
	for i := len(others) - 1; i >= 0; i-- {
		others[i].ws.Close(wsproto.CloseNormal, "")
		if i < limit-1 {
			if e := a.next(); e.Type != chat.TypeLeave || e.From != names[i] {
				t.Fatalf("a saw %+v, want %s's leave", e, names[i])
			}
			continue
		}
		for { // a silent leave: wait until /who counts it
			a.send("/who")
			if e := a.nextOf(chat.TypeWho); e.Count == i+1 {
				break
			}
		}
	}
	// Asked: the joins of members 1 to 3 and the leaves from 3 and 2;
	// without the local count's shortcut every join and leave asks (15).
	if got, want := p.counts.Load(), int64(2*limit-1); got != want {
		t.Errorf("%d member counts asked of the presence, want %d", got, want)
	}
}
