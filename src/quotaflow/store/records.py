"""What the store keeps, as frozen dataclasses; money is ``Decimal``, times are aware UTC.

Records come in three shapes:

- stored records (``Team``, ``User``, ``VirtualKey``, ``SpendRecord``): what a read returns and
  what ``create`` takes. ``created_at`` and ``updated_at`` are set by the store on ``create``
  and ``update``; the values a caller passes are ignored (they default to ``EPOCH``).
- changes (``TeamChanges``, ``UserChanges``, ``KeyChanges``): a partial update. A field left
  at ``UNSET`` is not touched; ``None`` clears a nullable field.
- query results (``Page``, ``ReportRow``).

Identifiers are opaque strings chosen by the caller (the management API mints them). A virtual
key is stored only as ``token_hash``, the hex SHA-256 of the key; the key itself never is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal  # noqa: TC003 (field types stay resolvable at runtime)
from typing import Generic, Literal, TypeAlias, TypeVar

__all__ = [
    "EPOCH",
    "UNSET",
    "JSONValue",
    "KeyChanges",
    "Metadata",
    "Page",
    "ReportGroup",
    "ReportRow",
    "SpendFilter",
    "SpendRecord",
    "SpendScope",
    "Team",
    "TeamChanges",
    "TeamMember",
    "TeamRole",
    "Unset",
    "User",
    "UserChanges",
    "VirtualKey",
]

JSONValue: TypeAlias = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None
"""A value that survives a JSON round trip."""

Metadata: TypeAlias = dict[str, JSONValue]
"""Free-form metadata stored with a record (JSON object)."""

TeamRole = Literal["admin", "user"]
"""A member's role in a team."""

SpendScope = Literal["key", "team", "user"]
"""Whose spend ``SpendRepository.total`` sums: a key hash, a team id or a user id."""

ReportGroup = Literal["team", "key", "user", "model", "deployment"]
"""What ``SpendRepository.report`` groups each day's spend by."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Placeholder for ``created_at``/``updated_at`` before the store has set them."""


class Unset(enum.Enum):
    """The type of ``UNSET``: "leave this field as it is" in a partial update."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        """``UNSET``."""
        return "UNSET"


UNSET = Unset.UNSET
"""A field of a ``*Changes`` record that the update leaves alone."""

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class TeamMember:
    """One user's membership of a team."""

    user_id: str
    role: TeamRole = "user"


@dataclass(frozen=True, slots=True)
class Team:
    """A team: the models its keys may use, its budget and limits, and its members."""

    team_id: str
    team_alias: str | None = None
    models: tuple[str, ...] = ()
    """Model groups the team may use; empty means every model."""
    max_budget: Decimal | None = None
    budget_duration: str | None = None
    """How often the budget resets: ``"30s"``, ``"1h"``, ``"1d"``, ``"7d"``, ``"1mo"``."""
    budget_reset_at: datetime | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    members: tuple[TeamMember, ...] = ()
    """Members in the order they were added; managed by ``add_member``/``remove_member``
    (``create`` stores the ones given, ``update`` never changes them)."""
    metadata: Metadata = field(default_factory=dict)
    blocked: bool = False
    created_at: datetime = EPOCH
    updated_at: datetime = EPOCH


@dataclass(frozen=True, slots=True)
class User:
    """A user of the gateway (internal user or admin)."""

    user_id: str
    user_alias: str | None = None
    user_email: str | None = None
    user_role: str = "internal_user"
    """``"proxy_admin"``, ``"proxy_admin_viewer"``, ``"internal_user"``, … (LiteLLM's names)."""
    models: tuple[str, ...] = ()
    max_budget: Decimal | None = None
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    metadata: Metadata = field(default_factory=dict)
    created_at: datetime = EPOCH
    updated_at: datetime = EPOCH


