package chat

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// SessionTTL is how long a session outlives its last connection: a client
// that reconnects with its session token within it keeps its name, its
// rate-limit budget and the client ids of the sends it had accepted.
const SessionTTL = 2 * time.Minute

// maxSessionCIDs is how many accepted client ids a session remembers, the
// newest: a resend of one of them is answered with its original ack
// instead of being published again.
const maxSessionCIDs = 1024

// session is what a client keeps across its connections: its name, its
// rate limit and the sends it had accepted. It has at most one live
// connection; a new one that presents its token takes over from the old.
type session struct {
	token string

	mu       sync.Mutex
	conn     *conn     // the live connection, or nil
	endedAt  time.Time // when the last connection ended, while conn is nil
	name     string    // the display name, as last given
	limiter  tokenBucket
	refused  int                 // sends refused in a row by the rate limit
	accepted map[string]ackEntry // client id → what it became
	order    []string            // accepted client ids, oldest first, for forgetting
}

// ackEntry is what an accepted send became: the room event's id (0 for a
// command that made none) in its room.
type ackEntry struct {
	room string
	id   uint64
}

// newSessionToken returns 128 random bits, URL-safe: 22 characters.
func newSessionToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// acked returns what the send with client id cid became, if the session
// accepted it.
func (s *session) acked(cid string) (ackEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accepted[cid]
	return a, ok
}

// accept remembers that the send with client id cid became a.
func (s *session) accept(cid string, a ackEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accepted[cid]; ok {
		return
	}
	if len(s.order) >= maxSessionCIDs {
		delete(s.accepted, s.order[0])
		s.order = append(s.order[:0], s.order[1:]...)
	}
	s.accepted[cid] = a
	s.order = append(s.order, cid)
}

// allow takes a token from the session's rate limit at now; when there is
// none it returns how long until there is one.
func (s *session) allow(now time.Time) (bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limiter.allow(now) {
		s.refused = 0
		return true, 0
	}
	s.refused++
	return false, s.limiter.wait()
}

// refusedInARow returns how many sends the rate limit refused in a row.
func (s *session) refusedInARow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// setName records the session's display name.
func (s *session) setName(name string) {
	s.mu.Lock()
	s.name = name
	s.mu.Unlock()
}

// sessions is the server's register of sessions.
type sessions struct {
	mu    sync.Mutex
	byTok map[string]*session
	max   int // sessions kept at most: the oldest ended ones go first
}

// attach gives c a session: the one token names, if it is alive, taking it
// over from its old connection (which it returns, to be closed), or a new
// one. It returns the session, the name the session had (empty for a new
// one) and the connection replaced, if any.
func (r *sessions) attach(token string, c *conn, newLimiter func() tokenBucket, now time.Time) (*session, string, *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.byTok[token]; s != nil {
		s.mu.Lock()
		alive := s.conn != nil || now.Sub(s.endedAt) < SessionTTL
		if alive {
			old, name := s.conn, s.name
			s.conn = c
			s.mu.Unlock()
			return s, name, old
		}
		s.mu.Unlock()
		delete(r.byTok, token)
	}
	if len(r.byTok) >= r.max {
		r.purge(now, true)
	}
	s := &session{token: newSessionToken(), conn: c, limiter: newLimiter(), accepted: make(map[string]ackEntry)}
	r.byTok[s.token] = s
	return s, "", nil
}

// detach records that c, the session's connection until now, has ended.
func (r *sessions) detach(s *session, c *conn, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == c {
		s.conn, s.endedAt = nil, now
	}
}

// purge forgets sessions that have been without a connection for longer
// than SessionTTL — and, if full, the oldest ended ones until there is
// room. The caller holds r.mu.
func (r *sessions) purge(now time.Time, full bool) {
	var oldest *session
	var oldestAt time.Time
	for tok, s := range r.byTok {
		s.mu.Lock()
		ended, at := s.conn == nil, s.endedAt
		s.mu.Unlock()
		switch {
		case ended && now.Sub(at) >= SessionTTL:
			delete(r.byTok, tok)
		case ended && (oldest == nil || at.Before(oldestAt)):
			oldest, oldestAt = s, at
		}
	}
	if full && len(r.byTok) >= r.max && oldest != nil {
		delete(r.byTok, oldest.token)
	}
}

// sweep forgets the sessions past their time; the keepalive sweep calls it.
func (r *sessions) sweep(now time.Time) {
	r.mu.Lock()
	r.purge(now, false)
	r.mu.Unlock()
}
