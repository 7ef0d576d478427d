package redis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/internal/resp"
)

// Presence shares among the processes (nodes) of one Redis who is in each
// room: a display name is held once across all of them, and the count and
// names of a room's members are every node's. It is the chat server's
// Presence (ringchat/chat.Presence) for a cluster.
//
// A name is claimed by a holder — the client's session, so that a client
// that comes back on another node takes its name over — with a claim id
// of the connection's own, so that the old connection's departure does not
// release the new one's claim. A claim lives PresenceTTL unless the node
// that made it refreshes it, which each node does for its own claims every
// third of that: the members of a node that dies drop out of presence
// within PresenceTTL, and the node that finds them gone (each looks, for
// the rooms it has claims in, at every refresh) reports them to Departed's
// function, which announces their departure.
//
// Per room, in the room's hash tag:
//
//	ringchat:{lobby}:present   sorted set: name key → when its claim expires (Unix ms, Redis's clock)
//	ringchat:{lobby}:claims    hash: name key → claim id, holder and display name, one per line
//
// Its methods are safe for concurrent use.
type Presence struct {
	s *Store

	mu       sync.Mutex
	mine     map[claimRef]string // this node's claims → the claim id
	departed func(room, name string)

	// Releases waiting for the call they go out in (see Release).
	relMu      sync.Mutex
	relQueue   []*releaseRequest
	relRunning bool // a goroutine is sending them
}

// PresenceTTL is how long a claim lasts unless its node refreshes it.
const PresenceTTL = 15 * time.Second

type claimRef struct{ room, key string }

// Presence returns the Store's presence, starting its refreshing, which
// stops when the Store closes.
func (s *Store) Presence() *Presence {
	s.presenceOnce.Do(func() {
		s.presence = &Presence{s: s, mine: make(map[claimRef]string)}
		if s.track() {
			go s.presence.refreshLoop()
		}
	})
	return s.presence
}

func (s *Store) presenceKeys(room string) []string {
	tag := s.o.Prefix + "{" + room + "}"
	return []string{tag + ":present", tag + ":claims"}
}

// Departed sets the function called with the members, claimed by other
// nodes, whose claims were found expired: their node stopped refreshing
// them (it died, or lost Redis).
func (p *Presence) Departed(f func(room, name string)) {
	p.mu.Lock()
	p.departed = f
	p.mu.Unlock()
}

