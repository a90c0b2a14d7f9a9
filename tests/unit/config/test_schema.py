from typing import Any

import pytest
from pydantic import AliasChoices, BaseModel, SecretStr, ValidationError

import quotaflow.config
from quotaflow.config import (
    ROUTING_STRATEGIES,
    DeploymentParams,
    GeneralSettings,
    ModelEntry,
    ModelInfo,
    RouterSettings,
    Settings,
    schema,
)
from quotaflow.config._litellm_keys import HINTS, UNSUPPORTED


def entry(model: str = "openai/gpt-4o", **params: Any) -> dict[str, Any]:
    return {"model_name": "gpt-4o", "litellm_params": {"model": model, **params}}


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[tuple[int | str, ...], str]:
    return {tuple(error["loc"]): error["msg"] for error in exc.value.errors()}


# DeploymentParams ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider", "upstream"),
    [
        ("azure/gpt-4-preview", "azure", "gpt-4-preview"),
        ("openai/facebook/opt-125m", "openai", "facebook/opt-125m"),
        ("azure_ai/mistral-large", "azure_ai", "mistral-large"),
        ("vertex-ai/gemini-1.5", "vertex-ai", "gemini-1.5"),
    ],
)
def test_model_splits_into_provider_and_upstream_model_at_the_first_slash(
    model: str, provider: str, upstream: str
) -> None:
    params = DeploymentParams(model=model)

    assert (params.provider, params.upstream_model) == (provider, upstream)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("gpt-4", "'gpt-4' has no provider prefix; write '<provider>/<model>'"),
        ("Azure/gpt-4", "provider 'Azure' must be lower-case letters, digits, '_' or '-'"),
        ("/gpt-4", "provider '' must be lower-case"),
        ("azure/", "the model name after 'azure/' is empty"),
        ("azure/  ", "the model name after 'azure/' is empty"),
    ],
)
def test_model_must_be_provider_slash_name(model: str, message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        DeploymentParams(model=model)

    assert message in errors_of(exc)[("model",)]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://sweden.openai.azure.com/", "https://sweden.openai.azure.com"),
        ("http://localhost:8000/v1//", "http://localhost:8000/v1"),
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
    ],
)
def test_api_base_loses_its_trailing_slashes(given: str, kept: str) -> None:
    assert DeploymentParams(model="openai/x", api_base=given).api_base == kept


@pytest.mark.parametrize(
    "api_base", ["ftp://example.com", "example.com", "https://", "https://host:port", ""]
)
def test_api_base_must_be_an_http_url(api_base: str) -> None:
    with pytest.raises(ValidationError) as exc:
        DeploymentParams(model="openai/x", api_base=api_base)

    assert errors_of(exc) == {("api_base",): "must be an http:// or https:// URL"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("rpm", -1),
        ("tpm", -1),
        ("weight", 0),
        ("order", 0),
        ("timeout", 0),
        ("stream_timeout", -1.5),
        ("max_retries", -1),
        ("input_cost_per_token", -0.1),
        ("output_cost_per_token", -0.1),
        ("timeout", float("inf")),
        ("weight", float("nan")),
    ],
)
def test_deployment_numbers_are_range_checked(key: str, value: float) -> None:
    with pytest.raises(ValidationError) as exc:
        DeploymentParams.model_validate({"model": "openai/x", key: value})

    assert list(errors_of(exc)) == [(key,)]


