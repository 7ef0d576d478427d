package soak

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// garbageCase is one thing a hostile client does after a valid handshake,
// and what the server must answer.
type garbageCase struct {
	name   string
	frames func(name string) []byte
	// want is the close code the server must send. When it is 0, the
	// connection must stay open and stay must hold; with anyClose, the
	// server may close with any code or wait for more bytes.
	want     int
	stay     garbageStay
	anyClose bool
}

// garbageStay says what must arrive on a connection that stays open.
type garbageStay struct {
	errorEvent bool   // an error event
	pongs      int    // this many pongs, with the payloads sent
	echo       string // the client's own message with this text
}

func frames(fs ...wireFrame) []byte {
	var b []byte
	for _, f := range fs {
		b = appendWireFrame(b, f)
	}
	return b
}

// raw frame helpers for the cases: a final masked frame, and variations.
func masked(op byte, p string) wireFrame { return goodFrame(op, []byte(p)) }

func fragment(op byte, p string) wireFrame {
	f := goodFrame(op, []byte(p))
	f.Fin = false
	return f
}

// pingFlood is how many pings the ping-flood case sends at once.
const pingFlood = 300

// garbageCases are the hostile clients' cases, each with the close code
// RFC 6455 (and CONTRACT.md) name for it.
func garbageCases() []garbageCase {
	return []garbageCase{
		{name: "unmasked frame (5.1)", want: codeProtocol, frames: func(string) []byte {
			f := masked(opText, "hello")
			f.Mask = false
			return frames(f)
		}},
		{name: "reserved opcode 0x3 (5.2)", want: codeProtocol, frames: func(string) []byte { return frames(masked(0x3, "x")) }},
		{name: "reserved control opcode 0xB (5.2)", want: codeProtocol, frames: func(string) []byte { return frames(masked(0xB, "")) }},
		{name: "RSV1 without an extension (5.2)", want: codeProtocol, frames: func(string) []byte {
			f := masked(opText, "compressed?")
			f.Rsv = 0x40
			return frames(f)
		}},
		{name: "declared length of 1 TiB (10.4)", want: codeMessageLarge, frames: func(string) []byte {
			f := masked(opText, "")
			f.Length = 1 << 40
			return frames(f)
		}},
		{name: "64-bit length with the top bit set (5.2)", want: codeProtocol, frames: func(string) []byte {
			f := masked(opText, "")
			f.Length, f.TopBit = 5, true
			return frames(f)
		}},
		{name: "length not in its minimal form (5.2)", want: codeProtocol, frames: func(string) []byte {
			f := masked(opText, "hello")
			f.Long16 = true
			return frames(f)
		}},
		{name: "70,000-byte frame, over the 64 KiB limit (10.4)", want: codeMessageLarge, frames: func(string) []byte {
			return frames(masked(opText, strings.Repeat("x", 70000)))
		}},
		{name: "invalid UTF-8 (8.1)", want: codeInvalidUTF8, frames: func(string) []byte { return frames(masked(opText, "ab\xff\xfe")) }},
		{name: "invalid UTF-8 across fragments (8.1)", want: codeInvalidUTF8, frames: func(string) []byte {
			return frames(fragment(opText, "ok \xe2\x82"), masked(opContinuation, "\x28 rest"))
		}},
		{name: "binary frame", want: codeUnsupported, frames: func(string) []byte { return frames(masked(opBinary, "\x00\x01\x02")) }},
		{name: "continuation without a message (5.4)", want: codeProtocol, frames: func(string) []byte { return frames(masked(opContinuation, "x")) }},
		{name: "new message inside a fragmented one (5.4)", want: codeProtocol, frames: func(string) []byte {
			return frames(fragment(opText, "a"), masked(opText, "b"))
		}},
		{name: "fragmented ping (5.5)", want: codeProtocol, frames: func(string) []byte { return frames(fragment(opPing, "p")) }},
		{name: "ping of 126 bytes (5.5)", want: codeProtocol, frames: func(string) []byte { return frames(masked(opPing, strings.Repeat("p", 126))) }},
		{name: "close code 999 (7.4)", want: codeProtocol, frames: func(string) []byte { return frames(masked(opClose, string(closePayload(999, "")))) }},
		{name: "close code 1005 on the wire (7.4)", want: codeProtocol, frames: func(string) []byte { return frames(masked(opClose, string(closePayload(1005, "")))) }},
		{name: "close with a 1-byte body (5.5.1)", want: codeProtocol, frames: func(string) []byte { return frames(masked(opClose, "\x03")) }},
		{name: "close reason not UTF-8 (5.5.1)", want: codeInvalidUTF8, frames: func(string) []byte {
			return frames(masked(opClose, string(closePayload(1000, "bye \xff"))))
		}},
		{name: "close 1000, answered in kind", want: codeNormal, frames: func(string) []byte { return frames(masked(opClose, string(closePayload(1000, "bye")))) }},
		{name: "close 4000 (private use), answered in kind", want: 4000, frames: func(string) []byte { return frames(masked(opClose, string(closePayload(4000, "")))) }},
		{name: "message of 5,000 bytes, over the 4,096 limit", stay: garbageStay{errorEvent: true}, frames: func(string) []byte {
			return frames(masked(opText, strings.Repeat("m", 5000)))
		}},
		{name: "empty message", stay: garbageStay{errorEvent: true}, frames: func(string) []byte { return frames(masked(opText, "  ")) }},
		{name: "unknown command", stay: garbageStay{errorEvent: true}, frames: func(string) []byte { return frames(masked(opText, "/frobnicate now")) }},
		{name: "fragmented message with pings between (5.4)", stay: garbageStay{echo: "frag-a frag-b frag-c", pongs: 2}, frames: func(string) []byte {
			return frames(fragment(opText, "frag-a "), masked(opPing, "p0"), fragment(opContinuation, "frag-b "), masked(opPing, "p1"), masked(opContinuation, "frag-c"))
		}},
		{name: "ping flood (300 pings at once)", stay: garbageStay{pongs: pingFlood}, frames: func(string) []byte {
			var fs []wireFrame
			for i := range pingFlood {
				fs = append(fs, masked(opPing, "p"+strconv.Itoa(i)))
			}
			return frames(fs...)
		}},
		{name: "random bytes", anyClose: true, frames: func(string) []byte {
			b := make([]byte, 64+mrand.IntN(2048))
			rand.Read(b)
			return b
		}},
	}
}

