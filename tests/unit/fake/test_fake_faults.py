"""Scripted faults: the queue, each kind in-process, model-name scripts, and the control API."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import orjson
import pytest

from quotaflow.fake import FakeFault, FaultKind
from quotaflow.fake.faults import ModelScripts

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from quotaflow.clock import ManualClock
    from quotaflow.fake import FakeProvider

    Connect = Callable[..., tuple[FakeProvider, httpx.AsyncClient]]

CHAT = "/v1/chat/completions"
HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}


async def test_queue_is_fifo_with_times_and_model_filter(connect: Connect) -> None:
    app, client = connect()
    app.add_faults(
        FakeFault(FaultKind.STATUS, status=503, model="other"),
        FakeFault(FaultKind.STATUS, status=500, times=2),
        FakeFault(FaultKind.STATUS, status=502),
    )
    statuses = [(await client.post(CHAT, json=HELLO)).status_code for _ in range(4)]
    assert statuses == [500, 500, 502, 200]
    assert (await client.post(CHAT, json={**HELLO, "model": "other"})).status_code == 503
    assert app.stats.faults == {"status": 4}


async def test_control_api(connect: Connect) -> None:
    _, client = connect()
    faults = {"faults": [{"kind": "garbage", "times": 2}, {"kind": "delay", "delay_ms": 5}]}
    queued = await client.post("/_fake/faults", json=faults)
    assert queued.status_code == 200
    pending = (await client.get("/_fake/faults")).json()["faults"]
    assert [(f["kind"], f["times"]) for f in pending] == [("garbage", 2), ("delay", 1)]
    await client.post(CHAT, json=HELLO)
    assert (await client.get("/_fake/faults")).json()["faults"][0]["times"] == 1
    assert (await client.delete("/_fake/faults")).json() == {"faults": []}
    assert (await client.post(CHAT, json=HELLO)).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        b"nope",
        b'{"faults": {"kind": "status"}}',
        b'{"faults": [{"kind": "explode"}]}',
        b'{"faults": [{"kind": "status", "color": "red"}]}',
        b'{"faults": [{"kind": "status", "times": 0}]}',
        b'{"faults": [{"kind": "status", "status": 42}]}',
        b'{"faults": [{"kind": "status", "times": "2"}]}',
        b'{"faults": [{"kind": "delay", "delay_ms": true}]}',
        b'{"faults": [{"times": 1}]}',
    ],
)
async def test_control_api_rejects_bad_faults(connect: Connect, payload: bytes) -> None:
    _, client = connect()
    response = await client.post("/_fake/faults", content=payload)
    assert response.status_code == 400
    assert response.json()["error"]["message"]
    assert (await client.get("/_fake/faults")).json() == {"faults": []}


async def test_unknown_control_route(connect: Connect) -> None:
    _, client = connect()
    assert (await client.get("/_fake/nothing")).status_code == 404


async def test_status_429_and_500_are_openai_shaped(connect: Connect) -> None:
    app, client = connect()
    app.add_faults(
        FakeFault(FaultKind.STATUS, status=429, retry_after_s=0.25),
        FakeFault(FaultKind.STATUS, status=500),
    )
    limited = await client.post(CHAT, json=HELLO)
    assert limited.status_code == 429
    assert (limited.headers["retry-after"], limited.headers["retry-after-ms"]) == ("1", "250")
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert limited.json()["error"]["message"].endswith("Please try again in 250ms.")
    failed = await client.post(CHAT, json=HELLO)
    assert failed.json() == {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    assert "retry-after" not in failed.headers


async def test_delay(connect: Connect, clock: ManualClock) -> None:
    app, client = connect()
    app.add_faults(FakeFault(FaultKind.DELAY, delay_ms=80))
    started = clock.monotonic()  # the fake waits on its clock
    assert (await client.post(CHAT, json=HELLO)).status_code == 200
    assert clock.monotonic() - started == pytest.approx(0.08)


async def test_hang_never_answers(connect: Connect) -> None:
    app, client = connect()
    app.add_faults(FakeFault(FaultKind.HANG))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.post(CHAT, json=HELLO), timeout=0.1)


async def test_garbage(connect: Connect) -> None:
    app, client = connect()
    app.add_faults(FakeFault(FaultKind.GARBAGE))
    response = await client.post(CHAT, json=HELLO)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


async def test_garbage_stream(connect: Connect) -> None:
    app, client = connect()
    app.add_faults(FakeFault(FaultKind.GARBAGE_STREAM))
    response = await client.post(CHAT, json={**HELLO, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    assert lines[-1] == "[DONE]"
    for line in lines[:-1]:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(line)


async def test_error_mid_stream(connect: Connect) -> None:
    app, client = connect(flavor="azure")
    app.add_faults(FakeFault(FaultKind.ERROR_MID_STREAM, after_chunks=2, times=2))
    chat = "/openai/deployments/d/chat/completions?api-version=2024-10-21"
    body = {"messages": HELLO["messages"], "stream": True}
    frames = (await client.post(chat, json=body)).text.removesuffix("\n\n").split("\n\n")
    assert len(frames) == 3
    assert orjson.loads(frames[0].removeprefix("data: "))["choices"] == []
    assert orjson.loads(frames[2].removeprefix("data: ")) == {
        "error": {
            "code": "InternalServerError",
            "message": "The server had an error while processing your request.",
        }
    }
    plain = await client.post(chat, json={"messages": HELLO["messages"]})
    assert plain.status_code == 500


@pytest.mark.parametrize("kind", [FaultKind.RESET, FaultKind.RESET_MID_STREAM])
async def test_cuts_raise_in_process(connect: Connect, kind: FaultKind) -> None:
    app, client = connect()
    app.add_faults(FakeFault(kind))
    with pytest.raises(ConnectionResetError):
        await client.post(CHAT, json={**HELLO, "stream": True})


async def test_model_name_scripts(connect: Connect) -> None:
    _, client = connect()

    async def status(model: str) -> int:
        return (await client.post(CHAT, json={**HELLO, "model": model})).status_code

    assert [await status("fake-flaky-2") for _ in range(4)] == [500, 500, 200, 200]
    limited = await client.post(CHAT, json={**HELLO, "model": "fake-error-429"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert await status("fake-error-503") == 503
    assert await status("fake-anything-else") == 200
    await client.post("/_fake/reset")
    assert await status("fake-flaky-2") == 500
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(status("fake-hang"), timeout=0.1)


def test_model_scripts_table() -> None:
    scripts = ModelScripts()
    assert scripts.fault_for("gpt-4o") is None
    assert scripts.fault_for("fake-slow") == FakeFault(FaultKind.DELAY, delay_ms=1000.0)
    assert scripts.fault_for("fake-hang") == FakeFault(FaultKind.HANG)
    assert scripts.fault_for("fake-error-999") is None
    assert scripts.fault_for("fake-flaky-0") is None


async def test_queued_fault_wins_over_script_and_status_faults_skip_quota(connect: Connect) -> None:
    app, client = connect(rpm=6)
    app.add_faults(FakeFault(FaultKind.STATUS, status=502))
    assert (await client.post(CHAT, json={**HELLO, "model": "fake-error-500"})).status_code == 502
    assert (await client.post(CHAT, json=HELLO)).status_code == 200
    assert app.stats.tokens_charged > 0
