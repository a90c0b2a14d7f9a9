from decimal import Decimal

import pytest

from quotaflow.catalog import ModelCatalog, ModelSpec, cost_usd
from quotaflow.providers.base import Usage


@pytest.fixture(scope="module")
def catalog() -> ModelCatalog:
    return ModelCatalog.bundled()


def test_openai_semantics_bill_cached_tokens_at_the_cache_price(catalog: ModelCatalog):
    usage = Usage(prompt_tokens=1000, cached_tokens=400, completion_tokens=200)
    # 600 x 2.5e-6 + 400 x 1.25e-6 + 200 x 1e-5
    assert cost_usd(usage, catalog["gpt-4o"]) == Decimal("0.004")


def test_anthropic_semantics_exclude_cache_reads_and_writes(catalog: ModelCatalog):
    usage = Usage(prompt_tokens=1000, cached_tokens=2000, completion_tokens=300)
    spec = catalog["claude-sonnet-4-5"]
    # 1000 x 3e-6 + 2000 x 3e-7 + 500 x 3.75e-6 + 300 x 1.5e-5
    expected = Decimal("0.009975")
    assert cost_usd(usage, spec, provider_semantics="anthropic", cache_write_tokens=500) == expected
    # The same call as quotaflow's adapters report it: prompt_tokens includes reads and writes.
    translated = Usage(prompt_tokens=3500, cached_tokens=2000, completion_tokens=300)
    assert cost_usd(translated, spec, cache_write_tokens=500) == expected


def test_cache_writes_without_a_write_price_cost_the_input_price(catalog: ModelCatalog):
    usage = Usage(prompt_tokens=100)
    spec = catalog["gpt-4o-mini"]
    assert cost_usd(usage, spec, cache_write_tokens=40) == cost_usd(usage, spec)


def test_missing_cache_price_falls_back_to_input(catalog: ModelCatalog):
    usage = Usage(prompt_tokens=1000, cached_tokens=1000)
    assert cost_usd(usage, catalog["gpt-4-turbo"]) == Decimal("0.01")


def test_long_prompts_use_the_upper_tier(catalog: ModelCatalog):
    spec = catalog["gemini/gemini-2.5-pro"]
    usage = Usage(prompt_tokens=250_000, cached_tokens=50_000, completion_tokens=1000)
    # 200,000 x 2.5e-6 + 50,000 x 2.5e-7 + 1000 x 1.5e-5
    assert cost_usd(usage, spec) == Decimal("0.5275")


def test_the_tier_starts_above_200k(catalog: ModelCatalog):
    spec = catalog["gemini/gemini-2.5-pro"]
    usage = Usage(prompt_tokens=200_000, completion_tokens=1000)
    # 200,000 x 1.25e-6 + 1000 x 1e-5
    assert cost_usd(usage, spec) == Decimal("0.26")


def test_anthropic_tier_counts_the_whole_prompt(catalog: ModelCatalog):
    spec = catalog["claude-sonnet-4-5"]
    usage = Usage(prompt_tokens=10_000, cached_tokens=195_000, completion_tokens=100)
    # 205,000 prompt tokens in all: 10,000 x 6e-6 + 195,000 x 6e-7 + 100 x 2.25e-5
    assert cost_usd(usage, spec, provider_semantics="anthropic") == Decimal("0.17925")


def test_models_without_a_tier_keep_their_price(catalog: ModelCatalog):
    usage = Usage(prompt_tokens=300_000, completion_tokens=10)
    # 300,000 x 2e-6 + 10 x 8e-6
    assert cost_usd(usage, catalog["gpt-4.1"]) == Decimal("0.60008")


def test_reasoning_tokens_are_charged_once_as_output(catalog: ModelCatalog):
    spec = catalog["o4-mini"]
    plain = Usage(prompt_tokens=10, completion_tokens=500)
    reasoning = Usage(prompt_tokens=10, completion_tokens=500, reasoning_tokens=450)
    assert cost_usd(reasoning, spec) == cost_usd(plain, spec) == Decimal("0.002211")


def test_embeddings(catalog: ModelCatalog):
    usage = Usage(prompt_tokens=1_000_000)
    assert cost_usd(usage, catalog["text-embedding-3-small"]) == Decimal("0.02")


def test_unknown_price_is_none_not_zero():
    spec = ModelSpec(name="x", litellm_provider="vllm", encoding="estimate")
    assert cost_usd(Usage(prompt_tokens=1), spec) is None
    # nothing to charge: known to be zero
    assert cost_usd(Usage(), spec) == Decimal(0)


def test_only_the_prices_a_call_needs_must_be_known():
    spec = ModelSpec(
        name="x", litellm_provider="vllm", encoding="estimate", input_cost_per_token=Decimal(1)
    )
    assert cost_usd(Usage(prompt_tokens=3), spec) == Decimal(3)
    assert cost_usd(Usage(prompt_tokens=3, completion_tokens=1), spec) is None


def test_free_is_zero():
    spec = ModelSpec(
        name="x",
        litellm_provider="vllm",
        encoding="estimate",
        input_cost_per_token=Decimal(0),
        output_cost_per_token=Decimal(0),
    )
    assert cost_usd(Usage(prompt_tokens=10, cached_tokens=5, completion_tokens=5), spec) == 0


def test_an_override_is_flat_across_cache_and_tier(catalog: ModelCatalog):
    spec = catalog.for_deployment(
        "gemini", "gemini-2.5-pro", input_cost_per_token=1e-06, output_cost_per_token=2e-06
    )
    usage = Usage(prompt_tokens=300_000, cached_tokens=100_000, completion_tokens=1000)
    # 300,000 x 1e-6 + 1000 x 2e-6
    assert cost_usd(usage, spec) == Decimal("0.302")


def test_inconsistent_counts_never_go_negative(catalog: ModelCatalog):
    spec = catalog["gpt-4o"]
    usage = Usage(prompt_tokens=100, cached_tokens=500, completion_tokens=-3)
    # all 100 prompt tokens as cached, nothing else
    assert cost_usd(usage, spec, cache_write_tokens=50) == Decimal("0.000125")
