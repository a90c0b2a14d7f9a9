"""One ``Tokenizer`` for the catalog tests: loading an encoding takes about half a second."""

from __future__ import annotations

import pytest

from quotaflow.catalog import Tokenizer


@pytest.fixture(scope="session")
def tokenizer() -> Tokenizer:
    """A tokenizer shared by every test in the session (it only caches encodings)."""
    return Tokenizer()
