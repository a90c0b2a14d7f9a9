"""``AdmissionQueue``: calls wait here, in priority order, instead of getting a 429.

When no deployment of a model group can take a call (all cooling down, or every declared quota
used), the call joins the group's queue. Only the head of the queue tries to get a deployment:
it sleeps until the soonest moment one could have room (or until it is woken: a new call joined,
a call finished), tries again, and leaves with a deployment or, at its deadline, with nothing.
A call is told at once, rather than at its deadline, when room will come too late: when the calls
ahead of it will take longer (at the recent pace of admissions) than it may wait, or when the
head's room is further away than its deadline.
Lower ``priority`` values go first, then arrival order. A waiter that leaves for any reason —
served, timed out, cancelled because its client went away — is removed and the next head is
woken, so no call is lost or served twice.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from quotaflow.clock import Clock

__all__ = ["AdmissionQueue", "QueueStats"]

T = TypeVar("T")
# How long a waiter sleeps, at most, before trying again: the soonest-room estimate can be wrong
# (a cooldown ended early, the upstream's headers said more), so it never sleeps blind for long.
_MAX_NAP_S = 1.0
# The admission pace is trusted for a newcomer's estimate only if someone was admitted lately.
_PACE_MEMORY_S = 10.0


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    wake: asyncio.Event = field(compare=False, default_factory=asyncio.Event)


@dataclass(slots=True)
class QueueStats:
    """What the queue did: waiting now, admitted, turned away, and time spent waiting."""

    waiting: int = 0
    admitted: int = 0
    turned_away: int = 0
    wait_s_total: float = 0.0


class AdmissionQueue(Generic[T]):
    """One priority queue per key (model group); ``max_size`` bounds them all together."""

    def __init__(self, clock: Clock, *, max_size: int) -> None:
        self._clock = clock
        self._max_size = max_size
        self._queues: dict[str, list[_Waiter]] = {}
        self._seq = itertools.count()
        self._last_admission: dict[str, float] = {}
        self._admission_gap_s: dict[str, float] = {}
        self.stats = QueueStats()

    def busy(self, key: str) -> bool:
        """Whether calls are already waiting for ``key`` (a newcomer must queue behind them)."""
        return bool(self._queues.get(key))

    def waiting(self, key: str | None = None) -> int:
        """Calls waiting for ``key``, or for every key."""
        if key is not None:
            return len(self._queues.get(key, ()))
        return self.stats.waiting

    def notify(self, key: str) -> None:
        """Something changed for ``key`` (a call finished): let its head try again."""
        queue = self._queues.get(key)
        if queue:
            queue[0].wake.set()

    async def wait(
        self,
        key: str,
        priority: int,
        deadline: float,
        attempt: Callable[[], Awaitable[tuple[T | None, float]]],
        soonest: Callable[[], float],
    ) -> tuple[T | None, float]:
        """Queue until ``attempt`` yields something or ``deadline`` (clock time) passes.

        ``attempt`` (tried only by the head of the queue) returns ``(result, wait_s)``: a result,
        or ``None`` and how long until one could be had; ``soonest`` estimates that wait without
        trying. Returns the result (or ``None``) and the last ``wait_s`` seen.
        """
        if self.stats.waiting >= self._max_size:
            self.stats.turned_away += 1
            return None, soonest()
        ahead = self._ahead_s(key, priority, self._clock.monotonic())
        if ahead > deadline - self._clock.monotonic():
            # Those already waiting will take longer than this call may wait: say so now.
            self.stats.turned_away += 1
            return None, ahead
        queue = self._queues.setdefault(key, [])
        waiter = _Waiter(priority, next(self._seq))
        heapq.heappush(queue, waiter)
        self.stats.waiting += 1
        if queue[0] is not waiter:
            queue[0].wake.set()  # the head re-checks: maybe room for it appeared meanwhile
        started = self._clock.monotonic()
        try:
            result, wait_s = await self._until_served(queue, waiter, deadline, attempt, soonest)
        finally:
            self._leave(key, queue, waiter)
            self.stats.wait_s_total += self._clock.monotonic() - started
        if result is None:
            self.stats.turned_away += 1
        else:
            self.stats.admitted += 1
            self._note_admission(key)
        return result, wait_s

    def _note_admission(self, key: str) -> None:
        """Keep a moving average of the time between admissions, per key."""
        now = self._clock.monotonic()
        last = self._last_admission.get(key)
        self._last_admission[key] = now
        if last is None:
            return
        gap = now - last
        average = self._admission_gap_s.get(key)
        self._admission_gap_s[key] = gap if average is None else average + 0.2 * (gap - average)

    def _ahead_s(self, key: str, priority: int, now: float) -> float:
        """How long the calls ahead of a newcomer will take to be admitted, at the recent pace."""
        queue = self._queues.get(key)
        gap = self._admission_gap_s.get(key)
        last = self._last_admission.get(key)
        if not queue or gap is None or last is None or now - last > _PACE_MEMORY_S:
            return 0.0
        ahead = sum(1 for waiter in queue if waiter.priority <= priority)
        return ahead * gap

    async def _until_served(
        self,
        queue: list[_Waiter],
        waiter: _Waiter,
        deadline: float,
        attempt: Callable[[], Awaitable[tuple[T | None, float]]],
        soonest: Callable[[], float],
    ) -> tuple[T | None, float]:
        wait_s = math.inf
        while True:
            remaining = deadline - self._clock.monotonic()
            if queue[0] is waiter:
                result, wait_s = await attempt()
                if result is not None:
                    return result, wait_s
                if wait_s > remaining:
                    # Room comes too late for this call: say so now, not at the deadline.
                    return None, wait_s
                nap = min(wait_s, remaining, _MAX_NAP_S)
            else:
                head_wait = soonest()
                if head_wait > remaining:
                    return None, head_wait
                nap = min(remaining, _MAX_NAP_S)
            waiter.wake.clear()
            await self._nap(waiter.wake, max(nap, 0.001))

    async def _nap(self, wake: asyncio.Event, seconds: float) -> None:
        """Sleep ``seconds`` of clock time, or less if woken."""
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    def _leave(self, key: str, queue: list[_Waiter], waiter: _Waiter) -> None:
        was_head = queue[0] is waiter
        queue.remove(waiter)
        heapq.heapify(queue)
        self.stats.waiting -= 1
        if not queue:
            del self._queues[key]
        elif was_head:
            queue[0].wake.set()
