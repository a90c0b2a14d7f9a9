"""``MemoryLimitCounters``: ``LimitCounters`` in this process (one replica, tests).

Every method runs without awaiting, so on one event loop each is atomic.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from quotaflow.limits.counters import (
    WINDOW_S,
    Admission,
    Refusal,
    Remaining,
    ScopeLimits,
    Ticket,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from quotaflow.clock import Clock
    from quotaflow.limits.counters import AdmitRequest

__all__ = ["MemoryLimitCounters"]

_ZERO = Decimal(0)
_FORGET_S = 3_600.0  # an unsettled ticket is forgotten this long after its lease expired
_PARALLEL_RETRY_S = 1.0
_UNLIMITED = Remaining()
_FORGET_EVERY = 1024  # admissions between two sweeps of forgotten tickets and counters


@dataclass(slots=True)
class _Window:
    """One scope's last 60 seconds: requests and tokens per second (and their sums), leases."""

    seconds: deque[int] = field(default_factory=deque)
    counts: dict[int, list[int]] = field(default_factory=dict)  # second -> [requests, tokens]
    requests: int = 0
    tokens: int = 0
    leases: dict[str, float] = field(default_factory=dict)  # ticket id -> expiry

    def expire(self, second: int, now: float) -> None:
        while self.seconds and self.seconds[0] <= second - WINDOW_S:
            gone = self.counts.pop(self.seconds.popleft())
            self.requests -= gone[0]
            self.tokens -= gone[1]
        if self.leases:
            for ticket_id in [t for t, until in self.leases.items() if until <= now]:
                del self.leases[ticket_id]

    def count(self, second: int, tokens: int) -> None:
        if not self.seconds or self.seconds[-1] != second:
            self.seconds.append(second)
            self.counts[second] = [0, 0]
        counts = self.counts[second]
        counts[0] += 1
        counts[1] += tokens
        self.requests += 1
        self.tokens += tokens

    def correct(self, second: int, delta: int) -> None:
        counts = self.counts.get(second)
        if counts is not None:
            corrected = max(counts[1] + delta, 0)
            self.tokens += corrected - counts[1]
            counts[1] = corrected

    def wait_until_below(self, column: int, excess: int, now: float) -> float:
        """Seconds until at least ``excess`` of the column has left the window."""
        dropped = 0
        for second in self.seconds:
            dropped += self.counts[second][column]
            if dropped >= excess:
                return max(second + WINDOW_S - now, 0.0)
        return float(WINDOW_S)


@dataclass(slots=True)
class _Budget:
    """One budget counter: settled spend and the reservations of calls in flight."""

    spent: Decimal = _ZERO
    reservations: dict[str, tuple[Decimal, float]] = field(default_factory=dict)
    period_end_s: float | None = None
    reserved_usd: Decimal = _ZERO  # the sum of ``reservations``
    soonest_s: float = math.inf  # no reservation expires before this

    def reserved(self, now: float) -> Decimal:
        if self.soonest_s <= now:
            self.reservations = {
                t: (amount, until)
                for t, (amount, until) in self.reservations.items()
                if until > now
            }
            self._recount()
        return self.reserved_usd

    def reserve(self, ticket_id: str, amount: Decimal, until: float) -> None:
        self.reservations[ticket_id] = (amount, until)
        self.reserved_usd += amount
        self.soonest_s = min(self.soonest_s, until)

    def release(self, ticket_id: str) -> None:
        held = self.reservations.pop(ticket_id, None)
        if held is not None:
            self.reserved_usd -= held[0]  # ``soonest_s`` stays a lower bound

    def _recount(self) -> None:
        self.reserved_usd = sum((amount for amount, _ in self.reservations.values()), _ZERO)
        self.soonest_s = min((until for _, until in self.reservations.values()), default=math.inf)


