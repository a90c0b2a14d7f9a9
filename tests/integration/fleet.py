"""Several real gateway processes sharing one Redis, for the fleet tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import yaml

from quotaflow.serving import bind_socket
from tests.support import MASTER_KEY

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

HEADERS = {"authorization": f"Bearer {MASTER_KEY}"}


def free_port() -> int:
    """A port nothing listens on now."""
    sock = bind_socket()
    try:
        port: int = sock.getsockname()[1]
        return port
    finally:
        sock.close()


@dataclass
class Fleet:
    """Gateway processes (``urls[i]`` served by ``processes[i]``) and an HTTP session."""

    session: aiohttp.ClientSession
    urls: list[str] = field(default_factory=list)
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def chat(self, replica: int, model: str = "gpt-4-preview", **body: Any) -> int:
        """One chat completion through replica ``replica``; its HTTP status."""
        payload = {"model": model, "messages": [{"role": "user", "content": "hi"}], **body}
        url = self.urls[replica] + "/v1/chat/completions"
        async with self.session.post(url, json=payload, headers=HEADERS) as response:
            await response.read()
            return response.status


async def _ready(session: aiohttp.ClientSession, url: str, process: Any) -> None:
    for _ in range(200):
        if process.returncode is not None:
            pytest.fail(f"gateway at {url} exited with {process.returncode}")
        with contextlib.suppress(aiohttp.ClientConnectionError):
            async with session.get(url + "/health/readiness") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.05)
    pytest.fail(f"gateway at {url} never became ready")


@contextlib.asynccontextmanager
async def running_fleet(
    settings: dict[str, Any], tmp_path: Path, size: int
) -> AsyncIterator[Fleet]:
    """``size`` gateway processes serving ``settings``, stopped when the block ends."""
    config = tmp_path / "fleet.yaml"
    config.write_text(yaml.safe_dump(settings))
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
    ) as session:
        fleet = Fleet(session)
        try:
            for _ in range(size):
                port = free_port()
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "quotaflow", "serve", "--config", str(config),
                    "--port", str(port), "--log-level", "warning", "--grace-seconds", "2",
                )  # fmt: skip
                fleet.processes.append(process)
                fleet.urls.append(f"http://127.0.0.1:{port}")
            for url, process in zip(fleet.urls, fleet.processes, strict=True):
                await _ready(session, url, process)
            yield fleet
        finally:
            for process in fleet.processes:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
            for process in fleet.processes:
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    process.kill()
                    await process.wait()


class RedisServer:
    """A Redis server of the test's own on a free port, which the test may kill and restart."""

    def __init__(self, binary: str) -> None:
        self._binary = binary
        self.port = free_port()
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start it (again, on the same port) and wait until it accepts connections."""
        self._process = await asyncio.create_subprocess_exec(
            self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.02)
        pytest.fail("redis-server did not start")

    async def kill(self) -> None:
        """SIGKILL: it dies with everything it held."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()


@contextlib.asynccontextmanager
async def own_redis() -> AsyncIterator[RedisServer]:
    """A ``RedisServer`` for this test, killed at the end."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed; CI must provide it")
        pytest.skip("redis-server is not installed")
    server = RedisServer(binary)
    await server.start()
    try:
        yield server
    finally:
        await server.kill()
