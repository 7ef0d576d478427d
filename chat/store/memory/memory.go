// Package memory is a store that keeps each room's history in memory, for
// the life of the process: nothing is written to disk, and a restart begins
// every room again with a new epoch. Empty rooms keep their history, within
// the retention, until the process ends.
package memory

import (
	"sync"
	"sync/atomic"
	"time"

	"ringchat/chat/store"
)

// Store is an in-memory store.Store.
type Store struct {
	ret store.Retention
	now func() time.Time

	mu     sync.Mutex
	rooms  map[string]*history
	closed bool
}

// New returns an empty store that retains what ret says (zero fields: the
// defaults).
func New(ret store.Retention) *Store {
	return &Store{ret: ret.WithDefaults(), now: time.Now, rooms: make(map[string]*history)}
}

// history is one room's events: a circular buffer of at most ret.Events
// records, oldest at head.
type history struct {
	epoch string

	mu   sync.Mutex
	recs []store.Record // grows to ret.Events, then wraps
	head int            // index of the oldest record
	n    int            // records held
	open *roomLog       // the log the room is open as, or nil

	last atomic.Uint64 // id of the newest record
}

// Open implements store.Store.
func (s *Store) Open(room string, sink store.Sink) (store.Log, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	h := s.rooms[room]
	if h == nil {
		h = &history{epoch: store.NewEpoch()}
		s.rooms[room] = h
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open != nil {
		return nil, store.ErrOpen
	}
	l := &roomLog{s: s, h: h, sink: sink}
	h.open = l
	return l, nil
}

// Close implements store.Store: it closes every open room and forgets every
// history.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, h := range s.rooms {
		h.mu.Lock()
		h.open = nil
		h.mu.Unlock()
	}
	clear(s.rooms)
	return nil
}

// roomLog is an open room.
type roomLog struct {
	s    *Store
	h    *history
	sink store.Sink
}

func (l *roomLog) Epoch() string  { return l.h.epoch }
func (l *roomLog) Last() uint64   { return l.h.last.Load() }
func (l *roomLog) Oldest() uint64 { return l.h.oldest(l.s.ret.Cutoff(l.s.now())) }

// Append implements store.Log. The event is delivered before it returns.
func (l *roomLog) Append(e store.Event) (uint64, error) {
	h := l.h
	h.mu.Lock()
	if h.open != l {
		h.mu.Unlock()
		return 0, store.ErrClosed
	}
	id := h.last.Load() + 1
	frame, body := e.Frame(id)
	h.push(store.Record{ID: id, Time: e.Time, Body: body}, l.s.ret)
	h.last.Store(id)
	h.mu.Unlock()
	l.sink.Deliver(id, frame)
	return id, nil
}

// Read implements store.Log. The bodies are the store's own.
func (l *roomLog) Read(from uint64, dst []store.Record) ([]store.Record, error) {
	h := l.h
	cutoff := l.s.ret.Cutoff(l.s.now())
	h.mu.Lock()
	defer h.mu.Unlock()
	dst = dst[:0]
	if h.n == 0 {
		return dst, nil
	}
	first := h.recs[h.head].ID
	from = max(from, h.oldestLocked(cutoff), first)
	bytes := 0
	for id := from; id <= h.last.Load() && len(dst) < cap(dst) && bytes < store.ReadBytesLimit; id++ {
		r := h.recs[(h.head+int(id-first))%len(h.recs)]
		dst = append(dst, r)
		bytes += len(r.Body)
	}
	return dst, nil
}

// Close implements store.Log.
func (l *roomLog) Close() error {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	if l.h.open == l {
		l.h.open = nil
	}
	return nil
}

// push adds r as the newest record, dropping the oldest when the buffer
// holds ret.Events, and those older than the age limit. The caller holds mu.
func (h *history) push(r store.Record, ret store.Retention) {
	for h.n > 0 && h.recs[h.head].Time < r.Time-ret.Age.Milliseconds() {
		h.recs[h.head] = store.Record{}
		h.head = (h.head + 1) % len(h.recs)
		h.n--
	}
	switch {
	case h.n < len(h.recs):
		h.recs[(h.head+h.n)%len(h.recs)] = r
		h.n++
	case len(h.recs) < ret.Events:
		// Grow, unwrapping: the records become recs[0:n] in order.
		grown := make([]store.Record, min(max(2*len(h.recs), 16), ret.Events))
		for i := range h.n {
			grown[i] = h.recs[(h.head+i)%len(h.recs)]
		}
		h.recs, h.head = grown, 0
		h.recs[h.n] = r
		h.n++
	default: // full: the new record takes the oldest one's place
		h.recs[h.head] = r
		h.head = (h.head + 1) % len(h.recs)
	}
}

// oldest returns the id of the oldest record younger than cutoff.
func (h *history) oldest(cutoff int64) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.oldestLocked(cutoff)
}

// oldestLocked is oldest with mu held. Records are in id order and, but for
// clocks that step back, in time order: a binary search finds the first
// one not past the age.
func (h *history) oldestLocked(cutoff int64) uint64 {
	if h.n == 0 {
		return h.last.Load() + 1
	}
	lo, hi := 0, h.n
	for lo < hi {
		mid := (lo + hi) / 2
		if h.recs[(h.head+mid)%len(h.recs)].Time < cutoff {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == h.n {
		return h.last.Load() + 1
	}
	return h.recs[(h.head+lo)%len(h.recs)].ID
}