// Claim takes the name whose key (its folded form) is key in room for
// holder, with claim id claim: held is false when another holder has a
// live claim on it. A holder that claims what it holds takes the claim
// over (a reconnect, perhaps on another node): resumed.
func (p *Presence) Claim(room, key, name, holder, claim string) (held, resumed bool, err error) {
	if strings.ContainsRune(holder+claim, '\n') {
		return false, false, fmt.Errorf("store/redis: a holder or claim id with a line break")
	}
	s := p.s
	if err := s.health.check(); err != nil {
		return false, false, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	v, err := claimScript.Run(ctx, s.db, s.presenceKeys(room), key, claim+"\n"+holder+"\n"+name, holder, PresenceTTL.Milliseconds())
	if err != nil {
		return false, false, s.fail("claiming a name in "+room, err)
	}
	n, _ := resp.Int64(v, nil)
	if n > 0 {
		p.mu.Lock()
		p.mine[claimRef{room, key}] = claim
		p.mu.Unlock()
	}
	return n > 0, n == 2, nil
}

// Release gives up the claim on key in room, if it is still claim's, and
// reports whether it was (true too when Redis cannot say).
//
// Releases that arrive while one is in flight wait and go out together,
// up to refreshBatch of a room's in one call of a script, as a group
// commit does: when thousands of clients leave at once — a node shutting
// down, a network failing — Redis serves a few calls, not one per member,
// and the other nodes' publishes do not queue behind them. One release on
// its own goes at once.
func (p *Presence) Release(room, key, claim string) bool {
	p.mu.Lock()
	if p.mine[claimRef{room, key}] == claim {
		delete(p.mine, claimRef{room, key})
	}
	p.mu.Unlock()
	if p.s.health.check() != nil {
		return true // it expires by itself
	}
	r := &releaseRequest{room: room, key: key, claim: claim, done: make(chan bool, 1)}
	p.relMu.Lock()
	p.relQueue = append(p.relQueue, r)
	start := !p.relRunning
	p.relRunning = true
	p.relMu.Unlock()
	if start {
		go p.releaseQueued()
	}
	return <-r.done
}

// releaseRequest is one Release waiting for the call it goes out in.
type releaseRequest struct {
	room, key, claim string
	done             chan bool // its answer
}

// releaseQueued sends the queued releases, room by room and a batch at a
// time, until none is left.
func (p *Presence) releaseQueued() {
	for {
		p.relMu.Lock()
		queue := p.relQueue
		p.relQueue = nil
		if len(queue) == 0 {
			p.relRunning = false
			p.relMu.Unlock()
			return
		}
		p.relMu.Unlock()
		byRoom := make(map[string][]*releaseRequest)
		for _, r := range queue {
			byRoom[r.room] = append(byRoom[r.room], r)
		}
		for room, reqs := range byRoom {
			for len(reqs) > 0 {
				n := min(len(reqs), int(refreshBatch.Load()))
				p.releaseBatch(room, reqs[:n])
				reqs = reqs[n:]
			}
		}
	}
}

// releaseBatch releases reqs, all in room, in one call, and answers each.
func (p *Presence) releaseBatch(room string, reqs []*releaseRequest) {
	s := p.s
	args := make([]any, 0, 2*len(reqs))
	for _, r := range reqs {
		args = append(args, r.key, r.claim)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	v, err := releaseScript.Run(ctx, s.db, s.presenceKeys(room), args...)
	cancel()
	if err == nil && (v.Kind != resp.KindArray || len(v.Elems) != len(reqs)) {
		err = fmt.Errorf("store/redis: unexpected reply %v to the release script", v.Kind)
	}
	if err != nil {
		s.fail("releasing names in "+room, err)
	}
	for i, r := range reqs {
		released := true // when Redis cannot say
		if err == nil {
			n, _ := resp.Int64(v.Elems[i], nil)
			released = n == 1
		}
		r.done <- released
	}
}

// Members returns how many members room has on every node, and the display
// names of up to max of them (0: none), sorted.
func (p *Presence) Members(room string, max int) ([]string, int, error) {
	s := p.s
	if err := s.health.check(); err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	v, err := membersScript.Run(ctx, s.db, s.presenceKeys(room), max)
	if err != nil {
		return nil, 0, s.fail("listing "+room, err)
	}
	if v.Kind != resp.KindArray || len(v.Elems) != 3 {
		return nil, 0, fmt.Errorf("store/redis: unexpected reply %v to the members script", v.Kind)
	}
	count, _ := resp.Int64(v.Elems[0], nil)
	names := claimNames(v.Elems[1])
	slices.Sort(names)
	if len(names) > max {
		names = names[:max]
	}
	p.reportDeparted(room, claimNames(v.Elems[2]))
	return names, int(count), nil
}

// claimNames returns the display names of the claims values in v.
func claimNames(v resp.Value) []string {
	var names []string
	for _, e := range v.Elems {
		c, err := resp.String(e, nil)
		if err != nil {
			continue
		}
		if parts := strings.SplitN(c, "\n", 3); len(parts) == 3 {
			names = append(names, parts[2])
		}
	}
	return names
}

func (p *Presence) reportDeparted(room string, names []string) {
	if len(names) == 0 {
		return
	}
	p.mu.Lock()
	f := p.departed
	p.mu.Unlock()
	if f == nil {
		return
	}
	for _, n := range names {
		f(room, n)
	}
}

// refreshLoop refreshes this node's claims every third of PresenceTTL and,
// in the rooms it has claims in, collects the claims others let expire.
func (p *Presence) refreshLoop() {
	defer p.s.wg.Done()
	t := time.NewTicker(PresenceTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-p.s.ctx.Done():
			return
		case <-t.C:
		}
		p.refresh()
	}
}

// refresh extends this node's claims, room by room, and reports the
// expired claims it finds in those rooms.
func (p *Presence) refresh() {
	p.mu.Lock()
	byRoom := make(map[string][]any)
	for ref, claim := range p.mine {
		byRoom[ref.room] = append(byRoom[ref.room], ref.key, claim)
	}
	p.mu.Unlock()
	s := p.s
	if len(byRoom) == 0 || s.health.check() != nil {
		return
	}
	for room, args := range byRoom {
		// A script blocks Redis for every node while it runs: a room's
		// claims are refreshed a batch at a time, so that no publish waits
		// behind all of them (18,000 claims in one call held Redis for
		// about 0.3 s).
		for len(args) > 0 {
			n := min(len(args), 2*int(refreshBatch.Load()))
			ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
			v, err := refreshScript.Run(ctx, s.db, s.presenceKeys(room), append([]any{PresenceTTL.Milliseconds()}, args[:n]...)...)
			cancel()
			if err != nil {
				s.fail("refreshing names in "+room, err)
				return
			}
			p.reportDeparted(room, claimNames(v))
			args = args[n:]
		}
	}
}

// refreshBatch is the most claims one call of the refresh script
// extends, or of the release script gives up: about 10 ms of Redis's time.
var refreshBatch atomic.Int64

func init() { refreshBatch.Store(500) }

// claimScript claims a name.
//
//	KEYS[1] present   KEYS[2] claims
//	ARGV[1] the name's key   ARGV[2] the claim's value: id, holder, name
//	ARGV[3] the holder       ARGV[4] the claim's time to live, ms
//
// It returns 1 when the name is claimed, 2 when the holder had it already
// (the claim is the new id's now), 0 when another holder has it.
var claimScript = resp.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
local result = 1
if exp and tonumber(exp) > now then
  local cur = redis.call('HGET', KEYS[2], ARGV[1])
  if cur then
    if string.match(cur, '^[^\n]*\n([^\n]*)\n') ~= ARGV[3] then
      return 0
    end
    if cur ~= ARGV[2] then result = 2 end
  end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4] * 4)
