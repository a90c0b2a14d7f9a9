-- Settle one admitted call, once: true tokens replace the estimate, the lease and the
-- reservation end, the cost is added to each budget's spend (see limits/counters.py).
-- ARGV: prefix, ticket id, second, estimated tokens, true tokens, cost (nano-USD), then per scope
--       three values: scope id, counted in a window (0/1), budget counter ("" : none).
-- Returns 1 when settled, 0 when the ticket was unknown or settled already.
local p = ARGV[1]
local ticket = ARGV[2]
if redis.call('DEL', p .. 'ticket:' .. ticket) == 0 then return 0 end
local second = ARGV[3]
local delta = tonumber(ARGV[5]) - tonumber(ARGV[4])
local cost = tonumber(ARGV[6])
for i = 7, #ARGV, 3 do
  local scope, windowed, counter = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if windowed == '1' then
    local wt = p .. 'lim:' .. scope .. ':wt'
    local counted = redis.call('HGET', wt, second)
    if counted then redis.call('HSET', wt, second, math.max(tonumber(counted) + delta, 0)) end
  end
  redis.call('ZREM', p .. 'lim:' .. scope .. ':lease', ticket)
  if counter ~= '' then
    local budget = p .. 'budget:' .. counter
    redis.call('ZREM', budget .. ':res', ticket)
    redis.call('HDEL', budget .. ':amt', ticket)
    redis.call('HINCRBY', budget, 'spent', cost)
  end
end
return 1
