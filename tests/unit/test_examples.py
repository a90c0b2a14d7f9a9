"""The files in ``examples/`` work: the config loads as documented, the extractor extracts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import openai
import pytest

from quotaflow.config import load_settings
from tests.support import MASTER_KEY, Stack, two_region_settings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

ENVIRON = {
    "AZURE_API_BASE_SWEDEN": "http://127.0.0.1:9101",
    "AZURE_API_KEY_SWEDEN": "k-sweden",
    "AZURE_API_BASE_FRANCE": "http://127.0.0.1:9102",
    "AZURE_API_KEY_FRANCE": "k-france",
    "MASTER_KEY": "sk-demo-master",
}


@pytest.fixture
def extractor() -> Iterator[ModuleType]:
    """``examples/invoice_extractor.py``, imported by path (``examples`` is not a package)."""
    name = "invoice_extractor"
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / "invoice_extractor.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves the models' annotations through it
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def test_example_config_is_one_group_over_two_azure_regions():
    loaded = load_settings(EXAMPLES / "config.yaml", environ=ENVIRON)

    settings = loaded.settings
    assert loaded.warnings == ()
    assert {entry.model_name for entry in settings.model_list} == {"gpt-4-preview"}
    assert [entry.model_info.id for entry in settings.model_list] == ["sweden", "france"]
    assert [entry.params.provider for entry in settings.model_list] == ["azure", "azure"]
    sweden, france = settings.model_list
    assert sweden.params.api_base == "http://127.0.0.1:9101"
    assert sweden.params.api_key is not None
    assert sweden.params.api_key.get_secret_value() == "k-sweden"
    assert france.params.api_base == "http://127.0.0.1:9102"
    router = settings.router_settings
    assert router.routing_strategy == "least-busy"
    assert (router.num_retries, router.timeout) == (2, 60.0)
    master_key = settings.general_settings.master_key
    assert master_key is not None
    assert master_key.get_secret_value() == "sk-demo-master"


async def test_extractor_returns_one_invoice_per_text_through_the_gateway(
    stack: Stack, extractor: ModuleType
):
    sweden = await stack.region("sweden")
    france = await stack.region("france")
    gateway = await stack.gateway(two_region_settings([sweden, france]))
    texts = extractor.SAMPLE_INVOICES

    async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0) as client:
        invoices = await extractor.extract_all(client, texts)

    assert len(invoices) == len(texts) == 3
    for invoice in invoices:
        assert isinstance(invoice, extractor.Invoice)
        assert invoice.line_items
    received = [*sweden.app.stats.recent, *france.app.stats.recent]
    assert len(received) == len(texts)
    for text in texts:  # each invoice went upstream once, with the schema as a tool
        supplier = text.split()[0].encode()
        (request,) = [r for r in received if supplier in r.body]
        assert b'"name":"Invoice"' in request.body
