"""``Router``: pick a deployment, call it, and on failure cool it down and try another.

The loop for one call: healthy, untried deployments of the group, narrowed to the best ``order``
tier → the strategy picks one → the attempt runs with the deployment counted in flight → on an
upstream error its ``fault`` decides: ``request`` goes back to the client unchanged, anything
else cools the deployment down (for the upstream's retry-after, or ``cooldown_time``) and the
next attempt goes elsewhere at once. Only when no deployment is healthy does the router wait,
for the soonest cooldown to end. A stream is committed to a deployment once its first chunk
arrived; only then is it handed to the caller, so failover never shows.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from quotaflow.errors import (
    AllAttemptsFailed,
    Attempt,
    Fault,
    ModelNotFound,
    NoDeploymentAvailable,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from quotaflow.routing.health import HealthTracker
from quotaflow.routing.strategies import create_strategy

if TYPE_CHECKING:
    from collections.abc import (
        AsyncGenerator,
        AsyncIterator,
        Awaitable,
        Callable,
        Mapping,
        Sequence,
    )

    from quotaflow.clock import Clock
    from quotaflow.config import RouterSettings
    from quotaflow.providers.base import (
        Operation,
        ProviderAdapter,
        StreamTranslator,
        UpstreamReply,
        UpstreamRequest,
    )
    from quotaflow.providers.http import UpstreamClient, UpstreamStream
    from quotaflow.routing.deployment import Deployment, ModelGroup

__all__ = ["Call", "RoutedReply", "RoutedStream", "Router"]

T = TypeVar("T")


@dataclass(slots=True)
class Call:
    """One client call to route."""

    op: Operation
    model: str
    payload: dict[str, Any]
    request_id: str = ""


@dataclass(slots=True)
class _Trace:
    """What routing one call cost: attempts made and seconds spent waiting on upstreams."""

    attempts: list[Attempt] = field(default_factory=list)
    upstream_s: float = 0.0


@dataclass(slots=True)
class RoutedReply:
    """A complete answer and how it was obtained."""

    reply: UpstreamReply
    deployment: Deployment
    attempts: list[Attempt]
    upstream_s: float


class _Lease:
    """A deployment's in-flight slot, released exactly once."""

    __slots__ = ("_deployment_id", "_health", "_held")

    def __init__(self, health: HealthTracker, deployment_id: str) -> None:
        self._health = health
        self._deployment_id = deployment_id
        self._held = True

    def release(self) -> None:
        """Give the slot back (later calls do nothing)."""
        if self._held:
            self._held = False
            self._health.release(self._deployment_id)


@dataclass(slots=True)
class RoutedStream:
    """A stream committed to one deployment: its first chunks, then the rest.

    The caller must ``await aclose()`` when done, however the stream ended: that closes the
    upstream connection and gives the deployment's in-flight slot back.
    """

    deployment: Deployment
    first: list[bytes]
    rest: AsyncGenerator[bytes, None]
    translator: StreamTranslator
    _upstream: UpstreamStream
    _lease: _Lease
    attempts: list[Attempt] = field(default_factory=list)
    upstream_s: float = 0.0

    async def aclose(self) -> None:
        """Stop the upstream stream and release the deployment."""
        try:
            await self.rest.aclose()
        finally:
            self._upstream.close()
            self._lease.release()


