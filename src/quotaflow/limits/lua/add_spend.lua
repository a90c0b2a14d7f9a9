-- Add spend settled while Redis was away (nano-USD); ARGV: prefix, then (counter, amount) pairs.
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', ARGV[1] .. 'budget:' .. ARGV[i], 'spent', ARGV[i + 1])
end
return 1
