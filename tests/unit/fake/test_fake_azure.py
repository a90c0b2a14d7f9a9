"""The Azure flavor, in-process: URLs, api-version, api-key, filters, stream preamble, errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from quotaflow.fake import FakeProvider

    Connect = Callable[..., tuple[FakeProvider, httpx.AsyncClient]]
    ParseSSE = Callable[[str], list[Any]]

VERSION = "api-version=2024-10-21"
CHAT = f"/openai/deployments/gpt4/chat/completions?{VERSION}"
HELLO = [{"role": "user", "content": "Hello there"}]
SAFE = {"filtered": False, "severity": "safe"}
PREAMBLE = (
    'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":'
    '[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},'
    '"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,'
    '"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":'
    '{"filtered":false,"severity":"safe"}}}]}\n\n'
)  # copied from the reference's §2.3


async def test_chat_has_filter_results_and_model_version(connect: Connect) -> None:
    _, client = connect(flavor="azure", region="swedencentral")
    response = await client.post(CHAT, json={"model": "ignored", "messages": HELLO})
    assert response.status_code == 200
    assert response.headers["x-ms-region"] == "swedencentral"
    assert response.headers["apim-request-id"] == response.headers["x-request-id"]
    body = response.json()
    assert body["model"] == "gpt-4-turbo-2024-04-09"
    assert "service_tier" not in body
    prompt_results = body["prompt_filter_results"][0]["content_filter_results"]
    assert body["prompt_filter_results"][0]["prompt_index"] == 0
    assert prompt_results["jailbreak"] == {"filtered": False, "detected": False}
    choice = body["choices"][0]
    assert choice["message"]["content"] == "This is a fake answer to: Hello there"
    assert choice["content_filter_results"]["violence"] == SAFE
    assert choice["content_filter_results"]["protected_material_text"]["detected"] is False


async def test_stream_starts_with_the_empty_prompt_filter_chunk(
    connect: Connect, sse: ParseSSE
) -> None:
    _, client = connect(flavor="azure", stream_chunks=1)
    body = {"messages": HELLO, "stream": True}
    text = (await client.post(CHAT, json=body)).text
    assert text.startswith(PREAMBLE)
    preamble, role, content, finish, done = sse(text)
    assert preamble["choices"] == []
    assert done == "[DONE]"
    assert list(role) == sorted(role)
    assert role["choices"] == [
        {
            "content_filter_results": {},
            "delta": {"content": "", "refusal": None, "role": "assistant"},
            "finish_reason": None,
            "index": 0,
            "logprobs": None,
        }
    ]
    assert role["model"] == "gpt-4-turbo-2024-04-09"
    assert "service_tier" not in role
    assert content["choices"][0]["delta"] == {"content": "This is a fake answer to: Hello there"}
    assert content["choices"][0]["content_filter_results"]["hate"] == SAFE
    assert finish["choices"][0]["delta"] == {}
    assert finish["choices"][0]["content_filter_results"] == {}
    assert finish["choices"][0]["finish_reason"] == "stop"


async def test_missing_api_version_and_unknown_paths_are_resource_not_found(
    connect: Connect,
) -> None:
    _, client = connect(flavor="azure")
    not_found = {"error": {"code": "404", "message": "Resource not found"}}
    for path in (
        "/openai/deployments/gpt4/chat/completions",
        "/openai/deployments/gpt4/nothing?api-version=1",
        "/v1/chat/completions",
    ):
        response = await client.post(path, json={"messages": HELLO})
        assert response.status_code == 404
        assert response.json() == not_found


async def test_unknown_deployment(connect: Connect) -> None:
    _, client = connect(flavor="azure", deployments=("gpt4", "embed"))
    assert (await client.post(CHAT, json={"messages": HELLO})).status_code == 200
    response = await client.post(
        f"/openai/deployments/gpt-5/chat/completions?{VERSION}", json={"messages": HELLO}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "DeploymentNotFound"
    assert "does not exist" in response.json()["error"]["message"]


async def test_api_key(connect: Connect) -> None:
    _, client = connect(flavor="azure", api_key="k-123")
    body = {"messages": HELLO}
    assert (await client.post(CHAT, json=body, headers={"api-key": "k-123"})).status_code == 200
    bearer = {"authorization": "Bearer k-123"}
    assert (await client.post(CHAT, json=body, headers=bearer)).status_code == 200
    for headers in ({"api-key": "nope"}, {}):
        response = await client.post(CHAT, json=body, headers=headers)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == "401"
        assert error["message"].startswith("Access denied due to invalid subscription key")


async def test_content_filter_trigger(connect: Connect) -> None:
    _, client = connect(flavor="azure", content_filter_trigger="forbidden-word")
    messages = [{"role": "user", "content": [{"type": "text", "text": "say forbidden-word"}]}]
    response = await client.post(CHAT, json={"messages": messages})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "content_filter"
    assert error["param"] == "prompt"
    assert error["type"] is None
    assert error["status"] == 400
    assert error["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert error["innererror"]["content_filter_result"]["violence"] == {
        "filtered": True,
        "severity": "medium",
    }


async def test_v1_api_routes_on_the_model_field(connect: Connect) -> None:
    _, client = connect(flavor="azure", deployments=("gpt4",))
    ok = await client.post("/openai/v1/chat/completions", json={"model": "gpt4", "messages": HELLO})
    assert ok.status_code == 200
    missing = await client.post(
        "/openai/v1/chat/completions", json={"model": "x", "messages": HELLO}
    )
    assert missing.json()["error"]["code"] == "DeploymentNotFound"
    listed = await client.get("/openai/v1/models")
    assert [m["id"] for m in listed.json()["data"]][:1] == ["gpt-4o-mini"]


async def test_embeddings_and_completions(connect: Connect) -> None:
    _, client = connect(flavor="azure")
    embedded = await client.post(
        f"/openai/deployments/embed/embeddings?{VERSION}", json={"input": "hello"}
    )
    assert embedded.json()["model"] == "text-embedding-3-small"
    assert "prompt_filter_results" not in embedded.json()
    completed = await client.post(
        f"/openai/deployments/instruct/completions?{VERSION}", json={"prompt": "hi"}
    )
    assert completed.json()["object"] == "text_completion"
    assert completed.json()["choices"][0]["content_filter_results"]["sexual"] == SAFE


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "InternalServerError"), (503, "ServiceUnavailable"), (502, "502"), (408, "Timeout")],
)
async def test_status_faults_are_azure_shaped(connect: Connect, status: int, code: str) -> None:
    _, client = connect(flavor="azure")
    await client.post("/_fake/faults", json={"faults": [{"kind": "status", "status": status}]})
    response = await client.post(CHAT, json={"messages": HELLO})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert "retry-after" not in response.headers


async def test_status_fault_429_has_retry_hints(connect: Connect) -> None:
    _, client = connect(flavor="azure")
    fault = {"kind": "status", "status": 429, "retry_after_s": 4.2}
    await client.post("/_fake/faults", json={"faults": [fault]})
    response = await client.post(CHAT, json={"messages": HELLO})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "5"
    assert response.headers["retry-after-ms"] == "4200"
    assert response.json()["error"]["code"] == "429"
    assert "Please retry after 5 seconds." in response.json()["error"]["message"]
