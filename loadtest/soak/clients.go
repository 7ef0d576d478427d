package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"
	"ringchat/loadtest"
)

// event is a server event as the soak's careful readers decode it.
type event struct {
	Type   string `json:"type"`
	ID     uint64 `json:"id"`
	Room   string `json:"room"`
	From   string `json:"from"`
	Name   string `json:"name"`
	Text   string `json:"text"`
	Missed uint64 `json:"missed"`
	Epoch  string `json:"epoch"`
}

// isRoomEvent reports whether events of type t carry a room event id.
func isRoomEvent(t string) bool {
	switch t {
	case "message", "me", "join", "leave", "nick":
		return true
	}
	return false
}

// wsClient is an x/net/websocket connection of the soak.
type wsClient struct {
	ws      *websocket.Conn
	tcp     *net.TCPConn
	welcome event
}

// dialWS connects a well-behaved client named name to room, resuming after
// event since of epoch when epoch is not "", and returns once it has its
// welcome. rcvbuf > 0 sets SO_RCVBUF. The path is the soak's, or "/" when
// bare is set (the tutorial's ws://host/).
func (s *soaker) dialWS(ctx context.Context, b *behaviourStats, name string, room *room, rcvbuf int, since uint64, epoch string, bare bool) (*wsClient, error) {
	b.attempts.Add(1)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	tcp, err := dialTCP(ctx, s.tgt.HostPort, rcvbuf)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { tcp.SetDeadline(time.Unix(1, 0)) })
	c, err := s.handshakeWS(tcp, name, room, since, epoch, bare)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		tcp.Close()
		return nil, err
	}
	tcp.SetDeadline(time.Time{})
	b.connected.Add(1)
	return c, nil
}

func (s *soaker) handshakeWS(tcp *net.TCPConn, name string, room *room, since uint64, epoch string, bare bool) (*wsClient, error) {
	u := *s.tgt.URL
	if bare {
		u.Path = "/"
	}
	q := url.Values{"name": {name}, "room": {room.name}}
	if epoch != "" {
		q.Set("since", strconv.FormatUint(since, 10))
		q.Set("epoch", epoch)
	}
	u.RawQuery = q.Encode()
	ws, err := websocket.NewClient(&websocket.Config{Location: &u, Origin: s.tgt.Origin, Version: websocket.ProtocolVersionHybi13}, tcp)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	ws.MaxPayloadBytes = 1 << 20
	var frame []byte
	if err := websocket.Message.Receive(ws, &frame); err != nil {
		return nil, fmt.Errorf("waiting for welcome: %w", err)
	}
	var ev event
	if err := json.Unmarshal(frame, &ev); err != nil || ev.Type != "welcome" || ev.Room != room.name || ev.Epoch == "" {
		return nil, fmt.Errorf("first frame is not the welcome to #%s: %.200q", room.name, frame)
	}
	return &wsClient{ws: ws, tcp: tcp, welcome: ev}, nil
}

// chatText is the text of chatter k's message seq: the run, the chatter,
// the sequence number and the send time, padded to a length between 10
// and 250 bytes with a mixture of ASCII, accented letters, emoji, and the
// characters JSON and HTML escape — the same for a given (run, k, seq), so
// that a receiver can tell an altered text.
func chatText(run string, k int, seq uint64, nanos int64) string {
	head := "soak " + run + " " + strconv.Itoa(k) + " " + strconv.FormatUint(seq, 10) + " " + strconv.FormatInt(nanos, 10) + " "
	return head + chatPad(k, seq)
}

