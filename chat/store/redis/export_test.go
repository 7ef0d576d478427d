package redis

import "ringchat/internal/resp"

// Prefix returns the store's key prefix.
func (s *Store) Prefix() string { return s.o.Prefix }

// Options returns the store's options, defaults filled in.
func (s *Store) Options() Options { return s.o }

// TrimNow trims every open room's stream by age, as the housekeeping
// goroutine does every TrimInterval.
func (s *Store) TrimNow() { s.trimAll() }

// Keys returns the names of a room's keys (seq, events, epoch) and its
// channel.
func (s *Store) Keys(room string) (seq, events, epoch, channel string) {
	k := keysFor(s.o.Prefix, room, s.o.Redis.DB)
	return k.keys[0], k.keys[1], k.keys[2], k.channel
}

// Down reports whether the store takes Redis for unreachable.
func (s *Store) Down() bool { return s.health.isDown() }

var (
	Unreachable   = unreachable
	AppendMessage = appendMessage
	ParseMessage  = parseMessage
)

// ParseEntries reads an XRANGE reply into (id, time, body) triples.
func ParseEntries(v resp.Value) (ids []uint64, times []int64, bodies []string, err error) {
	entries, err := parseEntries(v, nil)
	for _, e := range entries {
		ids, times, bodies = append(ids, e.id), append(times, e.time), append(bodies, e.body)
	}
	return ids, times, bodies, err
}

// RefreshNow refreshes this node's claims, as the refresh loop does every
// third of PresenceTTL.
func (p *Presence) RefreshNow() { p.refresh() }

// SetRefreshBatch sets how many claims one call of the refresh script
// extends, and returns the previous number.
func SetRefreshBatch(n int) int { return int(refreshBatch.Swap(int64(n))) }

// ReleaseTogether releases the claims as Release does when they all arrive
// while one is in flight: queued first, then sent by one goroutine.
func (p *Presence) ReleaseTogether(room string, keys, claims []string) []bool {
	reqs := make([]*releaseRequest, len(keys))
	p.relMu.Lock()
	for i := range keys {
		reqs[i] = &releaseRequest{room: room, key: keys[i], claim: claims[i], done: make(chan bool, 1)}
		p.relQueue = append(p.relQueue, reqs[i])
	}
	running := p.relRunning
	p.relRunning = true
	p.relMu.Unlock()
	if !running {
		p.releaseQueued()
	}
	out := make([]bool, len(reqs))
	for i, r := range reqs {
		out[i] = <-r.done
	}
	return out
}
