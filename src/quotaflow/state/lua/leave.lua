-- A replica shuts down: it leaves the fleet and gives back any lease it still holds.
-- ARGV: prefix, replica id, then pairs of (deployment id, lease id).
local p = ARGV[1]
redis.call('ZREM', p .. 'replicas', ARGV[2])
redis.call('HDEL', p .. 'queue', ARGV[2])
for i = 3, #ARGV, 2 do
  redis.call('ZREM', p .. 'lease:' .. ARGV[i], ARGV[i + 1])
end
return 1