def test_deployment_accepts_zero_limits_and_prices() -> None:
    params = DeploymentParams(
        model="openai/x", rpm=0, tpm=0, max_retries=0, input_cost_per_token=0.0
    )

    assert (params.rpm, params.tpm, params.max_retries, params.input_cost_per_token) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"bad header": "x"}, "'bad header' is not a valid HTTP header name"),
        ({"X-Ok": "a\r\nInjected: yes"}, "the value of 'X-Ok' has a line break"),
    ],
)
def test_extra_headers_are_checked(headers: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        DeploymentParams(model="openai/x", extra_headers=headers)

    assert errors_of(exc) == {("extra_headers",): message}


def test_repr_hides_api_keys_and_header_values() -> None:
    params = DeploymentParams(
        model="openai/x",
        api_key=SecretStr("sk-very-secret"),
        extra_headers={"Authorization": "Bearer header-secret"},
    )

    assert "sk-very-secret" not in repr(params)
    assert "header-secret" not in repr(params)
    assert params.api_key is not None
    assert params.api_key.get_secret_value() == "sk-very-secret"


# ModelEntry and ModelInfo ----------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["litellm_params", "params"])
def test_entry_accepts_either_spelling_of_params(spelling: str) -> None:
    model_entry = ModelEntry.model_validate(
        {"model_name": "gpt-4o", spelling: {"model": "openai/gpt-4o"}}
    )

    assert model_entry.params.model == "openai/gpt-4o"


def test_entry_rejects_both_spellings_at_once() -> None:
    with pytest.raises(ValidationError) as exc:
        ModelEntry.model_validate(
            {
                "model_name": "gpt-4o",
                "litellm_params": {"model": "openai/gpt-4o"},
                "params": {"model": "openai/gpt-4o"},
            }
        )

    assert errors_of(exc) == {(): "give either 'litellm_params' or 'params', not both"}


def test_entry_without_params_names_litellm_spelling() -> None:
    with pytest.raises(ValidationError) as exc:
        ModelEntry.model_validate({"model_name": "gpt-4o"})

    assert errors_of(exc) == {("litellm_params",): "Field required"}


@pytest.mark.parametrize("name", ["", "   "])
def test_model_name_must_not_be_empty(name: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ModelEntry.model_validate({**entry(), "model_name": name})

    assert errors_of(exc) == {("model_name",): "must not be empty"}


def test_model_info_defaults_and_numeric_id() -> None:
    assert ModelEntry.model_validate(entry()).model_info == ModelInfo(id=None, base_model=None)
    assert ModelInfo.model_validate({"id": 7}).id == "7"


# RouterSettings ---------------------------------------------------------------------------------


def test_router_defaults() -> None:
    router = RouterSettings()

    assert router.routing_strategy == "simple-shuffle"
    assert (router.num_retries, router.timeout, router.stream_timeout) == (2, 600.0, None)
    assert (router.cooldown_time, router.allowed_fails, router.retry_after) == (5.0, 0, 0.0)
    assert (router.redis_host, router.redis_port) == (None, 6379)
    assert (router.redis_password, router.redis_url) == (None, None)


@pytest.mark.parametrize("strategy", ROUTING_STRATEGIES)
def test_every_routing_strategy_is_accepted(strategy: str) -> None:
    assert (
        RouterSettings.model_validate({"routing_strategy": strategy}).routing_strategy == strategy
    )


@pytest.mark.parametrize(
    ("given", "suggested"),
    [
        ("least_busy", "least-busy"),
        ("Simple-Shuffle", "simple-shuffle"),
        ("latency-based", "latency-based-routing"),
        ("usage-based-routing-v3", "usage-based-routing-v2"),
        ("quota_aware", "quota-aware"),
    ],
)
def test_unknown_routing_strategy_suggests_the_closest(given: str, suggested: str) -> None:
    with pytest.raises(ValidationError) as exc:
        RouterSettings.model_validate({"routing_strategy": given})

    message = errors_of(exc)[("routing_strategy",)]
    assert message.startswith(f"unknown routing strategy {given!r}; did you mean {suggested!r}?")
    assert "quota-aware" in message  # the valid values are listed


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("num_retries", -1),
        ("timeout", 0),
        ("stream_timeout", 0),
        ("cooldown_time", -1),
        ("allowed_fails", -1),
        ("retry_after", -0.5),
        ("redis_port", 0),
        ("redis_port", 70000),
        ("redis_host", ""),
    ],
)
def test_router_values_are_range_checked(key: str, value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        RouterSettings.model_validate({key: value})

    assert list(errors_of(exc)) == [(key,)]


# GeneralSettings and Settings -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["master_key", "database_url"])
def test_general_secrets_must_not_be_empty(key: str) -> None:
    with pytest.raises(ValidationError) as exc:
        GeneralSettings.model_validate({key: ""})

    assert errors_of(exc) == {(key,): "must not be empty"}


def test_general_defaults() -> None:
    assert GeneralSettings() == GeneralSettings(
        master_key=None, database_url=None, max_request_size_mb=10.0
    )


def test_settings_need_at_least_one_model() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings.model_validate({"model_list": []})

    assert errors_of(exc) == {("model_list",): "needs at least one entry"}


def test_duplicate_ids_are_reported_at_each_repeat() -> None:
    entries = [
        {**entry(), "model_info": {"id": "eu"}},
        {**entry(), "model_info": {"id": "us"}},
        {**entry(), "model_info": {"id": "eu"}},
        {**entry(), "model_info": {"id": "us"}},
        entry(),
        entry(),
    ]

    with pytest.raises(ValidationError) as exc:
        Settings.model_validate({"model_list": entries})

    assert errors_of(exc) == {
        ("model_list", 2, "model_info", "id"): "id 'eu' is already used by model_list[0]",
        ("model_list", 3, "model_info", "id"): "id 'us' is already used by model_list[1]",
    }


def test_settings_are_frozen() -> None:
    settings = Settings.model_validate({"model_list": [entry()]})

    with pytest.raises(ValidationError):
        settings.router_settings.num_retries = 5  # type: ignore[misc]


def test_source_is_not_part_of_the_dumped_config() -> None:
    settings = Settings.model_validate({"model_list": [entry()]})

    assert "source" not in settings.model_dump()


# Private key lists and the public surface -------------------------------------------------------


def supported_keys(model: type[BaseModel]) -> set[str]:
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            keys.update(choice for choice in alias.choices if isinstance(choice, str))
        else:
            keys.add(name)
    return keys


def test_litellm_key_lists_name_real_sections_and_never_shadow_supported_keys() -> None:
    for section, keys in UNSUPPORTED.items():
        model = getattr(schema, section)
        assert issubclass(model, BaseModel)
        assert not keys & supported_keys(model), section
    for section, key in HINTS:
        assert key in UNSUPPORTED[section]


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for module in (schema, quotaflow.config.loader, quotaflow.config._summary)
        for name in module.__all__
    }

    assert set(quotaflow.config.__all__) == public
    for name in quotaflow.config.__all__:
        assert getattr(quotaflow.config, name) is not None
