"""Observability: Prometheus metrics, structured and redacted logs, optional tracing, ``/health``.

Owns every metric name (``metrics.py``), the log format and redaction (``logs.py``,
``redaction.py``), the spans (``tracing.py``), the gauges of the state backend, spend writer and
budgets (``backend_gauges.py``, ``budget_gauges.py``) and the opt-in background probes
(``probe.py``, whose fleet-wide schedule is ``lua/probe_lease.lua``); ``install`` wires them
onto one gateway app through a finish hook, so the request path itself does nothing extra. It
reads the server's ``Exchange`` and the router's public state; nothing in the server or the
router imports it.
``opentelemetry`` is imported only when tracing is switched on.
"""

from quotaflow.observability.install import Observability, ObservabilityOptions, install
from quotaflow.observability.logs import configure_logging
from quotaflow.observability.metrics import BACKEND_UP, BUDGET_REMAINING_USD, GaugeFamily
from quotaflow.observability.redaction import Redactor, secrets_of

__all__ = [
    "BACKEND_UP",
    "BUDGET_REMAINING_USD",
    "GaugeFamily",
    "Observability",
    "ObservabilityOptions",
    "Redactor",
    "configure_logging",
    "install",
    "secrets_of",
]
