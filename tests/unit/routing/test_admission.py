"""The admission queue on a manual clock: order, deadlines, and answering early."""

from __future__ import annotations

import asyncio

from quotaflow.clock import ManualClock
from quotaflow.routing.admission import AdmissionQueue


def answering(result: str | None, wait_s: float):
    """An ``attempt``/``soonest`` pair that always gives ``(result, wait_s)``."""

    async def attempt() -> tuple[str | None, float]:
        return result, wait_s

    return attempt, lambda: wait_s


async def test_a_newcomer_is_told_at_once_when_those_ahead_take_longer_than_its_deadline():
    clock = ManualClock()
    queue: AdmissionQueue[str] = AdmissionQueue(clock, max_size=100)
    for _ in range(3):  # admissions one second apart set the pace
        assert (await queue.wait("g", 0, clock.monotonic() + 30, *answering("d", 0.0)))[0] == "d"
        clock.advance(1.0)

    blocked = [
        asyncio.ensure_future(queue.wait("g", 0, clock.monotonic() + 30, *answering(None, 0.5)))
        for _ in range(5)
    ]
    await asyncio.sleep(0)
    assert queue.waiting("g") == 5

    result, ahead_s = await queue.wait("g", 0, clock.monotonic() + 3, *answering(None, 0.5))

    assert result is None
    assert ahead_s == 5.0  # five calls ahead, one second each
    assert queue.stats.turned_away == 1
    for task in blocked:
        task.cancel()
    await asyncio.gather(*blocked, return_exceptions=True)
    assert queue.waiting() == 0


async def test_the_head_gives_up_when_room_comes_after_its_deadline():
    clock = ManualClock()
    queue: AdmissionQueue[str] = AdmissionQueue(clock, max_size=10)

    result, wait_s = await queue.wait("g", 0, clock.monotonic() + 5, *answering(None, 60.0))

    assert (result, wait_s) == (None, 60.0)
    assert clock.monotonic() == 1_000.0  # it did not sleep until its deadline


async def test_cancelled_waiters_leave_and_wake_the_next():
    clock = ManualClock()
    queue: AdmissionQueue[str] = AdmissionQueue(clock, max_size=10)
    room = {"free": False}

    async def attempt() -> tuple[str | None, float]:
        return ("d", 0.0) if room["free"] else (None, 0.2)

    def soonest() -> float:
        return 0.0 if room["free"] else 0.2

    first = asyncio.ensure_future(queue.wait("g", 0, clock.monotonic() + 30, attempt, soonest))
    second = asyncio.ensure_future(queue.wait("g", 0, clock.monotonic() + 30, attempt, soonest))
    await asyncio.sleep(0)
    first.cancel()
    room["free"] = True
    queue.notify("g")

    assert (await second)[0] == "d"
    assert queue.waiting() == 0
