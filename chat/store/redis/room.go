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
