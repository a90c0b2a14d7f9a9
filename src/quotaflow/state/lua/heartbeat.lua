-- A replica says it is alive, renews the leases of its open calls and publishes its queue.
-- ARGV: prefix, replica id, ttl ms, calls waiting in its admission queue, then pairs of
--       (deployment id, lease id) to renew.
-- Returns {live replicas, calls waiting fleet-wide}.
local p = ARGV[1]
local replica = ARGV[2]
local ttl = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', p .. 'replicas', now + ttl, replica)
redis.call('ZREMRANGEBYSCORE', p .. 'replicas', '-inf', now)
redis.call('HSET', p .. 'queue', replica, ARGV[4])
for i = 5, #ARGV, 2 do
  redis.call('ZADD', p .. 'lease:' .. ARGV[i], 'XX', now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', p .. 'lease:' .. ARGV[i], ttl * 2)
end
local waiting = 0
local queue = redis.call('HGETALL', p .. 'queue')
for i = 1, #queue, 2 do
  if redis.call('ZSCORE', p .. 'replicas', queue[i]) then
    waiting = waiting + tonumber(queue[i + 1])
  else
    redis.call('HDEL', p .. 'queue', queue[i])
  end
end
return {redis.call('ZCARD', p .. 'replicas'), waiting}
