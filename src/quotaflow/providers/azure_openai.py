"""Azure OpenAI (``azure/<deployment>``): deployment URLs, ``api-version``, ``api-key`` header."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from quotaflow.providers import _openai_wire as wire
from quotaflow.providers.base import Operation, UpstreamRequest

if TYPE_CHECKING:
    from quotaflow.routing.deployment import Deployment

__all__ = ["AzureOpenAIAdapter"]

DEFAULT_API_VERSION = "2024-10-21"
# The first dated api-version that accepts ``stream_options.include_usage``.
_STREAM_USAGE_SINCE = "2024-09-01"
_DATED = re.compile(r"\d{4}-\d{2}-\d{2}")


class AzureOpenAIAdapter(wire.OpenAIWireAdapter):
    """Posts to ``{api_base}/openai/deployments/{deployment}/{endpoint}?api-version=…``."""

    provider = "azure"

    def __init__(self, deployment: Deployment) -> None:
        if not deployment.api_base:
            msg = f"deployment {deployment.id}: azure needs an api_base"
            raise ValueError(msg)
        base = deployment.api_base.rstrip("/")
        name = quote(deployment.upstream_model, safe="")
        api_version = deployment.api_version or DEFAULT_API_VERSION
        self._stream_usage = _accepts_stream_usage(api_version)
        version = quote(api_version, safe="")
        self._urls = {
            op: f"{base}/openai/deployments/{name}/{op.value}?api-version={version}"
            for op in Operation
        }
        headers = {"content-type": "application/json"}
        if deployment.api_key:
            headers["api-key"] = deployment.api_key
        headers.update(deployment.extra_headers)
        self._headers = headers

    def build_request(
        self, op: Operation, payload: dict[str, Any], *, stream: bool
    ) -> UpstreamRequest:
        """The payload as is: Azure reads the deployment from the path, not ``model``.

        A streamed chat asks for the usage chunk when the api-version accepts that.
        """
        if stream and op is Operation.CHAT and self._stream_usage:
            payload = wire.with_stream_usage(payload)
        return UpstreamRequest("POST", self._urls[op], self._headers, orjson.dumps(payload))


def _accepts_stream_usage(api_version: str) -> bool:
    """Whether ``api_version`` accepts ``stream_options``; undated ones (``v1``) are the newest."""
    dated = _DATED.match(api_version)
    return dated is None or dated.group() >= _STREAM_USAGE_SINCE
