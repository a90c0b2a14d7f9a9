"""The package's public surface: ``__all__`` is importable and documented."""

from __future__ import annotations

import inspect

import quotaflow.observability


def test_all_names_exist_and_have_docstrings() -> None:
    for name in quotaflow.observability.__all__:
        value = getattr(quotaflow.observability, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name
    assert sorted(quotaflow.observability.__all__) == quotaflow.observability.__all__
