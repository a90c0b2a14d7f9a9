-- Start a budget counter with no state at a given spend (nano-USD); 1 if it did, else 0.
-- ARGV: prefix, counter, spent, seconds to keep it (-1: no expiry).
local budget = ARGV[1] .. 'budget:' .. ARGV[2]
if redis.call('EXISTS', budget) == 1 or redis.call('EXISTS', budget .. ':res') == 1 then return 0 end
redis.call('HSET', budget, 'spent', ARGV[3])
if tonumber(ARGV[4]) > 0 then redis.call('EXPIRE', budget, ARGV[4]) end
return 1
