"""Request and response models of ``/team/*`` (LiteLLM's field names)."""

# No ``from __future__ import annotations``: pydantic evaluates these annotations at runtime.

from typing import Annotated, Literal

from pydantic import Field

from quotaflow.management.fields import LimitFields, LimitView, Request, Response
from quotaflow.management.key_models import KeyInfo

__all__ = [
    "Member",
    "MemberAddRequest",
    "MemberDeleteRequest",
    "TeamDeleteRequest",
    "TeamDeleted",
    "TeamInfo",
    "TeamInfoAnswer",
    "TeamInfoQuery",
    "TeamListQuery",
    "TeamNewRequest",
    "TeamUpdateRequest",
]

Ident = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\s/?#]+$")]


class Member(Request):
    """A team member and their role."""

    user_id: Ident
    role: Literal["admin", "user"] = "user"


class TeamNewRequest(LimitFields):
    """``POST /team/new``; without ``team_id`` one is made up."""

    team_id: Ident | None = None
    team_alias: str | None = Field(default=None, min_length=1, max_length=256)
    members_with_roles: list[Member] = Field(default_factory=list, max_length=10_000)
    blocked: bool = False


class TeamUpdateRequest(LimitFields):
    """``POST /team/update``: the fields given change; ``null`` clears a field."""

    team_id: Ident
    team_alias: str | None = Field(default=None, min_length=1, max_length=256)
    blocked: bool | None = None


class TeamDeleteRequest(Request):
    """``POST /team/delete``: the teams and every key of theirs."""

    team_ids: list[Ident] = Field(min_length=1, max_length=1000)


class MemberAddRequest(Request):
    """``POST /team/member_add``: one member or a list."""

    team_id: Ident
    member: Member | list[Member]


class MemberDeleteRequest(Request):
    """``POST /team/member_delete``."""

    team_id: Ident
    user_id: Ident


class TeamInfoQuery(Request):
    """``GET /team/info``: without ``team_id``, the caller's own team."""

    team_id: Ident | None = None


class TeamListQuery(Request):
    """``GET /team/list``: optionally only the teams a user belongs to."""

    user_id: Ident | None = None


class TeamInfo(LimitView):
    """A team as answered."""

    team_id: str
    team_alias: str | None
    members_with_roles: list[Member]
    blocked: bool


class TeamInfoAnswer(Response):
    """``GET /team/info``: the team and its keys."""

    team_id: str
    team_info: TeamInfo
    keys: list[KeyInfo]


class TeamDeleted(Response):
    """``POST /team/delete``."""

    deleted_teams: list[str]
    deleted_keys: int
