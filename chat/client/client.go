// Package client is ringchat's terminal client: lines from an input go to the
// chat as messages or commands, and the room's events come back formatted
// for a terminal. It speaks ringchat.v1, so every line is answered; it
// reconnects with backoff and resumes its session where it left off, so a
// server restart loses or repeats nothing the server still holds, and a
// line is never published twice.
package client

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"ringchat/chat"
	"ringchat/wsproto"
)

// Config configures Run.
type Config struct {
	URL  string // the chat endpoint, ws:// or wss://
	Name string // the display name to ask for; the server picks one when empty
	Room string // the room to join; the server's default when empty

	// History is how many of the room's newest events to show on joining,
	// before live ones (at most chat.MaxHistoryQuery); 0 shows none.
	History int

	// InsecureSkipVerify accepts any TLS certificate for wss:// (for a
	// development server with a self-signed one).
	InsecureSkipVerify bool

	// Compression offers permessage-deflate (RFC 7692), as browsers do: a
	// server that takes it sends long events compressed.
	Compression bool

	In  io.Reader // lines to send
	Out io.Writer // the conversation
	Log io.Writer // connection status: connecting, lost, reconnecting

	// EchoTimeout bounds how long, after the input ends, Run waits for the
	// messages it sent to come back from the server. 0 means 10 seconds.
	EchoTimeout time.Duration

	// Location is the time zone events are shown in; nil means time.Local.
	Location *time.Location
}

// Errors Run returns.
var (
	// ErrUnconfirmed means the input ended but not every line sent was
	// confirmed by the server in time, or the server refused some.
	ErrUnconfirmed = errors.New("client: some messages were not confirmed by the server")
)

// Run chats until the input ends (then it waits for the server to answer
// every line sent, closes with 1000 and returns nil) or ctx is cancelled
// (it closes with 1000 and returns nil). A refused handshake other than
// 503 ends it with an error: retrying cannot help.
//
// It speaks ringchat.v1: every line goes out with a client id of its own
// and is answered by an ack or a refusal. A line is pending until its
// answer; after a reconnect — with the session's token, so the name and
// the server's memory of accepted ids carry over — pending lines are sent
// again with the same ids, and the server publishes none twice. Lines are
// paced by the rate the welcome advertises; one refused as rate limited is
// sent again by itself after the wait the server names.
func Run(ctx context.Context, cfg Config) error {
	if cfg.EchoTimeout <= 0 {
		cfg.EchoTimeout = 10 * time.Second
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	s := &session{cfg: cfg, name: cfg.Name, room: cfg.Room, lines: make(chan string), done: make(chan struct{})}
	go s.readInput()
	defer close(s.done)
	return s.loop(ctx)
}

// pendingLine is a line sent, or to send, and not yet answered.
type pendingLine struct {
	cid     string
	text    string    // the line as the user typed it
	sent    bool      // written to the current connection
	retryAt time.Time // rate limited: not to be sent again before
	// Acked: the server took it, and it became the room event with id in
	// room, which the line waits to show (an ack may come before it).
	acked bool
	id    uint64
	room  string
	// When it was typed, and whether the user was told it is still
	// sending.
	at    time.Time
	noted bool
}

// slowAnswer is how long a line may wait for its answer before the user
// is told it is still sending.
const slowAnswer = 2 * time.Second

type session struct {
	cfg   Config
	name  string // as the server knows us
	room  string
	epoch string
	last  uint64 // id of the last room event shown
	token string // the session's, from the welcome
	lines chan string
	done  chan struct{} // closed when Run returns: stop feeding lines
	nextC uint64        // numbers client ids

	pending  []*pendingLine
	refused  int
	inputEOF bool
	eofAt    time.Time
	pace     pacer
	// The connection asked for the room's recent history: the events
	// before its welcome's id are shown too.
	askedHistory bool
}

// pacer keeps the client within the rate the welcome advertises, a token
// bucket like the server's.
type pacer struct {
	rate, burst, tokens float64
	last                time.Time
}

func (p *pacer) set(l *chat.Limits, now time.Time) {
	if l == nil || l.Rate <= 0 {
		*p = pacer{}
		return
	}
	// A little under the server's own: the two buckets' clocks differ by
	// the time a frame takes to arrive, and a refusal costs a round trip.
	first := p.rate == 0
	p.rate, p.burst = l.Rate*0.95, max(float64(l.Burst)-1, 1)
	if first {
		p.tokens, p.last = p.burst, now
	}
}

// take takes a token at now, or says how long until one is there.
func (p *pacer) take(now time.Time) (bool, time.Duration) {
	if p.rate <= 0 {
		return true, 0
	}
	p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	p.last = now
	if p.tokens >= 1 {
		p.tokens--
		return true, 0
	}
	return false, time.Duration((1 - p.tokens) / p.rate * float64(time.Second))
}

// readInput feeds input lines to s.lines and closes it at the end of the
// input. It stops when Run has returned — once the read it is blocked in, if
// any, returns.
func (s *session) readInput() {
	sc := bufio.NewScanner(s.cfg.In)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		select {
		case s.lines <- sc.Text():
		case <-s.done:
			return
		}
	}
	close(s.lines)
}

