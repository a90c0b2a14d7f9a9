"""``Router`` for Python programs: the gateway's routing without the HTTP server.

Built from the same config (a file or a mapping, LiteLLM's format), it has the same strategies,
retries, cooldowns, fallbacks and admission queue as ``quotaflow serve`` — the server is a thin
layer over the same ``quotaflow.routing.Router``::

    async with Router.from_config("config.yaml") as router:
        reply = await router.acompletion(model="gpt-4-preview", messages=[...])
        async for chunk in await router.acompletion(model="gpt-4-preview", messages=[...],
                                                    stream=True):
            ...

Answers are OpenAI-shaped dicts; failures raise ``quotaflow.GatewayError`` subclasses.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import orjson

from quotaflow.app import build_router
from quotaflow.config import load_settings
from quotaflow.providers import Operation, UpstreamClient
from quotaflow.routing import Call

if TYPE_CHECKING:
    import random
    from collections.abc import AsyncIterator, Mapping
    from pathlib import Path
    from types import TracebackType

    from quotaflow.clock import Clock
    from quotaflow.config import Settings
    from quotaflow.routing import Router as CoreRouter
    from quotaflow.routing.streams import RoutedStream

__all__ = ["Router"]

JSON = dict[str, Any]


class Router:
    """Load-balances calls over the configured deployments; use as an async context manager."""

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        self._client = UpstreamClient()
        self._core: CoreRouter = build_router(settings, self._client, clock=clock, rng=rng)

    @classmethod
    def from_config(
        cls,
        source: str | Path | Mapping[str, object],
        *,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> Router:
        """A router from a config file path or an already parsed mapping."""
        if isinstance(source, str | PurePath):
            loaded = load_settings(source, environ)
        else:
            loaded = load_settings(data=source, environ=environ)
        return cls(loaded.settings, clock=clock)

    async def __aenter__(self) -> Router:
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled upstream connections."""
        await self._client.aclose()

    @property
    def model_names(self) -> list[str]:
        """The public model names."""
        return self._core.model_names

    @property
    def core(self) -> CoreRouter:
        """The routing core (health, usage windows, queue), for inspection."""
        return self._core

    async def acompletion(
        self, *, model: str, messages: list[JSON], stream: bool = False, **params: Any
    ) -> JSON | AsyncIterator[JSON]:
        """A chat completion: the answer, or (``stream=True``) an iterator of chunks."""
        payload = {"model": model, "messages": messages, **params}
        return await self._call(Operation.CHAT, payload, stream=stream)

    async def atext_completion(
        self, *, model: str, prompt: str | list[str], stream: bool = False, **params: Any
    ) -> JSON | AsyncIterator[JSON]:
        """A legacy completion."""
        payload = {"model": model, "prompt": prompt, **params}
        return await self._call(Operation.COMPLETION, payload, stream=stream)

    async def aembedding(self, *, model: str, input: str | list[Any], **params: Any) -> JSON:
        """Embeddings."""
        payload = {"model": model, "input": input, **params}
        reply = await self._core.complete(self._make_call(Operation.EMBEDDING, payload))
        result: JSON = orjson.loads(reply.reply.body)
        return result

    async def _call(
        self, op: Operation, payload: JSON, *, stream: bool
    ) -> JSON | AsyncIterator[JSON]:
        if stream:
            payload["stream"] = True
            return _chunks(await self._core.stream(self._make_call(op, payload)))
        reply = await self._core.complete(self._make_call(op, payload))
        result: JSON = orjson.loads(reply.reply.body)
        return result

    @staticmethod
    def _make_call(op: Operation, payload: JSON) -> Call:
        priority = payload.pop("priority", None)
        return Call(op, payload["model"], payload, priority=priority)


async def _chunks(routed: RoutedStream) -> AsyncIterator[JSON]:
    try:
        for chunk in routed.first:
            yield orjson.loads(chunk)
        async for chunk in routed.rest:
            yield orjson.loads(chunk)
    finally:
        await routed.aclose()
