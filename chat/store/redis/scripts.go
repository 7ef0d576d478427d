package redis

import "ringchat/internal/resp"

// appendScript stores one event and publishes it, atomically.
//
//	KEYS[1] seq      KEYS[2] events      KEYS[3] epoch
//	ARGV[1] the log's epoch
//	ARGV[2] floor: the newest id the log has delivered; the new id is above it
//	ARGV[3] the body up to the id: {"type":"T","id":
//	ARGV[4] the body after the id (store.Event.Tail)
//	ARGV[5] the event's time, Unix ms
//	ARGV[6] the stream's length to keep, at least (XADD MAXLEN ~)
//	ARGV[7] the room's channel
//	ARGV[8] the deadline, Unix ms on the server's clock: later, nothing is done
//	ARGV[9] the stream's time to live after its newest event, ms
//
// It returns the event's id, or an error reply: RINGCHAT_LATE (the deadline
// passed: the caller has given up, and nothing was stored) or
// RINGCHAT_EPOCH followed by the room's epoch, when the room has another
// epoch than the log's.
//
// A room whose epoch key is missing lost its data in Redis (a restart
// without persistence, a flush); the log that appends restores its epoch
// and continues its ids above the newest it delivered and the newest still
// in the stream, so that no id is given twice within the epoch.
var appendScript = resp.NewScript(`
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[8]) then
  return redis.error_reply('RINGCHAT_LATE the append reached Redis after its deadline')
end
local floor = tonumber(ARGV[2])
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  redis.call('SET', KEYS[3], ARGV[1])
  local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if top[1] then
    floor = math.max(floor, tonumber(string.match(top[1][1], '^%d+')))
  end
elseif epoch ~= ARGV[1] then
  return redis.error_reply('RINGCHAT_EPOCH ' .. epoch)
end
local id = redis.call('INCR', KEYS[1])
if id <= floor then
  id = floor + 1
  redis.call('SET', KEYS[1], string.format('%d', id))
end
local sid = string.format('%d', id)
local body = ARGV[3] .. sid .. ARGV[4]
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], sid .. '-0', 'time', ARGV[5], 'body', body)
redis.call('PEXPIRE', KEYS[2], ARGV[9])
redis.call('PUBLISH', ARGV[7], sid .. ' ' .. ARGV[1] .. ' ' .. body)
return id
`)

// syncScript tells a log the room's epoch and newest id: when a room is
// opened, and when an open room catches up after pub/sub lost messages.
//
//	KEYS[1] seq      KEYS[2] events      KEYS[3] epoch
//	ARGV[1] the epoch: a fresh one when opening, the log's own after
//	ARGV[2] floor: the newest id the log has delivered (0 when opening)
//
// A room without an epoch gets ARGV[1]. When the room's epoch is ARGV[1],
// its id is raised to at least the floor and the newest id in the stream,
// should Redis have lost the end of it (see appendScript). It returns
// {epoch, newest id}.
var syncScript = resp.NewScript(`
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[3], epoch)
end
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if epoch == ARGV[1] then
  local floor = tonumber(ARGV[2])
  local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if top[1] then
    floor = math.max(floor, tonumber(string.match(top[1][1], '^%d+')))
  end
  if seq < floor then
    seq = floor
    redis.call('SET', KEYS[1], string.format('%d', seq))
  end
end
return {epoch, seq}
`)