// queue adds a line the user typed to the pending ones.
func (s *session) queue(line string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	s.nextC++
	s.pending = append(s.pending, &pendingLine{cid: "c" + strconv.FormatUint(s.nextC, 10), text: line, at: time.Now()})
}

// noteSlow tells the user about lines that wait long for their answer:
// "sending" until the server has answered.
func (s *session) noteSlow(now time.Time) {
	for _, p := range s.pending {
		if !p.acked && !p.noted && now.Sub(p.at) >= slowAnswer {
			p.noted = true
			fmt.Fprintf(s.cfg.Out, "-- sending: %s\n", clean(p.text))
		}
	}
}

// loop connects, chats, and reconnects until the session is over.
func (s *session) loop(ctx context.Context) error {
	backoff := 250 * time.Millisecond
	for {
		c, err := s.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var he *wsproto.HandshakeError
			if errors.As(err, &he) && he.Status >= 400 && he.Status < 500 {
				return fmt.Errorf("client: server refused: %d %s", he.Status, he.Reason)
			}
			var cve *tls.CertificateVerificationError
			if errors.As(err, &cve) {
				return fmt.Errorf("client: the server's certificate is not trusted (%v); -insecure accepts it, for a development server", cve.Err)
			}
			if errors.Is(err, errNoV1) {
				return err
			}
			if s.inputEOF && time.Since(s.eofAt) > s.cfg.EchoTimeout {
				return fmt.Errorf("client: cannot reach the server: %w", err)
			}
			wait := backoff/2 + rand.N(backoff)
			fmt.Fprintf(s.cfg.Log, "-- cannot connect: %v; retrying in %v\n", err, wait.Round(time.Millisecond))
			if !s.waitOffline(ctx, wait) {
				return nil
			}
			if s.inputEOF && len(s.pending) == 0 {
				return nil
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 250 * time.Millisecond
		done, err := s.chat(ctx, c)
		if done {
			return err
		}
		fmt.Fprintf(s.cfg.Log, "-- connection lost: %v; reconnecting\n", err)
	}
}

// waitOffline waits before the next attempt to connect, queueing the
// lines typed meanwhile. It returns false if ctx ended.
func (s *session) waitOffline(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		lines := s.lines
		if s.inputEOF {
			lines = nil
		}
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		case line, ok := <-lines:
			if !ok {
				s.inputEOF, s.eofAt = true, time.Now()
				continue
			}
			s.queue(line)
			if len(s.pending) > 0 && s.pending[len(s.pending)-1].text == line {
				s.pending[len(s.pending)-1].noted = true
				fmt.Fprintf(s.cfg.Out, "-- not connected; sending when back: %s\n", clean(line))
			}
		}
	}
}

// errNoV1 means the server did not take the ringchat.v1 subprotocol.
var errNoV1 = errors.New("client: the server does not speak " + chat.SubprotocolV1)

