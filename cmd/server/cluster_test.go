package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ringchat/chat"
	"ringchat/internal/redistest"
	"ringchat/wsproto"
)

// A cluster: a real redis-server and server processes pointed at it, each
// at its default flags but -redis and -node.
type cluster struct {
	redis *redistest.Server
	nodes []*serverProcess
	names []string
}

func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{redis: redistest.StartConfig(t, redistest.Config{AppendOnly: true, AppendFsync: "always"})}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		c.nodes = append(c.nodes, startProcess(t, t.TempDir(), "-redis", c.redis.URL(), "-node", name))
		c.names = append(c.names, name)
	}
	return c
}

// member is a chat client of a cluster test: it records every room event it
// gets, and can move to another node, resuming with its session and since.
type member struct {
	t     *testing.T
	name  string
	room  string
	mu    sync.Mutex
	ws    *wsproto.Conn
	got   []seen // room events, in the order received
	errs  []chat.Event
	who   *chat.Event
	sess  string
	epoch string
	ended chan struct{} // closed when the current connection's reader ends
	wake  chan struct{} // closed and replaced at every event
}

func (m *member) connect(addr string) {
	m.t.Helper()
	q := fmt.Sprintf("name=%s&room=%s", m.name, m.room)
	m.mu.Lock()
	if m.sess != "" {
		last := uint64(0)
		if len(m.got) > 0 {
			last = m.got[len(m.got)-1].id
		}
		q += fmt.Sprintf("&session=%s&since=%d&epoch=%s", m.sess, last, m.epoch)
	}
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := wsproto.Dial(ctx, "ws://"+addr+"/ws?"+q, nil)
	if err != nil {
		m.t.Fatalf("%s: dial %s: %v", m.name, addr, err)
	}
	_, msg, err := ws.ReadMessage(nil)
	var w chat.Event
	if err != nil || json.Unmarshal(msg, &w) != nil || w.Type != chat.TypeWelcome {
		m.t.Fatalf("%s: first frame %q, %v", m.name, msg, err)
	}
	m.mu.Lock()
	if m.epoch != "" && w.Epoch != m.epoch {
		m.t.Errorf("%s: epoch %s on %s, %s before", m.name, w.Epoch, addr, m.epoch)
	}
	m.ws, m.sess, m.epoch = ws, w.Session, w.Epoch
	if len(m.got) == 0 {
		m.got = append(m.got, seen{id: w.ID, text: "(welcome)"}) // the point it joined
	}
	ended := make(chan struct{})
	m.ended = ended
	m.mu.Unlock()
	go func() {
		defer close(ended)
		var buf []byte
		for {
			_, msg, err := ws.ReadMessage(buf)
			if err != nil {
				return
			}
			buf = msg
			var e chat.Event
			if json.Unmarshal(msg, &e) != nil {
				continue
			}
			m.mu.Lock()
			switch {
			case e.Type == chat.TypeWho:
				m.who = &e
			case e.Type == chat.TypeError:
				m.errs = append(m.errs, e)
			case e.ID != 0 && e.Room == m.room && e.Type != chat.TypeWelcome && e.Type != chat.TypeAck:
				m.got = append(m.got, seen{e.ID, e.Type + " " + e.From + " " + e.Text, time.Now()})
			}
			close(m.wake)
			m.wake = make(chan struct{})
			m.mu.Unlock()
		}
	}()
	m.t.Cleanup(func() { ws.CloseNow(); <-ended })
}

// waitFor waits until done holds for what m has, or 20 s.
func (m *member) waitFor(done func(got []seen, who *chat.Event) bool) bool {
	return m.waitForAll(func(got []seen, who *chat.Event, _ []chat.Event) bool { return done(got, who) })
}

func (m *member) waitForAll(done func(got []seen, who *chat.Event, errs []chat.Event) bool) bool {
	deadline := time.After(20 * time.Second)
	for {
		m.mu.Lock()
		ok, wake := done(m.got, m.who, m.errs), m.wake
		m.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-wake:
		case <-deadline:
			return false
		}
	}
}

func (m *member) send(text string) error {
	m.mu.Lock()
	ws := m.ws
	m.mu.Unlock()
	return ws.WriteMessage(wsproto.OpText, []byte(text))
}

