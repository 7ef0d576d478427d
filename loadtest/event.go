package loadtest

import (
	"encoding/json"
	"errors"
	"strconv"
)

// Event is what the generator needs from one server frame. The byte slices
// alias the frame unless a string had to be decoded.
type Event struct {
	Type   []byte
	Text   []byte
	Reason []byte // error: why a line was refused (rate_limited, too_long, …)
	ID     uint64 // room event id; 0 when absent
	Missed int64  // gap: events the server says were lost
}

var errMalformed = errors.New("loadtest: malformed JSON event")

// ScanEvent extracts type, text, reason, id and missed from a JSON object without a
// general-purpose decoder: one pass over the bytes, no allocation for the
// plain-ASCII strings the generator sends. Strings with escapes or non-ASCII
// bytes are decoded by encoding/json, so the result is exact in every case.
// Nested values are skipped; when a key repeats, the last one wins, as with
// encoding/json.
func ScanEvent(b []byte) (Event, error) {
	var ev Event
	s := jsonScanner{b: b}
	s.ws()
	if !s.eat('{') {
		return ev, errMalformed
	}
	s.ws()
	if s.eat('}') {
		return ev, s.end()
	}
	for {
		s.ws()
		key, ok := s.str()
		if !ok {
			return ev, errMalformed
		}
		s.ws()
		if !s.eat(':') {
			return ev, errMalformed
		}
		s.ws()
		var field *[]byte
		switch string(key) { // no allocation: the compiler special-cases this
		case "type":
			field = &ev.Type
		case "text":
			field = &ev.Text
		case "reason":
			field = &ev.Reason
		}
		switch {
		case field != nil && s.peek() == '"':
			v, ok := s.str()
			if !ok {
				return ev, errMalformed
			}
			*field = v
		case string(key) == "id" || string(key) == "missed":
			start := s.i
			if !s.skip() {
				return ev, errMalformed
			}
			n, err := strconv.ParseInt(string(b[start:s.i]), 10, 64)
			if err != nil || n < 0 {
				n = 0 // not a count: treat as absent
			}
			if string(key) == "id" {
				ev.ID = uint64(n)
			} else {
				ev.Missed = n
			}
		default:
			if field != nil {
				*field = nil // a non-string value replaces an earlier string
			}
			if !s.skip() {
				return ev, errMalformed
			}
		}
		s.ws()
		if s.eat('}') {
			return ev, s.end()
		}
		if !s.eat(',') {
			return ev, errMalformed
		}
	}
}

type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScanner) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

func (s *jsonScanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return errMalformed
	}
	return nil
}

// str consumes a JSON string and returns its value.
func (s *jsonScanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	plain := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if plain {
				return raw, true
			}
			var v string
			if json.Unmarshal(s.b[start-1:s.i], &v) != nil {
				return nil, false
			}
			return []byte(v), true
		case c == '\\':
			plain = false
			s.i += 2
		case c < 0x20:
			return nil, false
		case c >= 0x80:
			plain = false
			s.i++
		default:
			s.i++
		}
	}
	return nil, false
}

// skip consumes any JSON value. It checks structure (brackets, strings) but
// not the spelling of numbers and literals.
func (s *jsonScanner) skip() bool {
	switch c := s.peek(); c {
	case '"':
		_, ok := s.strRaw()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.strRaw(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	default:
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.i > start
			}
			s.i++
		}
		return false
	}
}

// strRaw consumes a JSON string without decoding it.
func (s *jsonScanner) strRaw() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\':
			s.i += 2
		default:
			s.i++
		}
	}
	return nil, false
}
