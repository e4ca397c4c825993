-- Post a job, or return the one already posted under the same idempotency key.
-- KEYS[1] key index (hash: idempotency key -> job id)   KEYS[2] sequence counter
-- KEYS[3] ready (zset)   KEYS[4] all jobs in claim order (zset)
-- ARGV[1] job hash prefix   ARGV[2] job id   ARGV[3] idempotency key, or ''
-- ARGV[4] the job's fixed fields as JSON   ARGV[5] score (-priority)   ARGV[6] channel
-- Returns {1, created_at} for a new job, {0, the existing job's row (RedisBoard._ROW)...}.
if ARGV[3] ~= '' and redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[2]) == 0 then
  local existing = redis.call('HGET', KEYS[1], ARGV[3])
  if redis.call('EXISTS', ARGV[1] .. existing) == 1 then
    -- The job's fields, in the order RedisBoard._ROW names them.
    local row = redis.call('HMGET', ARGV[1] .. existing, 'doc', 'rank', 'created_at', 'state',
      'reason', 'claims', 'owner', 'expires_at', 'epoch', 'not_before', 'revoke_reason')
    table.insert(row, 1, 0)
    return row
  end
  -- The job the key named was deleted (RedisBoard.drop): the key is free again.
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[2])
end
local t = redis.call('TIME')
local now = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
local seq = redis.call('INCR', KEYS[2])
local rank = string.format('%016d', seq) .. ':' .. ARGV[2]
local key = ARGV[1] .. ARGV[2]
redis.call('HSET', key, 'doc', ARGV[4], 'state', 'UNCLAIMED', 'claims', '0', 'epoch', '0',
  'not_before', '0', 'created_at', now, 'score', ARGV[5], 'rank', rank)
redis.call('ZADD', KEYS[3], ARGV[5], rank)
redis.call('ZADD', KEYS[4], ARGV[5], rank)
redis.call('PUBLISH', ARGV[6], 'post')
return {1, now}
