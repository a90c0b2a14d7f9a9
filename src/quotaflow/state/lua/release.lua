-- End one call's lease and record what it came to, atomically.
-- ARGV: prefix, deployment id, lease id, tokens, refund (0/1: the upstream did not count the
--       call), cooldown ms (0: none), latency us (-1: none), hint requests, hint tokens
--       (-1: unknown), hint ttl ms (0: no hint).
local p = ARGV[1]
local dep = ARGV[2]
local lease = ARGV[3]
local tokens = tonumber(ARGV[4])
redis.call('ZREM', p .. 'lease:' .. dep, lease)
if ARGV[5] == '1' then
  redis.call('ZREM', p .. 'req:' .. dep, lease)
  if redis.call('ZREM', p .. 'tok:' .. dep, lease .. ':' .. tokens) == 1 then
    redis.call('DECRBY', p .. 'toksum:' .. dep, tokens)
  end
end
local cool_ms = tonumber(ARGV[6])
if cool_ms > 0 and redis.call('PTTL', p .. 'cool:' .. dep) < cool_ms then
  redis.call('SET', p .. 'cool:' .. dep, '1', 'PX', cool_ms)
end
local latency = tonumber(ARGV[7])
if latency >= 0 then
  local old = redis.call('HGET', p .. 'latency', dep)
  if old then latency = math.floor(tonumber(old) + 0.2 * (latency - tonumber(old))) end
  redis.call('HSET', p .. 'latency', dep, latency)
end
local hint_ttl = tonumber(ARGV[10])
if hint_ttl > 0 then
  local hint = p .. 'hint:' .. dep
  redis.call('DEL', hint)
  if tonumber(ARGV[8]) >= 0 then redis.call('HSET', hint, 'requests', ARGV[8]) end
  if tonumber(ARGV[9]) >= 0 then redis.call('HSET', hint, 'tokens', ARGV[9]) end
  redis.call('PEXPIRE', hint, hint_ttl)
end
return 1
