"""Time, injected: the router, cooldowns and quota windows read it through a ``Clock``.

Waiting goes through the clock too (``sleep``), so a simulation can run minutes of traffic in
seconds with a ``ScaledClock``, and a test can move time by hand with a ``ManualClock``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "ScaledClock", "SystemClock"]


class Clock(Protocol):
    """Monotonic time for durations and windows, wall time for timestamps."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def wall(self) -> float:
        """``time.time()``."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)


class ScaledClock:
    """Real time running ``speed`` times faster: one real second is ``speed`` clock seconds."""

    def __init__(self, speed: float) -> None:
        if speed <= 0:
            msg = "speed must be positive"
            raise ValueError(msg)
        self.speed = speed
        self._origin = time.monotonic()
        self._wall_origin = time.time()

    def monotonic(self) -> float:
        """Scaled seconds since the clock was made (plus the real origin)."""
        return self._origin + (time.monotonic() - self._origin) * self.speed

    def wall(self) -> float:
        """The wall clock, moving at the same scaled pace."""
        return self._wall_origin + (time.monotonic() - self._origin) * self.speed

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds / speed`` real seconds."""
        await asyncio.sleep(max(seconds, 0.0) / self.speed)


class ManualClock:
    """A clock that moves only when told to; for tests."""

    def __init__(self, start: float = 1_000.0, wall_start: float = 1_760_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start

    def monotonic(self) -> float:
        """The current manual time."""
        return self._now

    def wall(self) -> float:
        """The manual time shifted to the epoch."""
        return self._now + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        """Advance time by ``seconds`` and let other tasks run once."""
        self._now += max(seconds, 0.0)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self._now += seconds
