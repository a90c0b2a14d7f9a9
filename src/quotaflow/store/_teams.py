"""Teams in SQL: the ``teams`` table and its members in ``team_members``."""

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
    placeholders,
    record_columns,
    record_values,
    utc_now,
)
from quotaflow.store.base import DEFAULT_PAGE_SIZE
from quotaflow.store.errors import Conflict, NotFound
from quotaflow.store.records import Page, Team, TeamChanges, TeamMember

if TYPE_CHECKING:
    from collections.abc import Sequence

    from quotaflow.clock import Clock
    from quotaflow.store._sql import Session

__all__ = ["SqlTeamRepository"]

_COLUMNS = record_columns(Team, skip=("members",))
_INSERT = insert_sql("teams", _COLUMNS)
_INSERT_MEMBER = "INSERT INTO team_members (team_id, user_id, role, position) VALUES (?, ?, ?, ?)"


class SqlTeamRepository:
    """``TeamRepository`` over a ``Database``."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def create(self, team: Team) -> Team:
        """Store a new team with its members; ``Conflict`` if ``team_id`` is taken."""
        now = utc_now(self._clock)
        stored = replace(team, created_at=now, updated_at=now)
        if len({m.user_id for m in team.members}) != len(team.members):
            raise Conflict("a user is listed twice among the team's members")
        async with self._db.transaction(write=True) as session:
            await session.execute(_INSERT, record_values(self._db.codec, stored, _COLUMNS))
            await session.executemany(
                _INSERT_MEMBER,
                [(team.team_id, m.user_id, m.role, i) for i, m in enumerate(team.members)],
            )
        return stored

    async def get(self, team_id: str) -> Team:
        """The team with its members; ``NotFound`` if none."""
        async with self._db.transaction(write=False) as session:
            rows = await session.fetch("SELECT * FROM teams WHERE team_id = ?", (team_id,))
            if not rows:
                raise NotFound("no team with that team_id")
            return (await self._with_members(session, rows))[0]

    async def list(
        self,
        *,
        user_id: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[Team]:
        """Teams, oldest first; with ``user_id`` only the teams the user is a member of."""
        listing = Listing("teams", "team_id")
        if user_id is not None:
            listing = Listing(
                "teams",
                "team_id",
                ["team_id IN (SELECT team_id FROM team_members WHERE user_id = ?)"],
                [user_id],
            )
        rows, next_cursor = await fetch_page(self._db, listing, cursor, limit)
        async with self._db.transaction(write=False) as session:
            teams = await self._with_members(session, rows)
        return Page(tuple(teams), next_cursor)

    async def update(self, team_id: str, changes: TeamChanges) -> Team:
        """Apply the set fields of ``changes``."""
        async with self._db.transaction(write=True) as session:
            return await self._update(session, team_id, changed_columns(changes))

    async def delete(self, team_id: str) -> None:
        """Delete the team and its memberships."""
        async with self._db.transaction(write=True) as session:
            rows = await session.fetch(
                "DELETE FROM teams WHERE team_id = ? RETURNING team_id", (team_id,)
            )
            if not rows:
                raise NotFound("no team with that team_id")
            await session.execute("DELETE FROM team_members WHERE team_id = ?", (team_id,))

    async def add_member(self, team_id: str, member: TeamMember) -> Team:
        """Add a member at the end; ``Conflict`` if the user already is one."""
        async with self._db.transaction(write=True) as session:
            await self._touch(session, team_id)
            taken = await session.fetch(
                "SELECT 1 FROM team_members WHERE team_id = ? AND user_id = ?",
                (team_id, member.user_id),
            )
            if taken:
                raise Conflict("the user is already a member of the team")
            await session.execute(
                "INSERT INTO team_members (team_id, user_id, role, position) "
                "SELECT ?, ?, ?, COALESCE(MAX(position), -1) + 1 "
                "FROM team_members WHERE team_id = ?",
                (team_id, member.user_id, member.role, team_id),
            )
            return await self._get_in(session, team_id)

    async def remove_member(self, team_id: str, user_id: str) -> Team:
        """Remove a member; ``NotFound`` if the team or the membership does not exist."""
        async with self._db.transaction(write=True) as session:
            await self._touch(session, team_id)
            rows = await session.fetch(
                "DELETE FROM team_members WHERE team_id = ? AND user_id = ? RETURNING user_id",
                (team_id, user_id),
            )
            if not rows:
                raise NotFound("the user is not a member of the team")
            return await self._get_in(session, team_id)

    async def _update(self, session: Session, team_id: str, columns: dict[str, object]) -> Team:
        columns["updated_at"] = utc_now(self._clock)
        assignments = ", ".join(f"{c} = ?" for c in columns)
        args = [encode_value(self._db.codec, c, v) for c, v in columns.items()]
        rows = await session.fetch(
            f"UPDATE teams SET {assignments} WHERE team_id = ? RETURNING *",  # noqa: S608
            [*args, team_id],
        )
        if not rows:
            raise NotFound("no team with that team_id")
        return (await self._with_members(session, rows))[0]

    async def _touch(self, session: Session, team_id: str) -> None:
        """Bump ``updated_at``; on PostgreSQL this locks the team's row, so that concurrent
        member changes of one team take turns (and member positions do not race)."""
        rows = await session.fetch(
            "UPDATE teams SET updated_at = ? WHERE team_id = ? RETURNING team_id",
            (encode_value(self._db.codec, "updated_at", utc_now(self._clock)), team_id),
        )
        if not rows:
            raise NotFound("no team with that team_id")

    async def _get_in(self, session: Session, team_id: str) -> Team:
        rows = await session.fetch("SELECT * FROM teams WHERE team_id = ?", (team_id,))
        return (await self._with_members(session, rows))[0]

    async def _with_members(self, session: Session, rows: Sequence[Row]) -> Sequence[Team]:
        """The teams of ``rows``, each with its members in the order they were added."""
        if not rows:
            return ()
        ids = [row["team_id"] for row in rows]
        member_rows = await session.fetch(
            "SELECT team_id, user_id, role FROM team_members "  # noqa: S608
            f"WHERE team_id IN ({placeholders(len(ids))}) ORDER BY position, user_id",
            ids,
        )
        members: dict[object, list[TeamMember]] = {team_id: [] for team_id in ids}
        for m in member_rows:
            member = TeamMember(str(m["user_id"]), m["role"])  # type: ignore[arg-type]
            members[m["team_id"]].append(member)
        return tuple(
            Team(
                **decode_row(self._db.codec, row, _COLUMNS),  # type: ignore[arg-type]
                members=tuple(members[row["team_id"]]),
            )
            for row in rows
        )
