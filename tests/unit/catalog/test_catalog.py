from decimal import Decimal

import pytest

from quotaflow.catalog import CL100K_BASE, ESTIMATE, O200K_BASE, ModelCatalog, ModelSpec

# providers.md §6.2: a trimmed fixture in LiteLLM's schema.
FIXTURE = """{
  "gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat",
                  "input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07,
                  "cache_read_input_token_cost": 7.5e-08,
                  "max_input_tokens": 128000, "max_output_tokens": 16384,
                  "supports_function_calling": true, "supports_vision": true},
  "claude-haiku-4-5": {"litellm_provider": "anthropic", "mode": "chat",
                       "input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06,
                       "cache_read_input_token_cost": 1e-07,
                       "cache_creation_input_token_cost": 1.25e-06,
                       "max_input_tokens": 200000, "max_output_tokens": 64000,
                       "supports_function_calling": true},
  "gemini/gemini-2.5-flash": {"litellm_provider": "gemini", "mode": "chat",
                              "input_cost_per_token": 3e-07, "output_cost_per_token": 2.5e-06,
                              "cache_read_input_token_cost": 3e-08,
                              "max_input_tokens": 1048576, "max_output_tokens": 65536,
                              "supports_function_calling": true}
}"""


def _row(price: str, provider: str = "openai") -> str:
    return f'{{"litellm_provider": "{provider}", "input_cost_per_token": {price}}}'


# Rows that make each lookup step distinguishable by their input price.
RESOLUTION = ModelCatalog.from_json(
    "{"
    f'"azure/gpt-4o": {_row("1", "azure")}, '
    f'"gpt-4o": {_row("2")}, '
    f'"gpt-4o-mini": {_row("3")}, '
    f'"claude-sonnet-4-5": {_row("4", "anthropic")}, '
    f'"gpt-4": {_row("5")}'
    "}"
)


@pytest.fixture(scope="module")
def bundled() -> ModelCatalog:
    return ModelCatalog.bundled()


def _input_price(spec: ModelSpec | None) -> Decimal | None:
    return spec.input_cost_per_token if spec else None


# ---- the bundled table ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("gpt-4o", ("0.0000025", "0.00001", "0.00000125", 128000, 16384)),
        ("gpt-4o-mini", ("0.00000015", "0.0000006", "0.000000075", 128000, 16384)),
        ("gpt-4-turbo", ("0.00001", "0.00003", None, 128000, 4096)),
        ("gpt-4.1", ("0.000002", "0.000008", "0.0000005", 1047576, 32768)),
        ("azure/gpt-4o", ("0.0000025", "0.00001", "0.00000125", 128000, 16384)),
        ("text-embedding-3-small", ("0.00000002", "0", None, 8191, None)),
        ("claude-sonnet-4-5", ("0.000003", "0.000015", "0.0000003", 200000, 64000)),
        ("claude-haiku-4-5", ("0.000001", "0.000005", "0.0000001", 200000, 64000)),
        ("gemini/gemini-2.5-flash", ("0.0000003", "0.0000025", "0.00000003", 1048576, 65536)),
        ("gemini/gemini-2.5-pro", ("0.00000125", "0.00001", "0.000000125", 1048576, 65536)),
    ],
)
def test_bundled_rows_match_the_reference(
    bundled: ModelCatalog, key: str, expected: tuple[str, str, str | None, int, int | None]
):
    input_usd, output_usd, cached_usd, max_input, max_output = expected
    spec = bundled[key]
    assert spec.input_cost_per_token == Decimal(input_usd)
    assert spec.output_cost_per_token == Decimal(output_usd)
    assert spec.cache_read_input_token_cost == (Decimal(cached_usd) if cached_usd else None)
    assert (spec.max_input_tokens, spec.max_output_tokens) == (max_input, max_output)


def test_bundled_tiers_and_cache_writes(bundled: ModelCatalog):
    pro = bundled["gemini/gemini-2.5-pro"]
    assert pro.input_cost_per_token_above_200k_tokens == Decimal("0.0000025")
    assert pro.output_cost_per_token_above_200k_tokens == Decimal("0.000015")
    assert bundled["claude-sonnet-4-5"].cache_creation_input_token_cost == Decimal("0.00000375")
    assert bundled["claude-haiku-4-5"].cache_creation_input_token_cost == Decimal("0.00000125")


