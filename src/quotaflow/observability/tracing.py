"""Optional OpenTelemetry spans: the request, its queue wait and each upstream attempt.

Off unless an OTLP endpoint (or, in tests, an exporter) is given; then, and only then, is
``opentelemetry`` imported, so a gateway without tracing pays nothing, not even the import.
Install it with the ``otel`` extra (``pip install 'quotaflow[otel]'``).

Spans are written when the request is over, from its ``RequestFacts``: the request span covers
its whole life; the queue span starts with it and lasts the time queued; the attempt spans
follow one another from there, each as long as the router measured it. The attempts' exact
start times are not recorded by the router, so they are placed back to back (the gaps between
them are the gateway's own sub-millisecond work). A ``traceparent`` header from the client makes
the request span a child of the client's span. The tracer provider is the app's own: the
process-wide OpenTelemetry globals are left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quotaflow.observability.metrics import attempt_outcome

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

    from quotaflow.errors import Attempt
    from quotaflow.observability.facts import RequestFacts

__all__ = ["Tracing", "traces_url"]

_TRACES_PATH = "/v1/traces"
_NS = 1_000_000_000


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for an endpoint given as in ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(_TRACES_PATH) else endpoint + _TRACES_PATH


class Tracing:
    """Writes the spans of finished requests to an exporter (batched, in a background thread)."""

    def __init__(self, provider: TracerProvider, tracer: Tracer) -> None:
        self._provider = provider
        self._tracer = tracer
        from opentelemetry import trace  # noqa: PLC0415 - only when tracing is on
        from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
            TraceContextTextMapPropagator,
        )

        self._trace = trace
        self._propagator = TraceContextTextMapPropagator()

    @classmethod
    def create(
        cls,
        endpoint: str | None = None,
        *,
        exporter: SpanExporter | None = None,
        service_name: str = "quotaflow",
    ) -> Tracing | None:
        """Tracing to ``endpoint`` over OTLP/HTTP (or to ``exporter``); ``None`` when neither.

        With an ``exporter`` spans are handed over as each request ends (tests); to an
        endpoint they go in batches.
        """
        if endpoint is None and exporter is None:
            return None
        # Imported here only: a gateway without tracing never loads opentelemetry.
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
            BatchSpanProcessor,
            SimpleSpanProcessor,
        )

        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        if endpoint is not None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )

            otlp = OTLPSpanExporter(endpoint=traces_url(endpoint))
            provider.add_span_processor(BatchSpanProcessor(otlp))
        return cls(provider, provider.get_tracer("quotaflow"))

    def record(self, facts: RequestFacts, start_wall_s: float, traceparent: str | None) -> None:
        """Write the spans of one finished request that began at ``start_wall_s`` (Unix time)."""
        trace = self._trace
        parent = self._propagator.extract({"traceparent": traceparent}) if traceparent else None
        start_ns = int(start_wall_s * _NS)
        # ``{operation} {model}`` as the GenAI conventions name it, with the bounded group name.
        name = f"{facts.operation} {facts.model_group}" if facts.operation else facts.method
        span = self._tracer.start_span(
            name,
            context=parent,
            kind=trace.SpanKind.SERVER,
            start_time=start_ns,
            attributes=_request_attributes(facts),
        )
        if facts.status >= 500:  # server spans fail on 5xx only
            span.set_status(trace.Status(trace.StatusCode.ERROR))
        context = trace.set_span_in_context(span)
        at_ns = start_ns
        if facts.queue_s > 0:
            end_ns = at_ns + int(facts.queue_s * _NS)
            queued = self._tracer.start_span("queue wait", context=context, start_time=at_ns)
            queued.set_attribute("quotaflow.model_group", facts.model_group)
            queued.end(end_time=end_ns)
            at_ns = end_ns
        for attempt in facts.attempts:
            at_ns = self._attempt(attempt, context, at_ns)
        span.end(end_time=start_ns + int(facts.duration_s * _NS))

    def _attempt(self, attempt: Attempt, context: Any, start_ns: int) -> int:
        trace = self._trace
        end_ns = start_ns + int(attempt.duration_s * _NS)
        outcome = attempt_outcome(attempt.outcome)
        attributes: dict[str, Any] = {
            "quotaflow.deployment": attempt.deployment_id,
            "quotaflow.outcome": outcome,
        }
        if attempt.status is not None:
            attributes["http.response.status_code"] = attempt.status
        span = self._tracer.start_span(
            f"attempt {attempt.deployment_id}",
            context=context,
            kind=trace.SpanKind.CLIENT,
            start_time=start_ns,
            attributes=attributes,
        )
        if outcome != "ok":
            span.set_attribute("error.type", outcome)
            span.set_status(trace.Status(trace.StatusCode.ERROR))
        span.end(end_time=end_ns)
        return end_ns

    def shutdown(self) -> None:
        """Export what is pending and stop the exporter's thread."""
        self._provider.shutdown()


def _request_attributes(facts: RequestFacts) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "http.request.method": facts.method,
        "url.path": facts.path,
        "http.response.status_code": facts.status,
        "quotaflow.request_id": facts.request_id,
        "quotaflow.attempts": len(facts.attempts),
    }
    if facts.operation:
        attributes["gen_ai.operation.name"] = facts.operation
    if facts.model is not None:
        attributes["gen_ai.request.model"] = facts.model
        attributes["quotaflow.model_group"] = facts.model_group
    if facts.deployment is not None:
        attributes["quotaflow.deployment"] = facts.deployment.id
        attributes["gen_ai.provider.name"] = facts.deployment.provider
    if facts.usage is not None:
        attributes["gen_ai.usage.input_tokens"] = facts.usage.prompt_tokens
        attributes["gen_ai.usage.output_tokens"] = facts.usage.completion_tokens
    if facts.cost_usd is not None:
        attributes["quotaflow.cost_usd"] = float(facts.cost_usd)
    if facts.queue_s > 0:
        attributes["quotaflow.queue_ms"] = round(facts.queue_s * 1000, 3)
    if facts.team is not None:
        attributes["quotaflow.team"] = facts.team
    if facts.error is not None:
        attributes["error.type"] = type(facts.error).__name__
    return attributes
