"""Quota as Azure enforces it: TPM on the arrival estimate, RPM in 10-second slices.

Windows are fixed and aligned to the moment the quota was created (or last reset): tokens
per 60 s window, ``ceil(rpm / 6)`` requests per 10 s window. A rejected request is not charged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["REQUEST_WINDOW_S", "TOKEN_WINDOW_S", "QuotaDecision", "QuotaWindows"]

TOKEN_WINDOW_S = 60.0
REQUEST_WINDOW_S = 10.0


@dataclass(frozen=True, slots=True)
class QuotaDecision:
    """Whether a request was admitted, what is left, and when each budget resets."""

    allowed: bool
    limited_by: Literal["requests", "tokens"] | None
    retry_after_s: float
    rpm: int | None
    tpm: int | None
    remaining_requests: int | None
    remaining_tokens: int | None
    reset_requests_s: float | None
    reset_tokens_s: float | None


class _Window:
    """A fixed window with a budget; ``roll`` starts a new one when its time is up."""

    __slots__ = ("ends_at", "index", "length_s", "limit", "start", "used")

    def __init__(self, limit: int, length_s: float, start: float) -> None:
        self.limit = limit
        self.length_s = length_s
        self.start = start
        self.index = 0
        self.used = 0
        self.ends_at = start + length_s

    def roll(self, now: float) -> _Window:
        """Move to the window holding ``now``, starting its budget afresh if it is a new one."""
        index = int((now - self.start) // self.length_s)
        if index != self.index:
            self.index = index
            self.used = 0
            self.ends_at = self.start + (index + 1) * self.length_s
        return self


class QuotaWindows:
    """Per-deployment TPM and RPM budgets; ``None`` or 0 disables a dimension."""

    def __init__(self, *, tpm: int | None, rpm: int | None, start: float) -> None:
        self.tpm = tpm or None
        self.rpm = rpm or None
        self._tokens: _Window | None = None
        self._requests: _Window | None = None
        self.reset(start)

    @property
    def enabled(self) -> bool:
        """True when at least one budget is limited."""
        return self.tpm is not None or self.rpm is not None

    def reset(self, now: float) -> None:
        """Forget every charge and align new windows to ``now``."""
        self._tokens = _Window(self.tpm, TOKEN_WINDOW_S, now) if self.tpm else None
        self._requests = (
            _Window(math.ceil(self.rpm / 6), REQUEST_WINDOW_S, now) if self.rpm else None
        )

    def charge(self, tokens: int, now: float) -> QuotaDecision:
        """Admit and charge one request estimated at ``tokens``, or refuse it without charging."""
        requests = self._requests.roll(now) if self._requests else None
        budget = self._tokens.roll(now) if self._tokens else None
        limited_by: Literal["requests", "tokens"] | None = None
        retry_after = 0.0
        if requests and requests.used + 1 > requests.limit:
            limited_by, retry_after = "requests", requests.ends_at - now
        elif budget and budget.used + tokens > budget.limit:
            limited_by, retry_after = "tokens", budget.ends_at - now
        else:
            if requests:
                requests.used += 1
            if budget:
                budget.used += tokens
        return QuotaDecision(
            allowed=limited_by is None,
            limited_by=limited_by,
            retry_after_s=retry_after,
            rpm=self.rpm,
            tpm=self.tpm,
            remaining_requests=requests.limit - requests.used if requests else None,
            remaining_tokens=budget.limit - budget.used if budget else None,
            reset_requests_s=requests.ends_at - now if requests else None,
            reset_tokens_s=budget.ends_at - now if budget else None,
        )
