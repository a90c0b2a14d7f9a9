"""Users in SQL: the ``users`` table."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from quotaflow.store._sql import (
    Database,
    Listing,
    Row,
    changed_columns,
    decode_row,
    encode_value,
    fetch_page,
    insert_sql,
    record_columns,
    record_values,
    utc_now,
)
from quotaflow.store.base import DEFAULT_PAGE_SIZE
from quotaflow.store.errors import NotFound
from quotaflow.store.records import Page, User, UserChanges

if TYPE_CHECKING:
    from quotaflow.clock import Clock

__all__ = ["SqlUserRepository"]

_COLUMNS = record_columns(User)
_INSERT = insert_sql("users", _COLUMNS)


class SqlUserRepository:
    """``UserRepository`` over a ``Database``."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    def _user(self, row: Row) -> User:
        return User(**decode_row(self._db.codec, row, _COLUMNS))  # type: ignore[arg-type]

    async def create(self, user: User) -> User:
        """Store a new user; ``Conflict`` if ``user_id`` is taken."""
        now = utc_now(self._clock)
        stored = replace(user, created_at=now, updated_at=now)
        async with self._db.transaction(write=True) as session:
            await session.execute(_INSERT, record_values(self._db.codec, stored, _COLUMNS))
        return stored

    async def get(self, user_id: str) -> User:
        """The user; ``NotFound`` if none."""
        async with self._db.transaction(write=False) as session:
            rows = await session.fetch("SELECT * FROM users WHERE user_id = ?", (user_id,))
        if not rows:
            raise NotFound("no user with that user_id")
        return self._user(rows[0])

    async def list(
        self,
        *,
        team_id: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[User]:
        """Users, oldest first; with ``team_id`` only that team's members."""
        listing = Listing("users", "user_id")
        if team_id is not None:
            listing = Listing(
                "users",
                "user_id",
                ["user_id IN (SELECT user_id FROM team_members WHERE team_id = ?)"],
                [team_id],
            )
        rows, next_cursor = await fetch_page(self._db, listing, cursor, limit)
        return Page(tuple(self._user(row) for row in rows), next_cursor)

    async def update(self, user_id: str, changes: UserChanges) -> User:
        """Apply the set fields of ``changes``."""
        columns = changed_columns(changes)
        columns["updated_at"] = utc_now(self._clock)
        assignments = ", ".join(f"{c} = ?" for c in columns)
        args = [encode_value(self._db.codec, c, v) for c, v in columns.items()]
        async with self._db.transaction(write=True) as session:
            rows = await session.fetch(
                f"UPDATE users SET {assignments} WHERE user_id = ? RETURNING *",  # noqa: S608
                [*args, user_id],
            )
        if not rows:
            raise NotFound("no user with that user_id")
        return self._user(rows[0])

    async def delete(self, user_id: str) -> None:
        """Delete the user and their team memberships."""
        async with self._db.transaction(write=True) as session:
            rows = await session.fetch(
                "DELETE FROM users WHERE user_id = ? RETURNING user_id", (user_id,)
            )
            if not rows:
                raise NotFound("no user with that user_id")
            await session.execute("DELETE FROM team_members WHERE user_id = ?", (user_id,))
