"""No secret in any log line or error body, whatever the traffic: bad keys, upstream failures.

The gateway runs with the logging the CLI sets up (JSON lines, DEBUG, every handler redacting),
traffic is sent that makes it log as much as it can, and every line captured — our handler's
and pytest's — and every error body the clients received are searched for the master key,
virtual keys and the provider keys.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import aiohttp
import orjson
import pytest

from quotaflow.fake import FakeFault, FakeProviderConfig, FaultKind, create_fake_app
from quotaflow.observability import configure_logging
from quotaflow.serving import serve_app
from tests.support import MASTER_KEY, Stack, two_region_settings
from tests.unit.observability.support import observed_gateway

pytestmark = pytest.mark.e2e

# What a client may present that is not valid here: shaped like the keys the gateway mints.
VIRTUAL_KEYS = ("sk-qf-virtual-0123456789abcdef", "sk-qf-other-fedcba9876543210")
WRONG_PROVIDER_KEY = "openai-key-that-is-wrong-42"  # in the config; the upstream refuses it
CHAT = {"model": "gpt-4-preview", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


@pytest.fixture
def log_lines():
    """Every line the root handler writes, as the CLI configures it (JSON, DEBUG)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    yield stream
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


async def send(
    session: aiohttp.ClientSession, url: str, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, bytes]:
    async with session.post(url + path, json=body, headers=headers) as response:
        return response.status, await response.read()


async def test_no_secret_reaches_a_log_line_or_an_error_body(stack: Stack, log_lines, caplog):
    caplog.set_level(logging.DEBUG)
    sweden, france = await stack.region("sweden"), await stack.region("france")
    openai_app = create_fake_app(FakeProviderConfig(flavor="openai", api_key="openai-key-right"))
    openai_url = await stack.enter(serve_app(openai_app))
    settings = two_region_settings([sweden, france], cooldown_time=0.01)
    settings["model_list"].append(
        {
            "model_name": "gpt-4o-mini",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_base": openai_url + "/v1",
                "api_key": WRONG_PROVIDER_KEY,
            },
        }
    )
    gateway, _ = await observed_gateway(stack, settings)
    master = {"authorization": f"Bearer {MASTER_KEY}"}
    answers: list[tuple[int, bytes]] = []
    async with aiohttp.ClientSession() as session:

        async def call(
            body: Any = CHAT, headers: dict[str, str] = master, path: str = "/v1/chat/completions"
        ) -> None:
            answers.append(await send(session, gateway.url, path, body, headers))

        await call()
        await call({**CHAT, "stream": True})
        for key in VIRTUAL_KEYS:  # keys the gateway does not know, in every header it reads
            await call(headers={"authorization": f"Bearer {key}"})
            await call(headers={"api-key": key})
            await call(CHAT, {"x-api-key": key, "anthropic-version": "2023-06-01"}, "/v1/messages")
            await call(headers={**master, "x-request-id": key})  # echoed back, not logged
        await call(headers={"authorization": MASTER_KEY + "x"})
        await call(headers={})
        await call({**CHAT, "model": "gpt-4o-mini"})  # the upstream refuses the provider key
        for kind, status in [
            (FaultKind.STATUS, 500),
            (FaultKind.STATUS, 429),
            (FaultKind.RESET, 500),
            (FaultKind.GARBAGE, 500),
        ]:
            for region in (sweden, france):  # more than the retries: the client gets the error
                region.app.add_faults(FakeFault(kind, status=status, retry_after_s=0.01, times=2))
            await call()
            for region in (sweden, france):
                region.app.clear_faults()
        france.app.add_faults(FakeFault(FaultKind.ERROR_MID_STREAM, after_chunks=3))
        sweden.app.add_faults(FakeFault(FaultKind.ERROR_MID_STREAM, after_chunks=3))
        await call({**CHAT, "stream": True})
        await call({"model": "gpt-4-preview", "messages": "not a list"})

    lines = log_lines.getvalue().splitlines()
    access = [orjson.loads(line) for line in lines if '"quotaflow.access"' in line]
    assert len(access) == len(answers)  # one JSON line per request
    assert {entry["status"] for entry in access} >= {200, 400, 401, 429, 502, 503}
    errors = [body for status, body in answers if status >= 400]
    errors += [body for status, body in answers if b'data: {"error"' in body]
    assert len(errors) >= 15
    texts = {"log line": lines, "captured record": caplog.text.splitlines(), "error body": errors}
    secrets = [MASTER_KEY, *VIRTUAL_KEYS, "key-sweden", "key-france", WRONG_PROVIDER_KEY]
    for where, items in texts.items():
        for item in items:
            text = item.decode() if isinstance(item, bytes) else item
            for secret in secrets:
                assert secret not in text, f"{secret!r} in a {where}: {text}"
