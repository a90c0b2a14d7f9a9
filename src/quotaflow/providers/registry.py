"""The one list of providers: the ``<provider>/`` prefix of ``model`` → adapter class."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quotaflow.providers.azure_openai import AzureOpenAIAdapter
from quotaflow.providers.openai import OpenAIAdapter

if TYPE_CHECKING:
    from quotaflow.providers.base import AdapterFactory, ProviderAdapter
    from quotaflow.routing.deployment import Deployment

__all__ = ["PROVIDERS", "create_adapter", "provider_names"]

PROVIDERS: dict[str, AdapterFactory] = {
    "openai": OpenAIAdapter,
    "azure": AzureOpenAIAdapter,
}


def provider_names() -> list[str]:
    """Every provider prefix a deployment may use."""
    return sorted(PROVIDERS)


def create_adapter(deployment: Deployment) -> ProviderAdapter:
    """The adapter for ``deployment``; ``KeyError`` for an unknown provider."""
    return PROVIDERS[deployment.provider](deployment)
