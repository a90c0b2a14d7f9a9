"""Azure OpenAI as the fake speaks it: OpenAI's bodies plus Azure's URLs, auth, filters and errors.

Routes: ``POST /openai/deployments/{deployment}/{chat/completions|completions|embeddings}``
(``api-version`` required) and the v1 API ``/openai/v1/…`` (deployment in ``model``);
``GET /openai/v1/models`` and ``/openai/models``. Stream chunks are written with sorted keys,
as Azure does, after an empty-choices chunk that carries only ``prompt_filter_results``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

import orjson

from quotaflow.fake.openai_format import OpenAIFormat, openai_error
from quotaflow.fake.wire import (
    Call,
    Headers,
    Operation,
    Reply,
    ReplyMeta,
    Request,
    Route,
    whole_seconds,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from quotaflow.fake.config import FakeProviderConfig
    from quotaflow.fake.quota import QuotaDecision

__all__ = ["AzureFormat", "azure_error"]

_SAFE: Final = {"filtered": False, "severity": "safe"}
_UNDETECTED: Final = {"filtered": False, "detected": False}
PROMPT_FILTER_RESULTS: Final = [
    {
        "prompt_index": 0,
        "content_filter_results": {
            "hate": _SAFE,
            "jailbreak": _UNDETECTED,
            "self_harm": _SAFE,
            "sexual": _SAFE,
            "violence": _SAFE,
        },
    }
]
CHOICE_FILTER_RESULTS: Final = {
    "hate": _SAFE,
    "protected_material_code": _UNDETECTED,
    "protected_material_text": _UNDETECTED,
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
CHUNK_FILTER_RESULTS: Final = {
    "hate": _SAFE,
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}

_OPERATIONS: Final[dict[str, Operation]] = {
    "chat/completions": "chat",
    "completions": "completions",
    "embeddings": "embeddings",
}
_OPERATION_NAMES: Final = {
    "chat": "ChatCompletions_Create",
    "completions": "Completions_Create",
    "embeddings": "Embeddings_Create",
    "models": "Models_List",
}
_STATUS_ERRORS: Final = {
    401: (
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide"
        " a valid key for an active subscription and use a correct regional API endpoint for your"
        " resource.",
    ),
    404: (
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment"
        " within the last 5 minutes, please wait a moment and try again.",
    ),
    408: ("Timeout", "The operation was timeout."),
    500: ("InternalServerError", "The server had an error while processing your request."),
    503: (
        "ServiceUnavailable",
        "The service is temporarily unable to process your request. Please try again later.",
    ),
}
# The first stream chunk, byte for byte as Azure sends it: the nested keys are not sorted.
STREAM_PREAMBLE: Final = (
    b'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":'
    + orjson.dumps(PROMPT_FILTER_RESULTS)
    + b"}\n\n"
)


def azure_error(status: int, code: str, message: str) -> Reply:
    """An error in Azure's own shape: ``{"error": {"code": "…", "message": "…"}}``."""
    return Reply(status, orjson.dumps({"error": {"code": code, "message": message}}))


