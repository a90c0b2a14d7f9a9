"""A faithful fake LLM provider for tests, the demo and benchmarks.

Owns: the OpenAI and Azure OpenAI wire formats as a provider serves them (``openai_format``,
``azure_format``), Azure-style quota windows (``quota``), deterministic content (``content``,
``schema_instance``), scripted faults (``faults``), request statistics (``stats``), the raw
ASGI app (``app``) and running it under uvicorn (``server``, ``__main__``).

Must not import the gateway (``quotaflow.server``, ``routing``, ``providers`` …): the fake
stands on the far side of the wire. A new wire format is one module implementing
``wire.WireFormat`` plus one entry in ``app.FORMATS``.
"""

from __future__ import annotations

from quotaflow.fake.app import FakeProvider, create_fake_app
from quotaflow.fake.config import FakeProviderConfig, Flavor
from quotaflow.fake.faults import FakeFault, FaultKind
from quotaflow.fake.quota import QuotaDecision, QuotaWindows
from quotaflow.fake.server import run_fake, serve_app
from quotaflow.fake.stats import FakeStats

__all__ = [
    "FakeFault",
    "FakeProvider",
    "FakeProviderConfig",
    "FakeStats",
    "FaultKind",
    "Flavor",
    "QuotaDecision",
    "QuotaWindows",
    "create_fake_app",
    "run_fake",
    "serve_app",
]
