"""Fixtures shared by every suite."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest

from tests.support import Stack

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    """A ``Stack`` for this test."""
    async with contextlib.AsyncExitStack() as exits:
        yield Stack(exits)