class MemoryLimitCounters:
    """The in-process ``LimitCounters``."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._budgets: dict[str, _Budget] = {}
        self._open: dict[str, float] = {}  # ticket id -> lease expiry
        self._admitted = 0

    async def admit(self, request: AdmitRequest) -> Admission:
        """See ``LimitCounters.admit``."""
        now = self._clock.wall()
        second = math.floor(now)
        for index, scope in enumerate(request.scopes):
            refusal = self._check(index, scope, second, now)
            if refusal is not None:
                return Admission(None, refusal)
        until = now + request.lease_ttl_s
        remaining = []
        for scope in request.scopes:
            window = self._window(scope.scope)
            if scope.rpm is not None or scope.tpm is not None:
                window.count(second, request.tokens)
            if scope.parallel is not None:
                window.leases[request.ticket_id] = until
            if scope.budget is not None:
                budget = self._budget(scope.budget.counter, scope.budget.period_end_s)
                budget.reserve(request.ticket_id, request.cost_usd, until)
            remaining.append(_remaining(scope, window))
        self._open[request.ticket_id] = until
        self._admitted += 1
        if self._admitted % _FORGET_EVERY == 0:
            self._forget(now)
        return Admission(Ticket(request, second), None, tuple(remaining))

    async def settle(self, ticket: Ticket, tokens: int, cost_usd: Decimal) -> None:
        """See ``LimitCounters.settle``."""
        request = ticket.request
        if self._open.pop(request.ticket_id, None) is None:
            return
        for scope in request.scopes:
            window = self._windows.get(scope.scope)
            if window is not None:
                window.correct(ticket.second, tokens - request.tokens)
                window.leases.pop(request.ticket_id, None)
            if scope.budget is not None:
                budget = self._budget(scope.budget.counter, scope.budget.period_end_s)
                budget.release(request.ticket_id)
                budget.spent += cost_usd

    async def seed(self, counter: str, spent_usd: Decimal) -> bool:
        """See ``LimitCounters.seed``."""
        if counter in self._budgets:
            return False
        self._budgets[counter] = _Budget(spent=spent_usd)
        return True

    async def spent(self, counters: Sequence[str]) -> list[Decimal]:
        """See ``LimitCounters.spent``."""
        return [
            budget.spent if (budget := self._budgets.get(c)) is not None else _ZERO
            for c in counters
        ]

    def _check(self, index: int, scope: ScopeLimits, second: int, now: float) -> Refusal | None:
        if scope.budget is not None:
            budget = self._budgets.get(scope.budget.counter)
            spent = budget.spent if budget is not None else _ZERO
            reserved = budget.reserved(now) if budget is not None else _ZERO
            if spent + reserved >= scope.budget.max_usd:
                end = scope.budget.period_end_s
                wait = max(end - now, 0.0) if end is not None else None
                return Refusal(index, "budget", wait, spent, reserved)
        if scope.rpm is None and scope.tpm is None and scope.parallel is None:
            return None
        window = self._window(scope.scope)
        window.expire(second, now)
        requests, tokens = window.requests, window.tokens
        if scope.rpm is not None and requests + 1 > scope.rpm:
            wait = window.wait_until_below(0, requests + 1 - scope.rpm, now)
            return Refusal(index, "rpm", wait if scope.rpm else float(WINDOW_S))
        if scope.tpm is not None and tokens >= scope.tpm:
            wait = window.wait_until_below(1, tokens - scope.tpm + 1, now)
            return Refusal(index, "tpm", wait if scope.tpm else float(WINDOW_S))
        if scope.parallel is not None and len(window.leases) + 1 > scope.parallel:
            return Refusal(index, "parallel", _PARALLEL_RETRY_S)
        return None

    def _window(self, scope: str) -> _Window:
        window = self._windows.get(scope)
        if window is None:
            window = self._windows[scope] = _Window()
        return window

    def _budget(self, counter: str, period_end_s: float | None) -> _Budget:
        budget = self._budgets.get(counter)
        if budget is None:
            budget = self._budgets[counter] = _Budget()
        budget.period_end_s = period_end_s
        return budget

    def _forget(self, now: float) -> None:
        """Drop tickets never settled and budget counters of long-past periods."""
        for ticket_id in [t for t, until in self._open.items() if until + _FORGET_S <= now]:
            del self._open[ticket_id]
        for counter in [
            c
            for c, b in self._budgets.items()
            if b.period_end_s is not None and b.period_end_s + _FORGET_S <= now
        ]:
            del self._budgets[counter]


def _remaining(scope: ScopeLimits, window: _Window) -> Remaining:
    if scope.rpm is None and scope.tpm is None:
        return _UNLIMITED
    return Remaining(
        max(scope.rpm - window.requests, 0) if scope.rpm is not None else None,
        max(scope.tpm - window.tokens, 0) if scope.tpm is not None else None,
    )
