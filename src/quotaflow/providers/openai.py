"""OpenAI, and any server that speaks OpenAI's API at a base URL (``openai/<model>``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from quotaflow.providers import _openai_wire as wire
from quotaflow.providers.base import Operation, UpstreamRequest

if TYPE_CHECKING:
    from quotaflow.routing.deployment import Deployment

__all__ = ["OpenAIAdapter"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIAdapter(wire.OpenAIWireAdapter):
    """Passes OpenAI payloads through, with the deployment's model name and key."""

    provider = "openai"

    def __init__(
        self, deployment: Deployment, *, base_url: str | None = None, stream_usage: bool = True
    ) -> None:
        base = (base_url or deployment.api_base or DEFAULT_BASE_URL).rstrip("/")
        self._model = deployment.upstream_model
        self._stream_usage = stream_usage
        self._urls = {op: f"{base}/{op.value}" for op in Operation}
        headers = {"content-type": "application/json"}
        if deployment.api_key:
            headers["authorization"] = f"Bearer {deployment.api_key}"
        headers.update(deployment.extra_headers)
        self._headers = headers

    def build_request(
        self, op: Operation, payload: dict[str, Any], *, stream: bool
    ) -> UpstreamRequest:
        """The payload with the upstream model name, posted to ``{api_base}/{endpoint}``.

        A streamed chat asks for the usage chunk, which streams are accounted from.
        """
        body = {**payload, "model": self._model}
        if stream and op is Operation.CHAT and self._stream_usage:
            body = wire.with_stream_usage(body)
        return UpstreamRequest("POST", self._urls[op], self._headers, orjson.dumps(body))
