"""Spans for a request, its queue wait and attempts; no opentelemetry import when off."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from quotaflow.errors import Attempt
from quotaflow.observability.tracing import Tracing, traces_url
from tests.unit.observability.support import FRANCE, facts

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

NS = 1_000_000_000


def test_a_request_span_with_its_queue_wait_and_attempts_back_to_back():
    exporter = InMemorySpanExporter()
    tracing = Tracing.create(exporter=exporter)
    assert tracing is not None
    attempts = [
        Attempt("sweden", "UpstreamRateLimited", 429, 0.25),
        Attempt("france", "ok", 200, 0.5),
    ]
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    tracing.record(
        facts(deployment=FRANCE, attempts=attempts, queue_s=1.0, duration_s=2.0, team="dev"),
        start_wall_s=1_700_000_000.0,
        traceparent=parent,
    )

    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"chat gpt-4", "queue wait", "attempt sweden", "attempt france"}
    request, queue = spans["chat gpt-4"], spans["queue wait"]
    sweden, france = spans["attempt sweden"], spans["attempt france"]
    start = 1_700_000_000 * NS
    assert (request.start_time, request.end_time) == (start, start + 2 * NS)
    assert (queue.start_time, queue.end_time) == (start, start + 1 * NS)
    assert (sweden.start_time, sweden.end_time) == (start + NS, start + NS + NS // 4)
    assert (france.start_time, france.end_time) == (start + NS + NS // 4, start + NS + 3 * NS // 4)
    # One trace, the client's; the request span is the parent of the others.
    assert {span.context.trace_id for span in spans.values()} == {
        0x0AF7651916CD43DD8448EB211C80319C
    }
    assert request.parent is not None
    assert request.parent.span_id == 0xB7AD6B7169203331
    assert {s.parent.span_id for s in (queue, sweden, france) if s.parent} == {
        request.context.span_id
    }
    assert request.kind is SpanKind.SERVER
    assert france.kind is SpanKind.CLIENT
    assert request.attributes is not None
    assert request.attributes["gen_ai.request.model"] == "gpt-4"
    assert request.attributes["gen_ai.usage.output_tokens"] == 34
    assert request.attributes["quotaflow.deployment"] == "france"
    assert request.attributes["quotaflow.team"] == "dev"
    assert sweden.status.status_code is StatusCode.ERROR
    assert sweden.attributes is not None
    assert sweden.attributes["error.type"] == "rate_limited"
    assert france.status.status_code is StatusCode.UNSET
    tracing.shutdown()


def test_tracing_is_off_without_an_endpoint_or_exporter():
    assert Tracing.create() is None


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
    ],
)
def test_traces_url(endpoint, url):
    assert traces_url(endpoint) == url


def test_an_app_without_tracing_never_imports_opentelemetry():
    code = textwrap.dedent(
        """
        import sys
        from quotaflow.app import create_app
        from tests.unit.observability.support import settings
        create_app(settings())
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"