func (m *member) events() []seen {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.got[1:])
}

// checkSame checks that every member of a room got the same events, each
// once, in id order, with consecutive ids from after its join.
func checkSame(t *testing.T, members []*member) {
	t.Helper()
	byRoom := map[string][]*member{}
	for _, m := range members {
		byRoom[m.room] = append(byRoom[m.room], m)
	}
	for room, ms := range byRoom {
		ref := map[uint64]string{}
		for _, m := range ms {
			m.mu.Lock()
			got, from := slices.Clone(m.got[1:]), m.got[0].id
			m.mu.Unlock()
			for i, e := range got {
				if want := from + uint64(i) + 1; e.id != want {
					t.Fatalf("room %s, %s: event %d has id %d, want %d: lost, repeated or out of order", room, m.name, i, e.id, want)
				}
				if r, ok := ref[e.id]; ok && r != e.text {
					t.Fatalf("room %s: id %d is %q at %s, %q elsewhere", room, e.id, e.text, m.name, r)
				}
				ref[e.id] = e.text
			}
		}
	}
}

func newMembers(t *testing.T, c *cluster, rooms []string, perNode int) []*member {
	var ms []*member
	for _, room := range rooms {
		for n, node := range c.nodes {
			for k := range perNode {
				m := &member{t: t, name: fmt.Sprintf("%s-%s-%d", room, c.names[n], k), room: room, wake: make(chan struct{})}
				m.connect(node.addr)
				ms = append(ms, m)
			}
		}
	}
	return ms
}

// talk has senders send count messages each, at about 5 a second (under
// the default rate limit), and waits until every member has every event
// up to the last one sent.
func talk(t *testing.T, members []*member, senders []*member, count int, tag string) {
	t.Helper()
	load(senders, count, tag)
	settle(t, members)
}

// load has senders send count messages each, at about 5 a second.
func load(senders []*member, count int, tag string) {
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Go(func() {
			for i := range count {
				if err := s.send(fmt.Sprintf("%s %s %d", tag, s.name, i)); err != nil {
					return // moved: its next connection sends on
				}
				time.Sleep(200 * time.Millisecond) // the pace of a person typing fast, not a wait for anything
			}
		})
	}
	wg.Wait()
}

// settle waits until every member of each room has the events up to the
// newest any member of the room has.
func settle(t *testing.T, members []*member) {
	t.Helper()
	newest := map[string]uint64{}
	for _, m := range members {
		for _, e := range m.events() {
			newest[m.room] = max(newest[m.room], e.id)
		}
	}
	for _, m := range members {
		want := newest[m.room]
		if !m.waitFor(func(got []seen, _ *chat.Event) bool { return len(got) > 0 && got[len(got)-1].id >= want }) {
			t.Fatalf("%s never got id %d of room %s", m.name, want, m.room)
		}
	}
}

