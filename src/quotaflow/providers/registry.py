"""The one list of providers: the ``<provider>/`` prefix of ``model`` → adapter class."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quotaflow.providers.anthropic import AnthropicAdapter
from quotaflow.providers.azure_openai import AzureOpenAIAdapter
from quotaflow.providers.gemini import GeminiAdapter
from quotaflow.providers.openai import OpenAIAdapter
from quotaflow.providers.openai_compatible import preset_factories

if TYPE_CHECKING:
    from quotaflow.providers.base import AdapterFactory, ProviderAdapter
    from quotaflow.routing.deployment import Deployment

__all__ = ["PROVIDERS", "create_adapter", "provider_names"]

PROVIDERS: dict[str, AdapterFactory] = {
    "openai": OpenAIAdapter,
    "azure": AzureOpenAIAdapter,
    "anthropic": AnthropicAdapter,
    "gemini": GeminiAdapter,
    **preset_factories(),
}


def provider_names() -> list[str]:
    """Every provider prefix a deployment may use."""
    return sorted(PROVIDERS)


def create_adapter(deployment: Deployment) -> ProviderAdapter:
    """The adapter for ``deployment``; ``KeyError`` for an unknown provider."""
    return PROVIDERS[deployment.provider](deployment)
