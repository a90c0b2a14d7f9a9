"""The package's public surface: ``__all__`` is importable and documented."""

from __future__ import annotations

import inspect

import quotaflow.fake


def test_all_names_exist_and_have_docstrings() -> None:
    for name in quotaflow.fake.__all__:
        value = getattr(quotaflow.fake, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name
    assert sorted(quotaflow.fake.__all__) == quotaflow.fake.__all__
