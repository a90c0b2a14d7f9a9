"""``Gate`` in process: failed calls release what they held and still leave a spend record."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from quotaflow.store import SpendFilter
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
