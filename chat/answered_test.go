package chat_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ringchat/chat"
	"ringchat/chat/store"
	"ringchat/chat/store/memory"
	"ringchat/wsproto"
)

// holdingStore is a memory store whose logs hold the first message
// appended, once it is published, until release is closed: a send caught
// between being published and being answered.
type holdingStore struct {
	store.Store
	held      atomic.Bool
	letGoOnce sync.Once
	published chan struct{} // closed when the held message is published
	release   chan struct{}
	later     chan struct{} // a message appended after the held one
}

func newHoldingStore() *holdingStore {
	return &holdingStore{
		Store:     memory.New(store.Retention{}),
		published: make(chan struct{}),
		release:   make(chan struct{}),
		later:     make(chan struct{}, 16),
	}
}

// letGo releases the held message (at most once).
func (s *holdingStore) letGo() { s.letGoOnce.Do(func() { close(s.release) }) }

// serve starts a server on s; a test that fails while a message is held
// lets it go before the server stops, which waits for it.
func (s *holdingStore) serve(t *testing.T) *testServer {
	ts := startServer(t, chat.Options{Store: s})
	t.Cleanup(s.letGo) // runs before the server's own cleanup
	return ts
}

func (s *holdingStore) Open(room string, sink store.Sink) (store.Log, error) {
	l, err := s.Store.Open(room, sink)
	if err != nil {
		return nil, err
	}
	return &holdingLog{Log: l, s: s}, nil
}

type holdingLog struct {
	store.Log
	s *holdingStore
}

func (l *holdingLog) Append(e store.Event) (uint64, error) {
	id, err := l.Log.Append(e)
	if e.Type == chat.TypeMessage {
		if l.s.held.CompareAndSwap(false, true) {
			close(l.s.published)
			<-l.s.release
		} else {
			l.s.later <- struct{}{}
		}
	}
	return id, err
}

// A shutdown that comes while a send is between being published and being
// answered closes that connection only after the answer: a client that
// resends what had no ack after the restart never publishes a line twice.
func TestShutdownAnswersWhatItPublished(t *testing.T) {
	st := newHoldingStore()
	ts := st.serve(t)
	a, _ := ts.joinV1(t, "name=a")
	var idle []*testClient
	for range 8 {
		c, _ := ts.join(t, "")
		idle = append(idle, c)
	}
	a.sendV1("x", "caught by the shutdown")
	<-st.published
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- ts.Shutdown(ctx)
	}()
	// Once every idle client has its 1001, the shutdown has asked for
	// every close it asks for by itself.
	for _, c := range idle {
		if code := c.closed(); code != wsproto.CloseGoingAway {
			t.Fatalf("an idle client closed with %v, want 1001", code)
		}
	}
	st.letGo()
	// answer fails the test if the connection ends first: the send was
	// published, and its connection closed without its ack.
	if e := a.answer(); e.Type != chat.TypeAck || e.CID != "x" {
		t.Fatalf("answer %+v, want the ack of x", e)
	}
	if code := a.closed(); code != wsproto.CloseGoingAway {
		t.Fatalf("a closed with %v, want 1001", code)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// A client that comes back on its session and sends again what the old
// connection has published but not yet answered gets the old send's ack:
// the resend waits for the old connection to settle it, and is not
// published a second time.
func TestResendWhileTheOldConnectionActs(t *testing.T) {
	waits := make(chan struct{}, 1)
	defer chat.OnClaimWait(func() {
		select { // called with the session's lock held: never blocks
		case waits <- struct{}{}:
		default:
		}
	})()
	st := newHoldingStore()
	ts := st.serve(t)
	old, w := ts.joinV1(t, "name=a")
	old.sendV1("y", "sent once")
	<-st.published
	again, w2 := ts.joinV1(t, "name=a&session="+w.Session)
	again.sendV1("y", "sent once")
	select {
	case <-waits: // the resend waits for the old connection
	case <-st.later:
		t.Fatal("the resend was published while the first send of its client id was being acted on")
	case <-time.After(eventTimeout):
		t.Fatal("the resend neither waited nor was published")
	}
	st.letGo()
	e := again.answer()
	if e.Type != chat.TypeAck || e.CID != "y" {
		t.Fatalf("answer %+v, want the ack of y", e)
	}
	if e.ID == 0 || e.ID > w2.ID {
		t.Fatalf("ack id %d: want the first send's event, published before the welcome at %d", e.ID, w2.ID)
	}
	select {
	case <-st.later:
		t.Fatal("the resend was published as well")
	default:
	}
}
