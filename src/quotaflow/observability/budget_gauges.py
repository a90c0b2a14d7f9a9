"""``BudgetGauges``: the budget left per key and per team, for the scrape.

What a budget has spent lives in the limit counters (in Redis when the fleet shares state), and
reading it is a coroutine, so a background task reads every labelled budget's spend in one
``LimitCounters.spent`` call every ``refresh_s`` seconds, and the scrape returns that snapshot.

Labels are bounded like the team label: ``name`` is a key's alias (else its display form,
``sk-...abcd``) or a team's alias (else its id). Only the first ``max_keys`` keys with a budget
get a series of their own; teams share the metrics' team label, so a team past the first
``max_teams`` (whose label is ``other``) has none. A key that is deleted or loses its budget gives
its place to the next one. Remaining is ``max_budget - spent`` in the current budget period; it
can dip below 0 by what the calls admitted concurrently at the end cost.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from quotaflow.limits.budgets import budget_of
from quotaflow.limits.periods import utc
from quotaflow.observability.metrics import BUDGET_MAX_USD, BUDGET_REMAINING_USD, OTHER_TEAM

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from quotaflow.auth import KeyCache
    from quotaflow.clock import Clock
    from quotaflow.limits import LimitCounters
    from quotaflow.limits.budgets import LevelBudget
    from quotaflow.observability.metrics import GaugeFamily
    from quotaflow.observability.router_gauges import GaugeReader, Sample
    from quotaflow.store.records import VirtualKey

__all__ = ["BudgetGauges"]

logger = logging.getLogger("quotaflow.observability")

_Row = tuple[str, str, "LevelBudget"]  # scope, name, budget


class BudgetGauges:
    """A snapshot of every labelled key's and team's budget, refreshed by ``run``."""

    def __init__(
        self,
        cache: KeyCache,
        counters: LimitCounters,
        clock: Clock,
        *,
        team_label: Callable[[str | None], str],
        max_keys: int = 100,
        refresh_s: float = 5.0,
    ) -> None:
        self._cache = cache
        self._counters = counters
        self._clock = clock
        self._team_label = team_label
        self._max_keys = max_keys
        self.refresh_s = refresh_s
        self._keys: dict[str, str] = {}  # token hash → label, the keys with a series
        self._remaining: list[Sample] = []
        self._limits: list[Sample] = []

    def sources(self) -> list[tuple[GaugeFamily, GaugeReader]]:
        """The two families, read from the last snapshot."""
        return [
            (BUDGET_REMAINING_USD, lambda: self._remaining),
            (BUDGET_MAX_USD, lambda: self._limits),
        ]

    async def refresh(self) -> None:
        """Read the spend of every labelled budget (one ``spent`` call) into the snapshot."""
        now = utc(self._clock.wall())
        rows = [*self._key_rows(now), *self._team_rows(now)]
        spent = (
            await self._counters.spent([budget.counter for _, _, budget in rows]) if rows else []
        )
        self._remaining = [
            ((scope, name), float(budget.max_usd - used))
            for (scope, name, budget), used in zip(rows, spent, strict=True)
        ]
        self._limits = [((scope, name), float(budget.max_usd)) for scope, name, budget in rows]

    async def run(self) -> None:
        """Refresh every ``refresh_s`` seconds until cancelled."""
        while True:
            try:
                await self.refresh()
            except Exception:
                logger.exception("reading the budgets for the metrics failed")
            await self._clock.sleep(self.refresh_s)

    def _key_rows(self, now: datetime) -> Iterator[_Row]:
        cache, labelled = self._cache, self._keys
        for token_hash in list(labelled):  # a deleted or unbudgeted key frees its place
            key = cache.key(token_hash)
            if key is None or key.max_budget is None:
                del labelled[token_hash]
        if len(labelled) < self._max_keys:
            taken, every_key = set(labelled.values()), cache.keys()
            for key in every_key:
                if len(labelled) >= self._max_keys:
                    break
                if key.max_budget is not None and key.token_hash not in labelled:
                    label = _key_label(key, taken)
                    labelled[key.token_hash] = label
                    taken.add(label)
        for token_hash, label in labelled.items():
            key = cache.key(token_hash)
            budget = budget_of("key", key, token_hash, now) if key is not None else None
            if budget is not None:
                yield "key", label, budget

    def _team_rows(self, now: datetime) -> Iterator[_Row]:
        for team in self._cache.teams():
            budget = budget_of("team", team, team.team_id, now)
            if budget is None:
                continue
            label = self._team_label(team.team_alias or team.team_id)
            if label != OTHER_TEAM:
                yield "team", label, budget


def _key_label(key: VirtualKey, taken: set[str]) -> str:
    label = key.key_alias or key.key_name or key.token_hash[:12]
    return label if label not in taken else f"{label}~{key.token_hash[:8]}"
