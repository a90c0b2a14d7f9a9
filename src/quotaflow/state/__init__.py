"""What replicas share: in-flight leases, usage windows, cooldowns, latency, the fleet's queue.

``StateBackend`` is the seam the router claims and releases deployments through. ``LocalState``
keeps everything in this process (one replica, the default); ``RedisState`` makes every claim
and release one atomic round trip to Redis (Lua scripts in ``lua/``), and falls back to
``LocalState`` with a share of each quota while Redis is unreachable.

Must not import the server or the router (only the routing package's data types).
"""

from quotaflow.state.base import (
    Claim,
    SharedScripts,
    StateBackend,
    StateStatus,
    StateUnavailable,
)
from quotaflow.state.local import LocalState

__all__ = [
    "Claim",
    "LocalState",
    "SharedScripts",
    "StateBackend",
    "StateStatus",
    "StateUnavailable",
]
