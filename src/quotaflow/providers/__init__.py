"""Providers: one adapter per upstream API (pure translation) and the one HTTP client.

Adapters must not import each other, except through the shared private wire modules.
"""

from quotaflow.providers.base import (
    Operation,
    ProviderAdapter,
    UpstreamReply,
    UpstreamRequest,
    Usage,
)
from quotaflow.providers.http import UpstreamClient
from quotaflow.providers.registry import PROVIDERS, create_adapter

__all__ = [
    "PROVIDERS",
    "Operation",
    "ProviderAdapter",
    "UpstreamClient",
    "UpstreamReply",
    "UpstreamRequest",
    "Usage",
    "create_adapter",
]
