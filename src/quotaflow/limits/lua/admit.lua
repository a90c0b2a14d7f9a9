-- Admit one call against every scope's limits, all or nothing (see limits/counters.py).
-- ARGV: prefix, now (seconds, the caller's wall clock), ticket id, tokens, cost (nano-USD),
--       lease ttl (seconds), then per scope seven values: scope id, rpm, tpm, parallel (-1:
--       none), budget counter ("" : none), budget max (nano-USD), period end (seconds, -1: none).
-- Returns {1, second, then per scope: requests left, tokens left, budget spent (-1: none)}
--      or {0, scope index (1-based), kind, retry after ("" : none), spent, reserved (nano-USD)}.
local p = ARGV[1]
local now = tonumber(ARGV[2])
local ticket = ARGV[3]
local tokens = tonumber(ARGV[4])
local cost = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local second = math.floor(now)
local WINDOW = 60
local scopes = (#ARGV - 6) / 7
local function arg(i, k) return ARGV[6 + 7 * (i - 1) + k] end

-- A scope's window: requests and tokens per second (hashes), trimmed to the last 60 seconds.
local function window(scope)
  local wr, wt = p .. 'lim:' .. scope .. ':wr', p .. 'lim:' .. scope .. ':wt'
  local seconds, requests, spent = {}, 0, 0
  local fields = redis.call('HGETALL', wr)
  for j = 1, #fields, 2 do
    local s = tonumber(fields[j])
    if s <= second - WINDOW then
      redis.call('HDEL', wr, fields[j])
      redis.call('HDEL', wt, fields[j])
    else
      table.insert(seconds, s)
      requests = requests + tonumber(fields[j + 1])
    end
  end
  table.sort(seconds)
  local counts = {}
  for _, s in ipairs(seconds) do
    local r = tonumber(redis.call('HGET', wr, s) or '0')
    local t = tonumber(redis.call('HGET', wt, s) or '0')
    counts[#counts + 1] = {s, r, t}
    spent = spent + t
  end
  return counts, requests, spent
end

-- Seconds until at least `excess` of column `col` (2: requests, 3: tokens) left the window.
local function wait_until_below(counts, col, excess)
  local dropped = 0
  for _, c in ipairs(counts) do
    dropped = dropped + c[col]
    if dropped >= excess then return math.max(c[1] + WINDOW - now, 0) end
  end
  return WINDOW
end

local function reserved(counter)
  local res, amounts = p .. 'budget:' .. counter .. ':res', p .. 'budget:' .. counter .. ':amt'
  for _, gone in ipairs(redis.call('ZRANGEBYSCORE', res, '-inf', now)) do
    redis.call('HDEL', amounts, gone)
  end
  redis.call('ZREMRANGEBYSCORE', res, '-inf', now)
  local total = 0
  for _, amount in ipairs(redis.call('HVALS', amounts)) do total = total + tonumber(amount) end
  return total
end

local windows = {}
for i = 1, scopes do
  local scope, rpm, tpm, parallel = arg(i, 1), tonumber(arg(i, 2)), tonumber(arg(i, 3)), tonumber(arg(i, 4))
  local counter = arg(i, 5)
  if counter ~= '' then
    local spent = tonumber(redis.call('HGET', p .. 'budget:' .. counter, 'spent') or '0')
    local held = reserved(counter)
    if spent + held >= tonumber(arg(i, 6)) then
      local ends = tonumber(arg(i, 7))
      local wait = ends >= 0 and tostring(math.max(ends - now, 0)) or ''
      return {0, i, 'budget', wait, spent, held}
    end
  end
  if rpm >= 0 or tpm >= 0 or parallel >= 0 then
    local counts, requests, used = window(scope)
    windows[i] = {requests, used}
    if rpm >= 0 and requests + 1 > rpm then
      local wait = rpm > 0 and wait_until_below(counts, 2, requests + 1 - rpm) or WINDOW
      return {0, i, 'rpm', tostring(wait), 0, 0}
    end
    if tpm >= 0 and used >= tpm then
      local wait = tpm > 0 and wait_until_below(counts, 3, used - tpm + 1) or WINDOW
      return {0, i, 'tpm', tostring(wait), 0, 0}
    end
    if parallel >= 0 then
      local leases = p .. 'lim:' .. scope .. ':lease'
      redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
      if redis.call('ZCARD', leases) + 1 > parallel then
        return {0, i, 'parallel', '1', 0, 0}
      end
    end
  end
end

local reply = {1, second}
for i = 1, scopes do
  local scope, rpm, tpm, parallel = arg(i, 1), tonumber(arg(i, 2)), tonumber(arg(i, 3)), tonumber(arg(i, 4))
  local left_requests, left_tokens = -1, -1
  if rpm >= 0 or tpm >= 0 then
    local wr, wt = p .. 'lim:' .. scope .. ':wr', p .. 'lim:' .. scope .. ':wt'
    redis.call('HINCRBY', wr, second, 1)
    redis.call('HINCRBY', wt, second, tokens)
    redis.call('EXPIRE', wr, WINDOW * 2)
    redis.call('EXPIRE', wt, WINDOW * 2)
    if rpm >= 0 then left_requests = math.max(rpm - windows[i][1] - 1, 0) end
    if tpm >= 0 then left_tokens = math.max(tpm - windows[i][2] - tokens, 0) end
  end
  if parallel >= 0 then
    local leases = p .. 'lim:' .. scope .. ':lease'
    redis.call('ZADD', leases, now + ttl, ticket)
    redis.call('EXPIRE', leases, math.ceil(ttl) * 2)
  end
  local counter = arg(i, 5)
  local spent = -1
  if counter ~= '' then
    local budget = p .. 'budget:' .. counter
    spent = tonumber(redis.call('HGET', budget, 'spent') or '0')
    redis.call('ZADD', budget .. ':res', now + ttl, ticket)
    redis.call('HSET', budget .. ':amt', ticket, cost)
    local ends = tonumber(arg(i, 7))
    if ends >= 0 then
      local keep = math.ceil(math.max(ends, now + ttl) - now) + 3600
      for _, key in ipairs({budget, budget .. ':res', budget .. ':amt'}) do
        redis.call('EXPIRE', key, keep)
      end
    end
  end
  table.insert(reply, left_requests)
  table.insert(reply, left_tokens)
  table.insert(reply, spent)
end
redis.call('SET', p .. 'ticket:' .. ticket, '1', 'EX', math.ceil(ttl) + 3600)
return reply
