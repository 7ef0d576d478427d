package file

import "time"

// MaintainAt has the writer write and sync what is queued, then delete what
// is past retention and release idle rooms as if the time were now, and
// waits until it has.
func (s *Store) MaintainAt(now time.Time) {
	req := maintainRequest{now: now, done: make(chan struct{})}
	s.w.maint <- req
	<-req.done
}

// Segments returns the first ids of a room's segments.
func (s *Store) Segments(room string) []uint64 {
	s.mu.Lock()
	rs := s.rooms[room]
	s.mu.Unlock()
	if rs == nil {
		return nil
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var firsts []uint64
	for _, seg := range rs.segs {
		firsts = append(firsts, seg.first)
	}
	return firsts
}

// Flush has the writer write and sync what is queued, and waits until it has.
func (s *Store) Flush() { s.MaintainAt(time.Time{}) }