var padPieces = []string{"a", "b", "z", "Q", " ", "é", "ß", "€", "😀", `"`, `\`, "<", ">", "&", "/", "\t", "\u2028", "日本", "x"}

func chatPad(k int, seq uint64) string {
	r := rand.New(rand.NewPCG(uint64(k), seq))
	n := 10 + r.IntN(240)
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(padPieces[r.IntN(len(padPieces))])
	}
	return b.String()
}

// parseChatText returns the chatter, sequence number and send time of a
// chatter's text of run, and whether it is one.
func parseChatText(text, run string) (k int, seq uint64, nanos int64, ok bool) {
	rest, ok := strings.CutPrefix(text, "soak "+run+" ")
	if !ok {
		return 0, 0, 0, false
	}
	f := strings.SplitN(rest, " ", 4)
	if len(f) < 4 {
		return 0, 0, 0, false
	}
	k, err1 := strconv.Atoi(f[0])
	seq, err2 := strconv.ParseUint(f[1], 10, 64)
	nanos, err3 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || k < 0 {
		return 0, 0, 0, false
	}
	return k, seq, nanos, true
}

// idCheck follows a room's event ids at one client: consecutive, but for
// a jump that a gap event announced.
type idCheck struct {
	next    uint64 // the id expected next
	excused bool   // a gap event announced a jump
}

// see checks id and returns how many ids were skipped and whether id was
// repeated or went back.
func (c *idCheck) see(id uint64) (skipped uint64, back bool) {
	switch {
	case id == c.next:
	case id > c.next && c.excused:
	case id > c.next:
		skipped = id - c.next
	default:
		back = true
	}
	c.excused = false
	if id >= c.next {
		c.next = id + 1
	}
	return skipped, back
}

// observer is a well-behaved client that checks everything it receives.
type observer struct {
	k    int
	room *room
	c    *wsClient

	events   atomic.Uint64 // room events received
	received atomic.Uint64 // chatter messages received (distinct)

	// Owned by the reading goroutine until it ends.
	ids                               idCheck
	seqs                              map[int]*loadtest.Sequence // chatter → its messages received
	got                               map[int]uint64             // chatter → distinct messages received
	latency                           loadtest.Histogram
	idsMissing, idsRepeated, diverged uint64
	duplicated, outOfOrder, corrupted uint64
	gaps, errors, other               uint64
	dropped                           bool
}

// expected returns how many of its room's chatter messages the observer
// should have (those their senders saw acknowledged) and how many it has.
func (o *observer) expected() (want, got uint64) {
	for _, ch := range o.room.chatters {
		want += ch.acked.Load()
		got += min(o.got[ch.k], ch.acked.Load())
	}
	return want, got
}

// chatter is a client that sends at a steady rate and reads everything.
type chatter struct {
	k    int
	room *room
	c    *wsClient

	sent  atomic.Uint64 // messages written
	acked atomic.Uint64 // of its own messages, received back in order
}

// connectSteady connects every observer and chatter, and starts their
// readers. Each must connect: the soak cannot check a server that turns
// well-behaved clients away.
func (s *soaker) connectSteady(ctx context.Context) error {
	for k := range s.cfg.Observers {
		room := s.roomFor(k)
		c, err := s.dialWS(ctx, s.obsStats, "obs-"+strconv.Itoa(k), room, 0, 0, "", false)
		if err != nil {
			return fmt.Errorf("loadtest: soak: observer %d could not connect: %w", k, err)
		}
		o := &observer{k: k, room: room, c: c, seqs: map[int]*loadtest.Sequence{}, got: map[int]uint64{}}
		o.ids.next = c.welcome.ID + 1
		s.observers = append(s.observers, o)
		s.conns.Go(func() { s.observe(o) })
	}
	for k := range s.cfg.Chatters {
		room := s.roomFor(k)
		c, err := s.dialWS(ctx, s.chatStats, "chat-"+strconv.Itoa(k), room, 0, 0, "", k%7 == 3)
		if err != nil {
			return fmt.Errorf("loadtest: soak: chatter %d could not connect: %w", k, err)
		}
		ch := &chatter{k: k, room: room, c: c}
		room.chatters = append(room.chatters, ch)
		s.chatters = append(s.chatters, ch)
		s.conns.Go(func() { s.readChatter(ch) })
	}
	return nil
}

// closeSteady closes the observers and chatters with a close frame and
// waits for their readers.
func (s *soaker) closeSteady() {
	s.closingSteady.Store(true)
	for _, o := range s.observers {
		o.c.tcp.SetDeadline(time.Now().Add(2 * time.Second))
		o.c.ws.Close()
	}
	for _, ch := range s.chatters {
		ch.c.tcp.SetDeadline(time.Now().Add(2 * time.Second))
		ch.c.ws.Close()
	}
	s.conns.Wait()
}

// observe is an observer's reading goroutine.
func (s *soaker) observe(o *observer) {
	var frame []byte
	for {
		if err := websocket.Message.Receive(o.c.ws, &frame); err != nil {
			if !s.steadyClosing() {
				o.dropped = true
				s.obsStats.problem("dropped: " + loadtest.ErrorKind(err))
			}
			return
		}
		now := s.clock.Now()
		var ev event
		if err := json.Unmarshal(frame, &ev); err != nil {
			o.other++
			s.obsStats.problem("malformed frame")
			s.logf("observer: malformed frame %.300q", frame)
			continue
		}
		switch {
		case isRoomEvent(ev.Type):
			if ev.Room != o.room.name {
				o.other++
				s.obsStats.problem("event of another room")
				continue
			}
			o.events.Add(1)
			skipped, back := o.ids.see(ev.ID)
			o.idsMissing += skipped
			if back {
				o.idsRepeated++
			}
			if !o.room.check(ev.ID, hash64(frame)) {
				o.diverged++
			}
			if ev.Type == "message" || ev.Type == "me" {
				o.message(s, ev, now)
			}
		case ev.Type == "gap":
			o.gaps++
			o.ids.excused = true
		case ev.Type == "error":
			o.errors++
		default:
			o.other++
			s.obsStats.problem("unexpected " + ev.Type + " event")
		}
	}
}

// message checks a chatter's message.
func (o *observer) message(s *soaker, ev event, now int64) {
	k, seq, nanos, ok := parseChatText(ev.Text, s.runID)
	if !ok || k >= len(s.chatters) {
		return // a vanisher's, a flooder's, a garbage sender's
	}
	if s.chatters[k].room != o.room {
		o.other++
		s.obsStats.problem("a chatter's message in another room")
		return
	}
	want := chatText(s.runID, k, seq, nanos)
	if ev.Type == "me" {
		want = strings.TrimSpace(want) // a command's argument is trimmed
	}
	if ev.Text != want {
		o.corrupted++
	}
	st := o.seqs[k]
	if st == nil {
		st = new(loadtest.Sequence)
		o.seqs[k] = st
	}
	d := st.Receive(seq)
	if d.Duplicated != 0 || d.Unverified != 0 {
		o.duplicated++
		return
	}
	o.outOfOrder += d.OutOfOrder
	o.got[k]++
	o.received.Add(1)
	o.latency.Record(time.Duration(now - nanos))
}

// hash64 is the FNV-1a hash of b.
func hash64(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// steadyClosing reports whether the observers and chatters are being closed.
func (s *soaker) steadyClosing() bool { return s.closingSteady.Load() }

// readChatter is a chatter's reading goroutine: it checks that its own
// messages come back in order, and the room's ids.
func (s *soaker) readChatter(ch *chatter) {
	var frame []byte
	ids := idCheck{next: ch.c.welcome.ID + 1}
	var nextAck uint64
	for {
		if err := websocket.Message.Receive(ch.c.ws, &frame); err != nil {
			if !s.steadyClosing() {
				s.chatStats.problem("dropped: " + loadtest.ErrorKind(err))
			}
			return
		}
		var ev event
		if err := json.Unmarshal(frame, &ev); err != nil {
			s.chatStats.problem("malformed frame")
			continue
		}
		switch {
		case isRoomEvent(ev.Type):
			if skipped, back := ids.see(ev.ID); skipped > 0 || back {
				s.chatStats.problem("event ids not consecutive")
			}
			if ev.Type != "message" && ev.Type != "me" {
				continue
			}
			k, seq, _, ok := parseChatText(ev.Text, s.runID)
			if !ok || k != ch.k {
				continue
			}
			if seq != nextAck {
				s.chatStats.problem("own message came back out of order")
			}
			nextAck = seq + 1
			ch.acked.Add(1)
		case ev.Type == "gap":
			s.chatStats.problem("gap event")
			ids.excused = true
		case ev.Type == "error":
			s.chatStats.problem("error event: " + ev.Text)
		case ev.Type == "who":
			s.chatStats.outcome("who answered")
		case ev.Type == "welcome":
			s.chatStats.problem("a second welcome")
		}
	}
}

// chat is a chatter's sending goroutine, until ctx ends.
func (s *soaker) chat(ctx context.Context, ch *chatter) {
	interval := time.Duration(float64(time.Second) / s.cfg.ChatRate)
	t := time.NewTimer(jitter(0, interval))
	defer t.Stop()
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		ch.c.tcp.SetWriteDeadline(time.Unix(1, 0)) // a write in progress ends
		close(interrupted)
	})
	defer func() {
		if !stop() {
			<-interrupted
			ch.c.tcp.SetWriteDeadline(time.Time{}) // for the close frame
		}
	}()
	nick := 0
	for seq := uint64(0); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(interval)
		var extra string
		switch {
		case seq%40 == 39:
			nick++
			extra = "/nick chat-" + strconv.Itoa(ch.k) + "-" + strconv.Itoa(nick)
		case seq%25 == 12:
			extra = "/who"
		}
		if extra != "" {
			if err := websocket.Message.Send(ch.c.ws, extra); err != nil {
				s.sendFailed(ctx, err)
				return
			}
		}
		text := chatText(s.runID, ch.k, seq, s.clock.Now())
		if seq%10 == 9 {
			text = "/me " + text
		}
		if err := websocket.Message.Send(ch.c.ws, text); err != nil {
			s.sendFailed(ctx, err)
			return
		}
		ch.sent.Add(1)
	}
}

func (s *soaker) sendFailed(ctx context.Context, err error) {
	if ctx.Err() == nil {
		s.chatStats.problem("send failed: " + loadtest.ErrorKind(err))
	}
}

// drain waits until every observer has every message its room's chatters
// saw acknowledged, and every chatter every message it sent, or Drain.
func (s *soaker) drain(ctx context.Context) {
	deadline := time.Now().Add(s.cfg.Drain)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		done := true
		for _, ch := range s.chatters {
			if ch.acked.Load() < ch.sent.Load() {
				done = false
			}
		}
		for _, o := range s.observers {
			var want uint64
			for _, ch := range o.room.chatters {
				want += ch.acked.Load()
			}
			if o.received.Load() < want {
				done = false
			}
		}
		if done {
			return
		}
		sleepCtx(ctx, 20*time.Millisecond) // polling counters, not synchronisation
	}
	for _, ch := range s.chatters {
		if a, n := ch.acked.Load(), ch.sent.Load(); a < n {
			s.chatStats.problem("own messages not back by the end of the drain")
		}
	}
}