@dataclass(frozen=True, slots=True)
class VirtualKey:
    """A virtual key (``sk-…``), known to the store only by the SHA-256 of the key."""

    token_hash: str
    """Lower-case hex SHA-256 of the key; the primary key."""
    key_name: str | None = None
    """Display form of the key, such as ``"sk-...abcd"``."""
    key_alias: str | None = None
    """A human name, unique among keys when set."""
    models: tuple[str, ...] = ()
    max_budget: Decimal | None = None
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    team_id: str | None = None
    user_id: str | None = None
    expires_at: datetime | None = None
    blocked: bool = False
    is_admin: bool = False
    """An admin key may call the management routes."""
    metadata: Metadata = field(default_factory=dict)
    created_at: datetime = EPOCH
    updated_at: datetime = EPOCH


@dataclass(frozen=True, slots=True)
class SpendRecord:
    """What one request cost; written once per request, never holds prompt text."""

    request_id: str
    """Unique per request; ``write_batch`` ignores a record whose id is already stored."""
    started_at: datetime
    ended_at: datetime
    cost_usd: Decimal
    key_hash: str | None = None
    """``None`` for the master key (or an open gateway)."""
    key_alias: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    model_group: str | None = None
    deployment_id: str | None = None
    provider: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    latency_ms: float | None = None
    status: int = 200
    """HTTP status the client got."""
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TeamChanges:
    """A partial update of a ``Team``; ``UNSET`` fields are left alone."""

    team_alias: str | Unset | None = UNSET
    models: tuple[str, ...] | Unset = UNSET
    max_budget: Decimal | Unset | None = UNSET
    budget_duration: str | Unset | None = UNSET
    budget_reset_at: datetime | Unset | None = UNSET
    tpm_limit: int | Unset | None = UNSET
    rpm_limit: int | Unset | None = UNSET
    max_parallel_requests: int | Unset | None = UNSET
    metadata: Metadata | Unset = UNSET
    blocked: bool | Unset = UNSET


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A partial update of a ``User``; ``UNSET`` fields are left alone."""

    user_alias: str | Unset | None = UNSET
    user_email: str | Unset | None = UNSET
    user_role: str | Unset = UNSET
    models: tuple[str, ...] | Unset = UNSET
    max_budget: Decimal | Unset | None = UNSET
    budget_duration: str | Unset | None = UNSET
    budget_reset_at: datetime | Unset | None = UNSET
    tpm_limit: int | Unset | None = UNSET
    rpm_limit: int | Unset | None = UNSET
    max_parallel_requests: int | Unset | None = UNSET
    metadata: Metadata | Unset = UNSET


@dataclass(frozen=True, slots=True)
class KeyChanges:
    """A partial update of a ``VirtualKey``; ``UNSET`` fields are left alone.

    The hash is not here: ``KeyRepository.regenerate`` replaces it.
    """

    key_name: str | Unset | None = UNSET
    key_alias: str | Unset | None = UNSET
    models: tuple[str, ...] | Unset = UNSET
    max_budget: Decimal | Unset | None = UNSET
    budget_duration: str | Unset | None = UNSET
    budget_reset_at: datetime | Unset | None = UNSET
    tpm_limit: int | Unset | None = UNSET
    rpm_limit: int | Unset | None = UNSET
    max_parallel_requests: int | Unset | None = UNSET
    team_id: str | Unset | None = UNSET
    user_id: str | Unset | None = UNSET
    expires_at: datetime | Unset | None = UNSET
    blocked: bool | Unset = UNSET
    is_admin: bool | Unset = UNSET
    metadata: Metadata | Unset = UNSET


@dataclass(frozen=True, slots=True)
class SpendFilter:
    """Which spend records ``SpendRepository.logs`` returns; ``None`` matches everything.

    ``start`` is inclusive and ``end`` exclusive, both compared with ``started_at``.
    """

    key_hash: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    model_group: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[_T]):
    """One page of a listing; pass ``next_cursor`` back to get the next (``None``: last page)."""

    items: tuple[_T, ...]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One day's spend of one group (UTC days, by ``started_at``).

    ``group`` is the team id, key hash, user id, model group or deployment id; ``None`` when
    the records had none (e.g. the master key's spend grouped by key).
    """

    day: date
    group: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
