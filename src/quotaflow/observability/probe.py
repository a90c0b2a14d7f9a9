"""``HealthProbes``: an opt-in background probe of every deployment, on a schedule the fleet shares.

Off unless ``general_settings.background_health_checks``. Every ``health_check_interval``
seconds each deployment gets one minimal real call — a chat completion with ``max_tokens: 1``,
or a one-word embedding for an embedding model — built by its adapter and sent through the
shared ``UpstreamClient``. A probe goes through the router's state like a client's call: it
claims the deployment (so it counts in flight and against declared quotas, and is skipped while
the deployment cools down or has no quota left), and its result is settled the same way: a
failure may cool the deployment down, a success records its latency. Probes are billed calls;
that is why they are opt-in.

Shared schedule: before probing, a replica takes the deployment's probe lease — ``SET
<prefix>probe:<deployment> NX PX <interval>`` in one script (``lua/probe_lease.lua``). The first
replica to ask in an interval probes; the others learn how long the lease has left and ask
again then, so N replicas probe each deployment once per interval in total. Without Redis, or
while it does not answer, a replica keeps the leases in its own memory and probes each
deployment once per interval itself.

Each replica keeps the results of its own probes (``/health``, the probe metrics); the other
replicas' results reach it as the shared cooldowns and latency.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

from quotaflow._background import stop
from quotaflow.errors import ClientError, UpstreamError
from quotaflow.observability.metrics import PROBE_LATENCY, PROBE_UP, PROBES, attempt_outcome
from quotaflow.providers import Operation, create_adapter
from quotaflow.routing.estimate import arrival_tokens
from quotaflow.state import StateUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from quotaflow.clock import Clock
    from quotaflow.observability.metrics import GaugeFamily
    from quotaflow.observability.router_gauges import GaugeReader, Sample
    from quotaflow.providers import ProviderAdapter, UpstreamClient
    from quotaflow.routing.deployment import Deployment
    from quotaflow.routing.router import Router
    from quotaflow.state import Claim, SharedScripts

__all__ = ["HealthProbes", "LocalProbeLease", "ProbeLease", "ProbeResult", "SharedProbeLease"]

logger = logging.getLogger("quotaflow.observability")

OK = "ok"
SKIPPED = "skipped"  # cooling down or out of quota: no call was sent
UNSUPPORTED = "unsupported"  # the adapter refused to build the probe: no call was sent

_CHAT: dict[str, Any] = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
_EMBEDDING: dict[str, Any] = {"input": "ping"}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """How one probe ended: when (wall time), outcome, the upstream's status, latency."""

    at_s: float
    outcome: str
    status: int | None = None
    latency_s: float | None = None
    message: str = ""  # the error's message (safe to show), for a failed probe

    def as_json(self) -> dict[str, Any]:
        """The result as ``/health`` shows it."""
        at = datetime.fromtimestamp(self.at_s, UTC).isoformat(timespec="milliseconds")
        body: dict[str, Any] = {
            "at": at,
            "outcome": self.outcome,
            "status": self.status,
            "latency_ms": round(self.latency_s * 1000, 1) if self.latency_s is not None else None,
        }
        if self.message:
            body["error"] = self.message
        return body


class ProbeLease(Protocol):
    """Whose turn it is to probe a deployment."""

    async def take(self, deployment_id: str) -> float:
        """``0.0``: probe it now (the lease is this replica's for one interval); otherwise the
        seconds until the lease ends and it may be asked for again."""
        ...


class LocalProbeLease:
    """Leases in this process's memory: each deployment once per interval."""

    def __init__(self, clock: Clock, interval_s: float) -> None:
        self._clock = clock
        self._interval_s = interval_s
        self._until: dict[str, float] = {}

    async def take(self, deployment_id: str) -> float:
        """See ``ProbeLease.take``."""
        now = self._clock.monotonic()
        until = self._until.get(deployment_id, 0.0)
        if now < until:
            return until - now
        self._until[deployment_id] = now + self._interval_s
        return 0.0


def _lease_script() -> str:
    return resources.files("quotaflow.observability").joinpath("lua", "probe_lease.lua").read_text()


class SharedProbeLease:
    """Leases in the shared state (one atomic ``SET NX PX``); local ones while it is away."""

    def __init__(self, shared: SharedScripts, local: LocalProbeLease, interval_s: float) -> None:
        self._script = shared.script(_lease_script())
        self._local = local
        self._interval_ms = max(1, round(interval_s * 1000))
        self._replica = uuid.uuid4().hex[:12]

    async def take(self, deployment_id: str) -> float:
        """See ``ProbeLease.take``."""
        try:
            granted, wait_ms = await self._script([deployment_id, self._replica, self._interval_ms])
        except StateUnavailable:
            return await self._local.take(deployment_id)
        if int(granted):
            return 0.0
        return max(int(wait_ms), 1) / 1000


