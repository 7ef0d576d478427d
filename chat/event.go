package chat

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// The event types of the wire protocol (CONTRACT.md, "Server → client").
const (
	TypeWelcome = "welcome" // first frame of a connection, and after each /join
	TypeMessage = "message" // a chat message (room event)
	TypeMe      = "me"      // an action, /me (room event)
	TypeJoin    = "join"    // a member arrived (room event, small rooms only)
	TypeLeave   = "leave"   // a member left (room event, small rooms only)
	TypeNick    = "nick"    // a member changed name (room event)
	TypeWho     = "who"     // the answer to /who
	TypeGap     = "gap"     // events this client can no longer get
	TypeError   = "error"   // a request was refused; the connection stays
	TypeHelp    = "help"    // the answer to /help
	TypeAck     = "ack"     // ringchat.v1: a send was accepted
)

// The reasons an error event gives for a refusal (CONTRACT.md, "Structured
// client frames").
const (
	ReasonRateLimited = "rate_limited" // over the connection's rate; retry_after_ms says when to try again
	ReasonTooLong     = "too_long"     // a message longer than limits.max_message
	ReasonEmpty       = "empty"        // a message with nothing but spaces
	ReasonBadCommand  = "bad_command"  // an unknown command, or a command used wrongly
	ReasonBadFrame    = "bad_frame"    // a ringchat.v1 frame that is not a valid send
	ReasonUnavailable = "unavailable"  // the history store cannot take the event now
)

// Limits are what a connection may send, as its welcome advertises them.
type Limits struct {
	Rate       float64 `json:"rate"`        // messages per second; 0 means no limit
	Burst      int     `json:"burst"`       // messages at once, above the rate
	MaxMessage int     `json:"max_message"` // bytes of one chat message
}

// Event is one server-to-client JSON object. Fields are omitted when empty.
// Room events (message, me, join, leave, nick) carry the room's sequence
// number as ID.
type Event struct {
	Type   string   `json:"type"`
	ID     uint64   `json:"id,omitempty"`
	Room   string   `json:"room,omitempty"`
	From   string   `json:"from,omitempty"`
	Name   string   `json:"name,omitempty"`
	Text   string   `json:"text,omitempty"`
	Time   string   `json:"time,omitempty"`
	Names  []string `json:"names,omitempty"`
	Count  int      `json:"count,omitempty"`
	Missed uint64   `json:"missed,omitempty"`
	Epoch  string   `json:"epoch,omitempty"`

	// ringchat.v1 answers and sessions.
	CID          string  `json:"cid,omitempty"`            // ack, error: the client's id of the send answered
	Reason       string  `json:"reason,omitempty"`         // error: why, one of the Reason words
	RetryAfterMs int64   `json:"retry_after_ms,omitempty"` // error rate_limited: when a retry may pass
	Session      string  `json:"session,omitempty"`        // welcome: the token that resumes this session
	Limits       *Limits `json:"limits,omitempty"`         // welcome: what the connection may send
}

// TimeLayout is the format of Event.Time: RFC 3339, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatTime formats t as Event.Time.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// AppendJSON appends e as a JSON object with the fields in a fixed order and
// text exactly as given: strings are escaped only as JSON requires, never
// HTML-escaped. It gives the same object as encoding/json would decode.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, e.Type)
	if e.ID != 0 {
		b = append(b, `,"id":`...)
		b = strconv.AppendUint(b, e.ID, 10)
	}
	return e.appendTail(b)
}

// appendTail appends every field after id, and the closing brace. A room
// event is encoded as its type and id, which are known only once the ring
// assigns the id, followed by this tail, which can be encoded before.
func (e *Event) appendTail(b []byte) []byte {
	b = appendField(b, "room", e.Room)
	b = appendField(b, "from", e.From)
	b = appendField(b, "name", e.Name)
	b = appendField(b, "text", e.Text)
	b = appendField(b, "time", e.Time)
	if len(e.Names) > 0 {
		b = append(b, `,"names":[`...)
		for i, n := range e.Names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, n)
		}
		b = append(b, ']')
	}
	if e.Count != 0 {
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(e.Count), 10)
	}
	if e.Missed != 0 {
		b = append(b, `,"missed":`...)
		b = strconv.AppendUint(b, e.Missed, 10)
	}
	b = appendField(b, "epoch", e.Epoch)
	b = appendField(b, "cid", e.CID)
	b = appendField(b, "reason", e.Reason)
	if e.RetryAfterMs != 0 {
		b = append(b, `,"retry_after_ms":`...)
		b = strconv.AppendInt(b, e.RetryAfterMs, 10)
	}
	b = appendField(b, "session", e.Session)
	if l := e.Limits; l != nil {
		b = append(b, `,"limits":{"rate":`...)
		b = strconv.AppendFloat(b, l.Rate, 'g', -1, 64)
		b = append(b, `,"burst":`...)
		b = strconv.AppendInt(b, int64(l.Burst), 10)
		b = append(b, `,"max_message":`...)
		b = strconv.AppendInt(b, int64(l.MaxMessage), 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendField appends `,"key":"value"` unless value is empty.
func appendField(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

// appendJSONString appends s as a JSON string (RFC 8259 7): quote, backslash
// and control characters escaped, everything else as it is. Invalid UTF-8,
// which the server never passes on, becomes U+FFFD as with encoding/json.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
