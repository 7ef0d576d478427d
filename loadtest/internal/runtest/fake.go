package runtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	"ringchat/loadtest/procstat"
)

// Fake is a small but faithful implementation of the broadcast part
// of CONTRACT.md, on golang.org/x/net/websocket's server side: welcome
// first, then every room event to every member in id order, join and leave
// events up to 100 members, an error event for commands. It exists to test
// the generator; mangle lets a test make it lose or duplicate messages.
// Its handlers run in the test process, so its /metrics are the test's.
type Fake struct {
	URL        string // ws://127.0.0.1:port/ws
	MetricsURL string // http://127.0.0.1:port/metrics

	// mangle returns how many copies of the n-th chat message (counted from
	// 1 over the whole server) to broadcast: 0 loses it (its id is used up,
	// as if it had been lost on the way), 2 duplicates it (same id). Nil
	// means 1 for every message.
	mangle func(n uint64) int
	// Stall makes the server stop reading after the welcome, as a server
	// that has hung would. Set it before clients connect.
	Stall bool

	srv      *httptest.Server
	messages atomic.Uint64
	guests   atomic.Uint64
	handlers sync.WaitGroup

	mu     sync.Mutex
	rooms  map[string]*fakeRoom
	conns  map[*websocket.Conn]struct{}
	closed bool
	done   chan struct{} // closed by close
}

type fakeRoom struct {
	name    string
	mu      sync.Mutex // held while publishing, so every member sees id order
	lastID  uint64
	members map[*fakeMember]struct{}
}

type fakeMember struct {
	name string
	out  chan []byte // frames for the member's writer; closed on leave
}

type fakeEvent struct {
	Type  string `json:"type"`
	ID    uint64 `json:"id,omitempty"`
	Room  string `json:"room,omitempty"`
	From  string `json:"from,omitempty"`
	Name  string `json:"name,omitempty"`
	Text  string `json:"text,omitempty"`
	Time  string `json:"time,omitempty"`
	Epoch string `json:"epoch,omitempty"`
}

// StartFake starts a fake server that t closes at its end. mangle, when not
// nil, says how many copies of each chat message it broadcasts (see Fake).
func StartFake(t testing.TB, mangle func(n uint64) int) *Fake {
	f := &Fake{
		mangle: mangle,
		rooms:  make(map[string]*fakeRoom),
		conns:  make(map[*websocket.Conn]struct{}),
		done:   make(chan struct{}),
	}
	ws := websocket.Server{
		Handshake: func(*websocket.Config, *http.Request) error { return nil },
		Handler:   f.serve,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			f.metrics(w)
			return
		}
		f.handlers.Add(1) // before the hijack, so that close waits for it
		defer f.handlers.Done()
		ws.ServeHTTP(w, r)
	}))
	f.URL = "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ws"
	f.MetricsURL = f.srv.URL + "/metrics"
	t.Cleanup(f.close)
	return f
}

// close stops the server and waits for its goroutines; httptest does not
// track hijacked connections, so the server closes them itself.
func (f *Fake) close() {
	close(f.done)
	f.srv.Close()
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.handlers.Wait()
}

func (f *Fake) serve(ws *websocket.Conn) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.conns[ws] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.conns, ws)
		f.mu.Unlock()
		ws.Close()
	}()

	q := ws.Request().URL.Query()
	name, roomName := q.Get("name"), q.Get("room")
	if name == "" {
		name = "guest-" + strconv.FormatUint(f.guests.Add(1), 10)
	}
	if roomName == "" {
		roomName = "lobby"
	}
	room := f.room(roomName)
	m := &fakeMember{name: name, out: make(chan []byte, 1024)}

	var writer sync.WaitGroup
	writer.Go(func() {
		failed := false
		for b := range m.out {
			if !failed {
				_, err := ws.Write(b)
				failed = err != nil
			}
		}
	})
	defer writer.Wait()

	room.mu.Lock()
	m.out <- encodeFake(fakeEvent{Type: "welcome", Name: name, Room: room.name, ID: room.lastID, Epoch: "fake"})
	room.members[m] = struct{}{}
	room.publish(fakeEvent{Type: "join", Name: name}, 1)
	room.mu.Unlock()

	defer func() {
		room.mu.Lock()
		delete(room.members, m)
		close(m.out)
		room.publish(fakeEvent{Type: "leave", Name: name}, 1)
		room.mu.Unlock()
	}()

	if f.Stall {
		<-f.done
		return
	}
	for {
		var text string
		if err := websocket.Message.Receive(ws, &text); err != nil {
			return
		}
		if strings.HasPrefix(text, "/") {
			m.out <- encodeFake(fakeEvent{Type: "error", Text: "the fake server has no commands"})
			continue
		}
		copies := 1
		if f.mangle != nil {
			copies = f.mangle(f.messages.Add(1))
		}
		room.mu.Lock()
		room.publish(fakeEvent{Type: "message", From: name, Text: text}, copies)
		room.mu.Unlock()
	}
}

// metrics serves the process metrics the generator reads, for this
// process: the fake server runs inside the test.
func (f *Fake) metrics(w http.ResponseWriter) {
	s, err := procstat.ReadProcess("/proc", os.Getpid(), procstat.ClockTick())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", s.CPU.Seconds())
	fmt.Fprintf(w, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", s.RSS)
}

func (f *Fake) room(name string) *fakeRoom {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rooms[name]
	if r == nil {
		r = &fakeRoom{name: name, members: make(map[*fakeMember]struct{})}
		f.rooms[name] = r
	}
	return r
}

// publish gives ev the next id and sends it copies times to every member.
// Join and leave are events only while the room has at most 100 members.
// The caller holds r.mu.
func (r *fakeRoom) publish(ev fakeEvent, copies int) {
	if (ev.Type == "join" || ev.Type == "leave") && len(r.members) > 100 {
		return
	}
	r.lastID++
	ev.ID, ev.Room = r.lastID, r.name
	ev.Time = time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	b := encodeFake(ev)
	for range copies {
		for m := range r.members {
			m.out <- b
		}
	}
}

func encodeFake(ev fakeEvent) []byte {
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return b
}
