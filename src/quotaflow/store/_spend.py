"""Spend in SQL: one ``spend_logs`` row per request, ``spend_daily`` aggregates beside them.

``write_batch`` inserts the records that are new (by ``request_id``) and adds only those to the
daily aggregates, in the same transaction, so writing a batch twice never counts it twice; the
backend's ``Database.write_spend`` does it, with what ``SpendWrite`` holds.
Money sums use the codec's exact sum (SQLite stores decimal text, which SQL's ``SUM`` would
turn into floats).
"""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal
from typing import TYPE_CHECKING

from quotaflow.store._sql import (
    Codec,
    Database,
    Kind,
    Row,
    check_limit,
    decode_cursor,
    decode_row,
    encode_cursor,
    encode_value,
    insert_sql,
    record_columns,
    row_encoder,
    to_utc,
)
from quotaflow.store.base import DEFAULT_PAGE_SIZE
from quotaflow.store.records import Page, ReportRow, SpendFilter, SpendRecord

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from datetime import datetime

    from quotaflow.store.records import ReportGroup, SpendScope

__all__ = ["DAILY_KEY", "DAILY_SUMS", "SPEND_COLUMNS", "SpendWrite", "SqlSpendRepository"]

SPEND_COLUMNS = record_columns(SpendRecord)

DAILY_KEY = ("day", "key_hash", "team_id", "user_id", "model_group", "deployment_id")
"""The key of a ``spend_daily`` row: the UTC day of ``started_at``, and the ids ('' for none)."""
DAILY_SUMS = ("requests", "prompt_tokens", "completion_tokens", "cost_usd")

_GROUP_COLUMNS: Mapping[str, str] = {
    "team": "team_id",
    "key": "key_hash",
    "user": "user_id",
    "model": "model_group",
    "deployment": "deployment_id",
}
_SCOPE_COLUMNS: Mapping[str, str] = {"key": "key_hash", "team": "team_id", "user": "user_id"}
_ZERO = Decimal(0)

_DailyKey = tuple[date, str, str, str, str, str]


def daily_updates(codec: Codec) -> str:
    """The ``SET`` list that adds an ``excluded`` daily row to the stored one."""
    updates = [f"{c} = spend_daily.{c} + excluded.{c}" for c in DAILY_SUMS[:-1]]
    updates.append(f"cost_usd = {codec.money_add('spend_daily.cost_usd', 'excluded.cost_usd')}")
    return ", ".join(updates)


class SpendWrite:
    """What a backend's ``write_spend`` may use: the spend row encoder, the insert, and the
    daily aggregates of a batch with their upsert (adds to the stored row, exactly)."""

    def __init__(self, codec: Codec) -> None:
        self.columns = SPEND_COLUMNS
        self.encode_row: Callable[[SpendRecord], list[object]] = row_encoder(codec, SPEND_COLUMNS)
        """The record's ``columns``, encoded (checked: exact money, aware times)."""
        self.insert = (
            insert_sql("spend_logs", SPEND_COLUMNS) + " ON CONFLICT (request_id) DO NOTHING"
        )
        """Inserts one encoded row, unless its ``request_id`` is taken."""
        self.upsert_daily = (
            insert_sql("spend_daily", (*DAILY_KEY, *DAILY_SUMS)) + " "
            f"ON CONFLICT ({', '.join(DAILY_KEY)}) DO UPDATE SET {daily_updates(codec)}"
        )
        """Adds one row of ``daily_rows`` to ``spend_daily``."""
        self._day = codec.encoder(Kind.DAY)
        self._money = codec.encoder(Kind.MONEY)

    def daily_rows(self, records: Iterable[SpendRecord]) -> list[list[object]]:
        """One encoded row per daily aggregate the records add to, in key order (a fixed lock
        order); the records must have been encoded (checked) by ``encode_row``."""
        sums: dict[_DailyKey, list[int | Decimal]] = {}
        for r in records:
            at = r.started_at
            if at.tzinfo is not UTC:
                at = to_utc(at)
            key = (
                at.date(),
                r.key_hash or "",
                r.team_id or "",
                r.user_id or "",
                r.model_group or "",
                r.deployment_id or "",
            )
            total = sums.get(key)
            if total is None:
                sums[key] = [1, r.prompt_tokens, r.completion_tokens, _ZERO + r.cost_usd]
            else:
                total[0] += 1
                total[1] += r.prompt_tokens
                total[2] += r.completion_tokens
                total[3] += r.cost_usd
        return [
            [self._day(key[0]), *key[1:], *total[:3], self._money(total[3])]
            for key, total in sorted(sums.items())
        ]


