"""The management routes: one table that both the route table and the OpenAPI document read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from quotaflow.management import keys_api, spend_api, teams_api, users_api
from quotaflow.management.key_models import (
    GeneratedKey,
    KeyDeleted,
    KeyDeleteRequest,
    KeyGenerateRequest,
    KeyInfo,
    KeyInfoAnswer,
    KeyInfoQuery,
    KeyList,
    KeyListQuery,
    KeyRef,
    KeyUpdateRequest,
)
from quotaflow.management.spend_models import (
    SpendLogs,
    SpendLogsQuery,
    SpendReport,
    SpendReportQuery,
)
from quotaflow.management.team_models import (
    MemberAddRequest,
    MemberDeleteRequest,
    TeamDeleted,
    TeamDeleteRequest,
    TeamInfo,
    TeamInfoAnswer,
    TeamInfoQuery,
    TeamListQuery,
    TeamNewRequest,
    TeamUpdateRequest,
)
from quotaflow.management.user_models import (
    NewUser,
    UserDeleted,
    UserDeleteRequest,
    UserInfo,
    UserInfoAnswer,
    UserInfoQuery,
    UserList,
    UserListQuery,
    UserNewRequest,
    UserUpdateRequest,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services

__all__ = ["ROUTES", "AdminRoute"]

Handler = Callable[["Services", "Exchange"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AdminRoute:
    """One management route: where, who handles it, and its typed request and answer."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None


def _post(
    path: str, handler: Handler, summary: str, body: type[BaseModel], answer: type[BaseModel]
) -> AdminRoute:
    return AdminRoute("POST", path, handler, summary, path.split("/")[1], body=body, answer=answer)


def _get(
    path: str, handler: Handler, summary: str, query: type[BaseModel], answer: type[BaseModel]
) -> AdminRoute:
    tag = "spend" if "spend" in path else path.split("/")[1]
    return AdminRoute("GET", path, handler, summary, tag, query=query, answer=answer)


ROUTES: tuple[AdminRoute, ...] = (
    _post(
        "/key/generate",
        keys_api.generate,
        "Make a key (shown once)",
        KeyGenerateRequest,
        GeneratedKey,
    ),
    _post("/key/update", keys_api.update, "Change a key's settings", KeyUpdateRequest, KeyInfo),
    _post("/key/delete", keys_api.delete, "Delete keys", KeyDeleteRequest, KeyDeleted),
    _post(
        "/key/regenerate",
        keys_api.regenerate,
        "Replace a key, keeping its settings",
        KeyRef,
        GeneratedKey,
    ),
    _post("/key/block", keys_api.block, "Refuse every call with a key", KeyRef, KeyInfo),
    _post("/key/unblock", keys_api.unblock, "Accept a blocked key again", KeyRef, KeyInfo),
    _get("/key/info", keys_api.info, "A key's settings and spend", KeyInfoQuery, KeyInfoAnswer),
    _get("/key/list", keys_api.listing, "List keys", KeyListQuery, KeyList),
    _post("/team/new", teams_api.new, "Make a team", TeamNewRequest, TeamInfo),
    _post(
        "/team/update", teams_api.update, "Change a team's settings", TeamUpdateRequest, TeamInfo
    ),
    _post(
        "/team/delete",
        teams_api.delete,
        "Delete teams and their keys",
        TeamDeleteRequest,
        TeamDeleted,
    ),
    _post("/team/member_add", teams_api.member_add, "Add members", MemberAddRequest, TeamInfo),
    _post(
        "/team/member_delete",
        teams_api.member_delete,
        "Remove a member",
        MemberDeleteRequest,
        TeamInfo,
    ),
    _get("/team/info", teams_api.info, "A team, its spend and keys", TeamInfoQuery, TeamInfoAnswer),
    _get("/team/list", teams_api.listing, "List teams", TeamListQuery, teams_api.TeamInfos),
    _post("/user/new", users_api.new, "Make a user (and a key)", UserNewRequest, NewUser),
    _post(
        "/user/update", users_api.update, "Change a user's settings", UserUpdateRequest, UserInfo
    ),
    _post(
        "/user/delete",
        users_api.delete,
        "Delete users and their keys",
        UserDeleteRequest,
        UserDeleted,
    ),
    _get("/user/info", users_api.info, "A user, its keys and teams", UserInfoQuery, UserInfoAnswer),
    _get("/user/list", users_api.listing, "List users", UserListQuery, UserList),
    _get(
        "/spend/logs",
        spend_api.logs,
        "One record per request, newest first",
        SpendLogsQuery,
        SpendLogs,
    ),
    _get(
        "/global/spend/report",
        spend_api.report,
        "Spend per day and group",
        SpendReportQuery,
        SpendReport,
    ),
)
"""Every management route, in documentation order."""
