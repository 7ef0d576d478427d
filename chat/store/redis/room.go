package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/chat/store"
	"ringchat/internal/resp"
	"ringchat/wsproto"
)

// Sizes of the reads from a room's stream.
const (
	catchUpBatch = 512     // entries one XRANGE of a catch-up fetches
	maxLostBatch = 1 << 16 // lost ids delivered with the lock held at once
	readBatch    = 128     // entries one XRANGE of a Read fetches, at most
	trimPages    = 10      // pages of readBatch a trim looks at per room
)

// roomLog is an open room: a store.Log.
type roomLog struct {
	s     *Store
	room  string
	k     roomKeys
	sink  store.Sink
	epoch string        // set by Open before the log is used
	done  chan struct{} // closed when the log closes

	last atomic.Uint64 // the newest id delivered: Last()

	// Delivery, guarded by mu.
	mu       sync.Mutex
	open     bool        // Open has learnt the room's newest id
	closed   atomic.Bool // no more deliveries; set under mu
	reset    atomic.Bool // the room has another epoch in Redis now; set under mu
	target   uint64      // the newest id known to exist
	resync   bool        // ask Redis for the newest id: pub/sub may have lost some
	catching bool        // a catch-up goroutine runs

	// The first event not past the age, as last found, and its time: it
	// holds while the age's cutoff has not passed that time.
	ageMu   sync.Mutex
	ageID   uint64
	ageTime int64
}

// Epoch implements store.Log.
func (l *roomLog) Epoch() string { return l.epoch }

// Last implements store.Log: the newest id delivered to the sink.
func (l *roomLog) Last() uint64 { return l.last.Load() }

// Append implements store.Log. The event reaches the sink from the room's
// channel, like everyone else's, usually before Append returns.
func (l *roomLog) Append(e store.Event) (uint64, error) {
	s := l.s
	if err := l.usable(); err != nil {
		return 0, err
	}
	if err := s.health.check(); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	var head [64]byte
	h := append(head[:0], `{"type":"`...)
	h = append(h, e.Type...)
	h = append(h, `","id":`...)
	deadline := s.clock.now() + (s.o.Timeout / 2).Milliseconds()
	v, err := appendScript.Run(ctx, s.db, l.k.keys,
		l.epoch, l.last.Load(), h, e.Tail, e.Time,
		s.o.Retention.Events, l.k.channel, deadline, s.o.Retention.Age.Milliseconds())
	if err != nil {
		var re *resp.Error
		if errors.As(err, &re) {
			switch re.Prefix() {
			case "RINGCHAT_EPOCH":
				l.markReset(strings.TrimPrefix(re.Msg, "RINGCHAT_EPOCH "))
				return 0, ErrReset
			case "RINGCHAT_LATE":
				s.clock.stale()
			}
		}
		return 0, s.fail("append to room "+l.room, err)
	}
	id, err := resp.Int64(v, nil)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("store/redis: append to room %s: %w: unexpected reply %v", l.room, store.ErrUnavailable, v.Kind)
	}
	return uint64(id), nil
}

// usable returns why the log cannot be used, or nil.
func (l *roomLog) usable() error {
	switch {
	case l.closed.Load():
		return store.ErrClosed
	case l.reset.Load():
		return ErrReset
	}
	return nil
}