redis.call('PEXPIRE', KEYS[2], ARGV[4] * 4)
return result
`)

// releaseScript gives claims up, each if it is still the caller's.
//
//	KEYS[1] present   KEYS[2] claims
//	ARGV[2i-1] a key   ARGV[2i] its claim id
//
// It returns, for each, 1 if it was released, 0 if not.
var releaseScript = resp.NewScript(`
local out = {}
for i = 1, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[2], ARGV[i])
  if cur and string.sub(cur, 1, string.len(ARGV[i+1]) + 1) == ARGV[i+1] .. '\n' then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
    out[#out+1] = 1
  else
    out[#out+1] = 0
  end
end
return out
`)

// expiredLua removes the claims past their time and leaves their values
// in the table gone: every script that looks at a room's members runs it
// first, so that exactly one caller learns of each departure.
const expiredLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = {}
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  local v = redis.call('HGET', KEYS[2], k)
  if v then table.insert(gone, v) end
  redis.call('ZREM', KEYS[1], k)
  redis.call('HDEL', KEYS[2], k)
end
`

// refreshScript extends the caller's claims that are still its own, and
// returns the values of claims it found expired.
//
//	KEYS[1] present   KEYS[2] claims
//	ARGV[1] the time to live, ms; then pairs: a key, the claim id
var refreshScript = resp.NewScript(expiredLua + `
for i = 2, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[2], ARGV[i])
  if cur and string.sub(cur, 1, string.len(ARGV[i + 1]) + 1) == ARGV[i + 1] .. '\n' then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1] * 4)
redis.call('PEXPIRE', KEYS[2], ARGV[1] * 4)
return gone
`)

// membersScript returns the room's member count, the claims of up to 1,000
// of them (the caller sorts and cuts), and the values of claims it found
// expired.
//
//	KEYS[1] present   KEYS[2] claims   ARGV[1] how many names are wanted (0: none)
var membersScript = resp.NewScript(expiredLua + `
local count = redis.call('ZCARD', KEYS[1])
local vals = {}
if tonumber(ARGV[1]) > 0 then
  for _, k in ipairs(redis.call('ZRANGE', KEYS[1], 0, 999)) do
    local v = redis.call('HGET', KEYS[2], k)
    if v then table.insert(vals, v) end
  end
end
return {count, vals, gone}
`)
