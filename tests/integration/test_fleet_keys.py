"""Virtual keys across three gateway processes sharing Redis and PostgreSQL.

A key made on one replica works on the others within a second, a block holds everywhere within
a second, a budget holds for the fleet within one reservation, and the spend the store reports
is what the fake upstreams answered, to the token.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.fleet import HEADERS, running_fleet
from tests.integration.test_fleet import fleet_settings
from tests.services import require_redis, unique_prefix

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.fleet import Fleet
    from tests.store.conftest import PostgresSchema
    from tests.support import Stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

INPUT_USD, OUTPUT_USD = Decimal("0.0001"), Decimal("0.0002")  # per token
MAX_TOKENS = 20


def keyed_settings(regions: list[Any], schema: PostgresSchema, tmp_path: Path) -> dict[str, Any]:
    settings = fleet_settings(regions, unique_prefix(), routing_strategy="least-busy")
    for entry in settings["model_list"]:
        entry["litellm_params"]["input_cost_per_token"] = float(INPUT_USD)
        entry["litellm_params"]["output_cost_per_token"] = float(OUTPUT_USD)
    settings["general_settings"].update(
        database_url=f"{schema.url}?search_path={schema.name}", data_dir=str(tmp_path)
    )
    return dict(settings)


async def _post(fleet: Fleet, replica: int, path: str, body: dict[str, Any]) -> Any:
    url = fleet.urls[replica] + path
    async with fleet.session.post(url, json=body, headers=HEADERS) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def _get(fleet: Fleet, replica: int, path: str) -> Any:
    async with fleet.session.get(fleet.urls[replica] + path, headers=HEADERS) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def _chat(fleet: Fleet, replica: int, key: str) -> tuple[int, dict[str, Any]]:
    body = {
        "model": "gpt-4-preview",
        "messages": [{"role": "user", "content": "Tell me about quotas."}],
        "max_tokens": MAX_TOKENS,
    }
    url = fleet.urls[replica] + "/v1/chat/completions"
    async with fleet.session.post(
        url, json=body, headers={"authorization": f"Bearer {key}"}
    ) as response:
        return response.status, await response.json()


async def _status_everywhere(fleet: Fleet, key: str) -> list[int]:
    statuses = []
    for url in fleet.urls:
        async with fleet.session.get(
            url + "/v1/models", headers={"authorization": f"Bearer {key}"}
        ) as response:
            statuses.append(response.status)
    return statuses


async def _until(fleet: Fleet, key: str, wanted: int) -> float:
    started = time.monotonic()
    while await _status_everywhere(fleet, key) != [wanted] * len(fleet.urls):
        assert time.monotonic() - started < 5, "replicas never agreed"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_keys_and_budgets_hold_across_the_fleet(
    stack: Stack, tmp_path: Path, pg_schema: PostgresSchema
):
    require_redis()
    regions = [await stack.region(name) for name in ("france", "sweden")]
    settings = keyed_settings(regions, pg_schema, tmp_path)
    async with running_fleet(settings, tmp_path, size=3) as fleet:
        await _post(fleet, 0, "/team/new", {"team_alias": "dev", "models": ["gpt-4-preview"]})
        teams = await _get(fleet, 0, "/team/list")
        team_id = next(t["team_id"] for t in teams if t["team_alias"] == "dev")
        created = await _post(
            fleet,
            0,
            "/key/generate",
            {"team_id": team_id, "key_alias": "dev-1", "max_budget": 0.05},
        )
        key = created["key"]
        assert await _until(fleet, key, 200) < 1.0  # every replica knows it within a second

        results = await asyncio.gather(*(_chat(fleet, i % 3, key) for i in range(60)))

        served = [body for status, body in results if status == 200]
        refused = [body for status, body in results if status != 200]
        assert served
        assert refused
        assert all(body["error"]["code"] == "insufficient_quota" for body in refused)
        cost = sum(
            INPUT_USD * b["usage"]["prompt_tokens"] + OUTPUT_USD * b["usage"]["completion_tokens"]
            for b in served
        )
        # One reservation: the prompt plus max_tokens at the group's price.
        one_reservation = (INPUT_USD + OUTPUT_USD) * (b_prompt(served) + MAX_TOKENS)
        assert cost <= Decimal("0.05") + one_reservation

        # Every spend record reaches the database (the writer flushes about every second).
        logs: list[dict[str, Any]] = []
        for _ in range(50):
            logs = await _get(fleet, 1, f"/spend/logs?api_key={key}&limit=1000")
            if len([log for log in logs if log["status_code"] == 200]) == len(served):
                break
            await asyncio.sleep(0.1)
        ok = [log for log in logs if log["status_code"] == 200]
        assert len(ok) == len(served)
        assert sum(log["prompt_tokens"] for log in ok) == sum(
            b["usage"]["prompt_tokens"] for b in served
        )
        assert sum(log["completion_tokens"] for log in ok) == sum(
            b["usage"]["completion_tokens"] for b in served
        )
        assert sum(log["spend"] for log in ok) == pytest.approx(float(cost))
        # Both regions answered; each spend record names the one that did.
        assert {log["model_id"] for log in ok} == {"france", "sweden"}
        report = await _get(fleet, 2, "/global/spend/report?group_by=team")
        team_rows = [g for day in report for g in day["groups"] if g["group"] == team_id]
        assert sum(g["prompt_tokens"] + g["completion_tokens"] for g in team_rows) == sum(
            b["usage"]["total_tokens"] for b in served
        )

        await _post(fleet, 2, "/key/block", {"key": key})
        assert await _until(fleet, key, 401) < 1.0  # blocked everywhere within a second


def b_prompt(served: list[dict[str, Any]]) -> int:
    return max(int(b["usage"]["prompt_tokens"]) for b in served)
