"""Routing strategies: which healthy deployment takes the next call.

A strategy sees the deployments that are not cooling down (already narrowed to the best ``order``
tier and, on a retry, to those not tried yet) and the call's size in tokens, estimated as the
provider estimates it on arrival. It returns one of them, or ``None`` when it enforces declared
quotas and none has room — the router then queues the call instead of sending it into a 429.

| name | picks |
|---|---|
| ``simple-shuffle`` | at random, weighted by ``weight``, else ``rpm``, else ``tpm`` |
| ``least-busy`` | fewest calls in flight (ties at random) |
| ``latency-based-routing`` | lowest recent latency (first token for streams), within a buffer |
| ``usage-based-routing(-v2)`` | most free quota; never beyond the declared ``rpm``/``tpm`` |
| ``cost-based-routing`` | cheapest per token |
| ``quota-aware`` | two random choices among deployments with room, the less loaded wins |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Mapping, Sequence

    from quotaflow.routing.deployment import Deployment
    from quotaflow.state.health import HealthTracker
    from quotaflow.state.usage import UsageWindows

__all__ = [
    "CostBased",
    "LeastBusy",
    "LowestLatency",
    "QuotaAware",
    "RoutingState",
    "SimpleShuffle",
    "Strategy",
    "UsageBased",
    "create_strategy",
    "strategy_names",
]


@dataclass(frozen=True, slots=True)
class RoutingState:
    """What strategies may read: health, usage windows, prices, randomness, tuning."""

    health: HealthTracker
    usage: UsageWindows
    rng: random.Random
    cost_per_token: Mapping[str, float]  # deployment id -> input + output USD per token
    latency_buffer: float = 0.0


class Strategy(Protocol):
    """Chooses one deployment among healthy candidates.

    ``balances_in_flight``: the choice is the candidate with the fewest calls in flight, which
    a shared state can settle exactly for the whole fleet when it claims the deployment.
    """

    enforces_quota: bool
    balances_in_flight: bool

    def choose(self, candidates: Sequence[Deployment], tokens: int) -> Deployment | None:
        """One of ``candidates`` (never empty), or ``None`` when none has room."""
        ...


class SimpleShuffle:
    """Random choice weighted by ``weight``, else ``rpm``, else ``tpm`` (if all set it)."""

    enforces_quota = False
    balances_in_flight = False

    def __init__(self, state: RoutingState) -> None:
        self._rng = state.rng

    def choose(self, candidates: Sequence[Deployment], tokens: int) -> Deployment:
        """Weighted random."""
        if len(candidates) == 1:
            return candidates[0]
        for attribute in ("weight", "rpm", "tpm"):
            weights = [getattr(d, attribute) for d in candidates]
            if all(w is not None for w in weights) and sum(weights) > 0:
                return self._rng.choices(candidates, weights=weights)[0]
        return self._rng.choice(candidates)


class LeastBusy:
    """Fewest calls in flight; ties broken at random so no deployment is starved."""

    enforces_quota = False
    balances_in_flight = True

    def __init__(self, state: RoutingState) -> None:
        self._health = state.health
        self._rng = state.rng

    def choose(self, candidates: Sequence[Deployment], tokens: int) -> Deployment:
        """The least busy candidate."""
        if len(candidates) == 1:
            return candidates[0]
        in_flight = self._health.in_flight
        return _lowest(candidates, lambda d: float(in_flight(d.id)), self._rng)


class LowestLatency:
    """Lowest moving-average latency; deployments not measured yet are tried first."""

    enforces_quota = False
    balances_in_flight = False

    def __init__(self, state: RoutingState) -> None:
        self._health = state.health
        self._rng = state.rng
        self._buffer = state.latency_buffer

    def choose(self, candidates: Sequence[Deployment], tokens: int) -> Deployment:
        """Among the near-fastest, at random."""
        latencies = [(self._health.latency(d.id), d) for d in candidates]
        unmeasured = [d for latency, d in latencies if latency is None]
        if unmeasured:
            return self._rng.choice(unmeasured)
        best = min(latency for latency, _ in latencies if latency is not None)
        limit = best * (1 + self._buffer)
        near = [d for latency, d in latencies if latency is not None and latency <= limit]
        return self._rng.choice(near)


class UsageBased:
    """The deployment with the most free quota; a deployment is never sent past its quota."""

    enforces_quota = True
    balances_in_flight = False

    def __init__(self, state: RoutingState) -> None:
        self._usage = state.usage
        self._rng = state.rng

    def choose(self, candidates: Sequence[Deployment], tokens: int) -> Deployment | None:
        """Most headroom among those the call fits in."""
        room = [(self._usage.headroom(d, tokens), d) for d in candidates]
        fitting = [(h.free, d) for h, d in room if h.wait_s == 0]
        if not fitting:
            return None
        best = max(free for free, _ in fitting)
        return self._rng.choice([d for free, d in fitting if free == best])


class CostBased:
    """The cheapest deployment per token; unknown prices come last."""

    enforces_quota = False
    balances_in_flight = False

    def __init__(self, state: RoutingState) -> None:
        self._costs = state.cost_per_token
        self._rng = state.rng

    def choose(self, candidates: Sequence[Deployment], tokens: int) -> Deployment:
        """Lowest price."""
        return _lowest(candidates, lambda d: self._costs.get(d.id, math.inf), self._rng)


class QuotaAware:
    """Predicts each deployment's headroom and sends the call where it hurts least.

    Only deployments the call fits in (declared ``rpm``/``tpm`` windows, paced the way the
    provider checks them, tightened by the upstream's own remaining-quota headers) are
    considered; of two picked at random, the less loaded wins — load being the used share of
    quota plus calls in flight, scaled by recent latency so a slow region takes less.
    """

    enforces_quota = True
    balances_in_flight = False

    def __init__(self, state: RoutingState) -> None:
        self._state = state

    def choose(self, candidates: Sequence[Deployment], tokens: int) -> Deployment | None:
        """Two random choices among the fitting candidates."""
        usage = self._state.usage
        fitting = [(h, d) for d in candidates if (h := usage.headroom(d, tokens)).wait_s == 0]
        if not fitting:
            return None
        if len(fitting) == 1:
            return fitting[0][1]
        first, second = self._state.rng.sample(fitting, 2)
        return min(first, second, key=self._load)[1]

    def _load(self, pair: tuple[object, Deployment]) -> float:
        headroom, deployment = pair
        health = self._state.health
        free = getattr(headroom, "free", 1.0)
        latency = health.latency(deployment.id) or 0.0
        return (1.0 - free) + 0.05 * health.in_flight(deployment.id) * (1.0 + latency)


def _lowest(
    candidates: Sequence[Deployment], score: Callable[[Deployment], float], rng: random.Random
) -> Deployment:
    scores = [score(d) for d in candidates]
    best = min(scores)
    winners = [d for d, s in zip(candidates, scores, strict=True) if s == best]
    return winners[0] if len(winners) == 1 else rng.choice(winners)


_STRATEGIES: dict[str, Callable[[RoutingState], Strategy]] = {
    "simple-shuffle": SimpleShuffle,
    "least-busy": LeastBusy,
    "latency-based-routing": LowestLatency,
    "usage-based-routing": UsageBased,
    "usage-based-routing-v2": UsageBased,
    "cost-based-routing": CostBased,
    "quota-aware": QuotaAware,
}


def strategy_names() -> list[str]:
    """Strategies this build implements."""
    return sorted(_STRATEGIES)


def create_strategy(name: str, state: RoutingState) -> Strategy:
    """The strategy called ``name``; ``KeyError`` when it is not implemented."""
    return _STRATEGIES[name](state)
