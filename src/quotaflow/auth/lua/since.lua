-- The log's version and the changes after a cursor.
-- ARGV: prefix, cursor (-1: only the version). Returns {version, complete (0/1), changes...}:
-- complete = 0 when the log no longer reaches back to the cursor (reload everything).
local p, cursor = ARGV[1], tonumber(ARGV[2])
local version = tonumber(redis.call('GET', p .. 'changes:version') or '0')
if cursor < 0 or cursor >= version then return {version, 1} end
local length = redis.call('LLEN', p .. 'changes')
local first = version - length  -- the cursor of the log's first entry
if cursor < first then return {version, 0} end
local reply = {version, 1}
for _, change in ipairs(redis.call('LRANGE', p .. 'changes', cursor - first, -1)) do
  table.insert(reply, change)
end
return reply
