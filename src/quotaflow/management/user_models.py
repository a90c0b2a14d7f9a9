"""Request and response models of ``/user/*`` (LiteLLM's field names)."""

# No ``from __future__ import annotations``: pydantic evaluates these annotations at runtime.

from typing import Annotated, Literal

from pydantic import Field

from quotaflow.management.fields import LimitFields, LimitView, Request, Response
from quotaflow.management.key_models import KeyInfo
from quotaflow.management.team_models import TeamInfo

__all__ = [
    "NewUser",
    "UserDeleteRequest",
    "UserDeleted",
    "UserInfo",
    "UserInfoAnswer",
    "UserInfoQuery",
    "UserList",
    "UserListQuery",
    "UserNewRequest",
    "UserRole",
    "UserUpdateRequest",
]

Ident = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\s/?#]+$")]
UserRole = Literal["proxy_admin", "proxy_admin_viewer", "internal_user", "internal_user_viewer"]


class UserNewRequest(LimitFields):
    """``POST /user/new``; without ``user_id`` one is made up. A key is made too by default."""

    user_id: Ident | None = None
    user_alias: str | None = Field(default=None, min_length=1, max_length=256)
    user_email: str | None = Field(default=None, min_length=3, max_length=320)
    user_role: UserRole = "internal_user"
    teams: list[Ident] = Field(default_factory=list, max_length=1000)
    auto_create_key: bool = True


class UserUpdateRequest(LimitFields):
    """``POST /user/update``: the fields given change; ``null`` clears a field."""

    user_id: Ident
    user_alias: str | None = Field(default=None, min_length=1, max_length=256)
    user_email: str | None = Field(default=None, min_length=3, max_length=320)
    user_role: UserRole | None = None


class UserDeleteRequest(Request):
    """``POST /user/delete``: the users and every key of theirs."""

    user_ids: list[Ident] = Field(min_length=1, max_length=1000)


class UserInfoQuery(Request):
    """``GET /user/info``: without ``user_id``, the caller's own user."""

    user_id: Ident | None = None


class UserListQuery(Request):
    """``GET /user/list``."""

    team_id: Ident | None = None
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=25, ge=1, le=100)


class UserInfo(LimitView):
    """A user as answered."""

    user_id: str
    user_alias: str | None
    user_email: str | None
    user_role: str


class NewUser(UserInfo):
    """``POST /user/new``: the user, and its key (shown once) unless ``auto_create_key`` was off."""

    key: str | None
    token: str | None


class UserInfoAnswer(Response):
    """``GET /user/info``: the user, its keys and its teams."""

    user_id: str
    user_info: UserInfo
    keys: list[KeyInfo]
    teams: list[TeamInfo]


class UserList(Response):
    """``GET /user/list``."""

    users: list[UserInfo]
    total: int
    page: int
    page_size: int
    total_pages: int


class UserDeleted(Response):
    """``POST /user/delete``."""

    deleted_users: list[str]
    deleted_keys: int