class SqlSpendRepository:
    """``SpendRepository`` over a ``Database``."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._write = SpendWrite(database.codec)

    async def write_batch(self, records: Sequence[SpendRecord]) -> int:
        """Store the new records and add them to the daily aggregates; how many were new."""
        if not records:
            return 0
        if len({r.request_id for r in records}) != len(records):
            first: dict[str, SpendRecord] = {}
            for r in records:
                first.setdefault(r.request_id, r)
            records = list(first.values())
        return await self._db.write_spend(records, self._write)

    async def logs(
        self,
        spend_filter: SpendFilter | None = None,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[SpendRecord]:
        """Records matching the filter, newest first."""
        conditions, args = self._filter(spend_filter or SpendFilter())
        if cursor is not None:
            at, last = decode_cursor(cursor)
            conditions.append("(started_at, request_id) < (?, ?)")
            args += [encode_value(self._db.codec, "started_at", at), last]
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = (
            f"SELECT * FROM spend_logs {where} "  # noqa: S608
            "ORDER BY started_at DESC, request_id DESC LIMIT ?"
        )
        args.append(check_limit(limit) + 1)
        async with self._db.transaction(write=False) as session:
            rows = await session.fetch(sql, args)
        records = tuple(self._record(row) for row in rows[:limit])
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(records[-1].started_at, records[-1].request_id)
        return Page(records, next_cursor)

    def _filter(self, spend_filter: SpendFilter) -> tuple[list[str], list[object]]:
        conditions: list[str] = []
        args: list[object] = []
        for column in ("key_hash", "team_id", "user_id", "model_group"):
            value = getattr(spend_filter, column)
            if value is not None:
                conditions.append(f"{column} = ?")
                args.append(value)
        for op, at in ((">=", spend_filter.start), ("<", spend_filter.end)):
            if at is not None:
                conditions.append(f"started_at {op} ?")
                args.append(encode_value(self._db.codec, "started_at", at))
        return conditions, args

    def _record(self, row: Row) -> SpendRecord:
        values = decode_row(self._db.codec, row, SPEND_COLUMNS)
        return SpendRecord(**values)  # type: ignore[arg-type]

    async def report(self, group_by: ReportGroup, start: date, end: date) -> Sequence[ReportRow]:
        """Daily totals per group for the UTC days ``start`` to ``end`` inclusive."""
        column = _GROUP_COLUMNS[group_by]
        codec = self._db.codec
        sql = (
            f"SELECT day, {column} AS grp, SUM(requests) AS requests, "  # noqa: S608
            "SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, "
            f"{codec.money_sum}(cost_usd) AS cost_usd FROM spend_daily "
            f"WHERE day >= ? AND day <= ? GROUP BY day, {column} ORDER BY day, {column}"
        )
        args = [encode_value(codec, "day", start), encode_value(codec, "day", end)]
        async with self._db.transaction(write=False) as session:
            rows = await session.fetch(sql, args)
        return [self._report_row(row) for row in rows]

    def _report_row(self, row: Row) -> ReportRow:
        values = decode_row(self._db.codec, row, ("day", "cost_usd"))
        return ReportRow(
            day=values["day"],  # type: ignore[arg-type]
            group=str(row["grp"]) or None,
            requests=int(row["requests"]),  # type: ignore[call-overload]
            prompt_tokens=int(row["prompt_tokens"]),  # type: ignore[call-overload]
            completion_tokens=int(row["completion_tokens"]),  # type: ignore[call-overload]
            cost_usd=values["cost_usd"],  # type: ignore[arg-type]
        )

    async def total(self, scope: SpendScope, scope_id: str, since: datetime) -> Decimal:
        """Exact spend of one key, team or user with ``started_at >= since``."""
        column = _SCOPE_COLUMNS[scope]
        codec = self._db.codec
        sql = (
            f"SELECT {codec.money_sum}(cost_usd) AS cost_usd FROM spend_logs "  # noqa: S608
            f"WHERE {column} = ? AND started_at >= ?"
        )
        args = [scope_id, encode_value(codec, "started_at", since)]
        async with self._db.transaction(write=False) as session:
            rows = await session.fetch(sql, args)
        total = decode_row(codec, rows[0], ("cost_usd",))["cost_usd"]
        return Decimal(0) if total is None else total  # type: ignore[return-value]
