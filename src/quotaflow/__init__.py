"""quotaflow: one OpenAI-compatible endpoint in front of every LLM deployment you have.

The public surface is listed in ``__all__``. Names are imported lazily, so that importing a
submodule (``python -m quotaflow.fake``, say) does not load the whole gateway.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quotaflow.app import build_router, create_app
    from quotaflow.errors import ConfigError, GatewayError
    from quotaflow.library import Router

__all__ = ["ConfigError", "GatewayError", "Router", "build_router", "create_app"]

__version__ = "0.1.0"

_HOMES = {
    "ConfigError": "quotaflow.errors",
    "GatewayError": "quotaflow.errors",
    "Router": "quotaflow.library",
    "build_router": "quotaflow.app",
    "create_app": "quotaflow.app",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        msg = f"module 'quotaflow' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(home), name)
