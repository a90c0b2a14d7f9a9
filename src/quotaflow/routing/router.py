"""``Router``: pick a deployment, call it, and on failure cool it down and try another.

The loop for one call in one model group: deployments not cooling down (and, on a retry, not
tried yet), narrowed to the best ``order`` tier → the group's strategy picks one → the attempt
runs with the deployment counted in flight → on an upstream error its ``fault`` decides:
``request`` goes back to the client unchanged, anything else cools the deployment down (for the
upstream's retry-after, or ``cooldown_time``) and the next attempt goes elsewhere at once.

When no deployment can take the call (all cooling down, or — for the strategies that enforce
declared quotas — no quota left), the call waits in the group's admission queue, in priority
order, up to ``queue_timeout``; only then does the client hear 429, with a truthful Retry-After.
When a group is exhausted, its fallback groups are tried in order (``fallbacks``, or
``context_window_fallbacks`` / ``content_policy_fallbacks`` for those rejections), each with its
own retries. A stream is committed to a deployment once its first chunk arrived; only then is it
handed to the caller, so failover never shows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from quotaflow.catalog import cost_usd
from quotaflow.errors import (
    AllAttemptsFailed,
    Attempt,
    CallTooLarge,
    ClientError,
    ContentPolicyViolation,
    ContextWindowExceeded,
    Fault,
    ModelNotFound,
    NoDeploymentAvailable,
    PromptTooLong,
    RoutingError,
    UpstreamError,
)
from quotaflow.routing.admission import AdmissionQueue
from quotaflow.routing.estimate import arrival_tokens
from quotaflow.routing.strategies import RoutingState, Strategy, create_strategy
from quotaflow.routing.streams import Lease, RoutedStream, StreamTarget, open_routed_stream
from quotaflow.state import Claim, LocalState, StateBackend

if TYPE_CHECKING:
    from collections.abc import Awaitable, Mapping, Sequence
    from decimal import Decimal

    from quotaflow.catalog import ModelSpec
    from quotaflow.clock import Clock
    from quotaflow.config import RouterSettings
    from quotaflow.providers.base import Operation, ProviderAdapter, UpstreamReply, Usage
    from quotaflow.providers.http import UpstreamClient
    from quotaflow.routing.context import ContextCheck
    from quotaflow.routing.deployment import Deployment, ModelGroup

__all__ = ["Call", "RoutedReply", "RoutedStream", "Router"]

T = TypeVar("T")
GroupError = AllAttemptsFailed | NoDeploymentAvailable | ContextWindowExceeded
_FALLBACK_ERRORS = (AllAttemptsFailed, NoDeploymentAvailable, ContextWindowExceeded)


@dataclass(slots=True)
class Call:
    """One client call to route.

    ``priority``: lower goes first in the admission queue (``default_priority`` when ``None``).
    ``timeout_s`` / ``first_token_s`` may lower the configured timeouts for this call, never
    raise them.
    """

    op: Operation
    model: str
    payload: dict[str, Any]
    request_id: str = ""
    priority: int | None = None
    timeout_s: float | None = None
    first_token_s: float | None = None


@dataclass(slots=True)
class _Trace:
    """What routing one call cost: attempts, seconds waiting on upstreams and in the queue."""

    attempts: list[Attempt] = field(default_factory=list)
    upstream_s: float = 0.0
    queue_s: float = 0.0


@dataclass(slots=True)
class RoutedReply:
    """A complete answer and how it was obtained."""

    reply: UpstreamReply
    deployment: Deployment
    attempts: list[Attempt]
    upstream_s: float
    queue_s: float = 0.0
    cost_usd: Decimal | None = None


Attempter = Callable[[Call, Claim, "ProviderAdapter"], "Awaitable[T]"]


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
        prices: Mapping[str, ModelSpec] | None = None,
        context: ContextCheck | None = None,
        state: StateBackend | None = None,
    ) -> None:
        self._groups = dict(groups)
        self._adapters = adapters
        self._client = client
        self._settings = settings
        self._clock = clock
        self._prices = prices or {}
        self._context = context
        self.state: StateBackend = state or LocalState(
            clock, cooldown_s=settings.cooldown_time, allowed_fails=settings.allowed_fails
        )
        self.health = self.state.health
        self.usage = self.state.usage
        self.queue: AdmissionQueue[Claim] = AdmissionQueue(clock, max_size=settings.queue_max_size)
        view = RoutingState(
            health=self.health,
            usage=self.usage,
            rng=rng or random.Random(),
            cost_per_token={
                deployment_id: float(spec.input_cost_per_token + spec.output_cost_per_token)
                for deployment_id, spec in self._prices.items()
                if spec.input_cost_per_token is not None and spec.output_cost_per_token is not None
            },
            latency_buffer=settings.routing_strategy_args.lowest_latency_buffer,
        )
        self._strategies: dict[str, Strategy] = {
            name: create_strategy(
                settings.model_group_routing_strategy.get(name, settings.routing_strategy), view
            )
            for name in self._groups
        }

    @property
    def model_names(self) -> list[str]:
        """Public model names, in config order (aliases are not listed)."""
        return list(self._groups)

    @property
    def prices(self) -> Mapping[str, ModelSpec]:
        """Each deployment's prices and context window, by deployment id."""
        return self._prices

    @property
    def groups(self) -> Mapping[str, ModelGroup]:
        """Every model group by name."""
        return self._groups

    def group(self, name: str) -> ModelGroup:
        """The group called ``name`` (or aliased so); ``ModelNotFound`` listing the others."""
        group = self._groups.get(name)
        if group is None:
            alias = self._settings.model_group_alias.get(name)
            group = self._groups.get(alias) if alias is not None else None
        if group is None:
            known = ", ".join(self._groups) or "none"
            raise ModelNotFound(
                f"The model '{name}' does not exist. Available models: {known}.", param="model"
            )
        return group

    async def complete(self, call: Call) -> RoutedReply:
        """Route a call whose answer is read whole."""
        trace = _Trace()
        reply, deployment = await self._serve(call, trace, self._complete_once)
        return RoutedReply(
            reply,
            deployment,
            trace.attempts,
            trace.upstream_s,
            trace.queue_s,
            cost_usd=self.cost_of(deployment.id, reply.usage),
        )

    def cost_of(self, deployment_id: str, usage: Usage | None) -> Decimal | None:
        """What ``usage`` costs on the deployment, from the price table; ``None`` if unknown."""
        spec = self._prices.get(deployment_id)
        if spec is None or usage is None:
            return None
        return cost_usd(usage, spec)

    async def stream(self, call: Call) -> RoutedStream:
        """Route a streamed call; returns once a deployment produced its first chunk."""
        trace = _Trace()
        routed, _ = await self._serve(call, trace, self._open_stream)
        routed.attempts, routed.upstream_s, routed.queue_s = (
            trace.attempts,
            trace.upstream_s,
            trace.queue_s,
        )
        return routed

    async def _complete_once(
        self, call: Call, claim: Claim, adapter: ProviderAdapter
    ) -> UpstreamReply:
        deployment = claim.deployment
        request = adapter.build_request(call.op, call.payload, stream=False)
        timeout_s = _lower(deployment.timeout_s, call.timeout_s)
        raw = await self._client.send(request, timeout_s=timeout_s)
        if raw.status >= 300:
            raise adapter.classify_error(raw.status, raw.headers, raw.body)
        self.usage.observe(deployment.id, adapter.rate_limit_hint(raw.headers))
        return adapter.parse_reply(call.op, call.payload, raw.body, raw.headers)

    async def _open_stream(
        self, call: Call, claim: Claim, adapter: ProviderAdapter
    ) -> RoutedStream:
        deployment = claim.deployment
        target = StreamTarget(
            deployment=deployment,
            adapter=adapter,
            request=adapter.build_request(call.op, call.payload, stream=True),
            op=call.op,
            payload=call.payload,
            first_token_s=_lower(deployment.first_token_timeout_s, call.first_token_s),
            total_s=_lower(deployment.timeout_s, call.timeout_s),
        )
        group = deployment.model_group

        def release() -> None:
            self._release(group, claim)

        def failed(error: UpstreamError) -> None:
            self.state.settle(claim, error)

        def lease() -> Lease:
            return Lease(release, failed)

        routed = await open_routed_stream(self._client, target, lease)
        self.usage.observe(deployment.id, adapter.rate_limit_hint(routed.headers))
        return routed

    async def _serve(
        self, call: Call, trace: _Trace, attempt: Attempter[T]
    ) -> tuple[T, Deployment]:
        """The call's group, then its fallback groups while the failure allows one."""
        group = self.group(call.model)
        try:
            return await self._in_group(group, call, trace, attempt)
        except PromptTooLong as error:
            targets = self._chain(self._settings.context_window_fallbacks, group.name)
            if not targets:
                raise
            last: Exception = error
        except _FALLBACK_ERRORS as error:
            targets = self._fallbacks(group.name, error)
            if not targets:
                raise
            last = error
        except ContentPolicyViolation as error:
            targets = self._chain(self._settings.content_policy_fallbacks, group.name)
            if not targets:
                raise
            last = error
        for name in targets[: self._settings.max_fallbacks]:
            try:
                return await self._in_group(self.group(name), call, trace, attempt)
            except (*_FALLBACK_ERRORS, ContentPolicyViolation, PromptTooLong) as error:
                last = error
        raise last

    def _fallbacks(self, group: str, error: GroupError) -> tuple[str, ...]:
        settings = self._settings
        if isinstance(error, ContextWindowExceeded):
            return self._chain(settings.context_window_fallbacks, group)
        return self._chain(settings.fallbacks, group) or settings.default_fallbacks

    @staticmethod
    def _chain(chains: Sequence[Mapping[str, Sequence[str]]], group: str) -> tuple[str, ...]:
        return tuple(target for entry in chains for target in entry.get(group, ()))

    async def _in_group(
        self, group: ModelGroup, call: Call, trace: _Trace, attempt: Attempter[T]
    ) -> tuple[T, Deployment]:
        tokens = arrival_tokens(call.op, call.payload, self._settings.default_max_tokens)
        pool = (
            self._context.fitting(group, call.op, call.payload)
            if self._context is not None
            else group.deployments
        )
        tried: set[str] = set()
        last: UpstreamError | None = None
        for _ in range(self._settings.num_retries + 1):
            claim = await self._claim(group, pool, call, tokens, tried, trace)
            if claim is None:
                break
            deployment = claim.deployment
            tried.add(deployment.id)
            started = self._clock.monotonic()
            release = True
            try:
                result = await attempt(call, claim, self._adapters[deployment.id])
            except UpstreamError as error:
                self._record(trace, claim, started, error)
                if error.fault is Fault.REQUEST:
                    raise
                last = error
                continue
            except ClientError:
                # The adapter refused the call before sending it: nothing reached the upstream.
                self.state.settle(claim, sent=False)
                raise
            else:
                self._record(trace, claim, started, None)
                release = not isinstance(result, RoutedStream)  # the stream's lease releases
                return result, deployment
            finally:
                if release:
                    self._release(group.name, claim)
        raise self._exhausted(group, pool, last, trace, tokens)

    async def _claim(
        self,
        group: ModelGroup,
        pool: Sequence[Deployment],
        call: Call,
        tokens: int,
        tried: set[str],
        trace: _Trace,
    ) -> Claim | None:
        """A deployment claimed for the next attempt: at once if one has room (and nobody
        waits in the queue before this call), else through the admission queue."""
        if not self.queue.busy(group.name):
            # A refused claim refreshes the view it was chosen from; choose again from that.
            for _ in range(len(pool)):
                claim, _, picked = await self._try_claim(group.name, pool, tokens, tried)
                if claim is not None:
                    return claim
                if not picked:
                    break
        if tried and self._settings.retry_after > 0:
            # A retry with nothing healthy waits at least ``retry_after`` (LiteLLM's key).
            await self._clock.sleep(self._settings.retry_after)
            trace.queue_s += self._settings.retry_after
        return await self._queued(group, pool, call, tokens, tried, trace)

    async def _queued(
        self,
        group: ModelGroup,
        pool: Sequence[Deployment],
        call: Call,
        tokens: int,
        tried: set[str],
        trace: _Trace,
    ) -> Claim | None:
        """A deployment for the next attempt through the admission queue (``None``: none came)."""
        settings = self._settings
        started = self._clock.monotonic()
        deadline = started + settings.queue_timeout
        priority = call.priority if call.priority is not None else settings.default_priority
        enforce = self._strategies[group.name].enforces_quota

        async def attempt() -> tuple[Claim | None, float]:
            claim, wait_s, _ = await self._try_claim(group.name, pool, tokens, tried)
            return claim, wait_s

        def soonest() -> float:
            return self._soonest_room_s(pool, tokens, quota=enforce)

        claim, _ = await self.queue.wait(group.name, priority, deadline, attempt, soonest)
        trace.queue_s += self._clock.monotonic() - started
        return claim

    async def _try_claim(
        self, group: str, pool: Sequence[Deployment], tokens: int, tried: set[str]
    ) -> tuple[Claim | None, float, bool]:
        """Choose from the current view and claim the choice.

        Returns the claim (or ``None`` and how long until one could succeed) and whether a
        deployment was chosen at all (a refused claim has refreshed the view meanwhile).
        """
        strategy = self._strategies[group]
        healthy = self.health.available(pool)
        fresh = [d for d in healthy if d.id not in tried] if tried else healthy
        candidates = _best_tier(fresh or healthy)
        chosen = strategy.choose(candidates, tokens) if candidates else None
        if chosen is not None:
            claim = await self.state.claim(
                chosen,
                pool,
                tokens,
                enforce=strategy.enforces_quota,
                least_busy=candidates if strategy.balances_in_flight else (),
            )
            if claim is not None:
                return claim, 0.0, True
        wait_s = self._soonest_room_s(pool, tokens, quota=strategy.enforces_quota)
        return None, wait_s, chosen is not None

    def _soonest_room_s(self, pool: Sequence[Deployment], tokens: int, *, quota: bool) -> float:
        now = self._clock.monotonic()
        waits = []
        for deployment in pool:
            wait = max(0.0, self.health.cooling_until(deployment.id) - now)
            if quota:
                wait = max(wait, self.usage.headroom(deployment, tokens).wait_s)
            waits.append(wait)
        return min(waits) if waits else 0.0

    def _release(self, group: str, claim: Claim) -> None:
        self.state.release(claim)
        self.queue.notify(group)

    def _record(
        self, trace: _Trace, claim: Claim, started: float, error: UpstreamError | None
    ) -> None:
        duration = self._clock.monotonic() - started
        trace.upstream_s += duration
        deployment_id = claim.deployment.id
        self.state.settle(claim, error, latency_s=duration if error is None else None)
        if error is None:
            trace.attempts.append(Attempt(deployment_id, "ok", 200, duration))
            return
        outcome = type(error).__name__
        trace.attempts.append(Attempt(deployment_id, outcome, error.upstream_status, duration))

    def _exhausted(
        self,
        group: ModelGroup,
        pool: Sequence[Deployment],
        last: UpstreamError | None,
        trace: _Trace,
        tokens: int,
    ) -> RoutingError | CallTooLarge:
        quota = self._strategies[group.name].enforces_quota
        wait_s = self._soonest_room_s(pool, tokens, quota=quota)
        if last is None and math.isinf(wait_s):
            return CallTooLarge(
                f"This call is charged {tokens} tokens on arrival (prompt plus max_tokens), more "
                f"than any deployment of '{group.name}' allows per minute; lower max_tokens.",
                param="max_tokens",
            )
        if last is None:
            return NoDeploymentAvailable(
                f"Every deployment of '{group.name}' is busy or cooling down; "
                f"retry in {wait_s:.1f}s.",
                retry_after_s=wait_s,
            )
        if last.status_code == 429 and wait_s > 0:
            seconds = str(max(1, round(wait_s + 0.499)))
            last.headers.update({"retry-after": seconds, "retry-after-ms": str(int(wait_s * 1000))})
        return AllAttemptsFailed(last, trace.attempts)


def _lower(configured: float, requested: float | None) -> float:
    """A per-call timeout may lower the configured one, never raise it."""
    return configured if requested is None or requested <= 0 else min(configured, requested)


def _best_tier(candidates: Sequence[Deployment]) -> Sequence[Deployment]:
    """Only the candidates of the lowest ``order`` (unordered deployments come last)."""
    if all(d.order is None for d in candidates):
        return candidates
    best = min(d.order if d.order is not None else float("inf") for d in candidates)
    return [d for d in candidates if (d.order if d.order is not None else float("inf")) == best]
