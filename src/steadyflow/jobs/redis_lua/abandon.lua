-- Hand a claimed job back, claimable again after a delay, if the claim is still current.
-- KEYS[1] job hash   KEYS[2] claimed (zset)   KEYS[3] ready (zset)   KEYS[4] delayed (zset)
-- ARGV[1] job id   ARGV[2] epoch   ARGV[3] owner   ARGV[4] delay in microseconds
-- ARGV[5] channel
-- Returns {1} or {0, state, epoch} when the claim is lost (nothing is changed then).
local f = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'owner', 'score', 'rank')
if f[1] ~= 'CLAIMED' or f[2] ~= ARGV[2] or f[3] ~= ARGV[3] then
  return {0, f[1] or 'GONE', f[2] or '0'}
end
local t = redis.call('TIME')
local delay = tonumber(ARGV[4])
local not_before = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]) + delay)
redis.call('HSET', KEYS[1], 'state', 'UNCLAIMED', 'not_before', not_before)
redis.call('HDEL', KEYS[1], 'owner', 'expires_at')
redis.call('ZREM', KEYS[2], ARGV[1])
if delay > 0 then
  redis.call('ZADD', KEYS[4], not_before, ARGV[1])
else
  redis.call('ZADD', KEYS[3], f[4], f[5])
end
redis.call('PUBLISH', ARGV[5], 'abandon')
return {1}
