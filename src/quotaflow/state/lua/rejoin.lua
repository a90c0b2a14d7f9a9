-- A replica that decided alone while Redis was away hands over what it did meanwhile.
-- ARGV: prefix, replica id, ttl ms, then groups of five: deployment id, lease id, tokens,
--       age ms (how long ago the call was sent), open (1: still in flight) / windowed (2: the
--       deployment keeps windows) as a bit set.
local p = ARGV[1]
local ttl = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', p .. 'replicas', now + ttl, ARGV[2])
for i = 4, #ARGV, 5 do
  local dep, lease, tokens = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local at = now - tonumber(ARGV[i + 3])
  local flags = tonumber(ARGV[i + 4])
  if flags % 2 == 1 then
    redis.call('ZADD', p .. 'lease:' .. dep, now + ttl, lease)
  end
  if flags >= 2 and at > now - 60000 then
    if at > now - 10000 then redis.call('ZADD', p .. 'req:' .. dep, at, lease) end
    if redis.call('ZADD', p .. 'tok:' .. dep, at, lease .. ':' .. tokens) == 1 then
      redis.call('INCRBY', p .. 'toksum:' .. dep, tokens)
    end
    redis.call('PEXPIRE', p .. 'req:' .. dep, 70000)
    redis.call('PEXPIRE', p .. 'tok:' .. dep, 70000)
    redis.call('PEXPIRE', p .. 'toksum:' .. dep, 70000)
  end
end
return 1
