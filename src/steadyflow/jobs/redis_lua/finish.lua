-- Move a claimed job to DONE or TRASHED if the claim is still the job's current one.
-- DONE of a job revoked since its owner's last renewal leaves it UNCLAIMED instead
-- (ready at once, as revoking a DONE job does) so that the next conductor reverts it.
-- KEYS[1] job hash   KEYS[2] claimed (zset)   KEYS[3] ready (zset)
-- ARGV[1] job id   ARGV[2] epoch   ARGV[3] owner   ARGV[4] DONE or TRASHED
-- ARGV[5] reason, or ''   ARGV[6] channel
-- Only a requeued job is published: a finished one makes nothing claimable.
-- Returns {1, revoke reason when requeued else ''} or {0, state, epoch} when the claim
-- is lost (nothing is changed then).
local f = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'owner', 'revoke_reason', 'score', 'rank')
if f[1] ~= 'CLAIMED' or f[2] ~= ARGV[2] or f[3] ~= ARGV[3] then
  return {0, f[1] or 'GONE', f[2] or '0'}
end
local requeue = ARGV[4] == 'DONE' and f[4] and f[4] ~= ''
-- One HSET and one HDEL, whatever the outcome.
local set = {'state', ARGV[4]}
if requeue then
  set = {'state', 'UNCLAIMED', 'not_before', '0'}
end
if ARGV[5] ~= '' then
  table.insert(set, 'reason')
  table.insert(set, ARGV[5])
  redis.call('HDEL', KEYS[1], 'owner', 'expires_at')
else
  redis.call('HDEL', KEYS[1], 'owner', 'expires_at', 'reason')
end
redis.call('HSET', KEYS[1], unpack(set))
redis.call('ZREM', KEYS[2], ARGV[1])
if requeue then
  redis.call('ZADD', KEYS[3], f[5], f[6])
  redis.call('PUBLISH', ARGV[6], 'revoke')
  return {1, f[4]}
end
return {1, ''}
