"""``PartialLimitCounters``: one process's part of every limit, when processes cannot share.

``serve --workers N`` without Redis runs N processes, each with its own counters. So that the
N of them together never pass a limit, each takes ``1 / N`` of every rpm, tpm and parallel
limit, and of what was left of each budget when its counter was seeded from the store. The
price is headroom: a key whose calls all land on one worker gets only its part.
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from quotaflow.limits.counters import (
        Admission,
        AdmitRequest,
        LimitCounters,
        ScopeLimits,
        Ticket,
    )

__all__ = ["PartialLimitCounters", "scaled_scope"]

_ZERO = Decimal(0)


def scaled_scope(scope: ScopeLimits, share: float, spent_before: Decimal) -> ScopeLimits:
    """``scope`` with ``share`` of each limit; a budget keeps ``spent_before`` and gets
    ``share`` of what was left above it."""

    def part(limit: int | None) -> int | None:
        if limit is None:
            return None
        return max(1, math.floor(limit * share)) if limit else 0

    budget = scope.budget
    if budget is not None:
        left = max(budget.max_usd - spent_before, Decimal(0))
        budget = dataclasses.replace(budget, max_usd=spent_before + left * Decimal(repr(share)))
    return dataclasses.replace(
        scope,
        rpm=part(scope.rpm),
        tpm=part(scope.tpm),
        parallel=part(scope.parallel),
        budget=budget,
    )


class PartialLimitCounters:
    """Wraps counters of this process so that each limit is scaled to ``share()``."""

    def __init__(self, inner: LimitCounters, share: Callable[[], float]) -> None:
        self._inner = inner
        self._share = share
        self._seeded: dict[str, Decimal] = {}

    async def admit(self, request: AdmitRequest) -> Admission:
        """See ``LimitCounters.admit``, with every limit scaled to this process's share."""
        share = self._share()
        scopes = tuple(
            scaled_scope(scope, share, self._seeded.get(scope.budget.counter, _ZERO))
            if scope.budget is not None
            else scaled_scope(scope, share, _ZERO)
            for scope in request.scopes
        )
        return await self._inner.admit(dataclasses.replace(request, scopes=scopes))

    async def settle(self, ticket: Ticket, tokens: int, cost_usd: Decimal) -> None:
        """See ``LimitCounters.settle``."""
        await self._inner.settle(ticket, tokens, cost_usd)

    async def seed(self, counter: str, spent_usd: Decimal) -> bool:
        """See ``LimitCounters.seed``; remembers the spend the share is taken above."""
        seeded = await self._inner.seed(counter, spent_usd)
        if seeded:
            self._seeded[counter] = spent_usd
        return seeded

    async def spent(self, counters: Sequence[str]) -> list[Decimal]:
        """See ``LimitCounters.spent`` (this process's view: its seed plus its own spend)."""
        return await self._inner.spent(counters)
