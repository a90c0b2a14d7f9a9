"""Virtual keys in SQL: the ``virtual_keys`` table, keyed by ``token_hash``."""

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
from quotaflow.store.records import KeyChanges, Page, VirtualKey

if TYPE_CHECKING:
    from quotaflow.clock import Clock
    from quotaflow.store._sql import Session

__all__ = ["SqlKeyRepository"]

_COLUMNS = record_columns(VirtualKey)
_INSERT = insert_sql("virtual_keys", _COLUMNS)


class SqlKeyRepository:
    """``KeyRepository`` over a ``Database``."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    def _key(self, row: Row) -> VirtualKey:
        return VirtualKey(**decode_row(self._db.codec, row, _COLUMNS))  # type: ignore[arg-type]

    async def create(self, key: VirtualKey) -> VirtualKey:
        """Store a new key; ``Conflict`` if its hash or alias is taken."""
        now = utc_now(self._clock)
        stored = replace(key, created_at=now, updated_at=now)
        async with self._db.transaction(write=True) as session:
            await session.execute(_INSERT, record_values(self._db.codec, stored, _COLUMNS))
        return stored

    async def get_by_hash(self, token_hash: str) -> VirtualKey:
        """The key with this hash; ``NotFound`` if none."""
        return await self._get_one("token_hash", token_hash)

    async def get_by_alias(self, key_alias: str) -> VirtualKey:
        """The key with this alias; ``NotFound`` if none."""
        return await self._get_one("key_alias", key_alias)

    async def _get_one(self, column: str, value: str) -> VirtualKey:
        async with self._db.transaction(write=False) as session:
            sql = f"SELECT * FROM virtual_keys WHERE {column} = ?"  # noqa: S608
            rows = await session.fetch(sql, (value,))
        if not rows:
            raise NotFound(f"no key with that {column}")
        return self._key(rows[0])

    async def list(
        self,
        *,
        team_id: str | None = None,
        user_id: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[VirtualKey]:
        """Keys, oldest first, optionally of one team and/or one user."""
        conditions: list[str] = []
        args: list[object] = []
        for column, value in (("team_id", team_id), ("user_id", user_id)):
            if value is not None:
                conditions.append(f"{column} = ?")
                args.append(value)
        listing = Listing("virtual_keys", "token_hash", conditions, args)
        rows, next_cursor = await fetch_page(self._db, listing, cursor, limit)
        return Page(tuple(self._key(row) for row in rows), next_cursor)

    async def update(self, token_hash: str, changes: KeyChanges) -> VirtualKey:
        """Apply the set fields of ``changes``."""
        async with self._db.transaction(write=True) as session:
            return await self._update(session, token_hash, changed_columns(changes))

    async def _update(
        self, session: Session, token_hash: str, columns: dict[str, object]
    ) -> VirtualKey:
        columns["updated_at"] = utc_now(self._clock)
        assignments = ", ".join(f"{c} = ?" for c in columns)
        args = [encode_value(self._db.codec, c, v) for c, v in columns.items()]
        rows = await session.fetch(
            f"UPDATE virtual_keys SET {assignments} WHERE token_hash = ? RETURNING *",  # noqa: S608
            [*args, token_hash],
        )
        if not rows:
            raise NotFound("no key with that token_hash")
        return self._key(rows[0])

    async def delete(self, token_hash: str) -> None:
        """Delete the key; its spend history stays."""
        async with self._db.transaction(write=True) as session:
            rows = await session.fetch(
                "DELETE FROM virtual_keys WHERE token_hash = ? RETURNING token_hash", (token_hash,)
            )
        if not rows:
            raise NotFound("no key with that token_hash")

    async def set_blocked(self, token_hash: str, *, blocked: bool) -> VirtualKey:
        """Block or unblock the key."""
        async with self._db.transaction(write=True) as session:
            return await self._update(session, token_hash, {"blocked": blocked})

    async def regenerate(
        self, token_hash: str, new_token_hash: str, *, key_name: str | None
    ) -> VirtualKey:
        """Replace the key's hash and display name; its spend history moves along."""
        async with self._db.transaction(write=True) as session:
            key = await self._update(
                session, token_hash, {"token_hash": new_token_hash, "key_name": key_name}
            )
            for table in ("spend_logs", "spend_daily"):
                await session.execute(
                    f"UPDATE {table} SET key_hash = ? WHERE key_hash = ?",  # noqa: S608
                    (new_token_hash, token_hash),
                )
        return key
