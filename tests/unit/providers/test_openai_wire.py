import orjson
import pytest

from quotaflow.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    Fault,
    UpstreamAuthFailed,
    UpstreamBadResponse,
    UpstreamMisconfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from quotaflow.providers._openai_wire import OpenAIStreamTranslator, retry_after_s
from quotaflow.providers.azure_openai import AzureOpenAIAdapter
from quotaflow.providers.base import Operation, ServerSentEvent
from quotaflow.providers.openai import OpenAIAdapter
from quotaflow.routing.deployment import Deployment

AZURE = Deployment(
    id="fr",
    model_group="gpt-4",
    provider="azure",
    upstream_model="gpt-4-preview",
    api_base="https://fr.example.test/",
    api_key="azure-key",
    api_version="2024-02-15-preview",
)
OPENAI = Deployment(
    id="oa",
    model_group="gpt-4",
    provider="openai",
    upstream_model="gpt-4o",
    api_base="http://127.0.0.1:9/v1",
    api_key="sk-up",
)


def test_azure_request_targets_the_deployment_with_api_version_and_key():
    request = AzureOpenAIAdapter(AZURE).build_request(
        Operation.CHAT, {"model": "gpt-4", "messages": [], "seed": 1}, stream=False
    )
    assert request.url == (
        "https://fr.example.test/openai/deployments/gpt-4-preview/chat/completions"
        "?api-version=2024-02-15-preview"
    )
    assert request.headers["api-key"] == "azure-key"
    assert "authorization" not in request.headers
    assert orjson.loads(request.body)["seed"] == 1


def test_openai_request_replaces_model_and_sends_bearer():
    request = OpenAIAdapter(OPENAI).build_request(
        Operation.EMBEDDING, {"model": "public", "input": "x"}, stream=False
    )
    assert request.url == "http://127.0.0.1:9/v1/embeddings"
    assert request.headers["authorization"] == "Bearer sk-up"
    assert orjson.loads(request.body) == {"model": "gpt-4o", "input": "x"}


def test_azure_without_api_base_is_refused():
    with pytest.raises(ValueError, match="api_base"):
        AzureOpenAIAdapter(
            Deployment(id="x", model_group="g", provider="azure", upstream_model="m")
        )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
        ({"retry-after": "6"}, 6.0),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers, expected):
    assert retry_after_s(headers) == expected


AZURE_429 = orjson.dumps({"error": {"code": "429", "message": "Please retry after 6 seconds."}})


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "fault"),
    [
        (
            429,
            AZURE_429,
            {"retry-after": "6", "retry-after-ms": "5800"},
            UpstreamRateLimited,
            Fault.TRANSIENT,
        ),
        (
            401,
            b'{"error":{"code":"401","message":"Access denied"}}',
            {},
            UpstreamAuthFailed,
            Fault.DEPLOYMENT,
        ),
        (403, b"", {}, UpstreamAuthFailed, Fault.DEPLOYMENT),
        (
            404,
            b'{"error":{"code":"DeploymentNotFound","message":"x"}}',
            {},
            UpstreamMisconfigured,
            Fault.DEPLOYMENT,
        ),
        (408, b"", {}, UpstreamUnavailable, Fault.TRANSIENT),
        (500, b"<html>", {}, UpstreamUnavailable, Fault.TRANSIENT),
        (503, b"", {"retry-after": "3"}, UpstreamUnavailable, Fault.TRANSIENT),
        (
            400,
            orjson.dumps({"error": {"message": "too long", "code": "context_length_exceeded"}}),
            {},
            ContextWindowExceeded,
            Fault.REQUEST,
        ),
    ],
)
def test_azure_errors_are_classified_by_status_and_code(status, body, headers, kind, fault):
    error = AzureOpenAIAdapter(AZURE).classify_error(status, headers, body)
    assert type(error) is kind
    assert error.fault is fault
    assert error.upstream_status == status


def test_rate_limit_carries_the_upstream_hint():
    error = AzureOpenAIAdapter(AZURE).classify_error(429, {"retry-after-ms": "5800"}, AZURE_429)
    assert error.retry_after_s == pytest.approx(5.8)


