"""Request and response models of ``/key/*`` (LiteLLM's field names)."""

# No ``from __future__ import annotations``: pydantic evaluates these annotations at runtime.

from datetime import datetime
from typing import Annotated

from pydantic import Field, model_validator

from quotaflow.management.fields import DurationText, LimitFields, LimitView, Request, Response

__all__ = [
    "GeneratedKey",
    "KeyDeleteRequest",
    "KeyDeleted",
    "KeyGenerateRequest",
    "KeyInfo",
    "KeyInfoAnswer",
    "KeyInfoQuery",
    "KeyList",
    "KeyListQuery",
    "KeyRef",
    "KeyUpdateRequest",
]

KeyText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=512,
        description="The key itself (sk-…) or its hash (`token` in answers).",
    ),
]
Alias = Annotated[str, Field(min_length=1, max_length=256)]
Ident = Annotated[str, Field(min_length=1, max_length=256)]


class KeyGenerateRequest(LimitFields):
    """``POST /key/generate``."""

    key_alias: Alias | None = None
    team_id: Ident | None = None
    user_id: Ident | None = None
    duration: DurationText | None = Field(
        default=None, description="The key expires this long after it is made; absent: never."
    )
    blocked: bool = False


class KeyUpdateRequest(LimitFields):
    """``POST /key/update``: the fields given change; ``null`` clears a field."""

    key: KeyText
    key_alias: Alias | None = None
    team_id: Ident | None = None
    user_id: Ident | None = None
    duration: DurationText | None = Field(
        default=None, description="A new expiry, this long from now; null: never expires."
    )
    blocked: bool | None = None


class KeyRef(Request):
    """``POST /key/block``, ``/key/unblock``, ``/key/regenerate``."""

    key: KeyText


class KeyDeleteRequest(Request):
    """``POST /key/delete``: by key (or hash), or by alias."""

    keys: list[KeyText] | None = Field(default=None, max_length=1000)
    key_aliases: list[Alias] | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _one_list(self) -> "KeyDeleteRequest":
        if not self.keys and not self.key_aliases:
            msg = "give 'keys' or 'key_aliases'"
            raise ValueError(msg)
        return self


class KeyInfoQuery(Request):
    """``GET /key/info``: without ``key``, the caller's own key."""

    key: KeyText | None = None


class KeyListQuery(Request):
    """``GET /key/list``."""

    team_id: Ident | None = None
    user_id: Ident | None = None
    key_alias: Alias | None = None
    page: int = Field(default=1, ge=1, le=1_000_000)
    size: int = Field(default=10, ge=1, le=100)
    return_full_object: bool = False


class KeyInfo(LimitView):
    """A key as answered; ``token`` (the key's hash) identifies it in later calls."""

    token: str
    key_name: str | None
    key_alias: str | None
    team_id: str | None
    user_id: str | None
    expires: datetime | None
    blocked: bool


class GeneratedKey(KeyInfo):
    """A new (or regenerated) key: ``key`` is shown this once and never again."""

    key: str


class KeyInfoAnswer(Response):
    """``GET /key/info``."""

    key: str
    info: KeyInfo


class KeyList(Response):
    """``GET /key/list``: hashes, or whole keys with ``return_full_object=true``."""

    keys: list[KeyInfo] | list[str]
    total_count: int
    current_page: int
    total_pages: int


class KeyDeleted(Response):
    """``POST /key/delete``."""

    deleted_keys: list[str]
