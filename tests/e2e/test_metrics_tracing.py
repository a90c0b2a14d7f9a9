"""Spans for requests through a running gateway: the client's trace, one span per attempt."""

from __future__ import annotations

import aiohttp
import pytest

from quotaflow.fake import FakeFault, FaultKind
from quotaflow.observability import ObservabilityOptions
from tests.support import MASTER_KEY, Stack, two_region_settings
from tests.unit.observability.support import observed_gateway

pytestmark = pytest.mark.e2e

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_a_failed_over_call_is_one_trace_with_an_attempt_span_each(stack: Stack):
    sweden, france = await stack.region("sweden"), await stack.region("france")
    settings = two_region_settings([sweden, france])
    settings["model_list"][0]["litellm_params"]["order"] = 1
    settings["model_list"][1]["litellm_params"]["order"] = 2
    exporter = InMemorySpanExporter()
    gateway, _ = await observed_gateway(
        stack, settings, ObservabilityOptions(span_exporter=exporter)
    )
    sweden.app.add_faults(FakeFault(FaultKind.STATUS, status=503))
    headers = {
        "authorization": f"Bearer {MASTER_KEY}",
        "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
    }
    body = {"model": "gpt-4-preview", "messages": [{"role": "user", "content": "hi"}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(gateway.url + "/v1/chat/completions", json=body, headers=headers) as r,
    ):
        assert r.status == 200
        request_id = r.headers["x-request-id"]

    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"chat gpt-4-preview", "attempt sweden", "attempt france"}
    request = spans["chat gpt-4-preview"]
    assert {f"{span.context.trace_id:032x}" for span in spans.values()} == {TRACE_ID}
    assert request.attributes is not None
    assert request.attributes["quotaflow.request_id"] == request_id
    assert request.attributes["quotaflow.attempts"] == 2
    assert request.start_time is not None
    assert request.end_time is not None
    for name in ("attempt sweden", "attempt france"):
        attempt = spans[name]
        assert attempt.start_time is not None
        assert attempt.end_time is not None
        assert request.start_time <= attempt.start_time <= attempt.end_time <= request.end_time
    assert spans["attempt sweden"].end_time == spans["attempt france"].start_time
