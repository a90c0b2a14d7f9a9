"""Durations (``"30s"``, ``"15m"``, ``"1h"``, ``"1d"``, ``"7d"``, ``"1mo"``) and budget periods.

A budget's periods are counted from its anchor (when the budget was created or last reset):
period ``k`` runs from ``anchor + k * duration`` to ``anchor + (k + 1) * duration``. Months are
calendar months from the anchor's day and time, the day clamped to the month's length (an anchor
on the 31st resets on Feb 28 and Mar 31). Because the period is a pure function of the anchor and
the time, a counter keyed by the period's start resets exactly when the period ends: no job
has to run.
"""

from __future__ import annotations

import calendar
import functools
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Duration", "Period", "add_duration", "current_period", "parse_duration", "utc"]

_PATTERN = re.compile(r"(\d{1,6})(s|m|h|d|w|mo)")
_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_MONTHS_PER_YEAR = 12


@dataclass(frozen=True, slots=True)
class Duration:
    """A positive length of time: whole seconds, or whole calendar months."""

    text: str
    seconds: int = 0
    months: int = 0


@dataclass(frozen=True, slots=True)
class Period:
    """One budget period: ``start`` inclusive, ``end`` exclusive (``None``: never ends)."""

    start: datetime
    end: datetime | None

    @property
    def start_s(self) -> int:
        """The start as whole epoch seconds: what a budget counter is keyed by."""
        return math.floor(self.start.timestamp())


@functools.lru_cache(maxsize=256)
def parse_duration(text: str) -> Duration:
    """``"30s"``, ``"15m"``, ``"1h"``, ``"1d"``, ``"2w"``, ``"1mo"``; ``ValueError`` otherwise."""
    match = _PATTERN.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        msg = (
            f"invalid duration {text!r}: expected a positive whole number and a unit, "
            "one of s, m, h, d, w, mo (e.g. '30s', '1h', '7d', '1mo')"
        )
        raise ValueError(msg)
    amount, unit = int(match.group(1)), match.group(2)
    if unit == "mo":
        return Duration(text.strip(), months=amount)
    return Duration(text.strip(), seconds=amount * _SECONDS[unit])


def add_duration(moment: datetime, duration: Duration, times: int = 1) -> datetime:
    """``moment`` plus ``times`` durations (months clamp the day to the month's length)."""
    if duration.months:
        return _add_months(moment, duration.months * times)
    return moment + timedelta(seconds=duration.seconds * times)


def current_period(anchor: datetime, duration: Duration | None, now: datetime) -> Period:
    """The period of a budget anchored at ``anchor`` that contains ``now``."""
    if duration is None:
        return Period(anchor, None)
    if duration.months:
        elapsed = (now.year - anchor.year) * _MONTHS_PER_YEAR + now.month - anchor.month
        count = elapsed // duration.months
        start = _add_months(anchor, count * duration.months)
        if start > now:
            count -= 1
        start = _add_months(anchor, count * duration.months)
        return Period(start, _add_months(anchor, (count + 1) * duration.months))
    count = math.floor((now - anchor).total_seconds() / duration.seconds)
    start = anchor + timedelta(seconds=count * duration.seconds)
    return Period(start, start + timedelta(seconds=duration.seconds))


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * _MONTHS_PER_YEAR + moment.month - 1 + months
    year, month = divmod(index, _MONTHS_PER_YEAR)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def utc(epoch_s: float) -> datetime:
    """An aware UTC datetime for epoch seconds."""
    return datetime.fromtimestamp(epoch_s, UTC)