// garbage is one garbage sender's life: case after case, until ctx ends.
func (s *soaker) garbage(ctx context.Context, k int) {
	room := s.roomFor(k)
	cases := garbageCases()
	sleepCtx(ctx, jitter(0, time.Second))
	for i := 0; ctx.Err() == nil; i++ {
		gc := cases[(k+i*s.cfg.Garbage)%len(cases)]
		s.garbageOnce(ctx, k, room, gc)
		sleepCtx(ctx, jitter(200*time.Millisecond, time.Second))
	}
}

// garbageOnce connects, runs gc and checks the answer.
func (s *soaker) garbageOnce(ctx context.Context, k int, room *room, gc garbageCase) {
	b := s.garbageStats
	rc, name, ok := s.rawConnect(ctx, b, "junk-"+strconv.Itoa(k), room)
	if !ok {
		return
	}
	defer rc.c.Close()
	r := startRawReader(rc)
	// A write may fail when the server has already closed (it reads the
	// header of a too-large frame and closes without reading the rest);
	// the answer is checked all the same.
	rc.c.SetWriteDeadline(time.Now().Add(closeWait))
	rc.c.Write(gc.frames(name))
	rc.c.SetWriteDeadline(time.Time{})

	switch {
	case gc.anyClose:
		code, ok := r.waitClose(3 * time.Second)
		switch {
		case !ok:
			b.outcome(gc.name + ": the server waits for the rest of a frame (reset)")
			reset(rc.c)
		case code == codeAbnormal:
			b.outcome(gc.name + ": dropped without a close frame")
		default:
			b.outcome(fmt.Sprintf("%s: close %d", gc.name, code))
			rc.write(goodFrame(opClose, closePayload(code, "")))
		}
		r.waitEnd(closeWait)
	case gc.want != 0:
		code, ok := r.waitClose(closeWait)
		if ok && code != codeAbnormal {
			reply := closePayload(code, "")
			if code == codeNoStatus {
				reply = nil
			}
			rc.write(goodFrame(opClose, reply))
		}
		eof := r.waitEnd(closeWait)
		switch {
		case !ok:
			b.problem(fmt.Sprintf("%s: no close frame within %v, want %d", gc.name, closeWait, gc.want))
		case code == codeAbnormal:
			b.problem(fmt.Sprintf("%s: dropped without a close frame, want %d", gc.name, gc.want))
		case code != gc.want:
			b.problem(fmt.Sprintf("%s: close %d, want %d", gc.name, code, gc.want))
		case !eof:
			b.problem(gc.name + ": the server did not end the TCP connection after the close")
		default:
			b.outcome(fmt.Sprintf("%s: close %d", gc.name, code))
		}
	default:
		missing := s.waitStay(r, gc.stay, name)
		rc.write(goodFrame(opClose, closePayload(codeNormal, "")))
		code, ok := r.waitClose(closeWait)
		eof := r.waitEnd(closeWait)
		switch {
		case missing != "":
			b.problem(gc.name + ": " + missing)
		case !ok || code != codeNormal:
			b.problem(fmt.Sprintf("%s: the goodbye got close %d, want 1000", gc.name, code))
		case !eof:
			b.problem(gc.name + ": the server did not end the TCP connection after the close")
		default:
			b.outcome(gc.name + ": answered, connection kept")
		}
	}
	if bad := r.stats().badFrame; bad != "" {
		b.problem(gc.name + ": the server sent " + bad)
	}
}

// waitStay waits for what must arrive on a connection that stays open and
// says what did not.
func (s *soaker) waitStay(r *rawReader, st garbageStay, name string) string {
	deadline := time.Now().Add(2 * closeWait)
	var missing []string
	if st.errorEvent {
		if _, ok := r.waitEvent(func(ev event) bool { return ev.Type == "error" }, time.Until(deadline)); !ok {
			missing = append(missing, "no error event")
		}
	}
	if st.echo != "" {
		if _, ok := r.waitEvent(func(ev event) bool {
			return ev.Type == "message" && ev.From == name && ev.Text == st.echo
		}, time.Until(deadline)); !ok {
			missing = append(missing, "its message did not come back whole")
		}
	}
	for got := 0; got < st.pongs; got++ {
		var p []byte
		select {
		case p = <-r.pongs:
		default:
			select {
			case p = <-r.pongs:
			case <-r.ended: // the pongs that arrived are in the channel
				select {
				case p = <-r.pongs:
				default:
				}
			case <-time.After(time.Until(deadline)):
			}
		}
		if p == nil {
			missing = append(missing, fmt.Sprintf("%d of %d pongs", got, st.pongs))
			break
		}
		if want := "p" + strconv.Itoa(got); string(p) != want {
			missing = append(missing, fmt.Sprintf("pong %d with payload %q, want %q", got, p, want))
			break
		}
	}
	return strings.Join(missing, ", ")
}
