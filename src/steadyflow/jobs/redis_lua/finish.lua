-- Move a claimed job to DONE or TRASHED if the claim is still the job's current one.
-- KEYS[1] job hash   KEYS[2] claimed (zset)
-- ARGV[1] job id   ARGV[2] epoch   ARGV[3] owner   ARGV[4] DONE or TRASHED
-- ARGV[5] reason, or ''
-- Nothing is published: a finished job wakes no claimer, since it makes nothing claimable.
-- Returns {1} or {0, state, epoch} when the claim is lost (nothing is changed then).
local f = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'owner')
if f[1] ~= 'CLAIMED' or f[2] ~= ARGV[2] or f[3] ~= ARGV[3] then
  return {0, f[1] or 'GONE', f[2] or '0'}
end
redis.call('HSET', KEYS[1], 'state', ARGV[4])
redis.call('HDEL', KEYS[1], 'owner', 'expires_at')
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'reason', ARGV[5])
else
  redis.call('HDEL', KEYS[1], 'reason')
end
redis.call('ZREM', KEYS[2], ARGV[1])
return {1}
