"""quotaflow: one OpenAI-compatible endpoint in front of every LLM deployment you have.

The public surface is listed in ``__all__``; everything else is internal.
"""

from quotaflow.app import build_router, create_app
from quotaflow.errors import ConfigError, GatewayError
from quotaflow.routing import Router

__all__ = ["ConfigError", "GatewayError", "Router", "build_router", "create_app"]

__version__ = "0.1.0"