def test_every_bundled_row_is_priced(bundled: ModelCatalog):
    assert 35 <= len(bundled) <= 50
    assert "sample_spec" not in bundled
    for name, spec in bundled.items():
        assert spec.name == name
        assert spec.mode in ("chat", "embedding"), name
        assert spec.input_cost_per_token is not None, name
        assert spec.output_cost_per_token is not None, name
        assert spec.max_input_tokens, name


@pytest.mark.parametrize(
    ("key", "encoding"),
    [
        ("gpt-4o", O200K_BASE),
        ("azure/o4-mini", O200K_BASE),
        ("gpt-4", CL100K_BASE),
        ("azure/gpt-35-turbo", CL100K_BASE),
        ("text-embedding-3-large", CL100K_BASE),
        ("claude-haiku-4-5", ESTIMATE),
        ("gemini/gemini-2.5-flash", ESTIMATE),
    ],
)
def test_bundled_encodings(bundled: ModelCatalog, key: str, encoding: str):
    assert bundled[key].encoding == encoding


def test_bundled_is_parsed_once():
    assert ModelCatalog.bundled() is ModelCatalog.bundled()


def test_reference_fixture_loads():
    catalog = ModelCatalog.from_json(FIXTURE)
    assert set(catalog) == {"gpt-4o-mini", "claude-haiku-4-5", "gemini/gemini-2.5-flash"}
    haiku = catalog["claude-haiku-4-5"]
    assert haiku.litellm_provider == "anthropic"
    assert haiku.cache_creation_input_token_cost == Decimal("0.00000125")


# ---- lookup ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "base_model", "input_usd"),
    [
        # <provider>/<model> before the bare name
        ("azure", "gpt-4o", None, 1),
        ("openai", "gpt-4o", None, 2),
        # base_model, with or without the azure/ prefix, names an arbitrary deployment
        ("azure", "prod-eastus-4o", "gpt-4o", 1),
        ("azure", "prod-eastus-4o", "azure/gpt-4o", 1),
        ("azure", "prod-eastus-4o-mini", "gpt-4o-mini", 3),
        ("openai", "prod", "gpt-4o", 2),
        # base_model wins over a deployment name the table also knows
        ("azure", "gpt-4o", "gpt-4o-mini", 3),
        # even when base_model only matches once undated
        ("azure", "gpt-4o-mini", "gpt-4o-2024-08-06", 1),
        # an unknown base_model falls back to the deployment's model
        ("azure", "gpt-4o-mini", "gpt-9", 3),
        # dated snapshots
        ("openai", "gpt-4o-2024-08-06", None, 2),
        ("azure", "gpt-4o-2024-11-20", None, 1),
        ("anthropic", "claude-sonnet-4-5-20250929", None, 4),
        ("openai", "gpt-4-0613", None, 5),
        # a path-style upstream name (an aggregator) finds the model by its last segment
        ("openrouter", "anthropic/claude-sonnet-4-5", None, 4),
    ],
)
def test_lookup_resolution_order(provider: str, model: str, base_model: str | None, input_usd: int):
    spec = RESOLUTION.lookup(provider, model, base_model=base_model)
    assert _input_price(spec) == input_usd


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-9"),
        ("openai", "gpt-4-1106-preview"),  # not a dated snapshot of gpt-4: priced differently
        ("openai", "gpt-4o-audio-preview"),
        ("vllm", "meta-llama/Llama-3.1-8B-Instruct"),
    ],
)
def test_lookup_unknown(provider: str, model: str):
    assert RESOLUTION.lookup(provider, model) is None


def test_lookup_in_the_bundled_table(bundled: ModelCatalog):
    spec = bundled.lookup("azure", "my-prod-deployment", base_model="gpt-35-turbo")
    assert spec is not None
    assert spec.name == "azure/gpt-35-turbo"
    gemini = bundled.lookup("gemini", "gemini-2.5-pro")
    assert gemini is not None
    assert gemini.name == "gemini/gemini-2.5-pro"


