"""``StateBackend``: how the router claims a deployment for a call and gives it back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from quotaflow.errors import UpstreamError
    from quotaflow.providers.base import RateLimitHint
    from quotaflow.routing.deployment import Deployment
    from quotaflow.state.health import HealthTracker
    from quotaflow.state.usage import UsageWindows

__all__ = ["Claim", "SharedScripts", "StateBackend", "StateStatus", "StateUnavailable"]


class StateUnavailable(Exception):
    """The shared state did not answer in time; the caller decides alone this once."""


@dataclass(slots=True)
class Claim:
    """One call's hold on a deployment: its in-flight lease and the tokens it was charged.

    ``settle`` fills in what the call came to; ``release`` ends the lease and, for a shared
    claim, carries that outcome to the shared state in the same round trip.
    """

    deployment: Deployment
    tokens: int
    lease: str = ""
    shared: bool = False  # held in the shared state (else only in this process)
    claimed_at: float = 0.0  # monotonic
    refund: bool = False  # the upstream did not count the call: take its charge back
    cooldown_s: float = 0.0
    latency_s: float | None = None
    hint: RateLimitHint | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class StateStatus:
    """What readiness and metrics show about the state backend."""

    backend: str  # "memory" or "redis"
    degraded: bool = False  # Redis unreachable: deciding alone on local state
    replicas: int = 1  # live replicas last seen (this one included)
    fleet_waiting: int = 0  # calls waiting in every replica's admission queue
    detail: str = ""


class SharedScripts(Protocol):
    """Atomic scripts run in the shared state, for features built on it (key limits, budgets).

    A script's first argument is the key prefix (added here); ``StateUnavailable`` when the
    shared state is degraded or did not answer within its timeout (which degrades it).
    """

    @property
    def degraded(self) -> bool:
        """Whether the replica decides alone for now."""
        ...

    @property
    def replicas(self) -> int:
        """Live replicas last seen, this one included."""
        ...

    def script(self, source: str) -> Callable[[Sequence[str | int]], Awaitable[Any]]:
        """A function that runs the Lua ``source`` with the given arguments."""
        ...

    def on_rejoin(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` when the shared state answers again after an outage, before shared
        decisions resume (a hook that fails keeps the replica degraded until the next try)."""
        ...


class StateBackend(Protocol):
    """Claims and releases deployments; ``health`` and ``usage`` are what strategies read."""

    health: HealthTracker
    usage: UsageWindows

    async def start(self) -> None:
        """Connect and join the fleet (before the first claim)."""
        ...

    def watch_queue(self, waiting: Callable[[], int]) -> None:
        """Where to read how many calls wait in this process's admission queue."""
        ...

    async def claim(
        self,
        deployment: Deployment,
        peers: Sequence[Deployment],
        tokens: int,
        *,
        enforce: bool,
        least_busy: Sequence[Deployment] = (),
    ) -> Claim | None:
        """Take an in-flight lease on ``deployment`` and charge ``tokens``, or ``None``.

        ``None`` when the deployment cools down or, with ``enforce``, when the call does not fit
        its declared quota (``usage.headroom`` then tells how long until it does). ``peers``
        (the group's deployments, ``deployment`` among them) have their fleet view refreshed.
        ``least_busy``: candidates among which the one with the fewest calls in flight across
        the fleet is claimed instead (``deployment`` wins ties); the claim names the one taken.
        """
        ...

    def settle(
        self,
        claim: Claim,
        error: UpstreamError | None = None,
        *,
        latency_s: float | None = None,
        sent: bool = True,
    ) -> None:
        """Record what the call came to: a success and its latency, or the error (which may
        cool the deployment down). ``sent=False``: nothing reached the upstream."""
        ...

    def release(self, claim: Claim) -> None:
        """End the lease (exactly once per claim); never waits on I/O."""
        ...

    def status(self) -> StateStatus:
        """The backend's health, for readiness and metrics."""
        ...

    def shared(self) -> SharedScripts | None:
        """Scripts in the state the replicas share; ``None`` for one process's own state."""
        ...

    async def aclose(self) -> None:
        """Give back what this process holds and close connections."""
        ...
