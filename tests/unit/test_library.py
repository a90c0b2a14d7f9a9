"""The router as a library gives the same routing as the server."""

from __future__ import annotations

import pytest

import quotaflow
from quotaflow.errors import AllAttemptsFailed, ModelNotFound
from quotaflow.fake import FakeFault, FaultKind
from tests.support import Stack, two_region_settings

MESSAGES = [{"role": "user", "content": "hi"}]


async def test_plain_stream_and_embeddings_over_two_regions(stack: Stack):
    sweden = await stack.region("sweden")
    france = await stack.region("france")
    router = quotaflow.Router.from_config(two_region_settings([sweden, france]), environ={})
    async with router:
        reply = await router.acompletion(model="gpt-4-preview", messages=MESSAGES, max_tokens=5)
        assert isinstance(reply, dict)
        assert reply["object"] == "chat.completion"

        chunks = await router.acompletion(model="gpt-4-preview", messages=MESSAGES, stream=True)
        assert not isinstance(chunks, dict)
        text = "".join(
            [c["choices"][0]["delta"].get("content") or "" async for c in chunks if c["choices"]]
        )
        assert text.startswith("This is a fake answer")

        vectors = await router.aembedding(model="text-embedding-3-small", input=["a", "b"])
        assert len(vectors["data"]) == 2
    assert router.core.health.in_flight("sweden") == 0
    assert router.core.health.in_flight("france") == 0


async def test_failover_and_errors_are_the_servers(stack: Stack):
    sweden = await stack.region("sweden")
    france = await stack.region("france")
    settings = two_region_settings(
        [sweden, france], routing_strategy="simple-shuffle", queue_timeout=0.2
    )
    async with quotaflow.Router.from_config(settings, environ={}) as router:
        sweden.app.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=30, times=9))
        for _ in range(5):
            reply = await router.acompletion(model="gpt-4-preview", messages=MESSAGES)
            assert isinstance(reply, dict)
        assert france.app.stats.requests["chat"] == 5

        with pytest.raises(ModelNotFound):
            await router.acompletion(model="nope", messages=MESSAGES)
        france.app.add_faults(FakeFault(FaultKind.STATUS, status=500, times=9))
        with pytest.raises(AllAttemptsFailed):
            await router.acompletion(model="gpt-4-preview", messages=MESSAGES)


def test_the_package_exports_are_honest():
    for name in quotaflow.__all__:
        assert getattr(quotaflow, name) is not None
    with pytest.raises(AttributeError):
        _ = quotaflow.nothing_here
