-- The settled spend (nano-USD) of each budget counter; ARGV: prefix, counters.
local reply = {}
for i = 2, #ARGV do
  table.insert(reply, tonumber(redis.call('HGET', ARGV[1] .. 'budget:' .. ARGV[i], 'spent') or '0'))
end
return reply
