"""Budgets: which counter a level's budget uses now, and the error when it is used up.

A level (key, team or user) with ``max_budget`` spends against the counter of its current
period (``periods.current_period`` from its anchor: ``budget_reset_at``, else ``created_at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from quotaflow.errors import ClientError
from quotaflow.limits.periods import Period, current_period, parse_duration

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from quotaflow.store.records import Team, User, VirtualKey

__all__ = ["BudgetExceeded", "LevelBudget", "LevelKind", "budget_of", "scope_id", "usd"]

LevelKind = Literal["key", "team", "user"]
_CENT_PLACES = 2
_MAX_PLACES = 6


@dataclass(frozen=True, slots=True)
class LevelBudget:
    """A level's budget in its current period."""

    counter: str
    max_usd: Decimal
    period: Period
    duration: str | None


def scope_id(kind: LevelKind, ident: str) -> str:
    """The counters' name of a level: ``key:<hash>``, ``team:<id>``, ``user:<id>``."""
    return f"{kind}:{ident}"


def budget_of(
    kind: LevelKind, record: VirtualKey | Team | User, ident: str, now: datetime
) -> LevelBudget | None:
    """The level's budget in the period containing ``now``; ``None`` without ``max_budget``."""
    if record.max_budget is None:
        return None
    duration = parse_duration(record.budget_duration) if record.budget_duration else None
    anchor = record.budget_reset_at or record.created_at
    period = current_period(anchor, duration, now)
    counter = f"{scope_id(kind, ident)}@{period.start_s}"
    return LevelBudget(counter, record.max_budget, period, record.budget_duration)


def usd(amount: Decimal) -> str:
    """``$1.50``, ``$0.000123``: at least cents, at most six decimals."""
    text = f"{amount.quantize(Decimal(1).scaleb(-_MAX_PLACES)):f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(_CENT_PLACES, "0")
    return f"${whole}.{fraction}"


class BudgetExceeded(ClientError):
    """A key's, team's or user's budget is used up: OpenAI's ``insufficient_quota``.

    429 by default, as OpenAI answers; ``general_settings.budget_exceeded_status`` may make it
    another status (400) for clients that must not retry.
    """

    status_code = 429
    error_type = "insufficient_quota"
    default_code = "insufficient_quota"

    def __init__(
        self, message: str, *, status: int = 429, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message, headers=headers)
        self._status = status

    @property
    def status(self) -> int:
        """The configured status."""
        return self._status
