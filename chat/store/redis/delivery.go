package redis

import (
	"context"
	"time"

	"ringchat/internal/resp"
	"ringchat/wsproto"
)

// receive takes one message of the room's channel.
func (l *roomLog) receive(id uint64, epoch, body string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed.Load() || l.reset.Load():
		return
	case !l.open:
		l.target = max(l.target, id) // Open catches up to it
		return
	case epoch != l.epoch:
		l.resync = true // finds out what happened
		l.kickLocked()
		return
	}
	last := l.last.Load()
	switch {
	case id <= last: // delivered already, by a catch-up
	case id == last+1:
		l.deliverLocked(id, frameOf(body))
	default: // pub/sub lost some: fetch them first
		l.target = max(l.target, id)
		l.kickLocked()
	}
}

// requestResync makes the room ask Redis for its newest id and catch up.
func (l *roomLog) requestResync() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open && !l.closed.Load() && !l.reset.Load() {
		l.resync = true
		l.kickLocked()
	}
}

// deliverLocked hands the next event to the sink. l.mu is held.
func (l *roomLog) deliverLocked(id uint64, frame []byte) {
	l.last.Store(id)
	l.sink.Deliver(id, frame)
}

// frameOf returns a body as the WebSocket text frame members receive.
func frameOf(body string) []byte {
	h := wsproto.Header{Fin: true, Opcode: wsproto.OpText, Length: int64(len(body))}
	f := wsproto.AppendHeader(make([]byte, 0, h.Size()+len(body)), h)
	return append(f, body...)
}

// kickLocked starts the room's catch-up goroutine unless it runs. l.mu is
// held.
func (l *roomLog) kickLocked() {
	if l.catching || l.closed.Load() || !l.open {
		return
	}
	if !l.s.track() {
		return
	}
	l.catching = true
	go l.catchUp()
}

// catchUp delivers, in order, the events from Last()+1 up to the newest
// known, from the stream, and the ones it no longer holds as lost; when
// asked to resync, it first learns the newest id from Redis. Failed calls
// are tried again, with backoff, until they work or the log closes.
func (l *roomLog) catchUp() {
	s := l.s
	defer s.wg.Done()
	failures := 0
	for {
		l.mu.Lock()
		if l.closed.Load() || l.reset.Load() {
			l.catching = false
			l.mu.Unlock()
			return
		}
		resync := l.resync
		l.resync = false
		from, to := l.last.Load()+1, l.target
		if !resync && from > to {
			l.catching = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()

		var err error
		if resync {
			err = l.syncOnce()
		} else {
			err = l.fetch(from, to)
		}
		if err == nil {
			failures = 0
			continue
		}
		if resync {
			l.mu.Lock()
			l.resync = true
			l.mu.Unlock()
		}
		failures++
		if failures == 1 {
			s.log.Warn("store/redis: a room cannot catch up yet; retrying", "room", l.room, "from", from, "err", err)
		}
		t := time.NewTimer(min(50*time.Millisecond<<min(failures, 6), 2*time.Second))
		select {
		case <-t.C:
		case <-l.done:
		case <-s.ctx.Done():
		}
		t.Stop()
	}
}

// syncOnce learns the room's newest id (and checks its epoch).
func (l *roomLog) syncOnce() error {
	s := l.s
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	epoch, seq, err := s.syncRoom(ctx, l, l.epoch, l.last.Load())
	if err != nil {
		if unreachable(err) {
			s.health.down(s, err)
		}
		return err
	}
	if epoch != l.epoch {
		l.markReset(epoch)
		return nil
	}
	l.mu.Lock()
	l.target = max(l.target, seq)
	l.mu.Unlock()
	return nil
}

// fetch delivers what the stream holds from `from` to `to`, and the ids it
// does not hold as lost.
func (l *roomLog) fetch(from, to uint64) error {
	s := l.s
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	// The room's newest id first, then the range, in one round trip: an
	// id up to that newest one was stored before GET ran (the append
	// script stores and counts at once), so if XRANGE, which runs after,
	// skips it, the stream no longer holds it. Ids the reply skips are
	// lost, and so are those after its last entry when it is shorter
	// than a batch — up to the newest id, never beyond: a message that
	// named an id Redis never gave is not believed.
	var p resp.Pipeline
	p.Add("GET", l.k.seq())
	p.Add("XRANGE", l.k.events(), idArg(from), idArg(to), "COUNT", catchUpBatch)
	replies, err := s.db.DoPipeline(ctx, &p)
	var seq int64
	var entries []entry
	if err == nil {
		if seq, err = resp.Int64(replies[0], nil); err == resp.ErrNil {
			seq, err = 0, nil
		}
	}
	if err == nil {
		if err = replies[1].Err(); err == nil {
			entries, err = parseEntries(replies[1], nil)
		}
	}
	if err != nil {
		if unreachable(err) {
			s.health.down(s, err)
		}
		return err
	}
	end := min(to, uint64(max(seq, 0)))
	if len(entries) == catchUpBatch {
		end = entries[len(entries)-1].id
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() || l.reset.Load() {
		return nil
	}
	s.stats.catchUps.Add(1)
	lost, fetched := 0, 0
	defer func() {
		s.stats.lost.Add(uint64(lost))
		s.stats.fetched.Add(uint64(fetched))
	}()
	for _, e := range entries {
		last := l.last.Load()
		if e.id <= last {
			continue
		}
		for id := last + 1; id < e.id; id++ {
			if lost == maxLostBatch {
				return nil // the next round goes on
			}
			l.deliverLocked(id, nil)
			lost++
		}
		l.deliverLocked(e.id, frameOf(e.body))
		fetched++
	}
	for id := l.last.Load() + 1; id <= end; id++ {
		if lost == maxLostBatch {
			return nil
		}
		l.deliverLocked(id, nil)
		lost++
	}
	if lost > 0 {
		s.log.Warn("store/redis: events the room's stream no longer held were delivered as lost", "room", l.room, "count", lost)
	}
	if last := l.last.Load(); last < to && len(entries) < catchUpBatch && l.target == to {
		// Nothing beyond the newest id exists: stop looking for it.
		s.log.Warn("store/redis: a message named an id beyond the room's newest; ignoring it", "room", l.room, "id", to, "newest", seq)
		l.target = last
	}
	return nil
}
