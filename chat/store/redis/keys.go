package redis

import (
	"errors"
	"strconv"
	"strings"

	"ringchat/internal/resp"
)

// DefaultPrefix begins every key and channel name of a Store whose Options
// leave Prefix empty.
const DefaultPrefix = "ringchat:"

// roomKeys are the names of one room's keys and channel.
type roomKeys struct {
	keys    []string // seq, events, epoch: the scripts' KEYS
	channel string
}

func (k roomKeys) seq() string    { return k.keys[0] }
func (k roomKeys) events() string { return k.keys[1] }

// keysFor returns the names for room under prefix, on database db.
func keysFor(prefix, room string, db int) roomKeys {
	tag := prefix + "{" + room + "}"
	channel := tag
	if db != 0 {
		// Pub/sub ignores databases: keep the stores of two databases
		// from hearing each other.
		channel += "@" + strconv.Itoa(db)
	}
	return roomKeys{keys: []string{tag + ":seq", tag + ":events", tag + ":epoch"}, channel: channel}
}

// validRoom reports whether a room name can be put in a hash tag: not
// empty, no braces (a '}' would end the tag early), no control characters.
func validRoom(room string) bool {
	if room == "" || len(room) > 1024 {
		return false
	}
	for i := 0; i < len(room); i++ {
		if c := room[i]; c < 0x20 || c == 0x7f || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

// validEpoch reports whether an epoch read from Redis can be used: what
// store.NewEpoch makes, or at least something short without spaces, which
// the messages on a room's channel separate their fields with.
func validEpoch(e string) bool {
	if e == "" || len(e) > 64 {
		return false
	}
	for i := 0; i < len(e); i++ {
		if c := e[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// appendMessage appends the message a room's channel carries for one event:
//
//	ID SP EPOCH SP BODY
//
// appendScript builds it in Lua; this is its definition for the tests.
func appendMessage(dst []byte, id uint64, epoch string, body []byte) []byte {
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, ' ')
	dst = append(dst, epoch...)
	dst = append(dst, ' ')
	return append(dst, body...)
}

var errMessage = errors.New("store/redis: malformed message on a room's channel")

// parseMessage splits a message of a room's channel into its id, epoch and
// body (see appendMessage).
func parseMessage(m string) (id uint64, epoch, body string, err error) {
	sid, rest, ok := strings.Cut(m, " ")
	if !ok {
		return 0, "", "", errMessage
	}
	epoch, body, ok = strings.Cut(rest, " ")
	if !ok || !validEpoch(epoch) || body == "" {
		return 0, "", "", errMessage
	}
	id, err = parseID(sid)
	if err != nil {
		return 0, "", "", errMessage
	}
	return id, epoch, body, nil
}

// parseID reads a decimal event id: 1 or more, no sign, no leading zeros.
func parseID(s string) (uint64, error) {
	if s == "" || s[0] == '0' || len(s) > 20 {
		return 0, errMessage
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errMessage
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// entry is one stream entry: an event as Redis keeps it.
type entry struct {
	id   uint64
	time int64
	body string
}

var errEntry = errors.New("store/redis: malformed stream entry")

// parseEntries reads an XRANGE reply: [[id, [field, value, ...]], ...],
// with entry ids N-0 and the fields time and body.
func parseEntries(v resp.Value, dst []entry) ([]entry, error) {
	if v.Kind != resp.KindArray || v.Null {
		return dst, errEntry
	}
	for _, e := range v.Elems {
		if e.Kind != resp.KindArray || len(e.Elems) != 2 || e.Elems[1].Kind != resp.KindArray {
			return dst, errEntry
		}
		sid, ok := strings.CutSuffix(e.Elems[0].Str, "-0")
		if !ok {
			return dst, errEntry
		}
		id, err := parseID(sid)
		if err != nil {
			return dst, errEntry
		}
		en := entry{id: id}
		haveTime, haveBody := false, false
		fields := e.Elems[1].Elems
		for i := 0; i+1 < len(fields); i += 2 {
			switch fields[i].Str {
			case "time":
				if en.time, err = strconv.ParseInt(fields[i+1].Str, 10, 64); err != nil {
					return dst, errEntry
				}
				haveTime = true
			case "body":
				en.body, haveBody = fields[i+1].Str, true
			}
		}
		if !haveTime || !haveBody {
			return dst, errEntry
		}
		dst = append(dst, en)
	}
	return dst, nil
}
