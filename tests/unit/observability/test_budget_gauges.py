"""Remaining budgets per key and team: a snapshot refreshed from the counters, bounded labels."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

from prometheus_client import CollectorRegistry

from quotaflow.app import create_app
from quotaflow.auth import KeyCache
from quotaflow.clock import ManualClock
from quotaflow.limits import MemoryLimitCounters
from quotaflow.limits.budgets import budget_of
from quotaflow.observability.budget_gauges import BudgetGauges
from quotaflow.observability.metrics import GatewayMetrics
from quotaflow.store.records import Team, VirtualKey
from quotaflow.store.spend_writer import SpendWriterCounters
from tests.unit.observability.support import settings

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def key(name: str, budget: str | None = "10", **fields) -> VirtualKey:
    return VirtualKey(
        token_hash=f"{name:0<64}",
        key_name=f"sk-...{name[-4:]}",
        max_budget=Decimal(budget) if budget is not None else None,
        **fields,
    )


def team(team_id: str, budget: str | None = "100", alias: str | None = None) -> Team:
    return Team(
        team_id=team_id,
        team_alias=alias,
        max_budget=Decimal(budget) if budget is not None else None,
    )


def gauges(
    cache: KeyCache, counters: MemoryLimitCounters, clock: ManualClock | None = None, **options
) -> BudgetGauges:
    clock = clock or ManualClock(wall_start=NOW.timestamp())
    max_teams = options.pop("max_teams", 100)
    metrics = GatewayMetrics(CollectorRegistry(), max_teams=max_teams)
    return BudgetGauges(cache, counters, clock, team_label=metrics.team_label, **options)


def values(budgets: BudgetGauges, index: int = 0) -> dict[tuple[str, ...], float]:
    _, read = budgets.sources()[index]
    return {tuple(labels): value for labels, value in read()}


async def spend(counters: MemoryLimitCounters, kind, record, ident: str, usd: str) -> None:
    budget = budget_of(kind, record, ident, NOW)
    assert budget is not None
    await counters.seed(budget.counter, Decimal(usd))


async def test_remaining_is_the_budget_minus_the_spend_of_the_current_period():
    cache, counters = KeyCache(), MemoryLimitCounters(ManualClock())
    ci = key("ci", key_alias="ci")
    dev = team("t-1", alias="dev")
    cache.replace_all([ci, key("nobudget", budget=None)], [dev, team("t-2", budget=None)], [])
    await spend(counters, "key", ci, ci.token_hash, "2.5")
    await spend(counters, "team", dev, "t-1", "40")
    budgets = gauges(cache, counters)

    assert values(budgets) == {}  # nothing before the first refresh
    await budgets.refresh()

    assert values(budgets) == {("key", "ci"): 7.5, ("team", "dev"): 60.0}
    assert values(budgets, 1) == {("key", "ci"): 10.0, ("team", "dev"): 100.0}


async def test_labels_are_the_alias_else_the_display_form_and_stay_unique():
    cache, counters = KeyCache(), MemoryLimitCounters(ManualClock())
    one, two = key("aaaa1234"), key("bbbb1234")  # the same display form, sk-...1234
    cache.replace_all([one, two], [team("t-9")], [])
    budgets = gauges(cache, counters)

    await budgets.refresh()

    assert set(values(budgets)) == {
        ("key", "sk-...1234"),
        ("key", f"sk-...1234~{two.token_hash[:8]}"),
        ("team", "t-9"),  # no alias: the id
    }


async def test_series_are_capped_and_a_deleted_key_frees_its_place():
    cache, counters = KeyCache(), MemoryLimitCounters(ManualClock())
    keys = [key(f"k{i}", key_alias=f"k{i}") for i in range(4)]
    teams = [team(f"t{i}", alias=f"team{i}") for i in range(3)]
    cache.replace_all(keys, teams, [])
    budgets = gauges(cache, counters, max_keys=2, max_teams=2)

    await budgets.refresh()
    assert set(values(budgets)) == {
        ("key", "k0"),
        ("key", "k1"),
        ("team", "team0"),
        ("team", "team1"),  # the third team's label would be "other": no series
    }

    cache.drop_key(keys[0].token_hash)
    await budgets.refresh()
    assert {name for scope, name in values(budgets) if scope == "key"} == {"k1", "k2"}


async def test_a_failing_read_keeps_the_last_snapshot(caplog):
    cache, counters = KeyCache(), MemoryLimitCounters(ManualClock())
    cache.replace_all([key("ci", key_alias="ci")], [], [])
    clock = ManualClock(wall_start=NOW.timestamp())
    budgets = gauges(cache, counters, clock, refresh_s=1.0)
    await budgets.refresh()

    async def down(names):
        raise ConnectionError("redis away")

    counters.spent = down  # type: ignore[method-assign]
    started = clock.monotonic()
    task = asyncio.create_task(budgets.run())
    for _ in range(3):
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    assert clock.monotonic() >= started + 2  # it failed, slept and tried again
    assert values(budgets) == {("key", "ci"): 10.0}
    assert "reading the budgets for the metrics failed" in caplog.text


async def test_an_app_shows_the_budgets_and_the_store_once_watched():
    cache, counters = KeyCache(), MemoryLimitCounters(ManualClock())
    cache.replace_all([key("ci", key_alias="ci")], [team("t-1", alias="dev")], [])
    app = create_app(settings(), clock=ManualClock())
    observability = app.services.observability
    assert observability is not None
    writer = SimpleNamespace(counters=SpendWriterCounters(0, 0, 5, 1, 0))
    observability.watch_store(writer, "sqlite")  # type: ignore[arg-type]

    await observability.open()
    observability.watch_budgets(cache, counters)  # after the start: it reads at once
    for _ in range(3):
        await asyncio.sleep(0)
    page = observability.page()[0].decode()
    await observability.close()

    assert 'quotaflow_budget_remaining_usd{name="ci",scope="key"} 10.0' in page
    assert 'quotaflow_budget_max_usd{name="dev",scope="team"} 100.0' in page
    assert 'quotaflow_backend_up{backend="sqlite",role="store"} 1.0' in page
    assert "quotaflow_spend_records_dropped_total 1.0" in page
