-- The server's clock and the next moment a job becomes claimable without anyone
-- touching the board (a claim running out, an abandon delay ending), past ones excluded:
-- what is claimable now was offered to the caller's last claim already.
-- KEYS[1] delayed (zset)   KEYS[2] claimed (zset)
-- Returns {now, earliest or ''}, both in microseconds since the epoch.
local t = redis.call('TIME')
local now = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
local earliest = nil
for _, key in ipairs(KEYS) do
  local first = redis.call('ZRANGEBYSCORE', key, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #first > 0 then
    local at = tonumber(first[2])
    if earliest == nil or at < earliest then
      earliest = at
    end
  end
end
if earliest == nil then
  return {now, ''}
end
return {now, string.format('%.0f', earliest)}
