"""The HTTP layer: a raw-ASGI dispatcher, OpenAI-compatible endpoints, health probes.

Handlers are thin: parse, call one service, render. Must not import ``quotaflow.app``.
"""

from quotaflow.server.asgi import GatewayApp

__all__ = ["GatewayApp"]
