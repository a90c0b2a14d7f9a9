"""The ``SpendRepository`` contract, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from quotaflow.store import InvalidQuery, ReportRow, SpendFilter, SpendRecord

if TYPE_CHECKING:
    from quotaflow.store import Store

DAY1 = datetime(2025, 3, 1, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def record(request_id: str, started_at: datetime = DAY1, **fields: object) -> SpendRecord:
    base = SpendRecord(
        request_id=request_id,
        started_at=started_at,
        ended_at=started_at + timedelta(milliseconds=1234),
        cost_usd=Decimal("0.001"),
        key_hash="k1",
        key_alias="ci",
        team_id="t1",
        user_id="u1",
        model_group="gpt-4o",
        deployment_id="azure-east",
        provider="azure",
        prompt_tokens=10,
        completion_tokens=5,
        cached_tokens=2,
        latency_ms=1234.5,
        status=200,
        metadata={"route": "/v1/chat/completions", "retries": 1},
    )
    return replace(base, **fields)  # type: ignore[arg-type]


async def test_records_round_trip(store: Store):
    records = [record("r1"), record("r2", key_hash=None, key_alias=None, team_id=None)]
    assert await store.spend.write_batch(records) == 2
    page = await store.spend.logs()
    assert sorted(page.items, key=lambda r: r.request_id) == records
    assert page.next_cursor is None


async def test_write_batch_is_idempotent_including_daily_aggregates(store: Store):
    batch = [record(f"r{i}", cost_usd=Decimal("0.5")) for i in range(4)]
    assert await store.spend.write_batch(batch) == 4
    assert await store.spend.write_batch(batch) == 0
    assert await store.spend.write_batch([*batch[2:], record("r4", cost_usd=Decimal(1))]) == 1
    assert await store.spend.write_batch([record("r5"), record("r5")]) == 1
    assert await store.spend.write_batch([]) == 0
    [row] = await store.spend.report("key", DAY1.date(), DAY1.date())
    assert row == ReportRow(DAY1.date(), "k1", 6, 60, 30, Decimal("3.001"))
    assert await store.spend.total("key", "k1", DAY1) == Decimal("3.001")


async def test_decimal_sums_are_exact(store: Store):
    costs = [Decimal("0.1"), Decimal("0.2"), Decimal("0.0000001")] * 400
    batch = [record(f"r{i}", cost_usd=c) for i, c in enumerate(costs)]
    for at in range(0, len(batch), 250):
        await store.spend.write_batch(batch[at : at + 250])
    expected = Decimal("120.00004")
    assert sum(costs) == expected
    assert await store.spend.total("team", "t1", DAY1) == expected
    [row] = await store.spend.report("team", DAY1.date(), DAY1.date())
    assert (row.cost_usd, row.requests) == (expected, 1200)


async def test_total_per_scope_since_a_time(store: Store):
    await store.spend.write_batch(
        [
            record("a", DAY1, cost_usd=Decimal("1.1")),
            record("b", DAY2, cost_usd=Decimal("2.2")),
            record("c", DAY2, cost_usd=Decimal("4.4"), key_hash="k2", user_id="u2"),
        ]
    )
    assert await store.spend.total("key", "k1", DAY1) == Decimal("3.3")
    assert await store.spend.total("key", "k1", DAY2) == Decimal("2.2")  # since is inclusive
    assert await store.spend.total("key", "k1", DAY2 + timedelta(microseconds=1)) == 0
    assert await store.spend.total("team", "t1", DAY1) == Decimal("7.7")
    assert await store.spend.total("user", "u2", DAY1) == Decimal("4.4")
    assert await store.spend.total("user", "nobody", DAY1) == Decimal(0)


async def test_report_rows_per_day_and_group(store: Store):
    await store.spend.write_batch(
        [
            record("a", DAY1, cost_usd=Decimal("1")),
            record("b", DAY1 + timedelta(hours=23), cost_usd=Decimal("2"), deployment_id="d2"),
            record("c", DAY2, cost_usd=Decimal("4"), key_hash=None, model_group="claude"),
            record("d", DAY2 + timedelta(days=1), cost_usd=Decimal("8")),
        ]
    )
    d1, d2 = DAY1.date(), DAY2.date()
    by_key = await store.spend.report("key", d1, d2)
    assert by_key == [
        ReportRow(d1, "k1", 2, 20, 10, Decimal(3)),
        ReportRow(d2, None, 1, 10, 5, Decimal(4)),
    ]
    by_deployment = await store.spend.report("deployment", d1, d1)
    assert [(r.group, r.cost_usd) for r in by_deployment] == [
        ("azure-east", Decimal(1)),
        ("d2", Decimal(2)),
    ]
    by_model = await store.spend.report("model", d1, date(2025, 3, 31))
    assert [(r.day.day, r.group, r.requests) for r in by_model] == [
        (1, "gpt-4o", 2),
        (2, "claude", 1),
        (3, "gpt-4o", 1),
    ]
    by_team = await store.spend.report("team", d1, d2)
    assert [(r.group, r.cost_usd) for r in by_team] == [("t1", Decimal(3)), ("t1", Decimal(4))]
    by_user = await store.spend.report("user", d2, d2)
    assert [(r.group, r.cost_usd) for r in by_user] == [("u1", Decimal(4))]
    assert await store.spend.report("team", date(2024, 1, 1), date(2024, 12, 31)) == []


async def test_logs_filter_and_page_newest_first(store: Store):
    records = [
        record(f"r{i:02d}", DAY1 + timedelta(minutes=i // 2), key_hash=f"k{i % 3}")
        for i in range(12)
    ]
    await store.spend.write_batch(records)
    newest_first = sorted(records, key=lambda r: (r.started_at, r.request_id), reverse=True)

    seen: list[SpendRecord] = []
    cursor: str | None = None
    while True:
        page = await store.spend.logs(cursor=cursor, limit=5)
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == newest_first

    only_k1 = await store.spend.logs(SpendFilter(key_hash="k1"), limit=100)
    assert list(only_k1.items) == [r for r in newest_first if r.key_hash == "k1"]
    window = SpendFilter(start=DAY1 + timedelta(minutes=2), end=DAY1 + timedelta(minutes=4))
    assert [r.request_id for r in (await store.spend.logs(window)).items] == [
        "r07",
        "r06",
        "r05",
        "r04",
    ]
    for spend_filter in (
        SpendFilter(team_id="t2"),
        SpendFilter(user_id="u2"),
        SpendFilter(model_group="claude"),
    ):
        assert (await store.spend.logs(spend_filter)).items == ()
    assert (
        len((await store.spend.logs(SpendFilter(team_id="t1", model_group="gpt-4o"))).items) == 12
    )


async def test_logs_refuse_a_foreign_cursor(store: Store):
    with pytest.raises(InvalidQuery):
        await store.spend.logs(cursor="eyJ4Ijox")


async def test_write_batch_refuses_inexact_money_and_naive_times_and_writes_nothing(store: Store):
    naive = datetime(2025, 3, 1)  # noqa: DTZ001
    for bad, error, match in (
        (record("bad", cost_usd=0.1), TypeError, "Decimal"),
        (record("bad", cost_usd=Decimal("NaN")), ValueError, "finite"),
        (record("bad", started_at=naive), ValueError, "naive"),
        (record("bad", ended_at=naive), ValueError, "naive"),
    ):
        with pytest.raises(error, match=match):
            await store.spend.write_batch([record("good"), bad])
    assert (await store.spend.logs()).items == ()
    assert await store.spend.report("key", DAY1.date(), DAY2.date()) == []
    assert await store.spend.write_batch([record("int", cost_usd=2)]) == 1
    assert await store.spend.total("key", "k1", DAY1) == Decimal(2)


async def test_times_in_other_zones_count_on_their_utc_day(store: Store):
    plus_two = timezone(timedelta(hours=2))
    late = datetime(2025, 3, 2, 1, 30, tzinfo=plus_two)  # 2025-03-01 23:30 UTC
    whole = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)  # no microseconds
    written = [record("late", late, ended_at=late), record("whole", whole, ended_at=whole)]
    assert await store.spend.write_batch(written) == 2
    rows = await store.spend.report("key", DAY1.date(), DAY2.date())
    assert [(r.day, r.requests) for r in rows] == [(DAY1.date(), 1), (DAY2.date(), 1)]
    by_id = {r.request_id: r for r in (await store.spend.logs()).items}
    assert by_id["late"].started_at == late
    assert by_id["late"].started_at.tzinfo == UTC
    assert by_id["whole"].ended_at == whole


async def test_a_large_batch_written_again_with_new_records_counts_only_those(store: Store):
    batch = [record(f"r{i:05d}", DAY1 + timedelta(seconds=i)) for i in range(1200)]
    assert await store.spend.write_batch(batch) == 1200
    again = [*batch, record("n1"), record("n2", DAY2), record("n1")]
    assert await store.spend.write_batch(again) == 2
    rows = await store.spend.report("team", DAY1.date(), DAY2.date())
    assert [(r.day, r.requests, r.cost_usd) for r in rows] == [
        (DAY1.date(), 1201, Decimal("1.201")),
        (DAY2.date(), 1, Decimal("0.001")),
    ]
