"""``SharedLimitCounters``: ``LimitCounters`` for a fleet, through the shared state.

Each ``admit`` and ``settle`` is one atomic Lua script (``limits/lua/``) run by the shared
state, so key, team and user limits and budgets hold across every replica. Money is counted in
the shared state as whole nano-dollars (exact integers; the store keeps the exact ``Decimal``).

When the shared state is unreachable the replica decides alone on ``MemoryLimitCounters``:
each limit scaled to ``1 / replicas``, and each budget's remaining amount likewise (from the
spend last read for it), so the fleet together still stays within it. What was spent alone —
and what calls admitted before the outage spent — is added to the shared counters when the
shared state is back, before shared decisions resume.
"""

from __future__ import annotations

import dataclasses
import logging
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from typing import TYPE_CHECKING

from quotaflow.limits.counters import Admission, Refusal, Remaining, Ticket
from quotaflow.limits.memory import MemoryLimitCounters
from quotaflow.limits.partial import PartialLimitCounters
from quotaflow.state import StateUnavailable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from quotaflow.clock import Clock
    from quotaflow.limits.counters import AdmitRequest, LimitKind
    from quotaflow.state import SharedScripts

__all__ = ["SharedLimitCounters"]

logger = logging.getLogger("quotaflow.limits")

_NANO = Decimal("1e-9")
_KEEP_FOREVER = -1


def _nanos(amount: Decimal) -> int:
    return int((amount / _NANO).to_integral_value(ROUND_HALF_UP))


def _usd(nanos: int) -> Decimal:
    return Decimal(nanos) * _NANO


def _script(name: str) -> str:
    return resources.files("quotaflow.limits").joinpath("lua", name).read_text()


