-- Extend a claim by its ttl from now (server clock) if it is still the job's current one.
-- KEYS[1] job hash   KEYS[2] claimed (zset)
-- ARGV[1] job id   ARGV[2] epoch   ARGV[3] owner   ARGV[4] ttl in microseconds
-- Returns {1, expires_at, revoke_reason or ''} or {0, state, epoch} when the claim is lost.
local f = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'owner', 'revoke_reason')
if f[1] ~= 'CLAIMED' or f[2] ~= ARGV[2] or f[3] ~= ARGV[3] then
  return {0, f[1] or 'GONE', f[2] or '0'}
end
local t = redis.call('TIME')
local expires = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'expires_at', expires)
redis.call('ZADD', KEYS[2], expires, ARGV[1])
return {1, expires, f[4] or ''}
