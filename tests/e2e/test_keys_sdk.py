"""Virtual keys end to end: team ``dev`` → key → the official SDKs, limits, spend and reports.

A gateway on 127.0.0.1 with a SQLite store in the test's folder, in front of a fake Azure region.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import openai
import pytest

from quotaflow.app import create_app
from quotaflow.config import load_settings
from quotaflow.serving import serve_app
from tests.support import MASTER_KEY, Stack, two_region_settings
from tests.unit.management.keyed import Keyed, keyed_services

if TYPE_CHECKING:
    from pathlib import Path

    from openai.types.chat import ChatCompletionMessageParam

pytestmark = pytest.mark.e2e

CHAT = "gpt-4-preview"
EMBEDDING = "text-embedding-3-small"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello to dev."}]


class Deployed:
    """A gateway with virtual keys, and an admin client for its management API."""

    def __init__(self, url: str, keyed: Keyed) -> None:
        self.url = url
        self.keyed = keyed
        self.admin = httpx.AsyncClient(
            base_url=url, headers={"authorization": f"Bearer {MASTER_KEY}"}
        )

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.admin.post(path, json=body)
        assert answer.status_code == 200, answer.text
        answered: dict[str, Any] = answer.json()
        return answered

    async def get(self, path: str, **params: Any) -> Any:
        answer = await self.admin.get(path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def sdk(self, key: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)

    async def dev_key(self, **fields: Any) -> str:
        await self.post("/team/new", {"team_id": "dev", "models": [CHAT]})
        made = await self.post("/key/generate", {"team_id": "dev", "key_alias": "dev-ci", **fields})
        return str(made["key"])


async def _deploy(stack: Stack, tmp_path: Path, **general: Any) -> Deployed:
    region = await stack.region("sweden")
    config = two_region_settings([region])
    for entry in config["model_list"]:
        entry["litellm_params"] |= {"input_cost_per_token": 1e-5, "output_cost_per_token": 3e-5}
    config["general_settings"] |= general
    app = create_app(load_settings(data=config, environ={}).settings)
    keyed = await stack.enter(keyed_services(app, config, tmp_path))
    url = await stack.enter(serve_app(app, lifespan=True))
    deployed = Deployed(url, keyed)
    stack._exits.push_async_callback(deployed.admin.aclose)
    return deployed


async def test_team_key_models_and_permissions(stack: Stack, tmp_path: Path):
    gateway = await _deploy(stack, tmp_path)
    key = await gateway.dev_key()
    client = gateway.sdk(key)
    completion = await client.chat.completions.create(model=CHAT, messages=MESSAGES, max_tokens=5)
    assert completion.choices[0].message.content
    with pytest.raises(openai.NotFoundError) as info:
        await client.embeddings.create(model=EMBEDDING, input="hi")
    assert EMBEDDING in info.value.message
    assert "Available models: gpt-4-preview." in info.value.message
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(model=EMBEDDING, input="hi")
    assert [m.id for m in (await client.models.list()).data] == [CHAT]
    master = gateway.sdk(MASTER_KEY)
    assert [m.id for m in (await master.models.list()).data] == [CHAT, EMBEDDING]
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        denied = await http.post(
            "/key/generate", json={}, headers={"authorization": f"Bearer {key}"}
        )
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "permission_denied"
    document = await gateway.get("/openapi.json")
    assert {"/key/generate", "/team/new", "/user/new", "/spend/logs"} <= set(document["paths"])
    await client.close()
    await master.close()


async def test_rpm_limit_is_429_with_headers(stack: Stack, tmp_path: Path):
    gateway = await _deploy(stack, tmp_path)
    client = gateway.sdk(await gateway.dev_key(rpm_limit=2))
    first = await client.chat.completions.with_raw_response.create(
        model=CHAT, messages=MESSAGES, max_tokens=5
    )
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    await client.chat.completions.create(model=CHAT, messages=MESSAGES, max_tokens=5)
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model=CHAT, messages=MESSAGES, max_tokens=5)
    headers = info.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert "key 'dev-ci'" in info.value.message
    await client.close()


async def test_budget_is_insufficient_quota_naming_the_budget(stack: Stack, tmp_path: Path):
    gateway = await _deploy(stack, tmp_path)
    client = gateway.sdk(await gateway.dev_key(max_budget=0.0001, budget_duration="1d"))
    await client.chat.completions.create(model=CHAT, messages=MESSAGES, max_tokens=20)
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model=CHAT, messages=MESSAGES, max_tokens=20)
    error = info.value
    assert error.code == "insufficient_quota"
    assert error.type == "insufficient_quota"
    assert "Budget exceeded for key 'dev-ci'" in error.message
    assert "its budget is $0.0001 per 1d" in error.message
    key_info = await gateway.get("/key/info", key=await _only_key(gateway))
    assert key_info["info"]["spend"] > 0.0001
    assert f"has spent ${key_info['info']['spend']:.6f}".rstrip("0") in error.message
    await client.close()


async def test_blocked_and_expired_keys_are_401(stack: Stack, tmp_path: Path):
    gateway = await _deploy(stack, tmp_path)
    key = await gateway.dev_key()
    client = gateway.sdk(key)
    await gateway.post("/key/block", {"key": key})
    with pytest.raises(openai.AuthenticationError) as info:
        await client.chat.completions.create(model=CHAT, messages=MESSAGES)
    assert key not in info.value.message
    await gateway.post("/key/unblock", {"key": key})
    await client.chat.completions.create(model=CHAT, messages=MESSAGES, max_tokens=5)
    short = await gateway.post("/key/generate", {"duration": "1s"})
    await asyncio.sleep(1.05)
    async with gateway.sdk(short["key"]) as expired:
        with pytest.raises(openai.AuthenticationError, match="expired"):
            await expired.chat.completions.create(model=CHAT, messages=MESSAGES)
    await client.close()


async def test_spend_logs_and_report_match_the_upstream_counts(stack: Stack, tmp_path: Path):
    gateway = await _deploy(stack, tmp_path)
    client = gateway.sdk(await gateway.dev_key())
    prompt = completion = 0
    for tokens in (5, 9):
        answer = await client.chat.completions.create(
            model=CHAT, messages=MESSAGES, max_tokens=tokens
        )
        assert answer.usage is not None
        prompt += answer.usage.prompt_tokens
        completion += answer.usage.completion_tokens
    stream = await client.chat.completions.create(
        model=CHAT, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    async for chunk in stream:
        if chunk.usage is not None:
            prompt += chunk.usage.prompt_tokens
            completion += chunk.usage.completion_tokens
    with pytest.raises(openai.NotFoundError):
        await client.embeddings.create(model=EMBEDDING, input="not allowed")
    logs = await _wait_for_logs(gateway, 4)
    ok = [log for log in logs if log["status_code"] == 200]
    assert len(ok) == 3
    assert sum(log["prompt_tokens"] for log in ok) == prompt
    assert sum(log["completion_tokens"] for log in ok) == completion
    assert {log["team_id"] for log in logs} == {"dev"}
    assert {log["model_id"] for log in ok} == {"sweden"}
    refused = next(log for log in logs if log["status_code"] == 404)
    assert (refused["spend"], refused["status"]) == (0.0, "failure")
    expected = (prompt * 1e-5) + (completion * 3e-5)
    assert sum(log["spend"] for log in logs) == pytest.approx(expected)
    today = datetime.now(UTC).date().isoformat()
    report = await gateway.get("/global/spend/report", start_date=today, end_date=today)
    (day,) = report
    (team,) = day["groups"]
    assert (team["group"], team["requests"]) == ("dev", 4)
    assert (team["prompt_tokens"], team["completion_tokens"]) == (prompt, completion)
    await client.close()


async def _only_key(gateway: Deployed) -> str:
    listed = await gateway.get("/key/list")
    (token,) = listed["keys"]
    return str(token)


async def _wait_for_logs(gateway: Deployed, count: int) -> list[dict[str, Any]]:
    for _ in range(200):
        logs: list[dict[str, Any]] = await gateway.get("/spend/logs", team_id="dev")
        if len(logs) >= count:
            return logs
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {len(logs)} spend records")
