-- Claim a deployment for one call, atomically, for the whole fleet.
-- ARGV: prefix, chosen (1-based index into the peers below), lease id, tokens, enforce (0/1),
--       lease ttl ms, least busy (0/1), then per peer: deployment id, request limit per 10 s
--       (-1: none), token limit per 60 s (-1: none), candidate (0/1).
-- With least busy = 1 the candidate with the fewest calls in flight fleet-wide is chosen here,
-- atomically (the caller's choice wins ties). Refuses when the chosen deployment cools down, or
-- (enforce=1) when the call does not fit its sliding windows or the upstream's remaining-quota
-- hint. Otherwise it takes an in-flight lease (expiring unless renewed) and charges the windows.
-- Returns {granted 0/1, wait ms (-1: never fits), chosen index, then per peer: in flight,
--          cooldown ms left, requests in 10 s, tokens in 60 s, latency us (-1: unknown)}.
local p = ARGV[1]
local chosen = tonumber(ARGV[2])
local lease = ARGV[3]
local tokens = tonumber(ARGV[4])
local enforce = ARGV[5] == '1'
local ttl = tonumber(ARGV[6])
local least_busy = ARGV[7] == '1'
local FIELDS, BASE = 4, 7
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function expire(dep)
  redis.call('ZREMRANGEBYSCORE', p .. 'lease:' .. dep, '-inf', now)
  redis.call('ZREMRANGEBYSCORE', p .. 'req:' .. dep, '-inf', now - 10000)
  local tok = p .. 'tok:' .. dep
  local old = redis.call('ZRANGEBYSCORE', tok, '-inf', now - 60000)
  if #old > 0 then
    local gone = 0
    for _, member in ipairs(old) do
      gone = gone + tonumber(string.match(member, ':(%d+)$'))
    end
    redis.call('ZREMRANGEBYSCORE', tok, '-inf', now - 60000)
    redis.call('DECRBY', p .. 'toksum:' .. dep, gone)
  end
end

local function token_wait(dep, used, limit)
  if tokens > limit then return -1 end
  local excess = used + tokens - limit
  local entries = redis.call('ZRANGE', p .. 'tok:' .. dep, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    excess = excess - tonumber(string.match(entries[i], ':(%d+)$'))
    if excess <= 0 then return tonumber(entries[i + 1]) + 60000 - now end
  end
  return 60000
end

local reply = {0, 0, 0}
local peers = (#ARGV - BASE) / FIELDS
local function arg(i, k) return ARGV[BASE + FIELDS * (i - 1) + k] end
for i = 1, peers do expire(arg(i, 1)) end
if least_busy then
  local best = redis.call('ZCARD', p .. 'lease:' .. arg(chosen, 1))
  for i = 1, peers do
    if arg(i, 4) == '1' then
      local busy = redis.call('ZCARD', p .. 'lease:' .. arg(i, 1))
      if busy < best then best, chosen = busy, i end
    end
  end
end
local chosen_id = arg(chosen, 1)
local req_limit = tonumber(arg(chosen, 2))
local tok_limit = tonumber(arg(chosen, 3))
reply[3] = chosen

local wait = 0
local cool = redis.call('PTTL', p .. 'cool:' .. chosen_id)
if cool > 0 then wait = cool end
local hint = p .. 'hint:' .. chosen_id
if wait == 0 and enforce then
  if req_limit >= 0 then
    local used = redis.call('ZCARD', p .. 'req:' .. chosen_id)
    if req_limit == 0 then
      wait = 60000
    elseif used >= req_limit then
      local oldest = redis.call('ZRANGE', p .. 'req:' .. chosen_id, used - req_limit, used - req_limit, 'WITHSCORES')
      wait = math.max(1, tonumber(oldest[2]) + 10000 - now)
    end
  end
  if tok_limit >= 0 then
    local used = tonumber(redis.call('GET', p .. 'toksum:' .. chosen_id) or '0')
    if used + tokens > tok_limit then
      local tw = token_wait(chosen_id, used, tok_limit)
      if tw < 0 then wait = -1 elseif wait >= 0 then wait = math.max(wait, tw, 1) end
    end
  end
  if wait >= 0 then
    local left = redis.call('HMGET', hint, 'requests', 'tokens')
    local hint_ms = redis.call('PTTL', hint)
    if hint_ms > 0 and ((left[1] and tonumber(left[1]) < 1) or (left[2] and tonumber(left[2]) < tokens)) then
      wait = math.max(wait, hint_ms)
    end
  end
end

if wait == 0 then
  reply[1] = 1
  redis.call('ZADD', p .. 'lease:' .. chosen_id, now + ttl, lease)
  redis.call('PEXPIRE', p .. 'lease:' .. chosen_id, ttl * 2)
  if req_limit >= 0 or tok_limit >= 0 then
    redis.call('ZADD', p .. 'req:' .. chosen_id, now, lease)
    redis.call('ZADD', p .. 'tok:' .. chosen_id, now, lease .. ':' .. tokens)
    redis.call('INCRBY', p .. 'toksum:' .. chosen_id, tokens)
    redis.call('PEXPIRE', p .. 'req:' .. chosen_id, 70000)
    redis.call('PEXPIRE', p .. 'tok:' .. chosen_id, 70000)
    redis.call('PEXPIRE', p .. 'toksum:' .. chosen_id, 70000)
  end
  if redis.call('EXISTS', hint) == 1 then
    if redis.call('HEXISTS', hint, 'requests') == 1 then redis.call('HINCRBY', hint, 'requests', -1) end
    if redis.call('HEXISTS', hint, 'tokens') == 1 then redis.call('HINCRBY', hint, 'tokens', -tokens) end
  end
end
reply[2] = wait

for i = 1, peers do
  local dep = arg(i, 1)
  local latency = redis.call('HGET', p .. 'latency', dep)
  local cooling = redis.call('PTTL', p .. 'cool:' .. dep)
  table.insert(reply, redis.call('ZCARD', p .. 'lease:' .. dep))
  table.insert(reply, cooling > 0 and cooling or 0)
  table.insert(reply, redis.call('ZCARD', p .. 'req:' .. dep))
  table.insert(reply, tonumber(redis.call('GET', p .. 'toksum:' .. dep) or '0'))
  table.insert(reply, latency and tonumber(latency) or -1)
end
return reply
