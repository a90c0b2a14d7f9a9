"""Limits on model calls: rpm, tpm, parallel requests and budgets per key, team and user.

``counters.LimitCounters`` is the atomic seam (in-process in ``memory``, shared in ``state``);
``enforcer.Enforcer`` turns a caller's levels into one admission and settles it after the call;
``budgets`` and ``periods`` say which budget period a counter belongs to; ``pricing`` what a
call may cost at most. Must not import the server, auth or routing.
"""

from quotaflow.limits.budgets import BudgetExceeded
from quotaflow.limits.counters import (
    Admission,
    AdmitRequest,
    Budget,
    LimitCounters,
    Refusal,
    Remaining,
    ScopeLimits,
    Ticket,
)
from quotaflow.limits.enforcer import Admitted, Demand, Enforcer, Level, levels_of
from quotaflow.limits.memory import MemoryLimitCounters
from quotaflow.limits.periods import Duration, Period, current_period, parse_duration
from quotaflow.limits.pricing import ReservationPrices

__all__ = [
    "Admission",
    "AdmitRequest",
    "Admitted",
    "Budget",
    "BudgetExceeded",
    "Demand",
    "Duration",
    "Enforcer",
    "Level",
    "LimitCounters",
    "MemoryLimitCounters",
    "Period",
    "Refusal",
    "Remaining",
    "ReservationPrices",
    "ScopeLimits",
    "Ticket",
    "current_period",
    "levels_of",
    "parse_duration",
]
