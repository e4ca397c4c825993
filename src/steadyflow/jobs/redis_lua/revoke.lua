-- Ask for a job to be undone. Unclaimed and never claimed: trashed at once. Done: made
-- claimable again so that a conductor reverts its flow. Otherwise the request is stored
-- on the job for its owner (or the next claimer) to obey. Trashed jobs are left alone.
-- KEYS[1] job hash   KEYS[2] ready (zset)   KEYS[3] delayed (zset)
-- ARGV[1] job id   ARGV[2] reason   ARGV[3] channel
-- Returns the job's row (RedisBoard._ROW), or false when there is no such job.
local function row()
  -- The job's fields, in the order RedisBoard._ROW names them.
  return redis.call('HMGET', KEYS[1], 'doc', 'rank', 'created_at', 'state', 'reason', 'claims', 'owner', 'expires_at', 'epoch',
    'not_before', 'revoke_reason')
end
local f = redis.call('HMGET', KEYS[1], 'state', 'claims', 'score', 'rank')
if not f[1] then
  return false
end
if f[1] == 'TRASHED' then
  return row()
end
if f[1] == 'UNCLAIMED' and f[2] == '0' then
  redis.call('HSET', KEYS[1], 'state', 'TRASHED', 'reason', ARGV[2], 'revoke_reason', ARGV[2])
  redis.call('ZREM', KEYS[2], f[4])
  redis.call('ZREM', KEYS[3], ARGV[1])
elseif f[1] == 'DONE' then
  redis.call('HSET', KEYS[1], 'state', 'UNCLAIMED', 'revoke_reason', ARGV[2], 'not_before', '0')
  redis.call('ZADD', KEYS[2], f[3], f[4])
else
  redis.call('HSET', KEYS[1], 'revoke_reason', ARGV[2])
end
redis.call('PUBLISH', ARGV[3], 'revoke')
return row()
