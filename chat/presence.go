package chat

import "strconv"

// Presence shares, among server processes that serve the same rooms (nodes
// of a cluster, on one Redis), who is in each room: a display name is held
// once across all of them, and /who and the rule that announces joins and
// leaves only in small rooms count every node's members. A Server without
// one (Options.Presence nil) knows its own members only, which is all there
// is when it is alone. ringchat/chat/store/redis.Presence is one.
//
// Names are claimed by their key (the form in which names compare: folded,
// look-alikes mapped) for a holder, the client's session token, so that a
// client that comes back on another node takes its name over; each claim
// also carries the id of the connection that made it, so that an old
// connection's departure does not release its successor's claim.
type Presence interface {
	// Claim takes the name whose key is key in room for holder, as the
	// connection claim: held is false when another holder has it; resumed
	// is true when holder had it already (a client back on another node),
	// and the claim now is claim's.
	Claim(room, key, name, holder, claim string) (held, resumed bool, err error)
	// Release gives the claim up, if it is still claim's, and reports
	// whether it was: false when a newer connection of the same holder
	// took it over, or it expired. An error counts as released.
	Release(room, key, claim string) bool
	// Members returns how many members room has on every node and the
	// names of up to max of them, sorted.
	Members(room string, max int) (names []string, count int, err error)
	// Departed sets the function called with the members of other nodes
	// found gone — their node stopped keeping their claims alive — for the
	// server to announce their departure.
	Departed(func(room, name string))
}

// candidateName returns the i-th name to try for want: want itself, then
// want-2, want-3, …, cut to fit MaxNameRunes.
func candidateName(want string, i int) string {
	if i <= 1 {
		return want
	}
	suffix := "-" + strconv.Itoa(i)
	base := []rune(want)
	if len(base)+len(suffix) > MaxNameRunes {
		base = base[:MaxNameRunes-len(suffix)]
	}
	return string(base) + suffix
}

// claimName finds the first candidate name for want that no other session
// holds in room, across nodes, and claims it for c; resumed says c's
// session held it already. When the presence cannot be reached, it settles
// for want and local uniqueness (enter's).
func (s *Server) claimName(roomName, want string, c *conn) (name string, resumed bool) {
	p := s.opts.Presence
	for i := 1; i < 1000; i++ {
		cand := candidateName(want, i)
		key := nameKey(cand)
		s.mu.Lock()
		local := false
		if r := s.rooms[roomName]; r != nil {
			if other, taken := r.names[key]; taken && other.sess != c.sess {
				local = true
			}
		}
		s.mu.Unlock()
		if local {
			continue
		}
		held, resumed, err := p.Claim(roomName, key, cand, c.sess.token, c.claimID)
		if err != nil {
			s.log.Warn("presence unavailable: names are unique on this node only for now", "room", roomName, "err", err)
			return want, false
		}
		if held {
			return cand, resumed
		}
	}
	return want, false
}

// memberCount returns how many members r has, local of them here: on every
// node with a presence, else here. Its callers only compare the count with
// the announce limit, and the presence does not count fewer than local (a
// member is claimed there before it joins here — but for a name found taken
// here after its claim, claimed a moment late — and released after it has
// left), so when local alone is above the limit the presence is not asked:
// a room of thousands emptying at once (a node stopping, a network cut)
// would otherwise make one Redis call per member that leaves.
func (s *Server) memberCount(r *room, local int) int {
	if local > s.opts.AnnounceLimit {
		return local
	}
	if p := s.opts.Presence; p != nil {
		if _, n, err := p.Members(r.name, 0); err == nil {
			return n
		}
	}
	return local
}

// departed announces the departure of a member of another node, found gone
// by the presence, in the rooms that are small enough and open here.
func (s *Server) departed(roomName, name string) {
	s.mu.Lock()
	r := s.rooms[roomName]
	s.mu.Unlock()
	if r == nil {
		return
	}
	if s.memberCount(r, 0) < s.opts.AnnounceLimit {
		s.publish(r, &Event{Type: TypeLeave, Room: r.name, From: name})
	}
}
