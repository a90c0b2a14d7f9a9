"""Invalidations without a shared log: workers reread everything on a schedule."""

from __future__ import annotations

from quotaflow.auth.invalidations import Change, ReloadingInvalidations
from quotaflow.clock import ManualClock


async def test_reloading_invalidations_ask_for_a_full_reload_once_per_period():
    clock = ManualClock()
    invalidations = ReloadingInvalidations(2.0, clock.monotonic)
    cursor, _ = await invalidations.since(None)
    await invalidations.publish(Change("key", "abc"))  # nothing to share it through

    assert await invalidations.since(cursor) == (cursor, ())
    clock.advance(2.0)
    assert (await invalidations.since(cursor))[1] is None  # reload everything
    assert (await invalidations.since(cursor))[1] == ()
    clock.advance(2.0)
    assert (await invalidations.since(cursor))[1] is None
