package chat

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"sync/atomic"
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
	accepted map[string]ackEntry // client id → what it became; nil until the first
	order    []string            // accepted client ids, oldest first, for forgetting
	// acting holds the client ids of the sends a connection of the
	// session is acting on now; a resend on the session's next connection
	// waits on settled (made on the first wait, with mu) for it to settle.
	acting  map[string]struct{}
	settled *sync.Cond
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

// wellFormedToken reports whether token is one newSessionToken could have
// made: 22 characters of unpadded URL-safe base64, 128 bits that nobody
// guesses.
func wellFormedToken(token string) bool {
	b, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil && len(b) == 16 && len(token) == 22
}

// testHookClaimWaits, when set (by tests only), is called when claim
// starts waiting for another connection's send.
var testHookClaimWaits func()

// claim looks up the send with client id cid: done, with what it became,
// if the session accepted it. Otherwise the caller now acts on it and must
// call settle when it knows what became of it. While another connection
// of the session acts on a send with the same id — the client came back
// and sent it again before the old connection had answered — claim waits
// until that one has settled, so that a send is never published twice.
func (s *session) claim(cid string) (a ackEntry, done bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if a, ok := s.accepted[cid]; ok {
			return a, true
		}
		if _, busy := s.acting[cid]; !busy {
			break
		}
		if s.settled == nil {
			s.settled = sync.NewCond(&s.mu)
		}
		if testHookClaimWaits != nil {
			testHookClaimWaits()
		}
		s.settled.Wait()
	}
	if s.acting == nil {
		s.acting = make(map[string]struct{})
	}
	s.acting[cid] = struct{}{}
	return ackEntry{}, false
}

// settle ends a claim: the send with client id cid became a, if accepted,
// and is remembered as such; otherwise it was not taken, and may be sent
// again.
func (s *session) settle(cid string, a ackEntry, accepted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if accepted {
		s.remember(cid, a)
	}
	delete(s.acting, cid)
	if s.settled != nil { // someone has waited: wake whoever waits now
		s.settled.Broadcast()
	}
}

// remember records that the send with client id cid, not yet accepted
// (claim saw to that), became a, forgetting the oldest beyond
// maxSessionCIDs. The caller holds s.mu.
func (s *session) remember(cid string, a ackEntry) {
	if s.accepted == nil {
		s.accepted = make(map[string]ackEntry)
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
	// ended lists the sessions whose connection ended, in the order they
	// did: the oldest is forgotten first, without a look at the others.
	// An entry whose session has a connection again, or ended again
	// later, is stale and skipped.
	ended []endedSession
	kept  *atomic.Int64 // the gauge of len(byTok), for /metrics
}

// endedSession is an entry of sessions.ended.
type endedSession struct {
	s  *session
	at time.Time
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
	r.purge(now)
	// A token this process does not know may be one another node of a
	// cluster gave (the client came back here after that node went): the
	// session goes on under it, and the presence, which knows the token,
	// gives the client its name back. Anything else gets a new token.
	if !wellFormedToken(token) {
		token = newSessionToken()
	}
	s := &session{token: token, conn: c, limiter: newLimiter()}
	r.byTok[s.token] = s
	r.kept.Store(int64(len(r.byTok)))
	return s, "", nil
}

// detach records that c, the session's connection until now, has ended.
func (r *sessions) detach(s *session, c *conn, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == c {
		s.conn, s.endedAt = nil, now
		r.ended = append(r.ended, endedSession{s, now})
	}
}

// purge forgets the sessions that have been without a connection for
// SessionTTL, and, while the register is full, the ones that ended first:
// it looks only at the oldest entries of r.ended. The caller holds r.mu.
func (r *sessions) purge(now time.Time) {
	for len(r.ended) > 0 {
		e := r.ended[0]
		e.s.mu.Lock()
		current := e.s.conn == nil && e.s.endedAt.Equal(e.at)
		e.s.mu.Unlock()
		switch {
		case !current: // came back, or ended again later: a newer entry stands for it
		case now.Sub(e.at) >= SessionTTL || len(r.byTok) >= r.max:
			delete(r.byTok, e.s.token)
		default:
			r.kept.Store(int64(len(r.byTok)))
			return
		}
		r.ended[0] = endedSession{}
		r.ended = r.ended[1:]
	}
	r.kept.Store(int64(len(r.byTok)))
}

// sweep forgets the sessions past their time; the keepalive sweep calls it.
func (r *sessions) sweep(now time.Time) {
	r.mu.Lock()
	r.purge(now)
	if cap(r.ended) > 2*len(r.ended)+64 { // let go of the space the queue moved past
		r.ended = append([]endedSession(nil), r.ended...)
	}
	r.mu.Unlock()
}

// count returns how many sessions are kept.
func (r *sessions) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byTok)
}
