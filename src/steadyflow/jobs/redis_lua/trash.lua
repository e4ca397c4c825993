-- An operator's trash: an UNCLAIMED job, or a CLAIMED one whose claim ran out (on this
-- server's clock), becomes TRASHED with the reason. A live claim or a DONE job is
-- refused; a TRASHED job is left as it is.
-- KEYS[1] job hash   KEYS[2] ready (zset)   KEYS[3] delayed (zset)   KEYS[4] claimed (zset)
-- ARGV[1] job id   ARGV[2] reason
-- Returns false when there is no such job, else {verdict, the job's row (RedisBoard._ROW)...}
-- with verdict 'trashed', 'already' (it was TRASHED), 'running' or 'done' (refused).
local function answer(verdict)
  -- The job's fields, in the order RedisBoard._ROW names them.
  local row = redis.call('HMGET', KEYS[1], 'doc', 'rank', 'created_at', 'state', 'reason', 'claims', 'owner', 'expires_at', 'epoch',
    'not_before', 'revoke_reason')
  table.insert(row, 1, verdict)
  return row
end
local f = redis.call('HMGET', KEYS[1], 'state', 'expires_at', 'rank')
if not f[1] then
  return false
end
if f[1] == 'TRASHED' then
  return answer('already')
end
if f[1] == 'DONE' then
  return answer('done')
end
if f[1] == 'CLAIMED' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if f[2] and tonumber(f[2]) > now then
    return answer('running')
  end
end
redis.call('HSET', KEYS[1], 'state', 'TRASHED', 'reason', ARGV[2])
redis.call('HDEL', KEYS[1], 'owner', 'expires_at')
redis.call('ZREM', KEYS[2], f[3])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return answer('trashed')