class AzureFormat(OpenAIFormat):
    """Azure OpenAI's deployment and v1 APIs."""

    def __init__(self, config: FakeProviderConfig) -> None:
        super().__init__(config)
        self._key = config.api_key.encode() if config.api_key else None
        self._region = config.region.encode()

    def route(self, request: Request) -> Route | Reply:
        """Deployment paths need ``api-version``; anything unknown is ``Resource not found``."""
        parts = request.path.strip("/").split("/")
        version = _api_version(request.query)
        if len(parts) > 3 and parts[:2] == ["openai", "deployments"]:
            operation = _OPERATIONS.get("/".join(parts[3:]))
            if request.method == "POST" and operation is not None and version is not None:
                return Route(operation, path_model=parts[2], api_version=version)
            return _not_found()
        rest = "/".join(parts[2:]) if parts[:2] == ["openai", "v1"] else None
        if request.method == "POST" and rest in _OPERATIONS:
            return Route(_OPERATIONS[rest], api_version=version or "v1")
        if request.method == "GET" and (rest == "models" or parts == ["openai", "models"]):
            return Route("models", api_version=version or "v1")
        return _not_found()

    def error(self, call: Call, status: int, meta: ReplyMeta, retry_after_s: float | None) -> Reply:
        """Azure's body for ``status``; validation errors keep OpenAI's shape, as Azure's do."""
        if status == 429:
            retry_after_s = 1.0 if retry_after_s is None else retry_after_s
            reply = self._quota_error(call, "token", retry_after_s)
        elif status in _STATUS_ERRORS:
            reply = azure_error(status, *_STATUS_ERRORS[status])
        elif status < 500:
            reply = openai_error(status, "Invalid request.")
        else:
            reply = azure_error(status, str(status), HTTPStatus(status).phrase)
        return self._with_headers(reply, meta, retry_after_s)

    def rate_limited(self, call: Call, quota: QuotaDecision, meta: ReplyMeta) -> Reply:
        """429 "… exceeded token|call rate limit … Please retry after N seconds."."""
        unit = "call" if quota.limited_by == "requests" else "token"
        reply = self._quota_error(call, unit, quota.retry_after_s)
        return self._with_headers(reply, meta, quota.retry_after_s)

    # --- OpenAIFormat hooks -------------------------------------------------------------------

    def _authenticate(self, request: Request) -> Reply | None:
        if self._key is None:
            return None
        if request.header(b"api-key") == self._key or request.header(b"authorization") == (
            b"Bearer " + self._key
        ):
            return None
        return azure_error(401, *_STATUS_ERRORS[401])

    def _model_of(self, route: Route, body: Mapping[str, Any]) -> Any:
        return route.path_model or body.get("model")

    def _check_model(self, model: str) -> Reply | None:
        deployments = self.config.deployments
        if not deployments or model in deployments:
            return None
        return azure_error(404, *_STATUS_ERRORS[404])

    def _screen(self, call: Call) -> Call | Reply:
        trigger = self.config.content_filter_trigger
        if trigger and any(trigger in text for text in call.texts):
            return _content_filtered()
        return call

    def _response_model(self, call: Call) -> str:
        if call.operation == "embeddings":
            return self.config.embedding_model_version
        return self.config.model_version

    def _decorate(self, body: dict[str, Any], call: Call) -> dict[str, Any]:
        body.pop("service_tier", None)
        for choice in body["choices"]:
            choice["content_filter_results"] = CHOICE_FILTER_RESULTS
        return {**body, "prompt_filter_results": PROMPT_FILTER_RESULTS}

    def _stream_preamble(self, call: Call) -> list[bytes]:
        return [STREAM_PREAMBLE]

    def _event(
        self, head: dict[str, Any], choices: list[Any], tail: dict[str, Any], *, filtered: bool
    ) -> bytes:
        results = CHUNK_FILTER_RESULTS if filtered else {}
        for choice in choices:
            choice["content_filter_results"] = results
        chunk = {**head, "choices": choices, **tail}
        chunk.pop("service_tier", None)
        return b"data: " + orjson.dumps(chunk, option=orjson.OPT_SORT_KEYS) + b"\n\n"

    def _headers(self, meta: ReplyMeta) -> Headers:
        request_id = b"%08x-0000-4000-8000-%012x" % (meta.number, meta.number)
        headers = [
            (b"apim-request-id", request_id),
            (b"x-request-id", request_id),
            (b"x-ms-region", self._region),
        ]
        quota = meta.quota
        if quota is not None:
            if quota.remaining_requests is not None:
                headers.append(
                    (b"x-ratelimit-remaining-requests", b"%d" % quota.remaining_requests)
                )
            if quota.remaining_tokens is not None:
                headers.append((b"x-ratelimit-remaining-tokens", b"%d" % quota.remaining_tokens))
        return headers

    def _quota_error(self, call: Call, unit: str, retry_after_s: float) -> Reply:
        version = call.route.api_version if call.route is not None else None
        message = (
            f"Requests to the {_OPERATION_NAMES[call.operation]} Operation under Azure OpenAI API"
            f" version {version or 'v1'} have exceeded {unit} rate limit of your current OpenAI S0"
            f" pricing tier. Please retry after {whole_seconds(retry_after_s)} seconds."
        )
        return azure_error(429, "429", message)


def _api_version(query: bytes) -> str | None:
    if b"api-version" not in query:
        return None
    for key, value in parse_qsl(query.decode("latin-1")):
        if key == "api-version" and value:
            return value
    return None


def _not_found() -> Reply:
    return azure_error(404, "404", "Resource not found")


def _content_filtered() -> Reply:
    results = {
        "hate": _SAFE,
        "jailbreak": _UNDETECTED,
        "self_harm": _SAFE,
        "sexual": _SAFE,
        "violence": {"filtered": True, "severity": "medium"},
    }
    error = {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content"
        " management policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": results},
    }
    return Reply(400, orjson.dumps({"error": error}))
