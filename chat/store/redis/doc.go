// Package redis is the store that keeps every room's history in Redis, so
// that any number of chat processes (nodes) pointed at one Redis serve the
// same rooms: one id sequence per room, one epoch, and every event
// delivered to every node's sink once, in id order. It speaks to Redis with
// ringchat/internal/resp, the project's own client.
//
// # Keys
//
// Each room has three keys and one pub/sub channel, all named after the
// room inside a hash tag, so that a Redis Cluster would keep a room's keys
// on one shard (the prefix is Options.Prefix, "ringchat:" by default):
//
//	ringchat:{lobby}:seq      string: the room's newest id (INCR)
//	ringchat:{lobby}:events   stream: one entry per event, entry id N-0 for
//	                          event N, fields time (Unix ms) and body (the
//	                          event's JSON object, exactly as members get it)
//	ringchat:{lobby}:epoch    string: the room's epoch, set once (SET NX)
//	ringchat:{lobby}          channel: "N EPOCH BODY" for every new event
//
// Pub/sub channels are shared by all of a server's databases, so a store
// on database n≠0 adds "@n" to its channels' names (ringchat:{lobby}@3).
// The stream keeps at least Retention.Events entries (XADD MAXLEN ~) and
// expires Retention.Age after the room's newest event; seq and epoch stay,
// so a room's ids continue and its epoch holds for as long as Redis keeps
// its data, as the file store's do.
//
// # Appending
//
// Append runs one Lua script (EVALSHA, EVAL when the server lacks it) that
// atomically checks the room's epoch, takes the next id (INCR), builds the
// body exactly as store.Event.AppendBody does, adds it to the stream and
// publishes it on the room's channel. Append does not deliver the event
// itself: every event, this node's own included, reaches the sink from the
// node's one pub/sub connection, so that one path orders them all.
//
// # Delivery
//
// Each open room remembers the last id it delivered (Log.Last). A message
// with the next id is delivered at once; an id at or below it was delivered
// already and is dropped; an id beyond it means pub/sub lost messages (its
// connection was lost for a moment, or the room was being opened), and the
// room fetches the missing ids from the stream with XRANGE and delivers
// them first, in order. Ids the stream no longer holds (trimmed) are
// delivered as lost (a nil frame). When the pub/sub connection comes back
// after a loss, every open room asks Redis for its newest id and catches up
// the same way. Members therefore never see a gap that the stream still
// holds, nor an event twice, nor two out of order.
//
// # Failures
//
// Every call a caller waits for is bounded by Options.Timeout. Once a call
// has failed for want of Redis (it cannot be reached, or stopped
// answering), the store refuses appends and reads at once with an error
// wrapping store.ErrUnavailable, and probes Redis in the background until it
// answers again. An append that Redis received and then sat on past the
// caller's timeout (a server stopped or swamped) is not stored behind the
// caller's back when Redis gets to it: the script refuses to run after a
// deadline on Redis's own clock (half the timeout; the offset between the
// clocks is measured with TIME). One window no remote store can close
// remains: Redis ran the script and then died or stalled before its reply
// arrived (kill -9, SIGSTOP, a cut cable, at that very moment). Append
// then reports ErrUnavailable for an event that was stored, and which is
// delivered like any other once Redis is back. Only a call that timed out
// or lost its connection with the command sent can end so, never one
// refused at once.
//
// When Redis comes back, with its data (AOF), ids continue and epochs hold.
// When it comes back without the data (no persistence, or a lost second of
// appendfsync everysec), an open room restores its epoch and raises the id
// to at least the last one it delivered, so that no id is given twice in
// one epoch as far as this node knows. If another process meanwhile gave
// the room a new epoch, the open room cannot follow it (its members' ids
// belong to the old one): its Append and Read return errors wrapping
// ErrReset until it is closed and opened again.
//
// # Concurrency
//
// Store and every Log it opens are safe for concurrent use. Each Store holds
// one resp.Client (a small pool) and one resp.Subscriber, whatever the
// number of rooms, plus one goroutine for housekeeping (trimming by age,
// probing an unreachable Redis, measuring the clock offset) and, while a
// room is catching up, one goroutine for that room. A sink's Deliver is
// called with the room's delivery lock held, one event at a time in id
// order; it must be quick and must not call back into the log.
package redis