class Router:
    """Routes calls over model groups; the server and library users share it."""

    def __init__(
        self,
        groups: Mapping[str, ModelGroup],
        adapters: Mapping[str, ProviderAdapter],
        client: UpstreamClient,
        settings: RouterSettings,
        *,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self._groups = dict(groups)
        self._adapters = adapters
        self._client = client
        self._settings = settings
        self._clock = clock
        self.health = HealthTracker(
            clock, cooldown_s=settings.cooldown_time, allowed_fails=settings.allowed_fails
        )
        self._strategy = create_strategy(
            settings.routing_strategy,
            self.health,
            rng or random.Random(),
        )

    @property
    def model_names(self) -> list[str]:
        """Public model names, in config order."""
        return list(self._groups)

    @property
    def groups(self) -> Mapping[str, ModelGroup]:
        """Every model group by name."""
        return self._groups

    def group(self, name: str) -> ModelGroup:
        """The group called ``name``; ``ModelNotFound`` (listing the others) otherwise."""
        group = self._groups.get(name)
        if group is None:
            known = ", ".join(self._groups) or "none"
            raise ModelNotFound(
                f"The model '{name}' does not exist. Available models: {known}.", param="model"
            )
        return group

    async def complete(self, call: Call) -> RoutedReply:
        """Route a call whose answer is read whole."""
        trace = _Trace()
        op, payload = call.op, call.payload

        async def attempt(deployment: Deployment, adapter: ProviderAdapter) -> UpstreamReply:
            request = adapter.build_request(op, payload, stream=False)
            raw = await self._client.send(request, timeout_s=deployment.timeout_s)
            if raw.status >= 300:
                raise adapter.classify_error(raw.status, raw.headers, raw.body)
            return adapter.parse_reply(op, payload, raw.body, raw.headers)

        reply, deployment = await self._route(call, trace, attempt, release_on_success=True)
        return RoutedReply(reply, deployment, trace.attempts, trace.upstream_s)

    async def stream(self, call: Call) -> RoutedStream:
        """Route a streamed call; returns once a deployment produced its first chunk."""
        trace = _Trace()
        op, payload = call.op, call.payload

        async def attempt(deployment: Deployment, adapter: ProviderAdapter) -> RoutedStream:
            request = adapter.build_request(op, payload, stream=True)
            return await self._open(deployment, adapter, request, call)

        routed, _ = await self._route(call, trace, attempt, release_on_success=False)
        routed.attempts, routed.upstream_s = trace.attempts, trace.upstream_s
        return routed

    async def _open(
        self,
        deployment: Deployment,
        adapter: ProviderAdapter,
        request: UpstreamRequest,
        call: Call,
    ) -> RoutedStream:
        first_token_s = deployment.first_token_timeout_s
        stream = await self._client.open_stream(
            request, first_byte_s=first_token_s, total_s=deployment.timeout_s
        )
        try:
            if stream.status >= 300:
                raise adapter.classify_error(
                    stream.status, stream.headers, await stream.read_body()
                )
            translator = adapter.open_stream(call.op, call.payload)
            events = stream.events()
            async with asyncio.timeout(first_token_s):
                first = await _first_chunks(events, translator)
        except TimeoutError:
            stream.close()
            raise UpstreamTimeout("The upstream sent no first token in time.") from None
        except BaseException:
            stream.close()
            raise
        lease = _Lease(self.health, deployment.id)
        rest = _rest(stream, events, translator, lease)
        return RoutedStream(deployment, first, rest, translator, stream, lease)

    async def _route(
        self,
        call: Call,
        trace: _Trace,
        attempt: Callable[[Deployment, ProviderAdapter], Awaitable[T]],
        *,
        release_on_success: bool,
    ) -> tuple[T, Deployment]:
        group = self.group(call.model)
        tried: set[str] = set()
        last: UpstreamError | None = None
        for _ in range(self._settings.num_retries + 1):
            deployment = await self._next(group, tried, trace)
            if deployment is None:
                break
            tried.add(deployment.id)
            health = self.health
            health.acquire(deployment.id)
            started = self._clock.monotonic()
            release = True
            try:
                result = await attempt(deployment, self._adapters[deployment.id])
            except UpstreamError as error:
                self._record(trace, deployment, started, error)
                if error.fault is Fault.REQUEST:
                    raise
                last = error
                continue
            else:
                self._record(trace, deployment, started, None)
                release = release_on_success
                return result, deployment
            finally:
                if release:
                    health.release(deployment.id)
        raise self._exhausted(group, last, trace)

    async def _next(self, group: ModelGroup, tried: set[str], trace: _Trace) -> Deployment | None:
        """The next deployment to try, or ``None``.

        Before a retry, and only when no deployment is healthy, it waits for the soonest
        cooldown to end (if that fits in the router's ``timeout``). A first attempt never waits:
        when everything is cooling down the client hears so at once, with a truthful
        Retry-After.
        """
        healthy = self.health.available(group.deployments)
        fresh = [d for d in healthy if d.id not in tried] or healthy
        if not fresh and tried:
            wait_s = max(self._soonest_recovery_s(group), self._settings.retry_after)
            if trace.upstream_s + wait_s > self._settings.timeout:
                return None
            await asyncio.sleep(wait_s)
            trace.upstream_s += wait_s
            fresh = self.health.available(group.deployments)
        if not fresh:
            return None
        return self._strategy.choose(_best_tier(fresh))

    def _soonest_recovery_s(self, group: ModelGroup) -> float:
        now = self._clock.monotonic()
        ends = [self.health.cooling_until(d.id) for d in group.deployments]
        return max(0.0, min(ends) - now) if ends else 0.0

    def _record(
        self,
        trace: _Trace,
        deployment: Deployment,
        started: float,
        error: UpstreamError | None,
    ) -> None:
        duration = self._clock.monotonic() - started
        trace.upstream_s += duration
        if error is None:
            self.health.record_success(deployment.id)
            trace.attempts.append(Attempt(deployment.id, "ok", 200, duration))
            return
        if error.fault is not Fault.REQUEST:
            self.health.record_failure(deployment.id, error)
        outcome = type(error).__name__
        trace.attempts.append(Attempt(deployment.id, outcome, error.upstream_status, duration))

    def _exhausted(
        self, group: ModelGroup, last: UpstreamError | None, trace: _Trace
    ) -> AllAttemptsFailed | NoDeploymentAvailable:
        wait_s = self._soonest_recovery_s(group)
        if last is None:
            return NoDeploymentAvailable(
                f"Every deployment of '{group.name}' is cooling down; retry in {wait_s:.1f}s.",
                retry_after_s=wait_s,
            )
        if last.status_code == 429 and wait_s > 0:
            seconds = str(max(1, round(wait_s + 0.499)))
            last.headers.update({"retry-after": seconds, "retry-after-ms": str(int(wait_s * 1000))})
        return AllAttemptsFailed(last, trace.attempts)


async def _rest(
    stream: UpstreamStream,
    events: AsyncIterator[Any],
    translator: StreamTranslator,
    lease: _Lease,
) -> AsyncGenerator[bytes, None]:
    """The stream after its first chunks; releases the deployment however it ends."""
    try:
        while not translator.done:
            event = await anext(events, None)
            if event is None:
                raise UpstreamUnavailable("The upstream stream ended before it was complete.")
            for chunk in translator.feed(event):
                yield chunk
    finally:
        stream.close()
        lease.release()


async def _first_chunks(events: AsyncIterator[Any], translator: StreamTranslator) -> list[bytes]:
    """Read events until the translator yields something to forward (or the stream ends)."""
    async for event in events:
        chunks = translator.feed(event)
        if chunks or translator.done:
            return chunks
    if translator.done:
        return []
    raise UpstreamUnavailable("The upstream stream ended before its first chunk.")


def _best_tier(candidates: Sequence[Deployment]) -> Sequence[Deployment]:
    """Only the candidates of the lowest ``order`` (unordered deployments come last)."""
    if all(d.order is None for d in candidates):
        return candidates
    best = min(d.order if d.order is not None else float("inf") for d in candidates)
    return [d for d in candidates if (d.order if d.order is not None else float("inf")) == best]
