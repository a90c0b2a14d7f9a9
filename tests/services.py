"""Real services the integration suites use: Redis on 127.0.0.1:6379.

In CI (``CI`` set) a service that does not answer fails the test; on a laptop without it the
test is skipped with a message saying what to start.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

REDIS_HOST = "127.0.0.1"
REDIS_PORT = int(os.environ.get("QUOTAFLOW_TEST_REDIS_PORT", "6379"))


def require_redis() -> None:
    """Fail (in CI) or skip (elsewhere) unless Redis answers on 127.0.0.1."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return
    except OSError:
        pass
    message = f"Redis is not answering on {REDIS_HOST}:{REDIS_PORT}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must provide it (.ci/run starts it)")
    pytest.skip(f"{message}; start redis-server to run this test")


def unique_prefix() -> str:
    """A key prefix no other test (or run) uses."""
    return f"qf-test-{uuid.uuid4().hex[:10]}"
