package redis

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"ringchat/chat/store"
	"ringchat/internal/resp"
)

// Housekeeping intervals.
const (
	probeInterval = 100 * time.Millisecond // how often an unreachable Redis is tried
	clockInterval = 30 * time.Second       // how often the clock offset is measured again
)

// health remembers whether Redis was found unreachable, so that calls fail
// at once instead of each waiting for its timeout, until a probe succeeds.
type health struct {
	mu    sync.Mutex
	err   error     // why Redis is unreachable; nil while it is not
	since time.Time // when it was found so
	probe chan struct{}
}

func (h *health) init() { h.probe = make(chan struct{}, 1) }

// check returns an error wrapping store.ErrUnavailable while Redis is
// unreachable.
func (h *health) check() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		return nil
	}
	return fmt.Errorf("store/redis: %w: Redis unreachable for %v: %v", store.ErrUnavailable, time.Since(h.since).Round(time.Millisecond), h.err)
}

// down records that a call failed for want of Redis.
func (h *health) down(s *Store, err error) {
	h.mu.Lock()
	first := h.err == nil
	if first {
		h.since = time.Now()
	}
	h.err = err
	h.mu.Unlock()
	if first {
		s.log.Error("store/redis: Redis is unreachable; appends are refused until it answers", "redis", s.o.Redis.String(), "err", err)
		select {
		case h.probe <- struct{}{}:
		default:
		}
	}
}

// up records that Redis answered.
func (h *health) up(s *Store) {
	h.mu.Lock()
	was := h.err != nil
	since := h.since
	h.err = nil
	h.mu.Unlock()
	if was {
		s.log.Info("store/redis: Redis answers again", "redis", s.o.Redis.String(), "after", time.Since(since).Round(time.Millisecond))
	}
}

func (h *health) isDown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err != nil
}

// clock estimates Redis's clock, for the deadline appendScript checks: the
// server's time at a moment of this process's monotonic clock.
type clock struct {
	mu     sync.Mutex
	at     time.Time // local, with its monotonic reading
	server int64     // Redis's time then, Unix ms
	kick   chan struct{}
}

func (c *clock) init() { c.kick = make(chan struct{}, 1) }

// stale asks for the clock to be measured again soon: Redis refused an
// append as late, which a clock that stepped can cause.
func (c *clock) stale() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// sync measures Redis's clock with TIME, taking the middle of the round
// trip as the moment the server read it.
func (c *clock) sync(ctx context.Context, db *resp.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	v, err := resp.Strings(db.Do(ctx, "TIME"))
	t1 := time.Now()
	if err != nil {
		return err
	}
	if len(v) != 2 {
		return fmt.Errorf("store/redis: TIME answered %q", v)
	}
	sec, err1 := strconv.ParseInt(v[0], 10, 64)
	usec, err2 := strconv.ParseInt(v[1], 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("store/redis: TIME answered %q", v)
	}
	c.mu.Lock()
	c.at = t0.Add(t1.Sub(t0) / 2)
	c.server = sec*1000 + usec/1000
	c.mu.Unlock()
	return nil
}

// now returns Redis's time now, estimated, in Unix ms.
func (c *clock) now() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server + time.Since(c.at).Milliseconds()
}

// housekeep probes an unreachable Redis, measures the clock offset again
// now and then, and trims the open rooms' streams by age.
func (s *Store) housekeep() {
	defer s.wg.Done()
	trim := time.NewTicker(s.o.TrimInterval)
	defer trim.Stop()
	clk := time.NewTicker(clockInterval)
	defer clk.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.health.probe:
			s.probe()
		case <-clk.C:
			s.clock.sync(s.ctx, s.db, s.o.Timeout)
		case <-s.clock.kick:
			s.clock.sync(s.ctx, s.db, s.o.Timeout)
		case <-trim.C:
			s.trimAll()
		}
	}
}

// probe pings Redis until it answers (or the store closes).
func (s *Store) probe() {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for s.health.isDown() {
		ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
		err := s.db.Ping(ctx)
		cancel()
		if err == nil {
			s.clock.sync(s.ctx, s.db, s.o.Timeout)
			s.health.up(s)
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// trimAll removes what is past the age from every open room's stream.
func (s *Store) trimAll() {
	if s.health.isDown() {
		return
	}
	s.mu.Lock()
	rooms := make([]*roomLog, 0, len(s.rooms))
	for _, l := range s.rooms {
		rooms = append(rooms, l)
	}
	s.mu.Unlock()
	for _, l := range rooms {
		if s.ctx.Err() != nil {
			return
		}
		if err := l.trimAge(); err != nil {
			s.log.Warn("store/redis: trimming a room's history by age", "room", l.room, "err", err)
			return
		}
	}
}
