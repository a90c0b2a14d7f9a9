"""The ``Store`` protocol: four small repositories over one database, plus migrations.

Every method is a coroutine and one transaction. Errors are the ``store.errors`` tree:
``Conflict`` for a taken unique value, ``NotFound`` for a missing row, ``StoreUnavailable``
when the database cannot be reached (the backend translates its driver's exceptions).

Listings are keyset-paginated: ``limit`` items per ``Page`` (1 to 1000), oldest first
(``created_at``, then id); the opaque ``next_cursor`` of one page fetches the next.
Spend logs come newest first (``started_at``, then ``request_id``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date, datetime
    from decimal import Decimal

    from quotaflow.store.records import (
        KeyChanges,
        Page,
        ReportGroup,
        ReportRow,
        SpendFilter,
        SpendRecord,
        SpendScope,
        Team,
        TeamChanges,
        TeamMember,
        User,
        UserChanges,
        VirtualKey,
    )

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "KeyRepository",
    "SpendRepository",
    "Store",
    "TeamRepository",
    "UserRepository",
]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class KeyRepository(Protocol):
    """Virtual keys, by ``token_hash`` (the key itself is never stored)."""

    async def create(self, key: VirtualKey) -> VirtualKey:
        """Store a new key; ``Conflict`` if its hash or ``key_alias`` is taken."""
        ...

    async def get_by_hash(self, token_hash: str) -> VirtualKey:
        """The key with this hash; ``NotFound`` if there is none."""
        ...

    async def get_by_alias(self, key_alias: str) -> VirtualKey:
        """The key with this alias; ``NotFound`` if there is none."""
        ...

    async def list(
        self,
        *,
        team_id: str | None = None,
        user_id: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[VirtualKey]:
        """Keys, oldest first, optionally only those of one team and/or one user."""
        ...

    async def update(self, token_hash: str, changes: KeyChanges) -> VirtualKey:
        """Apply the set fields of ``changes``; ``NotFound``, or ``Conflict`` on a taken alias."""
        ...

    async def delete(self, token_hash: str) -> None:
        """Delete the key (its spend history stays); ``NotFound`` if there is none."""
        ...

    async def set_blocked(self, token_hash: str, *, blocked: bool) -> VirtualKey:
        """Block or unblock the key; ``NotFound`` if there is none."""
        ...

    async def regenerate(
        self, token_hash: str, new_token_hash: str, *, key_name: str | None
    ) -> VirtualKey:
        """Replace the key's hash (and display name), keeping everything else.

        The key's spend history moves to the new hash in the same transaction, so budgets
        carry over. ``NotFound`` if the old hash is unknown, ``Conflict`` if the new one is taken.
        """
        ...


class TeamRepository(Protocol):
    """Teams and their members."""

    async def create(self, team: Team) -> Team:
        """Store a new team with its ``members``; ``Conflict`` if ``team_id`` is taken."""
        ...

    async def get(self, team_id: str) -> Team:
        """The team with its members; ``NotFound`` if there is none."""
        ...

    async def list(
        self,
        *,
        user_id: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[Team]:
        """Teams, oldest first; with ``user_id``, only the teams that user is a member of."""
        ...

    async def update(self, team_id: str, changes: TeamChanges) -> Team:
        """Apply the set fields of ``changes``; ``NotFound`` if there is no such team."""
        ...

    async def delete(self, team_id: str) -> None:
        """Delete the team and its memberships (keys and spend stay); ``NotFound`` if none."""
        ...

    async def add_member(self, team_id: str, member: TeamMember) -> Team:
        """Add a member; ``NotFound`` if no such team, ``Conflict`` if already a member."""
        ...

    async def remove_member(self, team_id: str, user_id: str) -> Team:
        """Remove a member; ``NotFound`` if no such team or the user is not a member."""
        ...


class UserRepository(Protocol):
    """Users of the gateway."""

    async def create(self, user: User) -> User:
        """Store a new user; ``Conflict`` if ``user_id`` is taken."""
        ...

    async def get(self, user_id: str) -> User:
        """The user; ``NotFound`` if there is none."""
        ...

    async def list(
        self,
        *,
        team_id: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[User]:
        """Users, oldest first; with ``team_id``, only that team's members who have a user row."""
        ...

    async def update(self, user_id: str, changes: UserChanges) -> User:
        """Apply the set fields of ``changes``; ``NotFound`` if there is no such user."""
        ...

    async def delete(self, user_id: str) -> None:
        """Delete the user and their team memberships; ``NotFound`` if there is none."""
        ...


class SpendRepository(Protocol):
    """One record per request, and daily aggregates kept in step with them."""

    async def write_batch(self, records: Sequence[SpendRecord]) -> int:
        """Store the records and add them to the daily aggregates, in one transaction.

        Idempotent on ``request_id``: a record already stored is skipped and not counted
        again. Returns how many records were new.
        """
        ...

    async def logs(
        self,
        spend_filter: SpendFilter | None = None,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[SpendRecord]:
        """Records matching the filter, newest ``started_at`` first."""
        ...

    async def report(self, group_by: ReportGroup, start: date, end: date) -> Sequence[ReportRow]:
        """Daily totals per group for the UTC days ``start`` to ``end`` (both inclusive).

        From the daily aggregates; ordered by day, then group (``None`` first).
        """
        ...

    async def total(self, scope: SpendScope, scope_id: str, since: datetime) -> Decimal:
        """Exact spend of one key hash, team id or user id with ``started_at >= since``."""
        ...


class Store(Protocol):
    """The persistent store: repositories over one database, migrations, and shutdown."""

    @property
    def keys(self) -> KeyRepository:
        """Virtual keys."""
        ...

    @property
    def teams(self) -> TeamRepository:
        """Teams and memberships."""
        ...

    @property
    def users(self) -> UserRepository:
        """Users."""
        ...

    @property
    def spend(self) -> SpendRepository:
        """Spend records and reports."""
        ...

    async def migrate(self) -> Sequence[str]:
        """Apply the migrations not applied yet, in order; returns the versions applied now.

        Idempotent, and safe when several replicas start at once (they serialize on a lock).
        """
        ...

    async def ping(self) -> None:
        """Return if the database answers a trivial query; ``StoreUnavailable`` otherwise."""
        ...

    async def close(self) -> None:
        """Close every connection; the store is unusable afterwards."""
        ...
