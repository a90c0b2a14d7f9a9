"""``stop`` ends a loop even when the loop swallows a cancellation."""

from __future__ import annotations

import asyncio

from quotaflow._background import stop


async def test_a_loop_that_swallows_one_cancellation_still_stops():
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as a TimeoutError from a Redis call would be, on 3.11

    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop(task), 2)

    assert task.cancelled()
    assert swallowed == 1