class HealthProbes:
    """Probes each deployment once per interval (fleet-wide) and keeps the results."""

    def __init__(
        self,
        router: Router,
        client: UpstreamClient,
        clock: Clock,
        lease: ProbeLease,
        *,
        interval_s: float,
        on_result: Callable[[Deployment, ProbeResult], None] | None = None,
    ) -> None:
        self._router = router
        self._client = client
        self._clock = clock
        self._lease = lease
        self.interval_s = interval_s
        self._on_result = on_result
        self.deployments = [d for group in router.groups.values() for d in group.deployments]
        self._by_id = {d.id: d for d in self.deployments}
        self._adapters: dict[str, ProviderAdapter] = {
            d.id: create_adapter(d) for d in self.deployments
        }
        self.results: dict[str, ProbeResult] = {}
        self.counts: Counter[tuple[str, str]] = Counter()  # (deployment id, outcome) → probes
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """One background task per deployment."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._forever(d), name=f"quotaflow-probe-{d.id}")
            for d in self.deployments
        ]

    async def stop(self) -> None:
        """Cancel the tasks (a probe in flight releases its claim as it is cancelled)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            await stop(task)

    def last(self, deployment_id: str) -> dict[str, Any] | None:
        """The deployment's last probe, as ``/health`` shows it; ``None`` before the first."""
        result = self.results.get(deployment_id)
        return result.as_json() if result is not None else None

    async def turn(self, deployment: Deployment) -> float:
        """Probe ``deployment`` if it is this replica's turn; seconds until its next turn."""
        cooling_s = self._router.health.cooling_until(deployment.id) - self._clock.monotonic()
        if cooling_s > 0:  # a probe could not end the cooldown: ask again once it is over
            return min(cooling_s, self.interval_s)
        wait_s = await self._lease.take(deployment.id)
        if wait_s > 0:
            return wait_s
        await self.probe(deployment)
        return self.interval_s

    async def probe(self, deployment: Deployment) -> ProbeResult:
        """Send one probe now, through the router's state; record and return how it ended."""
        router = self._router
        op = Operation.EMBEDDING if self._mode(deployment) == "embedding" else Operation.CHAT
        payload = {"model": deployment.model_group}
        payload.update(_EMBEDDING if op is Operation.EMBEDDING else _CHAT)
        tokens = arrival_tokens(op, payload, 1)
        peers = router.groups[deployment.model_group].deployments
        claim = await router.state.claim(deployment, peers, tokens, enforce=True)
        if claim is None:
            return self._record(deployment, ProbeResult(self._clock.wall(), SKIPPED))
        try:
            result = await self._send(claim, op, payload)
        finally:
            router.state.release(claim)
            router.queue.notify(deployment.model_group)
        return self._record(deployment, result)

    def sources(self) -> list[tuple[GaugeFamily, GaugeReader]]:
        """The probe metrics, read at scrape time."""

        def labels(deployment_id: str) -> tuple[str, str, str]:
            d = self._by_id[deployment_id]
            return d.model_group, d.id, d.provider

        def counts() -> list[Sample]:
            return [((*labels(i), o), float(n)) for (i, o), n in self.counts.items()]

        def up() -> list[Sample]:
            return [
                (labels(i), 1.0 if r.outcome == OK else 0.0)
                for i, r in self.results.items()
                if r.outcome != SKIPPED
            ]

        def latency() -> list[Sample]:
            return [
                (labels(i), r.latency_s) for i, r in self.results.items() if r.latency_s is not None
            ]

        return [(PROBES, counts), (PROBE_UP, up), (PROBE_LATENCY, latency)]

    # -- internals -------------------------------------------------------------------------

    def _mode(self, deployment: Deployment) -> str:
        spec = self._router.prices.get(deployment.id)
        return spec.mode if spec is not None else "chat"

    async def _send(self, claim: Claim, op: Operation, payload: dict[str, Any]) -> ProbeResult:
        deployment, state = claim.deployment, self._router.state
        adapter = self._adapters[deployment.id]
        timeout_s = min(deployment.timeout_s, self.interval_s)
        started = self._clock.monotonic()
        try:
            request = adapter.build_request(op, payload, stream=False)
            raw = await self._client.send(request, timeout_s=timeout_s)
            if raw.status >= 300:
                raise adapter.classify_error(raw.status, raw.headers, raw.body)
            self._router.usage.observe(deployment.id, adapter.rate_limit_hint(raw.headers))
            adapter.parse_reply(op, payload, raw.body, raw.headers)
        except UpstreamError as error:
            state.settle(claim, error)
            outcome = attempt_outcome(type(error).__name__)
            status = error.upstream_status
            return ProbeResult(self._clock.wall(), outcome, status, message=error.message)
        except ClientError as error:  # refused before sending: nothing reached the upstream
            state.settle(claim, sent=False)
            return ProbeResult(self._clock.wall(), UNSUPPORTED, message=error.message)
        latency_s = self._clock.monotonic() - started
        state.settle(claim, latency_s=latency_s)
        return ProbeResult(self._clock.wall(), OK, raw.status, latency_s)

    def _record(self, deployment: Deployment, result: ProbeResult) -> ProbeResult:
        self.counts[deployment.id, result.outcome] += 1
        if result.outcome != SKIPPED or deployment.id not in self.results:
            self.results[deployment.id] = result
        if self._on_result is not None:
            self._on_result(deployment, result)
        return result

    async def _forever(self, deployment: Deployment) -> None:
        while True:
            try:
                wait_s = await self.turn(deployment)
            except Exception:
                logger.exception("background probe of %s failed", deployment.id)
                wait_s = self.interval_s
            await self._clock.sleep(wait_s)
