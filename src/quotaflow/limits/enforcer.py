"""``Enforcer``: a call's key, team and user → one atomic admission, or the error that says why not.

Order: the levels in order key → team → user; within a level budget, rpm, tpm, parallel (the
first limit that fails is the one reported). Admission reserves the call's maximum cost on each
budget and counts its estimated tokens; ``settle`` replaces both with the truth when the call
is over. Nothing here reads the store on the request path: ``seed`` does, once, at start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from quotaflow.errors import GatewayError, RateLimited
from quotaflow.limits.budgets import BudgetExceeded, LevelBudget, budget_of, scope_id, usd
from quotaflow.limits.counters import AdmitRequest, Budget, ScopeLimits
from quotaflow.limits.periods import utc
from quotaflow.store.records import Team, VirtualKey

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from datetime import datetime

    from quotaflow.clock import Clock
    from quotaflow.limits.budgets import LevelKind
    from quotaflow.limits.counters import Admission, LimitCounters, Refusal, Ticket
    from quotaflow.limits.pricing import ReservationPrices
    from quotaflow.store.records import User

__all__ = ["Admitted", "Demand", "Enforcer", "Level", "level_of", "levels_of"]

_CACHE_SIZE = 100_000  # prepared levels kept; past it the cache starts over


@dataclass(frozen=True, slots=True)
class Level:
    """One level a call is counted against: a key (by hash), a team or a user."""

    kind: LevelKind
    ident: str
    record: VirtualKey | Team | User

    @property
    def label(self) -> str:
        """The level, named safely for an error message (a key by alias or display form)."""
        record = self.record
        if isinstance(record, VirtualKey):
            name = f"'{record.key_alias}'" if record.key_alias else (record.key_name or "")
            return f"key {name}".strip()
        return f"{self.kind} '{self.ident}'"

    @property
    def limited(self) -> bool:
        """Whether the level has any limit at all."""
        r = self.record
        return (
            r.max_budget is not None
            or r.rpm_limit is not None
            or r.tpm_limit is not None
            or r.max_parallel_requests is not None
        )


def level_of(record: VirtualKey | Team | User) -> Level:
    """The level a key, team or user record is counted as."""
    if isinstance(record, VirtualKey):
        return Level("key", record.token_hash, record)
    if isinstance(record, Team):
        return Level("team", record.team_id, record)
    return Level("user", record.user_id, record)


def levels_of(key: VirtualKey | None, team: Team | None, user: User | None) -> tuple[Level, ...]:
    """The levels of a key, its team and its user, in enforcement order."""
    return tuple(level_of(record) for record in (key, team, user) if record is not None)


@dataclass(frozen=True, slots=True)
class Demand:
    """What a call asks for: its model group and estimated tokens."""

    ticket_id: str
    model_group: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Admitted:
    """An admitted call: the ticket to settle and the ``x-ratelimit-*`` headers to send."""

    ticket: Ticket
    headers: tuple[tuple[bytes, bytes], ...]


class Enforcer:
    """Admits and settles calls against ``LimitCounters``."""

    def __init__(
        self,
        counters: LimitCounters,
        prices: ReservationPrices,
        clock: Clock,
        *,
        budget_exceeded_status: int = 429,
        lease_ttl_s: float = 600.0,
    ) -> None:
        self.counters = counters
        self._prices = prices
        self._clock = clock
        self._budget_status = budget_exceeded_status
        self._lease_ttl_s = lease_ttl_s
        self._cache: dict[tuple[str, str], _Prepared] = {}

    async def admit(self, levels: Sequence[Level], demand: Demand) -> Admitted | None:
        """Admit the call or raise ``RateLimited``/``BudgetExceeded``; ``None``: no limits."""
        limited = [level for level in levels if level.limited]
        if not limited:
            return None
        now = self._clock.wall()
        prepared = [self._prepared(level, now) for level in limited]
        scopes = tuple(p.scope for p in prepared)
        budgets = [p.budget for p in prepared]
        tokens = demand.prompt_tokens + demand.completion_tokens
        cost = self._prices.max_cost(
            demand.model_group, demand.prompt_tokens, demand.completion_tokens
        )
        request = AdmitRequest(demand.ticket_id, scopes, tokens, cost, self._lease_ttl_s)
        admission = await self.counters.admit(request)
        if admission.ticket is None:
            raise self._refused(admission, limited, budgets, scopes)
        return Admitted(admission.ticket, _rate_headers(scopes, admission))

    async def settle(self, ticket: Ticket, tokens: int, cost_usd: Decimal) -> None:
        """The call is over: count its true tokens and cost."""
        await self.counters.settle(ticket, tokens, cost_usd)

    async def seed(
        self,
        levels: Sequence[Level],
        total: Callable[[LevelKind, str, datetime], Awaitable[Decimal]],
    ) -> None:
        """Start each budget's current counter at the store's spend in the period."""
        now = utc(self._clock.wall())
        for level in levels:
            budget = budget_of(level.kind, level.record, level.ident, now)
            if budget is not None:
                spent = await total(level.kind, level.ident, budget.period.start)
                await self.counters.seed(budget.counter, spent)

    async def spend(self, level: Level) -> tuple[Decimal, LevelBudget | None]:
        """The level's settled spend in its current budget period, and that budget."""
        budget = self._budget(level, self._clock.wall())
        if budget is None:
            return Decimal(0), None
        (spent,) = await self.counters.spent([budget.counter])
        return spent, budget

    async def carry(self, old: Level, new: Level) -> None:
        """A key got a new hash: its current budget counter starts at the old one's spend."""
        spent, budget = await self.spend(old)
        moved = self._budget(new, self._clock.wall())
        if budget is not None and moved is not None:
            await self.counters.seed(moved.counter, spent)

    def _budget(self, level: Level, now_s: float) -> LevelBudget | None:
        return budget_of(level.kind, level.record, level.ident, utc(now_s))

    def _prepared(self, level: Level, now_s: float) -> _Prepared:
        """The level's scope, computed once per record and budget period."""
        cached = self._cache.get((level.kind, level.ident))
        if cached is not None and cached.record is level.record and cached.holds(now_s):
            return cached
        budget = self._budget(level, now_s)
        prepared = _Prepared(level.record, _scope(level, budget), budget)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[level.kind, level.ident] = prepared
        return prepared

    def _refused(
        self,
        admission: Admission,
        levels: Sequence[Level],
        budgets: Sequence[LevelBudget | None],
        scopes: Sequence[ScopeLimits],
    ) -> GatewayError:
        refusal = admission.refusal
        if refusal is None:
            msg = "LimitCounters.admit returned neither a ticket nor a refusal"
            raise RuntimeError(msg)
        level, scope = levels[refusal.index], scopes[refusal.index]
        headers = _retry_headers(refusal.retry_after_s)
        budget = budgets[refusal.index]
        if refusal.kind == "budget" and budget is not None:
            return BudgetExceeded(
                _budget_message(level, budget, refusal), status=self._budget_status, headers=headers
            )
        if refusal.kind == "parallel":
            message = (
                f"Too many requests in progress for {level.label}: "
                f"at most {scope.parallel} at a time."
            )
        else:
            per = "requests" if refusal.kind == "rpm" else "tokens"
            limit = scope.rpm if refusal.kind == "rpm" else scope.tpm
            headers.update(_refused_window(refusal, scope))
            wait = refusal.retry_after_s or 0.0
            message = (
                f"Rate limit reached for {level.label}: {limit} {per} per minute. "
                f"Please try again in {wait:.1f}s."
            )
        return RateLimited(message, headers=headers)


