"""``/spend/logs``, ``/global/spend/report`` and ``/openapi.json`` in process."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from quotaflow.store import SpendRecord
from tests.unit.management.keyed import Keyed, client, keyed_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

DAY1 = datetime(2025, 3, 1, 12, tzinfo=UTC)
DAY2 = datetime(2025, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
async def keyed(tmp_path: Path) -> AsyncIterator[Keyed]:
    async with keyed_app(tmp_path) as keyed:
        yield keyed


async def _post(keyed: Keyed, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with client(keyed.app) as http:
        answer = await http.post(path, json=body)
    assert answer.status_code == 200, answer.text
    answered: dict[str, Any] = answer.json()
    return answered


async def _get(keyed: Keyed, path: str, caller: str | None = None, **params):
    async with client(keyed.app, *(caller,) if caller else ()) as http:
        return await http.get(path, params=params)


def _record(n: int, key: dict[str, Any], started: datetime, tokens: tuple[int, int]) -> SpendRecord:
    return SpendRecord(
        request_id=f"r{n}",
        started_at=started,
        ended_at=started,
        cost_usd=Decimal("0.001") * tokens[0],
        key_hash=key["token"],
        team_id=key["team_id"],
        model_group="gpt-4-preview",
        deployment_id="d1",
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
    )


@pytest.fixture
async def two_teams(keyed: Keyed) -> tuple[dict[str, Any], dict[str, Any]]:
    await _post(keyed, "/team/new", {"team_id": "dev"})
    await _post(keyed, "/team/new", {"team_id": "ops"})
    dev = await _post(keyed, "/key/generate", {"team_id": "dev"})
    ops = await _post(keyed, "/key/generate", {"team_id": "ops"})
    await keyed.store.spend.write_batch(
        [
            _record(1, dev, DAY1, (10, 5)),
            _record(2, dev, DAY2, (20, 5)),
            _record(3, ops, DAY2, (30, 5)),
        ]
    )
    return dev, ops


async def test_logs_filter_and_paginate(keyed: Keyed, two_teams):
    dev, _ = two_teams
    everything = (await _get(keyed, "/spend/logs")).json()
    assert [log["request_id"] for log in everything] == ["r3", "r2", "r1"]
    assert everything[0]["total_tokens"] == 35
    assert everything[0]["status"] == "success"
    by_key = (await _get(keyed, "/spend/logs", api_key=dev["key"])).json()
    assert [log["request_id"] for log in by_key] == ["r2", "r1"]
    by_day = await _get(keyed, "/spend/logs", start_date="2025-03-02", end_date="2025-03-02")
    assert [log["request_id"] for log in by_day.json()] == ["r3", "r2"]
    first = await _get(keyed, "/spend/logs", limit=2)
    assert len(first.json()) == 2
    rest = await _get(keyed, "/spend/logs", limit=2, cursor=first.headers["x-next-cursor"])
    assert [log["request_id"] for log in rest.json()] == ["r1"]
    assert "x-next-cursor" not in rest.headers
    assert (await _get(keyed, "/spend/logs", start_date="yesterday")).status_code == 400


async def test_a_key_sees_only_its_own_teams_spend(keyed: Keyed, two_teams):
    dev, ops = two_teams
    own = await _get(keyed, "/spend/logs", caller=dev["key"])
    assert [log["request_id"] for log in own.json()] == ["r2", "r1"]
    for params in ({"team_id": "ops"}, {"api_key": ops["token"]}):
        refused = await _get(keyed, "/spend/logs", caller=dev["key"], **params)
        assert refused.status_code == 403, params
        assert ops["token"] not in refused.text


async def test_report_groups_per_day(keyed: Keyed, two_teams):
    report = await _get(
        keyed, "/global/spend/report", start_date="2025-03-01", end_date="2025-03-02"
    )
    assert report.status_code == 200, report.text
    days = report.json()
    assert [d["group_by_day"] for d in days] == ["2025-03-01", "2025-03-02"]
    assert [(g["group"], g["total_tokens"]) for g in days[1]["groups"]] == [
        ("dev", 25),
        ("ops", 35),
    ]
    by_model = await _get(
        keyed,
        "/global/spend/report",
        start_date="2025-03-01",
        end_date="2025-03-02",
        group_by="model",
    )
    assert by_model.json()[1]["groups"][0] == {
        "group": "gpt-4-preview",
        "total_spend": 0.05,
        "requests": 2,
        "prompt_tokens": 50,
        "completion_tokens": 10,
        "total_tokens": 60,
    }
    assert (await _get(keyed, "/global/spend/report", group_by="moon")).status_code == 400


async def test_openapi_lists_every_management_route(keyed: Keyed):
    async with client(keyed.app, "") as http:
        document = (await http.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in ("/key/generate", "/team/member_add", "/user/list", "/spend/logs"):
        assert path in paths
    generate = paths["/key/generate"]["post"]
    schema_name = generate["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_name.rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False
    assert "max_budget" in schema["properties"]
    assert {p["name"] for p in paths["/key/list"]["get"]["parameters"]} >= {"team_id", "page"}
