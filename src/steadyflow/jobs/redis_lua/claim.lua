-- Claim the best claimable job for ARGV[2]: highest priority, then oldest, among the
-- ready jobs and the claims that expired (never the caller's own expired claim).
-- Expiries come from this server's clock (TIME), never from the caller's.
-- KEYS[1] ready (zset: -priority, rank)   KEYS[2] delayed (zset: not_before, id)
-- KEYS[3] claimed (zset: expires_at, id)
-- ARGV[1] job hash prefix   ARGV[2] owner   ARGV[3] ttl in microseconds
-- Returns the claimed job's row (see RedisBoard._ROW), or false when nothing is claimable.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_text = string.format('%.0f', now)
local prefix = ARGV[1]

-- Abandoned jobs whose delay ran out become ready.
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_text, 'LIMIT', 0, 100)
for _, id in ipairs(due) do
  local f = redis.call('HMGET', prefix .. id, 'score', 'rank', 'state')
  if f[3] == 'UNCLAIMED' then
    redis.call('ZADD', KEYS[1], f[1], f[2])
  end
  redis.call('ZREM', KEYS[2], id)
end

local best_id, best_score, best_rank = nil, nil, nil
local top = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #top > 0 then
  best_rank = top[1]
  best_score = tonumber(top[2])
  best_id = string.sub(best_rank, 18)
end

local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now_text, 'LIMIT', 0, 100)
for _, id in ipairs(expired) do
  local f = redis.call('HMGET', prefix .. id, 'owner', 'score', 'rank')
  if f[1] ~= ARGV[2] and f[2] then
    local score = tonumber(f[2])
    if best_id == nil or score < best_score or (score == best_score and f[3] < best_rank) then
      best_id, best_score, best_rank = id, score, f[3]
    end
  end
end

if best_id == nil then
  return false
end

local key = prefix .. best_id
local expires = string.format('%.0f', now + tonumber(ARGV[3]))
-- The job's fields, in the order RedisBoard._ROW names them, read once: the claim's
-- changes are written with one HSET and the reply is this row with them applied.
-- (Epoch and claim counts stay far below 2^53, where Lua's numbers are exact.)
local row = redis.call('HMGET', key, 'doc', 'rank', 'created_at', 'state', 'reason', 'claims', 'owner', 'expires_at',
    'epoch', 'not_before', 'revoke_reason')
row[4] = 'CLAIMED'
row[6] = string.format('%.0f', (tonumber(row[6]) or 0) + 1)
row[7] = ARGV[2]
row[8] = expires
row[9] = string.format('%.0f', (tonumber(row[9]) or 0) + 1)
redis.call('HSET', key, 'state', 'CLAIMED', 'owner', ARGV[2], 'expires_at', expires, 'claims', row[6], 'epoch', row[9])
redis.call('ZREM', KEYS[1], best_rank)
redis.call('ZADD', KEYS[3], expires, best_id)
return row
