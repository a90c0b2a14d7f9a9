"""Fixtures shared by every suite."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.support import Stack


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    """A ``Stack`` for this test."""
    async with contextlib.AsyncExitStack() as exits:
        yield Stack(exits)
