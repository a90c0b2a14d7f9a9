"""Servers that speak OpenAI's API (vLLM, Ollama, Groq, Mistral…), as presets of one adapter.

A preset is what sets such a server apart from OpenAI itself: where it lives when ``api_base``
is not configured, and which OpenAI parameters it rejects or silently ignores. Everything else
(request bodies, Bearer auth when a key is configured, replies, streams, errors) is
``OpenAIAdapter``'s, which this adapter extends.

A request that uses an unsupported parameter is refused with a 400 naming the parameter and the
provider, unless the deployment's ``drop_params`` is on: then the parameter is removed. A
parameter set to ``null`` or to OpenAI's own default value asks for nothing, so it is always
removed rather than refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from quotaflow.errors import InvalidRequest
from quotaflow.providers.openai import OpenAIAdapter

if TYPE_CHECKING:
    from collections.abc import Mapping

    from quotaflow.providers.base import AdapterFactory, Operation, UpstreamRequest
    from quotaflow.routing.deployment import Deployment

__all__ = ["PRESETS", "OpenAICompatibleAdapter", "Preset", "preset_factories"]

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Preset:
    """One kind of OpenAI-compatible server: its ``<provider>/`` prefix and its differences."""

    name: str
    default_base_url: str | None = None
    unsupported_params: frozenset[str] = frozenset()
    # False for servers that reject ``stream_options`` (they report stream usage unasked).
    stream_options: bool = True
    # The OpenAI API's path under the server's root, added to an ``api_base`` without it.
    api_path: str = ""

    @property
    def requires_api_base(self) -> bool:
        """True when there is no default base URL, so every deployment must set ``api_base``."""
        return self.default_base_url is None


_OLLAMA_URL = "http://127.0.0.1:11434/v1"
# Documented as unsupported by Ollama's OpenAI endpoint, which ignores them silently.
_OLLAMA_UNSUPPORTED = frozenset({"logit_bias", "n"})

PRESETS: Final[Mapping[str, Preset]] = {
    preset.name: preset
    for preset in (
        # Self-hosted servers: no default address.
        Preset("hosted_vllm"),
        Preset("vllm"),
        Preset("lm_studio"),
        Preset("custom_openai"),
        # LiteLLM users give Ollama's root (http://host:11434), so /v1 is added to it.
        Preset("ollama", _OLLAMA_URL, _OLLAMA_UNSUPPORTED, api_path="/v1"),
        Preset("ollama_chat", _OLLAMA_URL, _OLLAMA_UNSUPPORTED, api_path="/v1"),
        # Hosted APIs. Groq answers 400 to these.
        Preset(
            "groq",
            "https://api.groq.com/openai/v1",
            frozenset({"logprobs", "top_logprobs", "logit_bias"}),
        ),
        # Mistral answers 422 to any field it does not know, and reports stream usage unasked.
        Preset(
            "mistral",
            "https://api.mistral.ai/v1",
            frozenset({"logit_bias", "logprobs", "top_logprobs", "seed", "user"}),
            stream_options=False,
        ),
        # Cerebras answers 400 to these.
        Preset(
            "cerebras",
            "https://api.cerebras.ai/v1",
            frozenset(
                {
                    "frequency_penalty",
                    "presence_penalty",
                    "logit_bias",
                    "parallel_tool_calls",
                    "service_tier",
                }
            ),
        ),
        Preset("deepseek", "https://api.deepseek.com"),
        Preset("openrouter", "https://openrouter.ai/api/v1"),
        Preset("together_ai", "https://api.together.xyz/v1"),
        Preset("fireworks_ai", "https://api.fireworks.ai/inference/v1"),
        Preset("deepinfra", "https://api.deepinfra.com/v1/openai"),
        Preset("perplexity", "https://api.perplexity.ai"),
        Preset("xai", "https://api.x.ai/v1"),
    )
}
"""Every OpenAI-compatible provider prefix and its preset."""

# OpenAI's defaults: clients (LangChain, for one) send some of these unasked.
_OPENAI_DEFAULTS: Final[Mapping[str, object]] = {
    "n": 1,
    "logprobs": False,
    "frequency_penalty": 0,
    "presence_penalty": 0,
    "parallel_tool_calls": True,
    "service_tier": "auto",
}


class OpenAICompatibleAdapter(OpenAIAdapter):
    """``OpenAIAdapter`` for one preset: its base URL, and its unsupported parameters."""

    def __init__(self, deployment: Deployment, preset: Preset) -> None:
        super().__init__(
            deployment,
            base_url=_base_url(deployment, preset),
            stream_usage=preset.stream_options,
        )
        self.provider = preset.name
        self._preset = preset
        self._drop_params = deployment.drop_params

    def build_request(self, op: Operation, payload: JSON, *, stream: bool) -> UpstreamRequest:
        """``OpenAIAdapter``'s request, once every unsupported parameter is dropped or refused."""
        return super().build_request(op, self._supported(payload), stream=stream)

    def _supported(self, payload: JSON) -> JSON:
        """``payload`` without unsupported parameters; ``InvalidRequest`` for one that matters."""
        unwanted = self._preset.unsupported_params & payload.keys()
        if not self._preset.stream_options:
            unwanted |= {"stream_options"} & payload.keys()
        if not unwanted:
            return payload
        body = dict(payload)
        for name in sorted(unwanted):
            value = body.pop(name)
            if not (self._drop_params or name == "stream_options" or _asks_nothing(name, value)):
                raise _unsupported(name, self.provider)
        return body


def preset_factories() -> dict[str, AdapterFactory]:
    """The adapter factory of every preset, by provider prefix, for the provider registry."""
    return {
        name: partial(OpenAICompatibleAdapter, preset=preset) for name, preset in PRESETS.items()
    }


def _base_url(deployment: Deployment, preset: Preset) -> str:
    """The configured ``api_base`` (with the preset's API path), else the preset's default."""
    if deployment.api_base:
        base = deployment.api_base.rstrip("/")
        return base if base.endswith(preset.api_path) else base + preset.api_path
    if preset.default_base_url is None:
        msg = (
            f"deployment {deployment.id}: {preset.name} has no default address; "
            "set api_base to the server's OpenAI-compatible URL (e.g. http://host:8000/v1)"
        )
        raise ValueError(msg)
    return preset.default_base_url


def _asks_nothing(name: str, value: object) -> bool:
    """True for ``null`` and for OpenAI's default value of ``name`` (``0.0`` for ``0``)."""
    if value is None:
        return True
    if name not in _OPENAI_DEFAULTS:
        return False
    default = _OPENAI_DEFAULTS[name]
    return value == default and isinstance(value, bool) == isinstance(default, bool)


def _unsupported(name: str, provider: str) -> InvalidRequest:
    return InvalidRequest(
        f"Unsupported parameter: '{name}' is not supported by {provider}. Remove it, or set "
        "drop_params: true on the deployment (or in litellm_settings) to have it dropped.",
        param=name,
        code="unsupported_parameter",
    )