class _Prepared:
    """A level's ``ScopeLimits`` and budget, valid for its record within the budget period."""

    __slots__ = ("budget", "record", "scope", "start_s", "until_s")

    def __init__(
        self, record: VirtualKey | Team | User, scope: ScopeLimits, budget: LevelBudget | None
    ) -> None:
        self.record = record
        self.scope = scope
        self.budget = budget
        period = budget.period if budget is not None else None
        self.start_s = period.start.timestamp() if period is not None else -math.inf
        self.until_s = period.end.timestamp() if period is not None and period.end else math.inf

    def holds(self, now_s: float) -> bool:
        return self.start_s <= now_s < self.until_s


def _scope(level: Level, budget: LevelBudget | None) -> ScopeLimits:
    record = level.record
    end = budget.period.end.timestamp() if budget is not None and budget.period.end else None
    return ScopeLimits(
        scope_id(level.kind, level.ident),
        rpm=record.rpm_limit,
        tpm=record.tpm_limit,
        parallel=record.max_parallel_requests,
        budget=Budget(budget.counter, budget.max_usd, end) if budget is not None else None,
    )


def _budget_message(level: Level, budget: LevelBudget, refusal: Refusal) -> str:
    spent = refusal.spent_usd or Decimal(0)
    per = f" per {budget.duration}" if budget.duration else ""
    message = (
        f"Budget exceeded for {level.label}: its budget is {usd(budget.max_usd)}{per} "
        f"and it has spent {usd(spent)}"
    )
    if refusal.reserved_usd:
        message += f" (plus {usd(refusal.reserved_usd)} reserved by calls in progress)"
    if budget.period.end is not None:
        message += f"; it resets at {budget.period.end.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    return message + "."


def _retry_headers(retry_after_s: float | None) -> dict[str, str]:
    if retry_after_s is None:
        return {}
    return {
        "retry-after": str(max(1, math.ceil(retry_after_s))),
        "retry-after-ms": str(math.ceil(retry_after_s * 1000)),
    }


def _refused_window(refusal: Refusal, scope: ScopeLimits) -> dict[str, str]:
    if refusal.kind == "rpm" and scope.rpm is not None:
        return {"x-ratelimit-limit-requests": str(scope.rpm), "x-ratelimit-remaining-requests": "0"}
    if scope.tpm is not None:
        return {"x-ratelimit-limit-tokens": str(scope.tpm), "x-ratelimit-remaining-tokens": "0"}
    return {}


def _rate_headers(
    scopes: Sequence[ScopeLimits], admission: Admission
) -> tuple[tuple[bytes, bytes], ...]:
    """The tightest remaining requests and tokens over the scopes, as OpenAI names them."""
    headers: list[tuple[bytes, bytes]] = []
    requests = [
        (r.requests, s.rpm)
        for s, r in zip(scopes, admission.remaining, strict=True)
        if r.requests is not None and s.rpm is not None
    ]
    if requests:
        remaining, limit = min(requests)
        headers += [
            (b"x-ratelimit-limit-requests", str(limit).encode()),
            (b"x-ratelimit-remaining-requests", str(remaining).encode()),
        ]
    tokens = [
        (r.tokens, s.tpm)
        for s, r in zip(scopes, admission.remaining, strict=True)
        if r.tokens is not None and s.tpm is not None
    ]
    if tokens:
        remaining, limit = min(tokens)
        headers += [
            (b"x-ratelimit-limit-tokens", str(limit).encode()),
            (b"x-ratelimit-remaining-tokens", str(remaining).encode()),
        ]
    return tuple(headers)
