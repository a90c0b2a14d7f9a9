"""``HealthTracker``: in-flight counts and cooldowns per deployment, in this process.

Counts are changed only through ``acquire``/``release`` pairs that the router holds in
``try/finally`` (or a stream's ``finally``), so they cannot drift. With several replicas,
``merge_fleet`` adds the calls the others have open, their cooldowns and the fleet's latency,
as the shared state last reported them.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from quotaflow.errors import Fault, UpstreamError, UpstreamRateLimited

if TYPE_CHECKING:
    from collections.abc import Iterable

    from quotaflow.clock import Clock
    from quotaflow.routing.deployment import Deployment

__all__ = ["HealthTracker"]

_FAILURE_WINDOW_S = 60.0
_LATENCY_WEIGHT = 0.2  # of the newest sample in the moving average


class HealthTracker:
    """Which deployments may take a call now, and how busy each one is."""

    def __init__(self, clock: Clock, *, cooldown_s: float, allowed_fails: int) -> None:
        self._clock = clock
        self._cooldown_s = cooldown_s
        self._allowed_fails = allowed_fails
        self._in_flight: dict[str, int] = {}
        self._cooling_until: dict[str, float] = {}
        self._failures: dict[str, deque[float]] = {}
        self._latency: dict[str, float] = {}
        self._fleet_in_flight: dict[str, int] = {}  # calls the other replicas have open

    def in_flight(self, deployment_id: str) -> int:
        """Calls now open on the deployment (by the whole fleet, as last reported)."""
        return self._in_flight.get(deployment_id, 0) + self._fleet_in_flight.get(deployment_id, 0)

    def own_in_flight(self, deployment_id: str) -> int:
        """Calls this process has open on the deployment."""
        return self._in_flight.get(deployment_id, 0)

    def merge_fleet(
        self, deployment_id: str, in_flight: int, cooling_s: float, latency_s: float | None
    ) -> None:
        """The fleet's view of the deployment, just read from the shared state."""
        self._fleet_in_flight[deployment_id] = max(0, in_flight - self.own_in_flight(deployment_id))
        if cooling_s > 0:
            self.cool(deployment_id, cooling_s)
        if latency_s is not None:
            self._latency[deployment_id] = latency_s

    def forget_fleet(self) -> None:
        """Drop the other replicas' counts: this process decides alone from now on."""
        self._fleet_in_flight.clear()

    def cool(self, deployment_id: str, seconds: float) -> None:
        """Skip the deployment for ``seconds`` (a cooldown never shortens)."""
        until = self._clock.monotonic() + seconds
        if until > self._cooling_until.get(deployment_id, 0.0):
            self._cooling_until[deployment_id] = until

    def acquire(self, deployment_id: str) -> None:
        """Count one more call in flight."""
        self._in_flight[deployment_id] = self._in_flight.get(deployment_id, 0) + 1

    def release(self, deployment_id: str) -> None:
        """Count one call fewer in flight."""
        self._in_flight[deployment_id] -= 1

    def cooling_until(self, deployment_id: str) -> float:
        """Monotonic time the deployment's cooldown ends; in the past when it is healthy."""
        return self._cooling_until.get(deployment_id, 0.0)

    def available(self, deployments: Iterable[Deployment]) -> list[Deployment]:
        """The deployments not cooling down."""
        cooling = self._cooling_until
        if not cooling:
            return list(deployments)
        now = self._clock.monotonic()
        for deployment_id in [k for k, until in cooling.items() if until <= now]:
            del cooling[deployment_id]
        return [d for d in deployments if d.id not in cooling]

    def record_failure(self, deployment_id: str, error: UpstreamError) -> float:
        """Note a failed call; returns the cooldown applied in seconds (0 when none)."""
        now = self._clock.monotonic()
        if not self._should_cool(deployment_id, error, now):
            return 0.0
        seconds = error.retry_after_s if error.retry_after_s is not None else self._cooldown_s
        if seconds > 0:
            self.cool(deployment_id, seconds)
        return seconds

    def record_success(self, deployment_id: str, latency_s: float) -> None:
        """A call succeeded in ``latency_s`` (to the first token for streams)."""
        self._failures.pop(deployment_id, None)
        previous = self._latency.get(deployment_id)
        self._latency[deployment_id] = (
            latency_s if previous is None else previous + _LATENCY_WEIGHT * (latency_s - previous)
        )

    def latency(self, deployment_id: str) -> float | None:
        """Moving average of recent latencies in seconds; ``None`` before the first success."""
        return self._latency.get(deployment_id)

    def _should_cool(self, deployment_id: str, error: UpstreamError, now: float) -> bool:
        if isinstance(error, UpstreamRateLimited) or error.fault is Fault.DEPLOYMENT:
            return True
        failures = self._failures.setdefault(deployment_id, deque())
        failures.append(now)
        while failures and failures[0] <= now - _FAILURE_WINDOW_S:
            failures.popleft()
        return len(failures) > self._allowed_fails
