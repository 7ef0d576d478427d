package chat_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"ringchat/chat"
	"ringchat/chat/store"
	"ringchat/chat/store/memory"
	"ringchat/wsproto"
)

// resettingStore is a memory store whose logs, once reset is set, refuse
// appends as a shared store does whose room was begun again under them.
type resettingStore struct {
	*memory.Store
	reset atomic.Bool
}

func (s *resettingStore) Open(room string, sink store.Sink) (store.Log, error) {
	l, err := s.Store.Open(room, sink)
	return &resettingLog{l, s}, err
}

type resettingLog struct {
	store.Log
	s *resettingStore
}

func (l *resettingLog) Append(e store.Event) (uint64, error) {
	if l.s.reset.Load() {
		return 0, fmt.Errorf("the room was begun again: %w: %w", store.ErrReset, store.ErrUnavailable)
	}
	return l.Log.Append(e)
}

// A room whose history was reset under it (store.ErrReset) closes its
// members' connections with 1012; the message that met it is refused as
// unavailable.
func TestRoomReset(t *testing.T) {
	st := &resettingStore{Store: memory.New(store.Retention{})}
	ts := startServer(t, chat.Options{Store: st})
	a, _ := ts.join(t, "name=a")
	b, _ := ts.join(t, "name=b")
	st.reset.Store(true)
	a.send("after the reset")
	if e := a.nextOf(chat.TypeError); e.Reason != chat.ReasonUnavailable {
		t.Fatalf("refusal %+v, want unavailable", e)
	}
	for _, c := range []*testClient{a, b} {
		if code := c.closed(); code != wsproto.CloseServiceRestart {
			t.Fatalf("closed with %v, want 1012", code)
		}
	}
}
