package soak

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"golang.org/x/net/websocket"
	"ringchat/loadtest"
)

// slowRead is one slow reader's life until ctx ends: connect, read slowly
// (trickle) or with long pauses, and come back with since and epoch when
// the server lets it go.
func (s *soaker) slowRead(ctx context.Context, k int) {
	room := s.roomFor(k)
	trickle := k%2 == 0
	b := s.slowStats
	var since uint64
	var epoch string
	for ctx.Err() == nil {
		c, err := s.dialWS(ctx, b, "slow-"+strconv.Itoa(k), room, s.cfg.RcvBuf, since, epoch, false)
		if err != nil {
			if ctx.Err() == nil {
				b.problem("could not connect: " + loadtest.ErrorKind(err))
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		if epoch != "" {
			b.outcome("came back with since and epoch")
		}
		ids := idCheck{next: c.welcome.ID + 1}
		if epoch != "" {
			if epoch == c.welcome.Epoch {
				ids.next = since + 1
			} else {
				ids.excused = true // a new epoch: a gap, then what the room retains
			}
		}
		epoch = c.welcome.Epoch
		since = c.welcome.ID
		stop := context.AfterFunc(ctx, func() { c.tcp.Close() })
		first := since
		end := s.slowLoop(ctx, c, &ids, &since, trickle)
		stop()
		c.tcp.Close()
		if ctx.Err() != nil {
			// The soak is over: this was the reader's last connection. A
			// reader far behind the ring reads on from the server's
			// history, in order (the id check says if not).
			if since > first {
				b.outcome("read on to the end, every event in order")
			}
			return
		}
		b.outcome(end)
		sleepCtx(ctx, jitter(200*time.Millisecond, time.Second))
	}
}

// slowLoop reads c slowly until it fails and says how it ended.
func (s *soaker) slowLoop(ctx context.Context, c *wsClient, ids *idCheck, since *uint64, trickle bool) string {
	b := s.slowStats
	var frame []byte
	var torn []byte // a malformed frame, unless the connection ends right after it
	readUntil := time.Now().Add(jitter(2*time.Second, 5*time.Second))
	for {
		if err := websocket.Message.Receive(c.ws, &frame); err != nil {
			if torn != nil {
				// x/net returns the part of a frame that arrived before
				// the connection ended as a whole message: the server
				// dropped a stalled connection in the middle of a frame.
				return "dropped in the middle of a frame"
			}
			if errors.Is(err, io.EOF) {
				return "closed by the server"
			}
			return "connection ended: " + loadtest.ErrorKind(err)
		}
		if torn != nil {
			b.problem("malformed frame")
			s.logf("slow reader: malformed frame %.300q", torn)
			torn = nil
		}
		ev, err := loadtest.ScanEvent(frame)
		if err != nil {
			torn = append([]byte(nil), frame...)
			continue
		}
		switch typ := string(ev.Type); {
		case isRoomEvent(typ):
			if skipped, back := ids.see(ev.ID); skipped > 0 || back {
				b.problem("event ids not consecutive without a gap event")
			}
			*since = ev.ID
		case typ == "gap":
			ids.excused = true
			b.outcome("gap events")
		}
		if trickle {
			sleepCtx(ctx, jitter(s.cfg.SlowDelay/2, s.cfg.SlowDelay*3/2))
		} else if time.Now().After(readUntil) {
			sleepCtx(ctx, jitter(s.cfg.PauseMax/4, s.cfg.PauseMax))
			readUntil = time.Now().Add(jitter(2*time.Second, 5*time.Second))
		}
		if ctx.Err() != nil {
			return ""
		}
	}
}
