"""``GET /spend/logs`` and ``GET /global/spend/report``.

Admins (and viewers) read everything. Any other key reads only its own team's records (its own
records when it has no team); asking for another team's or key's spend is 403.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from quotaflow.errors import InvalidRequest, PermissionDenied
from quotaflow.management.errors import store_errors
from quotaflow.management.http import authenticate, read_query, require_viewer
from quotaflow.management.registry import registry_of
from quotaflow.management.spend_models import (
    ReportDay,
    ReportGroupRow,
    SpendLog,
    SpendLogs,
    SpendLogsQuery,
    SpendReport,
    SpendReportQuery,
)
from quotaflow.store.records import SpendFilter

if TYPE_CHECKING:
    from quotaflow.auth import Principal
    from quotaflow.management.registry import Registry
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services
    from quotaflow.store.records import ReportGroup, SpendRecord

__all__ = ["logs", "report"]

_REPORT_DAYS = 30
_MAX_REPORT_DAYS = 366
_GROUPS: dict[str, ReportGroup] = {
    "team": "team",
    "key": "key",
    "api_key": "key",
    "user": "user",
    "model": "model",
    "deployment": "deployment",
}


async def logs(services: Services, exchange: Exchange) -> None:
    """``GET /spend/logs``: newest first; the next page's cursor in ``x-next-cursor``."""
    registry = registry_of(services)
    principal = authenticate(services, exchange)
    query = read_query(exchange, SpendLogsQuery)
    wanted_key = query.api_key or query.key
    spend_filter = SpendFilter(
        key_hash=registry.key_hash(wanted_key) if wanted_key else None,
        team_id=query.team_id,
        user_id=query.user_id,
        model_group=query.model,
        start=_moment(query.start_date, end=False),
        end=_moment(query.end_date, end=True),
    )
    if not principal.can_view:
        spend_filter = _own(registry, principal, spend_filter)
    with store_errors("spend logs"):
        page = await registry.store.spend.logs(spend_filter, cursor=query.cursor, limit=query.limit)
    body = SpendLogs([_log(record) for record in page.items]).model_dump_json().encode()
    extra = [(b"x-next-cursor", page.next_cursor.encode())] if page.next_cursor else []
    await exchange.send_json(200, body, extra)


async def report(services: Services, exchange: Exchange) -> None:
    """``GET /global/spend/report``: per UTC day, per team, key, user, model or deployment."""
    registry = registry_of(services)
    require_viewer(authenticate(services, exchange))
    query = read_query(exchange, SpendReportQuery)
    end = query.end_date or registry.now().date()
    start = query.start_date or end - timedelta(days=_REPORT_DAYS - 1)
    if start > end:
        raise InvalidRequest("'start_date' is after 'end_date'.", param="start_date")
    if (end - start).days >= _MAX_REPORT_DAYS:
        raise InvalidRequest(
            f"The report covers at most {_MAX_REPORT_DAYS} days.", param="start_date"
        )
    group_by = _GROUPS[query.group_by]
    with store_errors("spend report"):
        rows = await registry.store.spend.report(group_by, start, end)
    days: dict[date, list[ReportGroupRow]] = defaultdict(list)
    for row in rows:
        days[row.day].append(
            ReportGroupRow(
                group=row.group,
                total_spend=float(row.cost_usd),
                requests=row.requests,
                prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens,
                total_tokens=row.prompt_tokens + row.completion_tokens,
            )
        )
    answer = SpendReport(
        [
            ReportDay(group_by_day=day, group_by=group_by, groups=groups)
            for day, groups in days.items()
        ]
    )
    await exchange.send_json(200, answer.model_dump_json().encode())


def _own(registry: Registry, principal: Principal, wanted: SpendFilter) -> SpendFilter:
    """The filter narrowed to what a non-admin key may read; 403 for anything else."""
    own_key, own_team = principal.key_hash, principal.team_id
    if own_key is None:
        raise PermissionDenied("This key may not read spend.")
    if wanted.team_id is not None and wanted.team_id != own_team:
        raise PermissionDenied("A key may read only its own team's spend.")
    if wanted.key_hash is not None and not hmac.compare_digest(wanted.key_hash, own_key):
        other = registry.cache.key(wanted.key_hash)
        if own_team is None or other is None or other.team_id != own_team:
            raise PermissionDenied("A key may read only its own team's spend.")
    if own_team is not None:
        return replace(wanted, team_id=own_team)
    return replace(wanted, key_hash=own_key)


def _moment(value: date | datetime | None, *, end: bool) -> datetime | None:
    """A filter bound: a day is its midnight (the next day's for an end); a naive time is UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(), tzinfo=UTC)


def _log(record: SpendRecord) -> SpendLog:
    return SpendLog(
        request_id=record.request_id,
        api_key=record.key_hash,
        key_alias=record.key_alias,
        team_id=record.team_id,
        user=record.user_id,
        model=record.model_group,
        model_group=record.model_group,
        model_id=record.deployment_id,
        custom_llm_provider=record.provider,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        cached_tokens=record.cached_tokens,
        total_tokens=record.prompt_tokens + record.completion_tokens,
        spend=float(record.cost_usd),
        startTime=record.started_at,
        endTime=record.ended_at,
        request_duration_ms=record.latency_ms,
        status="success" if record.status < 400 else "failure",
        status_code=record.status,
        metadata=dict(record.metadata),
    )
