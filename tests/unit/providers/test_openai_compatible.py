"""OpenAI-compatible presets: URLs, auth, unsupported parameters, ``drop_params``, config errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from quotaflow.app import build_router
from quotaflow.config import load_settings
from quotaflow.errors import ConfigError, InvalidRequest
from quotaflow.providers import UpstreamClient
from quotaflow.providers.base import Operation, ServerSentEvent
from quotaflow.providers.openai_compatible import PRESETS, OpenAICompatibleAdapter
from quotaflow.providers.registry import PROVIDERS, create_adapter
from quotaflow.routing.deployment import Deployment

CHAT = {"model": "public", "messages": [{"role": "user", "content": "hi"}]}


def deployment(provider: str, **fields: Any) -> Deployment:
    return Deployment(
        id=fields.pop("id", f"{provider}-1"),
        model_group="public",
        provider=provider,
        upstream_model=fields.pop("upstream_model", "some-model"),
        **fields,
    )


def adapter(provider: str, **fields: Any) -> OpenAICompatibleAdapter:
    built = create_adapter(deployment(provider, **fields))
    assert isinstance(built, OpenAICompatibleAdapter)
    return built


def body_of(provider: str, payload: dict[str, Any], **fields: Any) -> dict[str, Any]:
    request = adapter(provider, **fields).build_request(Operation.CHAT, payload, stream=False)
    sent: dict[str, Any] = orjson.loads(request.body)
    return sent


# --- the table -------------------------------------------------------------------------------


def test_every_preset_is_a_registered_provider():
    assert set(PRESETS) <= set(PROVIDERS)
    assert {"hosted_vllm", "ollama", "groq", "mistral", "openrouter"} <= set(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_consistent(name: str):
    preset = PRESETS[name]
    assert preset.name == name
    assert preset.requires_api_base == (preset.default_base_url is None)
    if preset.default_base_url is not None:
        assert preset.default_base_url.startswith(("https://", "http://127.0.0.1"))
        assert not preset.default_base_url.endswith("/")


@pytest.mark.parametrize(
    ("provider", "url"),
    [
        ("groq", "https://api.groq.com/openai/v1/chat/completions"),
        ("mistral", "https://api.mistral.ai/v1/chat/completions"),
        ("openrouter", "https://openrouter.ai/api/v1/chat/completions"),
        ("together_ai", "https://api.together.xyz/v1/chat/completions"),
        ("fireworks_ai", "https://api.fireworks.ai/inference/v1/chat/completions"),
        ("deepseek", "https://api.deepseek.com/chat/completions"),
        ("xai", "https://api.x.ai/v1/chat/completions"),
        ("ollama", "http://127.0.0.1:11434/v1/chat/completions"),
    ],
)
def test_default_base_urls(provider: str, url: str):
    request = adapter(provider).build_request(Operation.CHAT, CHAT, stream=False)
    assert request.url == url


def test_configured_api_base_wins_and_the_model_is_the_upstream_one():
    built = adapter("hosted_vllm", api_base="http://10.0.0.5:8000/v1/", upstream_model="org/m")
    request = built.build_request(
        Operation.EMBEDDING, {"model": "public", "input": "x"}, stream=False
    )
    assert request.url == "http://10.0.0.5:8000/v1/embeddings"
    assert orjson.loads(request.body)["model"] == "org/m"


@pytest.mark.parametrize(
    "api_base", ["http://gpu:11434", "http://gpu:11434/", "http://gpu:11434/v1"]
)
def test_ollama_api_base_may_be_the_server_root_as_in_litellm(api_base: str):
    request = adapter("ollama", api_base=api_base).build_request(Operation.CHAT, CHAT, stream=False)
    assert request.url == "http://gpu:11434/v1/chat/completions"


def test_bearer_auth_only_with_a_key():
    with_key = adapter("groq", api_key="gsk-1", extra_headers={"x-team": "a"})
    request = with_key.build_request(Operation.CHAT, CHAT, stream=False)
    assert request.headers["authorization"] == "Bearer gsk-1"
    assert request.headers["x-team"] == "a"
    keyless = adapter("hosted_vllm", api_base="http://127.0.0.1:8000/v1")
    assert "authorization" not in keyless.build_request(Operation.CHAT, CHAT, stream=False).headers


def test_errors_name_the_preset():
    error = adapter("groq").classify_error(503, {}, b"{}")
    assert "groq" in error.message


# --- unsupported parameters ------------------------------------------------------------------


def test_unsupported_parameter_is_a_400_naming_parameter_and_provider():
    with pytest.raises(InvalidRequest) as caught:
        body_of("groq", {**CHAT, "logit_bias": {"50256": -100}})
    error = caught.value
    assert error.status == 400
    assert error.param == "logit_bias"
    assert error.code == "unsupported_parameter"
    assert "'logit_bias'" in error.message
    assert "groq" in error.message
    assert error.body()["error"]["type"] == "invalid_request_error"


def test_drop_params_removes_unsupported_parameters_and_keeps_the_rest():
    payload = {**CHAT, "seed": 7, "user": "u-1", "temperature": 0.2}
    sent = body_of("mistral", payload, drop_params=True)
    assert "seed" not in sent
    assert "user" not in sent
    assert sent["temperature"] == 0.2
    assert payload["seed"] == 7  # the client's payload is not modified


def test_supported_parameters_pass_through():
    sent = body_of("groq", {**CHAT, "seed": 7, "user": "u-1", "n": 1})
    assert (sent["seed"], sent["user"], sent["n"]) == (7, "u-1", 1)


@pytest.mark.parametrize(
    ("provider", "param", "value"),
    [
        ("groq", "logprobs", None),
        ("groq", "logprobs", False),
        ("ollama", "n", 1),
        ("cerebras", "frequency_penalty", 0),
        ("cerebras", "presence_penalty", 0.0),
        ("cerebras", "parallel_tool_calls", True),
    ],
)
def test_null_or_openai_default_asks_for_nothing_and_is_removed(provider, param, value):
    assert param not in body_of(provider, {**CHAT, param: value})


@pytest.mark.parametrize(
    ("provider", "param", "value"),
    [
        ("groq", "logprobs", True),
        ("ollama", "n", 2),
        ("ollama", "n", True),
        ("cerebras", "presence_penalty", 0.5),
        ("mistral", "seed", 0),
    ],
)
def test_any_other_value_is_refused(provider, param, value):
    with pytest.raises(InvalidRequest, match=param):
        body_of(provider, {**CHAT, param: value})


def test_presets_without_restrictions_accept_everything():
    payload = {**CHAT, "logit_bias": {"1": 1}, "logprobs": True, "n": 3, "seed": 1, "user": "u"}
    assert body_of("hosted_vllm", payload, api_base="http://127.0.0.1:8000/v1") == {
        **payload,
        "model": "some-model",
    }


# --- streams ---------------------------------------------------------------------------------


def test_presets_ask_for_stream_usage():
    request = adapter("groq").build_request(Operation.CHAT, {**CHAT, "stream": True}, stream=True)
    assert orjson.loads(request.body)["stream_options"] == {"include_usage": True}


def test_mistral_gets_no_stream_options_and_its_usage_reaches_only_a_client_that_asked():
    mistral = adapter("mistral")
    asked = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    for payload in (asked, {**CHAT, "stream": True}):
        request = mistral.build_request(Operation.CHAT, payload, stream=True)
        assert "stream_options" not in orjson.loads(request.body)
    usage_only = ServerSentEvent(b'{"choices":[],"usage":{"prompt_tokens":3}}')
    assert mistral.open_stream(Operation.CHAT, asked).feed(usage_only) == [usage_only.data]
    unasked = mistral.open_stream(Operation.CHAT, CHAT)
    assert unasked.feed(usage_only) == []
    assert unasked.usage is not None
    assert unasked.usage.prompt_tokens == 3


# --- configuration ---------------------------------------------------------------------------


def settings(*entries: dict[str, Any], **litellm: Any) -> Any:
    data: dict[str, Any] = {
        "model_list": [
            {"model_name": f"m{i}", "litellm_params": params} for i, params in enumerate(entries)
        ]
    }
    if litellm:
        data["litellm_settings"] = litellm
    loaded = load_settings(data=data, environ={})
    assert loaded.warnings == ()
    return loaded.settings


def test_missing_api_base_is_a_config_error_naming_the_deployment():
    config = settings(
        {"model": "hosted_vllm/facebook/opt-125m"},
        {"model": "lm_studio/qwen"},
        {"model": "groq/llama-3.1-8b-instant"},
    )
    with pytest.raises(ConfigError) as caught:
        build_router(config, UpstreamClient())
    problems = caught.value.problems
    assert len(problems) == 2
    assert "hosted_vllm/facebook/opt-125m@default" in problems[0]
    assert "model_list (m0)" in problems[0]
    assert "api_base" in problems[0]
    assert "lm_studio/qwen@default" in problems[1]


def deployments_of(config: Any) -> list[Deployment]:
    router = build_router(config, UpstreamClient())
    return [d for group in router.groups.values() for d in group.deployments]


def test_drop_params_per_deployment_else_global():
    base = "http://127.0.0.1:8000/v1"
    entries = (
        {"model": "hosted_vllm/a", "api_base": base},
        {"model": "hosted_vllm/b", "api_base": base, "drop_params": True},
        {"model": "hosted_vllm/c", "api_base": base, "drop_params": False},
    )
    assert [d.drop_params for d in deployments_of(settings(*entries))] == [False, True, False]
    on = settings(*entries, drop_params=True)
    assert [d.drop_params for d in deployments_of(on)] == [True, True, False]


@pytest.mark.parametrize(("global_drop", "entry_drop"), [(True, None), (False, True)])
def test_drop_params_from_config_reaches_the_adapter(global_drop, entry_drop):
    params: dict[str, Any] = {"model": "groq/llama-3.1-8b-instant"}
    if entry_drop is not None:
        params["drop_params"] = entry_drop
    router = build_router(settings(params, drop_params=global_drop), UpstreamClient())
    (groq,) = router.groups["m0"].deployments
    request = create_adapter(groq).build_request(
        Operation.CHAT, {**CHAT, "logit_bias": {"1": 5}}, stream=False
    )
    assert "logit_bias" not in orjson.loads(request.body)


def test_global_drop_params_is_overridden_by_a_deployment_that_turns_it_off():
    config = settings({"model": "groq/x", "drop_params": False}, drop_params=True)
    (groq,) = deployments_of(config)
    with pytest.raises(InvalidRequest):
        create_adapter(groq).build_request(Operation.CHAT, {**CHAT, "logprobs": True}, stream=False)
