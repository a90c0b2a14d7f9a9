"""Routing: deployments and model groups, health, strategies, and the ``Router`` that uses them.

May import providers (to call them) but never the server.
"""

from quotaflow.routing.deployment import Deployment, ModelGroup, build_groups
from quotaflow.routing.router import Call, RoutedReply, RoutedStream, Router

__all__ = [
    "Call",
    "Deployment",
    "ModelGroup",
    "RoutedReply",
    "RoutedStream",
    "Router",
    "build_groups",
]