def test_content_filter_goes_back_in_openai_shape_with_azure_details():
    body = orjson.dumps(
        {
            "error": {
                "message": "filtered",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation"},
            }
        }
    )
    error = AzureOpenAIAdapter(AZURE).classify_error(400, {}, body)
    assert isinstance(error, ContentPolicyViolation)
    assert error.status == 400
    assert error.body() == {
        "error": {
            "message": "filtered",
            "type": "invalid_request_error",
            "param": "prompt",
            "code": "content_filter",
            "innererror": {"code": "ResponsibleAIPolicyViolation"},
        }
    }


def test_a_404_means_the_deployment_names_a_model_the_upstream_does_not_have():
    body = orjson.dumps({"error": {"message": "no such model", "code": "model_not_found"}})
    error = OpenAIAdapter(OPENAI).classify_error(404, {}, body)
    assert isinstance(error, UpstreamMisconfigured)
    assert error.fault is Fault.DEPLOYMENT  # cool it down and try another deployment
    assert error.status == 502


@pytest.mark.parametrize(
    ("op", "body"),
    [
        (Operation.CHAT, b"<html>oops</html>"),
        (Operation.CHAT, b'{"id":"x"}'),
        (Operation.EMBEDDING, b'{"choices":[]}'),
        (Operation.CHAT, b"[1,2]"),
    ],
)
def test_garbage_replies_are_bad_responses(op, body):
    with pytest.raises(UpstreamBadResponse):
        OpenAIAdapter(OPENAI).parse_reply(op, {}, body, {})


def test_reply_usage_is_read():
    body = orjson.dumps(
        {
            "choices": [],
            "usage": {
                "prompt_tokens": 9,
                "completion_tokens": 3,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 1},
            },
        }
    )
    reply = OpenAIAdapter(OPENAI).parse_reply(Operation.CHAT, {}, body, {})
    assert reply.body == body
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (9, 3)
    assert (reply.usage.cached_tokens, reply.usage.reasoning_tokens) == (4, 1)


def _event(obj: object) -> ServerSentEvent:
    return ServerSentEvent(orjson.dumps(obj))


def test_stream_translator_drops_azure_filter_chunks_and_keeps_usage():
    translator = OpenAIStreamTranslator("azure")
    filter_only = {"choices": [], "id": "", "prompt_filter_results": [{"prompt_index": 0}]}
    async_filter = {"choices": [{"index": 0, "content_filter_results": {}}], "id": "c"}
    content = {"choices": [{"index": 0, "delta": {"content": "Hi"}}], "id": "c"}
    usage = {"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 1}}

    assert translator.feed(_event(filter_only)) == []
    assert translator.feed(_event(async_filter)) == []
    assert translator.feed(_event(content)) == [orjson.dumps(content)]
    assert translator.feed(_event(usage)) == [orjson.dumps(usage)]
    assert translator.usage is not None
    assert translator.usage.prompt_tokens == 2
    assert not translator.done
    assert translator.feed(ServerSentEvent(b"[DONE]")) == []
    assert translator.done


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"code": "429", "message": "slow down"}, UpstreamRateLimited),
        ({"type": "invalid_request_error", "code": "content_filter"}, UpstreamRejected),
        ({"type": "server_error", "message": "boom"}, UpstreamUnavailable),
    ],
)
def test_error_events_in_a_stream_are_classified(error, kind):
    with pytest.raises(kind):
        OpenAIStreamTranslator("openai").feed(_event({"error": error}))


@pytest.mark.parametrize("data", [b"not json", b"[1]", b'{"id":"no choices"}'])
def test_garbage_stream_events(data):
    with pytest.raises(UpstreamBadResponse):
        OpenAIStreamTranslator("openai").feed(ServerSentEvent(data))


def test_openai_format_rate_limit_headers_become_a_hint_for_routing():
    hint = AzureOpenAIAdapter(AZURE).rate_limit_hint(
        {"x-ratelimit-remaining-requests": "3", "x-ratelimit-remaining-tokens": "5500"}
    )
    assert hint is not None
    assert (hint.remaining_requests, hint.remaining_tokens) == (3, 5_500)
    assert OpenAIAdapter(OPENAI).rate_limit_hint({"x-request-id": "r"}) is None
