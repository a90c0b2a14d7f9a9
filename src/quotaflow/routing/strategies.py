"""Routing strategies: which healthy deployment takes the next call.

A strategy sees only candidates that are healthy and not yet tried for this request, already
narrowed to the best ``order`` tier, and returns one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Sequence

    from quotaflow.routing.deployment import Deployment
    from quotaflow.routing.health import HealthTracker

__all__ = ["LeastBusy", "SimpleShuffle", "Strategy", "create_strategy", "strategy_names"]


class Strategy(Protocol):
    """Chooses one deployment among healthy candidates."""

    def choose(self, candidates: Sequence[Deployment]) -> Deployment:
        """One of ``candidates`` (never empty)."""
        ...


class SimpleShuffle:
    """Random choice weighted by ``weight``, else ``rpm``, else ``tpm`` (if all set it)."""

    def __init__(self, health: HealthTracker, rng: random.Random) -> None:
        self._rng = rng

    def choose(self, candidates: Sequence[Deployment]) -> Deployment:
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

    def __init__(self, health: HealthTracker, rng: random.Random) -> None:
        self._health = health
        self._rng = rng

    def choose(self, candidates: Sequence[Deployment]) -> Deployment:
        """The least busy candidate."""
        in_flight = self._health.in_flight
        lowest = min(in_flight(d.id) for d in candidates)
        idle = [d for d in candidates if in_flight(d.id) == lowest]
        return idle[0] if len(idle) == 1 else self._rng.choice(idle)


_STRATEGIES: dict[str, Callable[[HealthTracker, random.Random], Strategy]] = {
    "simple-shuffle": SimpleShuffle,
    "least-busy": LeastBusy,
}


def strategy_names() -> list[str]:
    """Strategies this build implements."""
    return sorted(_STRATEGIES)


def create_strategy(name: str, health: HealthTracker, rng: random.Random) -> Strategy:
    """The strategy called ``name``; ``KeyError`` when it is not implemented."""
    return _STRATEGIES[name](health, rng)
