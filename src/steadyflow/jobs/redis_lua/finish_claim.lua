-- Complete a claim (finish.lua with DONE), then, only if that matched, claim the next job
-- for the same owner (claim.lua): one atomic step, one round trip.
-- The two scripts' sources are spliced in where the markers stand (RedisBoard loads
-- them), each as a function of its own KEYS and ARGV.
-- KEYS[1..3] finish.lua's keys   KEYS[4..6] claim.lua's keys
-- ARGV[1..6] finish.lua's arguments   ARGV[7..9] claim.lua's arguments
-- Returns {finish.lua's reply, claim.lua's reply when the finish matched, else false}.
local finish = function(KEYS, ARGV)
--@finish
end
local claim = function(KEYS, ARGV)
--@claim
end
local ended = finish({KEYS[1], KEYS[2], KEYS[3]}, {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]})
if ended[1] ~= 1 then
  return {ended, false}
end
return {ended, claim({KEYS[4], KEYS[5], KEYS[6]}, {ARGV[7], ARGV[8], ARGV[9]})}