// TestCluster: three server processes on one Redis, clients spread over
// them in three rooms. Every member gets every event of its room exactly
// once, in order, with the same ids; /who agrees on every node; a name is
// taken once across the nodes.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster: not with -short")
	}
	c := startCluster(t, 3)
	rooms := []string{"alpha", "beta", "gamma"}
	members := newMembers(t, c, rooms, 2)
	var senders []*member
	for i, m := range members {
		if i%3 == 0 {
			senders = append(senders, m)
		}
	}
	talk(t, members, senders, 10, "hello")
	checkSame(t, members)

	// /who from every node lists the room's six members.
	for _, m := range members[:6] { // room alpha, all three nodes
		m.send("/who")
		if !m.waitFor(func(_ []seen, who *chat.Event) bool { return who != nil }) {
			t.Fatalf("%s: no answer to /who", m.name)
		}
		m.mu.Lock()
		who := m.who
		m.mu.Unlock()
		if who.Count != 6 || len(who.Names) != 6 || who.Names[0] != "alpha-n1-0" || who.Names[5] != "alpha-n3-1" {
			t.Fatalf("/who on %s: %d %v; want alpha's six members on every node", m.name, who.Count, who.Names)
		}
	}

	// A name taken on one node is taken on the others.
	dup := &member{t: t, name: "alpha-n1-0", room: "alpha", wake: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := wsproto.Dial(ctx, "ws://"+c.nodes[2].addr+"/ws?name="+dup.name+"&room=alpha", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	_, msg, _ := ws.ReadMessage(nil)
	var w chat.Event
	json.Unmarshal(msg, &w)
	if w.Name != "alpha-n1-0-2" {
		t.Fatalf("a second alpha-n1-0 on another node was named %q, want alpha-n1-0-2", w.Name)
	}
	ws.Close(wsproto.CloseNormal, "")

	// A node that dies drops out of presence within its claims' time to
	// live: the others announce its members' departure, and /who no
	// longer lists them.
	c.nodes[2].kill(t)
	watcher := members[0]
	gone := watcher.waitFor(func(got []seen, _ *chat.Event) bool {
		n := 0
		for _, e := range got {
			if strings.HasPrefix(e.text, "leave alpha-n3-") {
				n++
			}
		}
		return n == 2
	})
	if !gone {
		t.Fatalf("%s did not see alpha-n3-0 and alpha-n3-1 leave: %v", watcher.name, watcher.events())
	}
	watcher.mu.Lock()
	watcher.who = nil
	watcher.mu.Unlock()
	watcher.send("/who")
	watcher.waitFor(func(_ []seen, who *chat.Event) bool { return who != nil })
	watcher.mu.Lock()
	who := watcher.who
	watcher.mu.Unlock()
	if who.Count != 4 || slices.ContainsFunc(who.Names, func(n string) bool { return strings.Contains(n, "-n3-") }) {
		t.Fatalf("/who after n3 died: %d %v; want the four members of n1 and n2", who.Count, who.Names)
	}
	checkSame(t, members[:4])
}

// TestClusterFaults: under load, one node is killed with SIGKILL and its
// clients move to another node with their session and since; Redis is
// stopped (SIGSTOP) for a few seconds and let go; then restarted. Members
// lose nothing, repeat nothing and see nothing out of order; ids go on and
// epochs stay.
func TestClusterFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster and breaks it: not with -short")
	}
	c := startCluster(t, 3)
	members := newMembers(t, c, []string{"alpha", "beta"}, 2)
	senders := []*member{members[0], members[3], members[6], members[9]} // on every node
	talk(t, members, senders, 5, "before")

	t.Run("a node killed under load", func(t *testing.T) {
		sent := make(chan struct{})
		go func() { defer close(sent); load(senders, 10, "during-kill") }()
		time.Sleep(700 * time.Millisecond) // a moment into the load: when the fault strikes, not a wait for a signal
		c.nodes[1].kill(t)
		for _, m := range members {
			if strings.Contains(m.name, "-n2-") {
				<-m.ended
				m.connect(c.nodes[0].addr) // its client's reconnect, to a node that is up
			}
		}
		<-sent
		talk(t, members, senders, 5, "after-kill")
		checkSame(t, members)
	})

	t.Run("Redis stopped and let go", func(t *testing.T) {
		c.redis.Pause()
		probe := members[0]
		stopped := time.Now()
		probe.send("while Redis is stopped")
		refused := probe.waitForAll(func(_ []seen, _ *chat.Event, errs []chat.Event) bool {
			return len(errs) > 0 && errs[len(errs)-1].Reason == chat.ReasonUnavailable
		})
		if !refused {
			t.Fatal("a message sent while Redis was stopped got no error (unavailable)")
		}
		t.Logf("refused as unavailable after %v", time.Since(stopped).Round(time.Millisecond))
		time.Sleep(3*time.Second - time.Since(stopped)) // Redis stays stopped 3 s in all: the fault itself, not a wait for a signal
		c.redis.Resume()
		talk(t, members, senders, 5, "after-stop")
		for _, e := range probe.events() {
			if strings.HasSuffix(e.text, "while Redis is stopped") {
				t.Fatalf("the refused message was published: %+v", e)
			}
		}
		checkSame(t, members)
	})

	t.Run("Redis restarted", func(t *testing.T) {
		var before uint64
		for _, e := range members[0].events() {
			before = max(before, e.id)
		}
		c.redis.Restart()
		talk(t, members, senders, 5, "after-restart")
		checkSame(t, members)
		var after uint64
		for _, e := range members[0].events() {
			after = max(after, e.id)
		}
		if after <= before {
			t.Fatalf("ids went from %d to %d across the restart", before, after)
		}
	})
}