// Read implements store.Log: XRANGE from `from` to Last(), within the
// retention.
func (l *roomLog) Read(from uint64, dst []store.Record) ([]store.Record, error) {
	dst = dst[:0]
	if cap(dst) == 0 {
		return dst, nil
	}
	if err := l.usable(); err != nil {
		return dst, err
	}
	s := l.s
	if err := s.health.check(); err != nil {
		return dst, err
	}
	last := l.last.Load()
	cutoff := s.o.Retention.Cutoff(time.Now())
	from = max(from, l.countOldest(last))
	if id, ok := l.cachedAge(cutoff); ok {
		from = max(from, id)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	bytes, aged := 0, true // aged: no event within the age found yet
	var entries []entry
	for from <= last && len(dst) < cap(dst) && bytes < store.ReadBytesLimit {
		n := min(cap(dst)-len(dst), readBatch)
		if len(dst) > 0 { // guess from the sizes so far how many fit
			avg := bytes/len(dst) + 1
			n = min(n, (store.ReadBytesLimit-bytes)/avg+1)
		}
		var err error
		entries, err = l.xrange(ctx, from, last, n, entries[:0])
		if err != nil {
			if len(dst) > 0 {
				return dst, nil
			}
			return dst, s.fail("read room "+l.room, err)
		}
		for _, e := range entries {
			if aged && e.time < cutoff {
				continue
			}
			if !aged && e.id != dst[len(dst)-1].ID+1 {
				return dst, nil // a hole: the next Read reports it
			}
			aged = false
			dst = append(dst, store.Record{ID: e.id, Time: e.time, Body: []byte(e.body)})
			bytes += len(e.body)
			if len(dst) == cap(dst) || bytes >= store.ReadBytesLimit {
				return dst, nil
			}
		}
		if len(entries) < n {
			break
		}
		from = entries[len(entries)-1].id + 1
	}
	return dst, nil
}

// Oldest implements store.Log: the first id within the retention, by
// count and by age, that the stream holds. When Redis cannot tell, it
// answers by the count alone, which is never too new.
func (l *roomLog) Oldest() uint64 {
	last := l.last.Load()
	lo := l.countOldest(last)
	s := l.s
	cutoff := s.o.Retention.Cutoff(time.Now())
	if id, ok := l.cachedAge(cutoff); ok {
		return min(max(lo, id), last+1)
	}
	if l.usable() != nil || s.health.check() != nil {
		return lo
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	var entries []entry
	for from := lo; from <= last; {
		var err error
		entries, err = l.xrange(ctx, from, last, readBatch, entries[:0])
		if err != nil {
			s.fail("find the oldest event of room "+l.room, err)
			return lo
		}
		for _, e := range entries {
			if e.time >= cutoff {
				l.rememberAge(e.id, e.time)
				return e.id
			}
		}
		if len(entries) < readBatch {
			break
		}
		from = entries[len(entries)-1].id + 1
	}
	return last + 1
}

// countOldest returns the oldest id that the count retention keeps when
// last is the newest.
func (l *roomLog) countOldest(last uint64) uint64 {
	if n := uint64(l.s.o.Retention.Events); last >= n {
		return last - n + 1
	}
	return 1
}

// cachedAge returns the first id within the age, if it is known at cutoff.
func (l *roomLog) cachedAge(cutoff int64) (uint64, bool) {
	l.ageMu.Lock()
	defer l.ageMu.Unlock()
	return l.ageID, l.ageID > 0 && cutoff <= l.ageTime
}

func (l *roomLog) rememberAge(id uint64, t int64) {
	l.ageMu.Lock()
	defer l.ageMu.Unlock()
	if id >= l.ageID {
		l.ageID, l.ageTime = id, t
	}
}

// xrange appends to dst the stream's entries with ids from `from` to `to`,
// at most n of them.
func (l *roomLog) xrange(ctx context.Context, from, to uint64, n int, dst []entry) ([]entry, error) {
	v, err := l.s.db.Do(ctx, "XRANGE", l.k.events(), idArg(from), idArg(to), "COUNT", n)
	if err != nil {
		return dst, err
	}
	return parseEntries(v, dst)
}

// idArg is the stream entry id of event id.
func idArg(id uint64) string { return strconv.FormatUint(id, 10) + "-0" }

// trimAge removes from the stream the events past the age: XTRIM MINID
// the first one within it, looking at trimPages pages at most.
func (l *roomLog) trimAge() error {
	s := l.s
	cutoff := s.o.Retention.Cutoff(time.Now())
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	var entries []entry
	from, keep := uint64(1), uint64(0) // keep: the first id to keep, once some are past the age
	for range trimPages {
		var err error
		if entries, err = l.xrange(ctx, from, 1<<63, readBatch, entries[:0]); err != nil {
			return err
		}
		if len(entries) == 0 {
			break
		}
		i := 0
		for i < len(entries) && entries[i].time < cutoff {
			i++
		}
		if i < len(entries) {
			l.rememberAge(entries[i].id, entries[i].time)
			if i > 0 || keep > 0 {
				keep = entries[i].id
			}
			break
		}
		from = entries[len(entries)-1].id + 1
		keep = from
	}
	if keep == 0 {
		return nil
	}
	_, err := s.db.Do(ctx, "XTRIM", l.k.events(), "MINID", idArg(keep))
	return err
}

// Close implements store.Log: no more events reach the sink once it
// returns. It does not wait for Redis.
func (l *roomLog) Close() error {
	s := l.s
	if !l.shut() {
		return nil
	}
	s.mu.Lock()
	if s.rooms[l.k.channel] == l {
		delete(s.rooms, l.k.channel)
		if !s.closed {
			// Queued before any later Open of the room can queue its
			// subscription, so it cannot undo that.
			s.subs.request(l.k.channel, false, nil)
		}
	}
	s.mu.Unlock()
	return nil
}

// shut stops deliveries; it reports whether it was the first to.
func (l *roomLog) shut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return false
	}
	l.closed.Store(true)
	close(l.done)
	return true
}

// markReset records that the room has another epoch in Redis.
func (l *roomLog) markReset(epoch string) {
	l.mu.Lock()
	first := !l.reset.Load()
	l.reset.Store(true)
	l.mu.Unlock()
	if first {
		l.s.log.Error("store/redis: the room was given a new epoch in Redis while open here (Redis lost its data); it takes no events until reopened",
			"room", l.room, "epoch", l.epoch, "redis_epoch", epoch)
	}
}

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