class SharedLimitCounters:
    """Limits and budgets counted in the shared state, with a local fallback."""

    def __init__(self, shared: SharedScripts, clock: Clock) -> None:
        self._shared = shared
        self._clock = clock
        self._admit = shared.script(_script("admit.lua"))
        self._settle = shared.script(_script("settle.lua"))
        self._seed = shared.script(_script("seed.lua"))
        self._spent = shared.script(_script("spent.lua"))
        self._add_spend = shared.script(_script("add_spend.lua"))
        self._local = self._fresh_local()
        self._alone: set[str] = set()  # tickets admitted by the local fallback
        self._last_spent: dict[str, int] = {}  # nano-USD, per budget counter, as last read
        self._unshared: dict[str, int] = {}  # spend settled while the shared state was away
        shared.on_rejoin(self._hand_over)

    async def admit(self, request: AdmitRequest) -> Admission:
        """See ``LimitCounters.admit``."""
        if not self._shared.degraded:
            try:
                return await self._admit_shared(request)
            except StateUnavailable:
                logger.debug("limits: shared state unavailable, deciding alone")
        return await self._admit_alone(request)

    async def settle(self, ticket: Ticket, tokens: int, cost_usd: Decimal) -> None:
        """See ``LimitCounters.settle``."""
        request = ticket.request
        if request.ticket_id in self._alone:
            self._alone.discard(request.ticket_id)
            await self._local.settle(ticket, tokens, cost_usd)
            await self._pay(request, cost_usd)
            return
        args: list[str | int] = [
            request.ticket_id, ticket.second, request.tokens, tokens, _nanos(cost_usd)
        ]  # fmt: skip
        for scope in request.scopes:
            windowed = scope.rpm is not None or scope.tpm is not None
            counter = scope.budget.counter if scope.budget is not None else ""
            args += [scope.scope, int(windowed), counter]
        try:
            await self._settle(args)
        except StateUnavailable:
            self._owe(request, cost_usd)  # the reservation expires with its lease

    async def seed(self, counter: str, spent_usd: Decimal) -> bool:
        """See ``LimitCounters.seed``."""
        try:
            return bool(await self._seed([counter, _nanos(spent_usd), _KEEP_FOREVER]))
        except StateUnavailable:
            return await self._local.seed(counter, spent_usd)

    async def spent(self, counters: Sequence[str]) -> list[Decimal]:
        """See ``LimitCounters.spent``."""
        try:
            values = await self._spent(list(counters))
        except StateUnavailable:
            return await self._local.spent(counters)
        return [
            _usd(int(v) + self._unshared.get(c, 0)) for c, v in zip(counters, values, strict=True)
        ]

    # -- internals -------------------------------------------------------------------------

    async def _admit_shared(self, request: AdmitRequest) -> Admission:
        now = self._clock.wall()
        args: list[str | int] = [
            repr(now), request.ticket_id, request.tokens, _nanos(request.cost_usd),
            repr(request.lease_ttl_s),
        ]  # fmt: skip
        for scope in request.scopes:
            budget = scope.budget
            args += [
                scope.scope,
                _limit(scope.rpm),
                _limit(scope.tpm),
                _limit(scope.parallel),
                budget.counter if budget is not None else "",
                _nanos(budget.max_usd) if budget is not None else -1,
                repr(budget.period_end_s) if budget and budget.period_end_s is not None else -1,
            ]
        reply = await self._admit(args)
        if int(reply[0]) == 0:
            index, kind, wait = int(reply[1]) - 1, _kind(reply[2]), _text(reply[3])
            spent, held = int(reply[4]), int(reply[5])
            refusal = Refusal(index, kind, float(wait) if wait else None)
            if kind == "budget":
                counter = request.scopes[index].budget
                if counter is not None:
                    self._last_spent[counter.counter] = spent
                refusal = dataclasses.replace(
                    refusal, spent_usd=_usd(spent), reserved_usd=_usd(held)
                )
            return Admission(None, refusal)
        remaining = []
        for i, scope in enumerate(request.scopes):
            left_requests, left_tokens, spent = (int(v) for v in reply[2 + 3 * i : 5 + 3 * i])
            remaining.append(Remaining(_optional(left_requests), _optional(left_tokens)))
            if scope.budget is not None:
                self._last_spent[scope.budget.counter] = spent
        return Admission(Ticket(request, int(reply[1])), None, tuple(remaining))

    def _fresh_local(self) -> PartialLimitCounters:
        return PartialLimitCounters(
            MemoryLimitCounters(self._clock), lambda: 1 / max(1, self._shared.replicas)
        )

    async def _admit_alone(self, request: AdmitRequest) -> Admission:
        """Decide on local counters with this replica's share of every limit and of what was
        left of every budget (from the spend last read for it)."""
        for scope in request.scopes:
            if scope.budget is not None:
                spent = _usd(self._last_spent.get(scope.budget.counter, 0))
                await self._local.seed(scope.budget.counter, spent)
        admission = await self._local.admit(request)
        if admission.ticket is not None:
            self._alone.add(request.ticket_id)
        return admission

    async def _pay(self, request: AdmitRequest, cost_usd: Decimal) -> None:
        """Add the spend of a call admitted alone to the shared counters (now, or later)."""
        if not self._shared.degraded:
            amounts = [
                part
                for scope in request.scopes
                if scope.budget is not None
                for part in (scope.budget.counter, _nanos(cost_usd))
            ]
            try:
                if amounts:
                    await self._add_spend(amounts)
            except StateUnavailable:
                pass
            else:
                return
        self._owe(request, cost_usd)

    def _owe(self, request: AdmitRequest, cost_usd: Decimal) -> None:
        for scope in request.scopes:
            if scope.budget is not None:
                counter = scope.budget.counter
                self._unshared[counter] = self._unshared.get(counter, 0) + _nanos(cost_usd)

    async def _hand_over(self) -> None:
        """Add what was spent while the shared state was away, before deciding together."""
        # Alone again later, start from what the shared counters say then.
        self._local = self._fresh_local()
        if not self._unshared:
            return
        owed, self._unshared = self._unshared, {}
        try:
            await self._add_spend([part for item in owed.items() for part in item])
        except BaseException:
            for counter, nanos in owed.items():
                self._unshared[counter] = self._unshared.get(counter, 0) + nanos
            raise


def _limit(value: int | None) -> int:
    return -1 if value is None else value


def _optional(value: object) -> int | None:
    number = int(str(value))
    return None if number < 0 else number


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _kind(value: object) -> LimitKind:
    kind = _text(value)
    if kind not in ("budget", "rpm", "tpm", "parallel"):
        raise ValueError(f"unexpected limit kind {kind!r} from the shared state")
    return kind  # type: ignore[return-value]
