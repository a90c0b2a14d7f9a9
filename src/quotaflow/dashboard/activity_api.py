"""``GET /dashboard/activity``: what the dashboard's overview draws, from the spend records.

Admins and viewers only. Reads the records of the last ``window`` (``1h``, ``6h``, ``24h``,
``7d``) through the store's ``spend.logs`` — newest first, at most ``MAX_RECORDS`` of them (the
answer says ``truncated`` when older ones were left out) — optionally of one team or model
group, and folds them into totals, per model group, per deployment and per time bucket
(``activity.fold``).
"""

# No ``from __future__ import annotations``: pydantic evaluates these annotations at runtime.

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from quotaflow.dashboard.activity import WINDOWS, Span, WindowName, fold
from quotaflow.management.errors import store_errors
from quotaflow.management.fields import Request
from quotaflow.management.http import authenticate, read_query, require_viewer, send
from quotaflow.management.registry import registry_of
from quotaflow.store.base import MAX_PAGE_SIZE
from quotaflow.store.records import SpendFilter

if TYPE_CHECKING:
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services
    from quotaflow.store.records import SpendRecord

__all__ = ["MAX_RECORDS", "ActivityQuery", "activity"]

MAX_RECORDS = 50_000
Ident = Annotated[str, Field(min_length=1, max_length=256)]


class ActivityQuery(Request):
    """``GET /dashboard/activity``: the window and optional filters."""

    window: WindowName = "1h"
    team_id: Ident | None = None
    model: Ident | None = Field(default=None, description="A model group.")


async def activity(services: "Services", exchange: "Exchange") -> None:
    """``GET /dashboard/activity``: totals, per group, per deployment and per time bucket."""
    registry = registry_of(services)
    require_viewer(authenticate(services, exchange))
    query = read_query(exchange, ActivityQuery)
    window = WINDOWS[query.window]
    start, end = window.bounds(registry.now())
    wanted = SpendFilter(team_id=query.team_id, model_group=query.model, start=start, end=end)
    records: list[SpendRecord] = []
    cursor: str | None = None
    with store_errors("spend logs"):
        while len(records) < MAX_RECORDS:
            page = await registry.store.spend.logs(wanted, cursor=cursor, limit=MAX_PAGE_SIZE)
            records.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
    served = {
        name: [deployment.id for deployment in group.deployments]
        for name, group in services.router.groups.items()
    }
    span = Span(window, start, end, truncated=cursor is not None)
    await send(exchange, fold(records, span, served))
