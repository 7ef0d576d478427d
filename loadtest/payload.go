package loadtest

import (
	"bytes"
	"strconv"
	"strings"
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
	pad    []byte // the padding, when it is not 'x': buf's bytes past the header come from it
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
		if p.pad != nil {
			p.buf[i] = p.pad[i]
		}
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

// prose makes the padding English words (see Prose), so that the text
// compresses about as chat does rather than to almost nothing.
func (p *payload) prose() {
	p.pad = Prose(len(p.buf))
	copy(p.buf[p.hdrLen:], p.pad[p.hdrLen:])
}

// proseWords are the words Prose draws from.
var proseWords = strings.Fields(`the of and to in a is that for it as was with be by on not he I this are or his from at which but
have an they you were her she there one all we their been has when who will more no if out so said what up its about into
than them can only other new some time could these two may then do first any my now such like our over man me even most made
after also did many before must through back years where much your way well down should because each just those people how
too little state good very make world still own see men work long get here between both life being under never day same another
know while last might us great old year off come since against go came right used take three sea harbour boat fog morning
night mother brother letter station road river house window door table bread coffee rain wind winter summer garden town street`)

// Prose returns n bytes of English-like text: words of a common
// vocabulary in an order drawn from a fixed seed, with commas and full
// stops. Deflate shrinks it to about half, as it does chat prose; it never
// needs a JSON escape.
func Prose(n int) []byte {
	b := make([]byte, 0, n+16)
	x := uint32(2463534242)
	for len(b) < n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b = append(b, proseWords[x%uint32(len(proseWords))]...)
		switch x >> 28 {
		case 0:
			b = append(b, ". "...)
		case 1:
			b = append(b, ", "...)
		default:
			b = append(b, ' ')
		}
	}
	return b[:n]
}
