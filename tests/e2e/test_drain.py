"""SIGTERM: readiness turns 503 while calls are still served, then the process exits."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING

import aiohttp
import pytest
import yaml

from quotaflow.serving import bind_socket
from tests.support import MASTER_KEY, Stack, two_region_settings

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

BODY = {"model": "gpt-4-preview", "messages": [{"role": "user", "content": "hi"}]}


def _free_port() -> int:
    sock = bind_socket()
    try:
        port: int = sock.getsockname()[1]
        return port
    finally:
        sock.close()


async def _status(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url + "/health/readiness") as response:
        return response.status


async def test_sigterm_drains_before_shutting_down(stack: Stack, tmp_path: Path):
    region = await stack.region("sweden")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(two_region_settings([region])))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "quotaflow", "serve", "--config", str(config),
        "--port", str(port), "--drain-seconds", "1.5", "--log-level", "warning",
    )  # fmt: skip
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    if await _status(session, url) == 200:
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            os.kill(process.pid, signal.SIGTERM)
            await asyncio.sleep(0.3)

            assert await _status(session, url) == 503  # no new traffic, please
            async with session.post(url + "/v1/chat/completions", json=BODY, headers=headers) as r:
                assert r.status == 200  # but what still arrives is served

            # uvicorn re-raises the signal once it has shut down: the exit is "terminated".
            assert await asyncio.wait_for(process.wait(), timeout=10) == -signal.SIGTERM
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
