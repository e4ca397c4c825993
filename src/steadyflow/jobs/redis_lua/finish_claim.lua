-- Complete a claim (finish.lua with DONE), then, only if that matched, claim the next job
-- for the same owner (claim.lua): one atomic step, one round trip.
-- The two scripts' sources are spliced in where the markers stand (RedisBoard loads
-- them), each as a function of its own KEYS and ARGV.
-- KEYS[1] job hash   KEYS[2] claimed (zset)   KEYS[3] ready (zset)   KEYS[4] delayed (zset)
-- ARGV[1] job id   ARGV[2] epoch   ARGV[3] owner   ARGV[4] channel   ARGV[5] job hash prefix
-- ARGV[6] ttl in microseconds
-- (Each key and argument is sent once, fewer to pack and to copy into Lua on every call.)
-- Returns {finish.lua's reply, claim.lua's reply when the finish matched, else false}.
local finish = function(KEYS, ARGV)
--@finish
end
local claim = function(KEYS, ARGV)
--@claim
end
local ended = finish({KEYS[1], KEYS[2], KEYS[3]}, {ARGV[1], ARGV[2], ARGV[3], 'DONE', '', ARGV[4]})
if ended[1] ~= 1 then
  return {ended, false}
end
return {ended, claim({KEYS[3], KEYS[4], KEYS[2]}, {ARGV[5], ARGV[3], ARGV[6]})}
