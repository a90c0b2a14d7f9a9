"""``stop``: end a background loop for sure.

A loop that catches ``TimeoutError`` (a Redis or database call that took too long) can swallow
the cancellation meant to stop it: on Python 3.11 a cancellation that lands while an
``asyncio.timeout`` block expires comes out as ``TimeoutError``. So a single ``cancel()`` and an
``await`` may wait forever. ``stop`` cancels again until the task is done, within a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

__all__ = ["stop"]

logger = logging.getLogger("quotaflow")

_RETRY_S = 0.05


async def stop(task: asyncio.Task[object] | asyncio.Task[None], *, timeout_s: float = 5.0) -> None:
    """Cancel ``task`` (again and again if it swallows it) and wait for it, up to ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=min(_RETRY_S, max(deadline - loop.time(), 0.0)))
        if not task.done() and loop.time() >= deadline:
            logger.warning(
                "background task %s did not stop within %.1fs", task.get_name(), timeout_s
            )
            return
    with contextlib.suppress(asyncio.CancelledError):
        exception = task.exception()
        if exception is not None:
            logger.warning("background task %s ended with %r", task.get_name(), exception)
