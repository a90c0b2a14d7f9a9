-- Take a deployment's probe lease for one interval, so that the fleet probes it once per interval.
-- ARGV: prefix, deployment id, replica id, interval in milliseconds.
-- Returns {1, 0} when this replica took the lease, else {0, milliseconds until the lease ends}.
local key = ARGV[1] .. 'probe:' .. ARGV[2]
if redis.call('SET', key, ARGV[3], 'NX', 'PX', ARGV[4]) then
  return {1, 0}
end
return {0, redis.call('PTTL', key)}
