package loadtest

import (
	"bytes"
	"strconv"
)

// Every chat message the generator sends is one line of printable ASCII:
//
//	lt <run> <sender> <seq> <unixnano> xxxxxxxx…
//
// run is the run's 8-hex-digit identifier (messages of other runs or other
// users are counted as foreign and otherwise ignored), sender the sending
// client's index, seq the sender's message sequence number starting at 0, and
// unixnano the send time. Padding with 'x' brings the text to Config.Size
// bytes. The text never needs a JSON escape, so receivers can take it from
// the server's JSON without decoding.
const (
	textMagic = "lt "

	// MinSize is the smallest Config.Size: room for the longest header.
	MinSize = len(textMagic) + 8 + 1 + 7 + 1 + 20 + 1 + 19 + 1

	// MaxSize is the largest Config.Size the generator accepts. The server
	// refuses messages over its own limit (4096 bytes by default) with an
	// error event, which the results report.
	MaxSize = 1 << 20

	// MaxClients is the largest Config.Clients: sender indices fit the header.
	MaxClients = 9_999_999
)

// stamp is what a message text carries.
type stamp struct {
	sender int
	seq    uint64
	nanos  int64
}

// payload builds the texts of one sender in place, without allocating.
type payload struct {
	buf    []byte
	run    string
	sender int
	hdrLen int // length of the previous header; the rest is padding
}

func newPayload(size int, run string, sender int) *payload {
	return &payload{buf: bytes.Repeat([]byte{'x'}, size), run: run, sender: sender}
}

// text returns the text of message seq sent at nanos. The returned slice is
// reused by the next call.
func (p *payload) text(seq uint64, nanos int64) []byte {
	b := append(p.buf[:0], textMagic...)
	b = append(b, p.run...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(p.sender), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, nanos, 10)
	b = append(b, ' ')
	n := len(b)
	for i := n; i < p.hdrLen; i++ {
		p.buf[i] = 'x'
	}
	p.hdrLen = n
	return p.buf
}

// parseText reads the stamp from a message text. ours is false when the text
// was not sent by this run; ok is false when it claims to be but is malformed.
func parseText(text []byte, run string) (s stamp, ours, ok bool) {
	rest, found := bytes.CutPrefix(text, []byte(textMagic))
	if !found {
		return s, false, false
	}
	rest, found = bytes.CutPrefix(rest, []byte(run))
	if !found || len(rest) == 0 || rest[0] != ' ' {
		return s, false, false
	}
	rest = rest[1:]
	var f [3]uint64
	for i := range f {
		var v uint64
		j := 0
		for ; j < len(rest) && rest[j] >= '0' && rest[j] <= '9'; j++ {
			if j == 19 {
				return s, true, false // too long for the header layout
			}
			v = v*10 + uint64(rest[j]-'0')
		}
		if j == 0 || j == len(rest) || rest[j] != ' ' {
			return s, true, false
		}
		f[i] = v
		rest = rest[j+1:]
	}
	if f[0] > MaxClients || f[2] > 1<<63-1 {
		return s, true, false
	}
	return stamp{sender: int(f[0]), seq: f[1], nanos: int64(f[2])}, true, true
}
