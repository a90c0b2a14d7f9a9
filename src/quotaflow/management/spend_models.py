"""Request and response models of ``/spend/logs`` and ``/global/spend/report``."""

# No ``from __future__ import annotations``: pydantic evaluates these annotations at runtime.

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, RootModel

from quotaflow.management.fields import Request, Response

__all__ = [
    "ReportDay",
    "ReportGroupRow",
    "SpendLog",
    "SpendLogs",
    "SpendLogsQuery",
    "SpendReport",
    "SpendReportQuery",
]

Ident = Annotated[str, Field(min_length=1, max_length=512)]


class SpendLogsQuery(Request):
    """``GET /spend/logs``: every filter optional; newest first, ``limit`` per page.

    ``start_date`` is inclusive, ``end_date`` exclusive when it is a time and inclusive when it
    is a day. The next page's ``cursor`` comes in the ``x-next-cursor`` header.
    """

    api_key: Ident | None = Field(default=None, description="A key (sk-…) or its hash.")
    key: Ident | None = Field(default=None, description="Same as api_key.")
    team_id: Ident | None = None
    user_id: Ident | None = None
    model: Ident | None = Field(default=None, description="A model group.")
    start_date: date | datetime | None = None
    end_date: date | datetime | None = None
    cursor: str | None = Field(default=None, max_length=1024)
    limit: int = Field(default=100, ge=1, le=1000)


class SpendLog(Response):
    """One request's spend (LiteLLM's field names)."""

    request_id: str
    api_key: str | None = Field(description="The key's hash.")
    key_alias: str | None
    team_id: str | None
    user: str | None
    model: str | None = Field(description="The model group.")
    model_group: str | None
    model_id: str | None = Field(description="The deployment that served it.")
    custom_llm_provider: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    total_tokens: int
    spend: float
    startTime: datetime  # noqa: N815 - LiteLLM's field name
    endTime: datetime  # noqa: N815 - LiteLLM's field name
    request_duration_ms: float | None
    status: Literal["success", "failure"]
    status_code: int
    metadata: dict[str, Any]


class SpendLogs(RootModel[list[SpendLog]]):
    """``GET /spend/logs``: a JSON list, as LiteLLM answers."""


class SpendReportQuery(Request):
    """``GET /global/spend/report``: UTC days ``start_date`` to ``end_date``, both inclusive."""

    start_date: date | None = Field(default=None, description="Default: 30 days ago.")
    end_date: date | None = Field(default=None, description="Default: today.")
    group_by: Literal["team", "key", "api_key", "user", "model", "deployment"] = "team"


class ReportGroupRow(Response):
    """One group's spend on one day."""

    group: str | None = Field(description="Team id, key hash, user id, model or deployment.")
    total_spend: float
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ReportDay(Response):
    """One day of the report."""

    group_by_day: date
    group_by: str
    groups: list[ReportGroupRow]


class SpendReport(RootModel[list[ReportDay]]):
    """``GET /global/spend/report``: one entry per day with spend."""