# ---- per-deployment overrides ------------------------------------------------------------------


def test_for_deployment_without_overrides_is_the_lookup(bundled: ModelCatalog):
    assert bundled.for_deployment("openai", "gpt-4o") is bundled["gpt-4o"]


def test_overrides_replace_prices_exactly(bundled: ModelCatalog):
    spec = bundled.for_deployment(
        "azure",
        "prod-4o",
        base_model="gpt-4o",
        input_cost_per_token=1e-06,
        output_cost_per_token=4e-06,
    )
    assert spec.name == "azure/gpt-4o"
    assert spec.input_cost_per_token == Decimal("0.000001")
    assert spec.output_cost_per_token == Decimal("0.000004")
    assert spec.max_input_tokens == 128000
    assert spec.encoding == O200K_BASE


def test_an_overridden_side_is_flat(bundled: ModelCatalog):
    spec = bundled.for_deployment("gemini", "gemini-2.5-pro", input_cost_per_token=Decimal("1e-6"))
    assert spec.cache_read_input_token_cost is None
    assert spec.input_cost_per_token_above_200k_tokens is None
    assert spec.cache_read_input_token_cost_above_200k_tokens is None
    # the side not overridden keeps its table prices
    assert spec.output_cost_per_token_above_200k_tokens == Decimal("0.000015")


def test_output_override_only(bundled: ModelCatalog):
    spec = bundled.for_deployment("gemini", "gemini-2.5-pro", output_cost_per_token=0)
    assert spec.output_cost_per_token == Decimal(0)
    assert spec.output_cost_per_token_above_200k_tokens is None
    assert spec.input_cost_per_token == Decimal("0.00000125")


def test_unknown_model_with_prices_gets_a_spec(bundled: ModelCatalog):
    spec = bundled.for_deployment(
        "vllm", "my-llama", input_cost_per_token=2e-07, output_cost_per_token=4e-07
    )
    assert spec == ModelSpec(
        name="vllm/my-llama",
        litellm_provider="vllm",
        encoding=ESTIMATE,
        input_cost_per_token=Decimal("2E-7"),
        output_cost_per_token=Decimal("4E-7"),
    )


def test_unknown_model_without_prices_gets_an_unpriced_spec(bundled: ModelCatalog):
    spec = bundled.for_deployment("azure", "prod", base_model="gpt-4o-mini-turbo-max")
    assert spec.name == "azure/prod"
    assert spec.encoding == O200K_BASE  # the tokenizer is still known from the name
    assert spec.input_cost_per_token is None
    assert spec.max_input_tokens is None


@pytest.mark.parametrize("price", [-1e-06, float("nan"), float("inf")])
def test_bad_override_is_refused(bundled: ModelCatalog, price: float):
    with pytest.raises(ValueError, match="finite, non-negative"):
        bundled.for_deployment("openai", "gpt-4o", input_cost_per_token=price)


# ---- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('{"input_cost_per_token": "cheap"}', r"m\.input_cost_per_token: must be a number"),
        ('{"input_cost_per_token": true}', "must be a number"),
        ('{"output_cost_per_token": -1}', "must be not negative"),
        ('{"max_input_tokens": 1.5}', r"m\.max_input_tokens: must be a non-negative integer"),
        ('{"mode": 3}', r"m\.mode: must be a string"),
        ("[]", "m: expected an object"),
    ],
)
def test_bad_rows_are_refused(row: str, message: str):
    with pytest.raises(ValueError, match=message):
        ModelCatalog.from_json(f'{{"m": {row}}}')


def test_a_table_is_an_object():
    with pytest.raises(ValueError, match="JSON object"):
        ModelCatalog.from_json("[]")


def test_integer_prices_and_unknown_fields():
    catalog = ModelCatalog.from_json(
        '{"free": {"litellm_provider": "openai", "input_cost_per_token": 0, '
        '"output_cost_per_token": 0, "supports_vision": true, "max_tokens": 10}}'
    )
    spec = catalog["free"]
    assert spec.input_cost_per_token == Decimal(0)
    assert spec.mode == "chat"
    assert spec.max_input_tokens is None
