// Package client is ringchat's terminal client: lines from an input go to the
// chat as messages or commands, and the room's events come back formatted
// for a terminal. It reconnects with backoff and resumes where it left off,
// so a server restart loses or repeats nothing the server still holds.
package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
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
	// ErrUnconfirmed means the input ended but not every message sent was
	// confirmed by the server (echoed back) in time, or the server refused some.
	ErrUnconfirmed = errors.New("client: some messages were not confirmed by the server")
)

// Run chats until the input ends (then it waits for its own messages to come
// back, closes with 1000 and returns nil) or ctx is cancelled (it closes with
// 1000 and returns nil). A refused handshake other than 503 ends it with an
// error: retrying cannot help.
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

// pendingMessage is a message sent and not yet seen coming back.
type pendingMessage struct {
	kind string // chat.TypeMessage or chat.TypeMe
	text string
	sent bool // written to a connection (which may have died before the server read it)
	gen  int  // the connection it was written to
}

type session struct {
	cfg   Config
	name  string // as the server knows us
	room  string
	epoch string
	last  uint64 // id of the last room event shown
	lines chan string
	done  chan struct{} // closed when Run returns: stop feeding lines
	gen   int           // counts connections

	pending  []pendingMessage
	refused  int
	inputEOF bool
	eofAt    time.Time
	// Once the replay after a reconnect reaches replayEnd, messages sent on
	// the old connection that did not come back are sent again.
	replayEnd uint64
	resending bool
	// The connection asked for the room's recent history: the events
	// before its welcome's id are shown too.
	askedHistory bool
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
// messages typed meanwhile. It returns false if ctx ended.
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
			switch cmd := chat.ParseCommand(line); {
			case strings.TrimSpace(line) == "":
			case cmd.Kind == chat.CmdMessage:
				s.pending = append(s.pending, pendingMessage{kind: chat.TypeMessage, text: cmd.Arg})
			case cmd.Kind == chat.CmdMe:
				s.pending = append(s.pending, pendingMessage{kind: chat.TypeMe, text: cmd.Arg})
			default:
				fmt.Fprintf(s.cfg.Log, "-- not connected: %s not sent\n", clean(line))
			}
		}
	}
}

// connect dials the server, resuming after the last event seen.
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
	opts := &wsproto.DialOptions{}
	if s.cfg.InsecureSkipVerify {
		opts.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := wsproto.Dial(dctx, u.String(), opts)
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
	s.gen++

	// Messages typed while disconnected go out now; those sent on the old
	// connection wait for the replay to show whether the server got them.
	for i := range s.pending {
		if !s.pending[i].sent {
			if err := s.send(c, &s.pending[i]); err != nil {
				return false, err
			}
		}
	}

	var echoDeadline <-chan time.Time
	lines := s.lines
	if s.inputEOF {
		lines = nil
		echoDeadline = time.After(time.Until(s.eofAt.Add(s.cfg.EchoTimeout)))
	}
	for {
		if s.inputEOF && len(s.pending) == 0 {
			c.Close(wsproto.CloseNormal, "bye")
			if s.refused > 0 {
				return true, ErrUnconfirmed
			}
			return true, nil
		}
		select {
		case line, ok := <-lines:
			if !ok {
				s.inputEOF, s.eofAt, lines = true, time.Now(), nil
				echoDeadline = time.After(s.cfg.EchoTimeout)
				continue
			}
			if err := s.input(c, line); err != nil {
				return false, err
			}
		case e, ok := <-events:
			if !ok {
				err := <-readErr
				if code := wsproto.CloseStatus(err); code != 0 && code != wsproto.CloseAbnormal && code != wsproto.CloseGoingAway && code != wsproto.CloseServiceRestart && code != wsproto.CloseTryAgainLater {
					return true, fmt.Errorf("client: server closed the connection: %w", err)
				}
				return false, err
			}
			if err := s.show(c, e); err != nil {
				return false, err
			}
		case <-echoDeadline:
			c.Close(wsproto.CloseNormal, "bye")
			return true, fmt.Errorf("%w: %d not echoed within %v", ErrUnconfirmed, len(s.pending), s.cfg.EchoTimeout)
		case <-ctx.Done():
			c.Close(wsproto.CloseNormal, "bye")
			return true, nil
		}
	}
}

// input sends one line typed by the user.
func (s *session) input(c *wsproto.Conn, line string) error {
	if strings.TrimSpace(line) == "" {
		return nil
	}
	cmd := chat.ParseCommand(line)
	switch cmd.Kind {
	case chat.CmdMessage:
		s.pending = append(s.pending, pendingMessage{kind: chat.TypeMessage, text: cmd.Arg})
		return s.send(c, &s.pending[len(s.pending)-1])
	case chat.CmdMe:
		s.pending = append(s.pending, pendingMessage{kind: chat.TypeMe, text: cmd.Arg})
		return s.send(c, &s.pending[len(s.pending)-1])
	}
	return c.WriteMessage(wsproto.OpText, []byte(line))
}

// send writes a pending message, escaping a leading slash.
func (s *session) send(c *wsproto.Conn, p *pendingMessage) error {
	text := p.text
	switch {
	case p.kind == chat.TypeMe:
		text = "/me " + text
	case strings.HasPrefix(text, "/"):
		text = "/" + text
	}
	p.sent, p.gen = true, s.gen
	return c.WriteMessage(wsproto.OpText, []byte(text))
}

// show prints one event and keeps the session's view of the room current.
func (s *session) show(c *wsproto.Conn, e chat.Event) error {
	if e.Type != chat.TypeWelcome && e.ID != 0 && e.Room == s.room && e.ID <= s.last {
		return nil // already shown before a reconnect (a welcome's id is the room's latest, not its own)
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
		s.replayEnd = e.ID
		s.resending = true
		fmt.Fprintf(out, "-- connected to #%s as %s\n", clean(e.Room), clean(e.Name))
		return s.resendIfReplayed(c)
	case chat.TypeMessage:
		fmt.Fprintf(out, "%s %s: %s\n", stamp, clean(e.From), clean(e.Text))
		s.confirm(e)
	case chat.TypeMe:
		fmt.Fprintf(out, "%s * %s %s\n", stamp, clean(e.From), clean(e.Text))
		s.confirm(e)
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
		fmt.Fprintf(out, "!! %s\n", clean(e.Text))
		if len(s.pending) > 0 && s.pending[0].sent {
			s.pending = s.pending[1:]
			s.refused++
		}
	case chat.TypeHelp:
		fmt.Fprintf(out, "-- %s\n", clean(e.Text))
	default:
		return nil
	}
	if e.ID != 0 && e.Room == s.room {
		s.last = e.ID
	}
	return s.resendIfReplayed(c)
}

// confirm crosses a message off the pending list when it is our own.
func (s *session) confirm(e chat.Event) {
	if e.From != s.name {
		return
	}
	for i, p := range s.pending {
		if p.kind == e.Type && p.text == e.Text {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			return
		}
	}
}

// resendIfReplayed sends again, once the replay after a reconnect has caught
// up, the messages that were written to the old connection but never came
// back: the server never published them.
func (s *session) resendIfReplayed(c *wsproto.Conn) error {
	if !s.resending || s.last < s.replayEnd {
		return nil
	}
	s.resending = false
	for i := range s.pending {
		if p := &s.pending[i]; p.sent && p.gen < s.gen {
			if err := s.send(c, p); err != nil {
				return err
			}
		}
	}
	return nil
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