// connect dials the server: resuming the session and the room after the
// last event seen, or, the first time, asking for the room's recent
// history.
func (s *session) connect(ctx context.Context) (*wsproto.Conn, error) {
	u, err := url.Parse(s.cfg.URL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if s.name != "" {
		q.Set("name", s.name)
	}
	if s.room != "" {
		q.Set("room", s.room)
	}
	if s.token != "" {
		q.Set("session", s.token)
	}
	s.askedHistory = false
	switch {
	case s.epoch != "":
		q.Set("since", strconv.FormatUint(s.last, 10))
		q.Set("epoch", s.epoch)
	case s.cfg.History > 0:
		q.Set("history", strconv.Itoa(min(s.cfg.History, chat.MaxHistoryQuery)))
		s.askedHistory = true
	}
	u.RawQuery = q.Encode()
	opts := &wsproto.DialOptions{Subprotocols: []string{chat.SubprotocolV1}, Compression: s.cfg.Compression}
	if s.cfg.InsecureSkipVerify {
		opts.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := wsproto.Dial(dctx, u.String(), opts)
	if err == nil && c.Subprotocol() != chat.SubprotocolV1 {
		c.CloseNow()
		return nil, errNoV1
	}
	return c, err
}

// chat runs one connection. It reports done when the session is over (with
// Run's result), or the error that ended the connection otherwise.
func (s *session) chat(ctx context.Context, c *wsproto.Conn) (done bool, err error) {
	events := make(chan chat.Event, 64)
	readErr := make(chan error, 1)
	go func() {
		var buf []byte
		for {
			_, msg, err := c.ReadMessage(buf)
			if err != nil {
				readErr <- err
				close(events)
				return
			}
			var e chat.Event
			if json.Unmarshal(msg, &e) == nil {
				events <- e
			}
			buf = msg
		}
	}()
	defer c.CloseNow()
	for _, p := range s.pending {
		p.sent = p.acked // the connection they went to is gone: they go again, with their ids
	}
	welcomed := false
	var echoDeadline <-chan time.Time
	lines := s.lines
	if s.inputEOF {
		lines = nil
		echoDeadline = time.After(time.Until(s.eofAt.Add(s.cfg.EchoTimeout)))
	}
	paceTimer := time.NewTimer(time.Hour)
	defer paceTimer.Stop()
	slow := time.NewTicker(slowAnswer / 2)
	defer slow.Stop()
	for {
		if s.inputEOF && len(s.pending) == 0 && welcomed {
			c.Close(wsproto.CloseNormal, "bye")
			if s.refused > 0 {
				return true, ErrUnconfirmed
			}
			return true, nil
		}
		if welcomed {
			wait, err := s.sendDue(c)
			if err != nil {
				return false, err
			}
			if wait > 0 {
				paceTimer.Reset(wait)
			}
		}
		select {
		case line, ok := <-lines:
			if !ok {
				s.inputEOF, s.eofAt, lines = true, time.Now(), nil
				echoDeadline = time.After(s.cfg.EchoTimeout)
				continue
			}
			s.queue(line)
		case e, ok := <-events:
			if !ok {
				err := <-readErr
				if code := wsproto.CloseStatus(err); code != 0 && code != wsproto.CloseAbnormal && code != wsproto.CloseGoingAway && code != wsproto.CloseServiceRestart && code != wsproto.CloseTryAgainLater {
					return true, fmt.Errorf("client: server closed the connection: %w", err)
				}
				return false, err
			}
			if e.Type == chat.TypeWelcome {
				welcomed = true
			}
			s.show(e)
		case <-paceTimer.C:
		case now := <-slow.C:
			s.noteSlow(now)
		case <-echoDeadline:
			c.Close(wsproto.CloseNormal, "bye")
			return true, fmt.Errorf("%w: %d not answered within %v", ErrUnconfirmed, len(s.pending), s.cfg.EchoTimeout)
		case <-ctx.Done():
			c.Close(wsproto.CloseNormal, "bye")
			return true, nil
		}
	}
}

// sendDue sends the pending lines not yet sent on this connection, in
// order, as far as the pace allows; it returns how long until the next
// may go, 0 when none waits.
func (s *session) sendDue(c *wsproto.Conn) (time.Duration, error) {
	now := time.Now()
	for _, p := range s.pending {
		if p.sent {
			continue
		}
		if wait := p.retryAt.Sub(now); wait > 0 {
			return wait, nil
		}
		if ok, wait := s.pace.take(now); !ok {
			return wait, nil
		}
		b, _ := json.Marshal(chat.SendFrame{Type: "send", CID: p.cid, Text: p.text})
		if err := c.WriteMessage(wsproto.OpText, b); err != nil {
			return 0, err
		}
		p.sent = true
	}
	return 0, nil
}

// answered takes the line with client id cid off the pending list,
// returning it.
func (s *session) answered(cid string) *pendingLine {
	for i, p := range s.pending {
		if p.cid == cid {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			return p
		}
	}
	return nil
}

// show prints one event and keeps the session's view of the room current.
func (s *session) show(e chat.Event) {
	if isRoomEvent(e.Type) && e.Room == s.room && e.ID <= s.last {
		return // already shown before a reconnect (a welcome's or an ack's id is another event's)
	}
	out := s.cfg.Out
	stamp := s.stamp(e.Time)
	switch e.Type {
	case chat.TypeWelcome:
		switch {
		case s.epoch != "" && e.Room == s.room && e.Epoch != s.epoch:
			s.last = 0 // the room's history restarted: its ids begin again
		case s.epoch == "" && s.askedHistory:
			s.last = 0 // the recent history the connection asked for comes next
		case e.Room != s.room || e.Epoch != s.epoch:
			s.last = e.ID // a room new to us: start from now
		}
		s.name, s.room, s.epoch = e.Name, e.Room, e.Epoch
		if e.Session != "" {
			s.token = e.Session
		}
		s.pace.set(e.Limits, time.Now())
		fmt.Fprintf(out, "-- connected to #%s as %s\n", clean(e.Room), clean(e.Name))
		return
	case chat.TypeAck:
		s.acknowledged(e)
		return
	case chat.TypeMessage:
		fmt.Fprintf(out, "%s %s: %s\n", stamp, clean(e.From), clean(e.Text))
		s.echoed(e)
	case chat.TypeMe:
		fmt.Fprintf(out, "%s * %s %s\n", stamp, clean(e.From), clean(e.Text))
	case chat.TypeJoin:
		fmt.Fprintf(out, "%s --> %s joined #%s\n", stamp, clean(e.From), clean(e.Room))
	case chat.TypeLeave:
		fmt.Fprintf(out, "%s <-- %s left #%s\n", stamp, clean(e.From), clean(e.Room))
	case chat.TypeNick:
		fmt.Fprintf(out, "%s -- %s is now known as %s\n", stamp, clean(e.From), clean(e.Name))
		if e.From == s.name {
			s.name = e.Name
		}
	case chat.TypeWho:
		names := make([]string, len(e.Names))
		for i, n := range e.Names {
			names[i] = clean(n)
		}
		more := ""
		if e.Count > len(e.Names) {
			more = fmt.Sprintf(" and %d more", e.Count-len(e.Names))
		}
		fmt.Fprintf(out, "-- in #%s (%d): %s%s\n", clean(e.Room), e.Count, strings.Join(names, ", "), more)
	case chat.TypeGap:
		if e.Missed > 0 {
			fmt.Fprintf(out, "!! missed %d events in #%s\n", e.Missed, clean(e.Room))
		} else {
			fmt.Fprintf(out, "!! #%s restarted its history; showing what it kept\n", clean(e.Room))
		}
	case chat.TypeError:
		s.refusal(e)
	case chat.TypeHelp:
		fmt.Fprintf(out, "-- %s\n", clean(e.Text))
	default:
		return
	}
	if isRoomEvent(e.Type) && e.Room == s.room {
		s.last = e.ID
		s.shownUpTo()
	}
}

// isRoomEvent reports whether events of type typ are the room's own,
// numbered by its ids.
func isRoomEvent(typ string) bool {
	switch typ {
	case chat.TypeMessage, chat.TypeMe, chat.TypeJoin, chat.TypeLeave, chat.TypeNick:
		return true
	}
	return false
}

// acknowledged takes an answered line off the pending list — at once for
// a command, or once its room event is shown: its echo may still be on
// its way.
func (s *session) acknowledged(e chat.Event) {
	for _, p := range s.pending {
		if p.cid == e.CID {
			p.acked, p.sent, p.id, p.room = true, true, e.ID, e.Room
		}
	}
	s.shownUpTo()
}

// echoed takes a message event of our own as the answer to the oldest
// line sent and not yet acknowledged whose text it is. The ack follows the
// echo, and a server that stops between the two — a restart — forgets the
// session and its ids with it: the line, sent again with the same id after
// the reconnect, would be published twice. Only plain lines are matched,
// whose text is the event's unchanged; names are unique in a room, and the
// echoes of one sender come in the order it sent, so the oldest match is
// the line.
func (s *session) echoed(e chat.Event) {
	if e.From != s.name || e.Room != s.room {
		return
	}
	for _, p := range s.pending {
		if p.sent && !p.acked && !strings.HasPrefix(p.text, "/") && p.text == e.Text {
			p.acked, p.id, p.room = true, e.ID, e.Room
			return
		}
	}
}

// shownUpTo drops the acknowledged lines whose events have been shown.
func (s *session) shownUpTo() {
	s.pending = slices.DeleteFunc(s.pending, func(p *pendingLine) bool {
		return p.acked && (p.id == 0 || p.room != s.room || p.id <= s.last)
	})
}

// refusal shows why a line was not taken. One refused for the rate is
// sent again by itself once the server's wait is over.
func (s *session) refusal(e chat.Event) {
	p := s.answered(e.CID)
	if e.Reason == chat.ReasonRateLimited && p != nil {
		wait := time.Duration(e.RetryAfterMs) * time.Millisecond
		fmt.Fprintf(s.cfg.Out, "!! not sent: rate limited, retry in %.1f s (retrying by itself): %s\n", wait.Seconds(), clean(p.text))
		p.sent, p.retryAt = false, time.Now().Add(wait)
		s.pending = append([]*pendingLine{p}, s.pending...)
		slices.SortStableFunc(s.pending, func(a, b *pendingLine) int { return cmpCID(a.cid, b.cid) })
		return
	}
	fmt.Fprintf(s.cfg.Out, "!! %s\n", clean(e.Text))
	if p != nil {
		s.refused++
	}
}

// cmpCID orders client ids as they were given out: "c" and a number.
func cmpCID(a, b string) int {
	x, _ := strconv.ParseUint(strings.TrimPrefix(a, "c"), 10, 64)
	y, _ := strconv.ParseUint(strings.TrimPrefix(b, "c"), 10, 64)
	return cmp.Compare(x, y)
}

// stamp formats an event time as [15:04:05] in the configured zone.
func (s *session) stamp(t string) string {
	when, err := time.Parse(time.RFC3339Nano, t)
	if err != nil {
		when = time.Now()
	}
	return when.In(s.cfg.Location).Format("[15:04:05]")
}

// clean makes text from the network safe to print on a terminal: control
// characters (escape sequences could rewrite the screen) are shown as
// escapes; line breaks are kept, indented.
func clean(s string) string {
	if !strings.ContainsFunc(s, isUnsafe) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString("\n    ")
		case isUnsafe(r):
			q := strconv.QuoteRuneToASCII(r) // '\x1b'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isUnsafe(r rune) bool {
	return r < 0x20 && r != '\t' || r == 0x7F || (r >= 0x80 && r < 0xA0) || r == '\n' ||
		(r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}
