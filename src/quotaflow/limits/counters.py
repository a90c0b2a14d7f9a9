"""``LimitCounters``: the one atomic seam behind rpm, tpm, parallel and budget limits.

This docstring is the specification every implementation follows (the in-process one in
``limits/memory.py``, the shared one in ``state/``); ``tests/contract/test_limit_counters.py``
checks it.

Scopes. A call is admitted against an ordered tuple of ``ScopeLimits`` (key, then team, then
user). A scope is an opaque id such as ``"key:<hash>"``; its limits travel with each request,
so changing a limit needs no counter update. ``None`` means "no such limit".

Time. ``now`` is the wall time of the implementation's injected ``Clock`` (Redis may use its
own ``TIME``). Windows are made of whole seconds: ``second = floor(now)``, and the 60-second
window of a scope holds the calls counted in seconds ``second - 59 … second``.

``admit(request)`` — all or nothing, in one atomic step:

1. For each scope in order, check in this order and stop at the first failure:
   - budget: with ``b = scope.budget``: ``spent(b.counter) + reserved(b.counter) < b.max_usd``,
     where ``reserved`` sums the unexpired reservations on that counter. A call is admitted
     while the budget is not used up, so spend can pass the budget by at most one reservation
     (the calls admitted concurrently each see the others' reservations);
   - rpm: ``requests_in_window + 1 <= rpm``;
   - tpm: ``tokens_in_window < tpm`` (the estimate is counted once admitted, as for budgets);
   - parallel: ``unexpired_leases + 1 <= parallel``.
2. On a failure nothing is counted anywhere; the ``Refusal`` names the scope (its index), the
   limit and ``retry_after_s``: rpm/tpm — seconds until enough of the window's oldest seconds
   leave it for the check to pass (second ``s`` leaves at ``s + 60``); parallel — ``1.0``;
   budget — seconds until ``b.period_end_s`` (``None`` for a budget that never resets). For a
   budget it also carries ``spent_usd`` and ``reserved_usd`` as read.
3. Otherwise, for every scope: if it has an rpm or tpm limit, count one request and
   ``request.tokens`` tokens in the current second; if it has a parallel limit, take a lease on
   ``request.ticket_id`` that expires at ``now + lease_ttl_s``; if it has a budget, add a
   reservation of ``request.cost_usd`` on the budget counter, expiring at the same time.
   Return a ``Ticket`` and, per scope, the requests and tokens remaining in the window after
   this call (``None`` where the scope has no such limit; never below 0).

``settle(ticket, tokens, cost_usd)`` — once per ticket; a second call does nothing. For every
scope: with an rpm or tpm limit, the tokens counted for the ticket's second become ``tokens``
(the bucket may not go below 0; nothing changes once that second left the window); the lease
ends; the reservation ends and ``cost_usd`` is added to the budget counter's spend, also after
the reservation expired or the period ended. A failed call settles with its tokens and cost,
often 0.

``seed(counter, spent_usd)`` — start-up: a budget counter with no state yet starts at
``spent_usd`` (the store's spend in that period); one that has state is left alone. Returns
whether it set the value.

``spent(counters)`` — the settled spend of each budget counter (``Decimal(0)`` when unknown),
for ``/key/info`` and friends; reservations are not included.

A budget counter is ``"<scope>@<period start, epoch seconds>"``: a new period is a new counter,
which is how budgets reset on their exact schedule. An implementation may forget a counter once
``period_end_s`` passed and no lease can still settle on it; window seconds older than 60 s
and expired leases and reservations may be dropped at any time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

__all__ = [
    "WINDOW_S",
    "Admission",
    "AdmitRequest",
    "Budget",
    "LimitCounters",
    "LimitKind",
    "Refusal",
    "Remaining",
    "ScopeLimits",
    "Ticket",
]

LimitKind = Literal["budget", "rpm", "tpm", "parallel"]
"""Which limit refused a call."""

WINDOW_S = 60
"""Length of the rpm and tpm windows, in whole seconds."""


@dataclass(frozen=True, slots=True)
class Budget:
    """A budget in its current period: the counter, its limit and when the period ends."""

    counter: str
    max_usd: Decimal
    period_end_s: float | None = None


@dataclass(frozen=True, slots=True)
class ScopeLimits:
    """One scope's limits for this call; ``None`` is no limit."""

    scope: str
    rpm: int | None = None
    tpm: int | None = None
    parallel: int | None = None
    budget: Budget | None = None


@dataclass(frozen=True, slots=True)
class AdmitRequest:
    """A call to admit: its scopes, its token estimate and the cost to reserve."""

    ticket_id: str
    scopes: tuple[ScopeLimits, ...]
    tokens: int
    cost_usd: Decimal
    lease_ttl_s: float = 600.0


@dataclass(frozen=True, slots=True)
class Ticket:
    """An admitted call, to settle once it is over."""

    request: AdmitRequest
    second: int
    """The window second the call was counted in."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call was refused: which scope (index into the request's scopes) and limit."""

    index: int
    kind: LimitKind
    retry_after_s: float | None
    spent_usd: Decimal | None = None
    reserved_usd: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Remaining:
    """What is left of one scope's window after the call: requests and tokens."""

    requests: int | None = None
    tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """Either a ticket and what remains per scope, or a refusal."""

    ticket: Ticket | None
    refusal: Refusal | None = None
    remaining: tuple[Remaining, ...] = ()


class LimitCounters(Protocol):
    """Atomic, all-or-nothing admission over several scopes; see the module docstring."""

    async def admit(self, request: AdmitRequest) -> Admission:
        """Check every limit of every scope and, if all pass, count the call everywhere."""
        ...

    async def settle(self, ticket: Ticket, tokens: int, cost_usd: Decimal) -> None:
        """The call is over: true tokens and cost replace the estimate and the reservation."""
        ...

    async def seed(self, counter: str, spent_usd: Decimal) -> bool:
        """Start a budget counter with no state at ``spent_usd``; whether it did."""
        ...

    async def spent(self, counters: Sequence[str]) -> list[Decimal]:
        """The settled spend of each budget counter."""
        ...
