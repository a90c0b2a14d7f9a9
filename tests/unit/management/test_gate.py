"""``Gate`` in process: failed calls release what they held and still leave a spend record."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from quotaflow.auth.principal import Principal
from quotaflow.clock import ManualClock
from quotaflow.management.gate import Gate
from quotaflow.providers.base import Usage
from quotaflow.routing.deployment import Deployment
from quotaflow.server.exchange import Exchange
from quotaflow.store import SpendFilter, SpendRecord, VirtualKey
from tests.unit.management.keyed import client, keyed_app, settings

if TYPE_CHECKING:
    from pathlib import Path

CHAT: dict[str, Any] = {
    "model": "gpt-4-preview",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 10,
}


async def test_a_failed_call_settles_and_is_recorded(tmp_path: Path):
    config = settings()
    config["router_settings"] = {"num_retries": 0, "cooldown_time": 0, "queue_timeout": 0}
    async with keyed_app(tmp_path, config) as keyed:
        await keyed.app.startup()
        try:
            async with client(keyed.app) as admin:
                made = await admin.post(
                    "/key/generate",
                    json={"max_parallel_requests": 1, "rpm_limit": 10, "max_budget": 1},
                )
            key = made.json()["key"]
            async with client(keyed.app, key) as http:
                for _ in range(3):  # the upstream is down: 503 each time, never 429
                    answer = await http.post("/v1/chat/completions", json=CHAT)
                    assert answer.status_code == 503, answer.text
                    assert answer.headers["x-ratelimit-limit-requests"] == "10"
                    await asyncio.sleep(0)  # let the settlement run
                models = await http.get("/v1/models")
            assert [m["id"] for m in models.json()["data"]] == ["gpt-4-preview", "gpt-4o-mini"]
            for _ in range(100):
                page = await keyed.store.spend.logs(SpendFilter(key_hash=made.json()["token"]))
                if len(page.items) == 3:
                    break
                await asyncio.sleep(0.02)
            assert [r.status for r in page.items] == [503, 503, 503]
            assert {r.cost_usd for r in page.items} == {0}
            assert {r.model_group for r in page.items} == {"gpt-4-preview"}
            assert all(r.deployment_id for r in page.items)
        finally:
            await keyed.app.shutdown()


class _Sink:
    def __init__(self) -> None:
        self.records: list[SpendRecord] = []

    def submit(self, record: SpendRecord) -> None:
        self.records.append(record)


async def _nothing(*_args: object) -> Any:
    return None


def _finished(principal: Principal, clock: ManualClock, headers: list[Any]) -> Exchange:
    exchange = Exchange({"headers": headers}, _nothing, _nothing, clock.monotonic(), lambda: "r1")
    deployment = Deployment(id="east", model_group="gpt-4o", provider="azure", upstream_model="m")
    outcome = exchange.outcome
    outcome.principal, outcome.model = principal, "gpt-4o"
    outcome.routed = cast("Any", SimpleNamespace(deployment=deployment))
    outcome.usage = Usage(prompt_tokens=12, completion_tokens=5, cached_tokens=2)
    outcome.cost_usd = Decimal("0.0123")
    exchange.status = 200
    return exchange


def test_the_spend_record_of_a_call_field_by_field():
    clock, sink = ManualClock(), _Sink()
    router = cast("Any", SimpleNamespace(groups={}))
    gate = Gate(router, clock, enforcer=None, spend=cast("Any", sink), default_max_tokens=16)
    key = VirtualKey("ab" * 32, key_alias="ci", team_id="t1", user_id="u1")
    keyed = _finished(Principal(is_admin=False, key_alias="ci", key=key), clock, [])
    master = _finished(Principal(is_admin=True), clock, [(b"x-request-id", b"r1")])
    clock.advance(1.5)
    gate.finish(keyed)
    gate.finish(master)
    start = datetime.fromtimestamp(clock.wall() - 1.5, UTC)
    end = datetime.fromtimestamp(clock.wall(), UTC)
    common: dict[str, Any] = {
        "started_at": start,
        "ended_at": end,
        "cost_usd": Decimal("0.0123"),
        "model_group": "gpt-4o",
        "deployment_id": "east",
        "provider": "azure",
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "cached_tokens": 2,
        "latency_ms": 1500.0,
        "status": 200,
    }
    assert sink.records[0] == SpendRecord(
        "r1", key_hash="ab" * 32, key_alias="ci", team_id="t1", user_id="u1", **common
    )
    assert sink.records[1].request_id.startswith("r1~")  # the client chose it: made unique
    assert sink.records[1] == SpendRecord(sink.records[1].request_id, **common)
