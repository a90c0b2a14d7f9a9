-- Append changes to the fleet's change log (capped) and bump its version, in one step.
-- ARGV: prefix, capacity, then changes ("kind:ident"). Returns the new version.
local p, capacity = ARGV[1], tonumber(ARGV[2])
local log = p .. 'changes'
local version = 0
for i = 3, #ARGV do
  version = redis.call('INCR', p .. 'changes:version')
  redis.call('RPUSH', log, ARGV[i])
end
local excess = redis.call('LLEN', log) - capacity
if excess > 0 then redis.call('LTRIM', log, excess, -1) end
return version
