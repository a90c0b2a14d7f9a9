"""``LocalState``: every deployment's leases, windows and cooldowns in this process only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quotaflow.errors import Fault, UpstreamRateLimited
from quotaflow.state.base import Claim, StateStatus
from quotaflow.state.health import HealthTracker
from quotaflow.state.usage import UsageWindows

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from quotaflow.clock import Clock
    from quotaflow.errors import UpstreamError
    from quotaflow.routing.deployment import Deployment

__all__ = ["LocalState"]


class LocalState:
    """The default backend: exact for one process, zero setup.

    ``share`` scales every declared quota to this process's part of it: ``1 / N`` for each of
    N workers that run without Redis, so that together they never exceed a quota.
    """

    def __init__(
        self, clock: Clock, *, cooldown_s: float, allowed_fails: int, share: float = 1.0
    ) -> None:
        self._clock = clock
        self.health = HealthTracker(clock, cooldown_s=cooldown_s, allowed_fails=allowed_fails)
        self.usage = UsageWindows(clock)
        self.usage.share = share
        self._share = share

    async def start(self) -> None:
        """Nothing to connect to."""

    def watch_queue(self, waiting: Callable[[], int]) -> None:
        """The local queue is the only one: nothing to publish."""

    def claim_now(self, deployment: Deployment, tokens: int, *, enforce: bool) -> Claim | None:
        """``claim`` without the coroutine: the whole decision is local."""
        if self.health.cooling_until(deployment.id) > self._clock.monotonic():
            return None
        if enforce and self.usage.headroom(deployment, tokens).wait_s > 0:
            return None
        self.health.acquire(deployment.id)
        self.usage.charge(deployment, tokens)
        return Claim(deployment, tokens, claimed_at=self._clock.monotonic())

    async def claim(
        self,
        deployment: Deployment,
        peers: Sequence[Deployment],
        tokens: int,
        *,
        enforce: bool,
        least_busy: Sequence[Deployment] = (),
    ) -> Claim | None:
        """See ``StateBackend.claim``; in one process the caller's choice is already exact."""
        return self.claim_now(deployment, tokens, enforce=enforce)

    def settle(
        self,
        claim: Claim,
        error: UpstreamError | None = None,
        *,
        latency_s: float | None = None,
        sent: bool = True,
    ) -> None:
        """See ``StateBackend.settle``."""
        deployment_id = claim.deployment.id
        if not sent:
            claim.refund = True
            self.usage.refund(claim.deployment, claim.tokens)
            return
        if error is None:
            if latency_s is not None:
                claim.latency_s = latency_s
                self.health.record_success(deployment_id, latency_s)
            return
        if error.fault is not Fault.REQUEST:
            claim.cooldown_s = self.health.record_failure(deployment_id, error)
        if isinstance(error, UpstreamRateLimited):
            claim.refund = True
            self.usage.refund(claim.deployment, claim.tokens)  # a refused call is not counted

    def release(self, claim: Claim) -> None:
        """See ``StateBackend.release``."""
        self.health.release(claim.deployment.id)

    def status(self) -> StateStatus:
        """Always healthy; ``detail`` says what a multi-worker setup without Redis gives up."""
        if self._share < 1.0:
            return StateStatus(
                "memory",
                detail=f"per-process state; each declared quota is split, {self._share:.3g} here",
            )
        return StateStatus("memory")

    def shared(self) -> None:
        """Nothing is shared."""

    async def aclose(self) -> None:
        """Nothing to close."""
