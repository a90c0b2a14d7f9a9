"""The gateway's error tree: every failure a client can see is one of these.

    GatewayError                      status, error_type, code, param, message (safe to show)
    ├── ClientError                   the caller's request is wrong or not allowed
    │   ├── InvalidRequest            400 invalid_request_error
    │   ├── AuthenticationFailed      401 invalid_request_error / invalid_api_key
    │   ├── PermissionDenied          403
    │   ├── ModelNotFound             404 model_not_found
    │   ├── PromptTooLong             400 context_length_exceeded, found before any call
    │   ├── CallTooLarge              400 request_too_large: more tokens than any quota allows
    │   ├── RouteNotFound             404 unknown_url
    │   ├── PayloadTooLarge           413
    │   ├── UnsupportedMediaType      415
    │   ├── RateLimited               429 (gateway-side limits)
    │   ├── limits.BudgetExceeded     429 insufficient_quota (configurable): a budget is spent
    │   ├── management.NoSuchRecord   404 not_found: no such key, team or user
    │   └── management.AlreadyExists  409 conflict: an id or alias is taken
    ├── management.DatabaseUnavailable     503: the store cannot be reached; nothing was written
    ├── management.ManagementUnavailable   503: the gateway runs without a store
    ├── UpstreamError                 an upstream call failed; ``fault`` tells the router what to do
    │   ├── UpstreamRejected          request:    the upstream refused the request (4xx): no retry
    │   │   ├── ContextWindowExceeded   the prompt is too long for the model (context fallbacks)
    │   │   └── ContentPolicyViolation  a content filter refused it (content-policy fallbacks)
    │   ├── UpstreamAuthFailed        deployment: the deployment's credentials are wrong; cool down
    │   ├── UpstreamMisconfigured     deployment: the upstream has no such deployment or resource
    │   ├── UpstreamBadResponse       deployment: the upstream answered garbage (502)
    │   ├── UpstreamRateLimited       transient:  429, with ``retry_after_s`` when the upstream said
    │   ├── UpstreamUnavailable       transient:  5xx, 408, connection refused or reset (503)
    │   └── UpstreamTimeout           transient:  no answer in time (504)
    └── RoutingError
        ├── NoDeploymentAvailable     503/429: every deployment is cooling down
        └── AllAttemptsFailed         the last attempt's error, with every attempt recorded

``fault`` values: ``request`` (never retried), ``deployment`` (cool the deployment down, try
another), ``transient`` (try another at once, cool down for the upstream's hint).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "AllAttemptsFailed",
    "Attempt",
    "AuthenticationFailed",
    "CallTooLarge",
    "ClientError",
    "ConfigError",
    "ContentPolicyViolation",
    "ContextWindowExceeded",
    "Fault",
    "GatewayError",
    "InvalidRequest",
    "ModelNotFound",
    "NoDeploymentAvailable",
    "PayloadTooLarge",
    "PermissionDenied",
    "PromptTooLong",
    "RateLimited",
    "RouteNotFound",
    "RoutingError",
    "UnsupportedMediaType",
    "UpstreamAuthFailed",
    "UpstreamBadResponse",
    "UpstreamError",
    "UpstreamMisconfigured",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists each one with its key path."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class Fault(Enum):
    """Whose fault an upstream failure is, which decides retry and cooldown."""

    REQUEST = "request"
    DEPLOYMENT = "deployment"
    TRANSIENT = "transient"


class GatewayError(Exception):
    """Base of every error whose message may be shown to a client."""

    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def status(self) -> int:
        """The HTTP status to answer with."""
        return self.status_code

    def body(self) -> dict[str, Any]:
        """The error in OpenAI's wire shape."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class ClientError(GatewayError):
    """The caller's request cannot be served as sent."""

    status_code = 400
    error_type = "invalid_request_error"


class InvalidRequest(ClientError):
    """Malformed JSON, a missing field, a wrongly typed value."""


class AuthenticationFailed(ClientError):
    """No credentials, or credentials the gateway does not accept."""

    status_code = 401
    default_code = "invalid_api_key"


class PermissionDenied(ClientError):
    """Authenticated, but not allowed to do this."""

    status_code = 403
    default_code = "permission_denied"


class ModelNotFound(ClientError):
    """The requested model name is not served here."""

    status_code = 404
    default_code = "model_not_found"


class PromptTooLong(ClientError):
    """The prompt fits no deployment's context window; nothing was sent upstream."""

    default_code = "context_length_exceeded"


class CallTooLarge(ClientError):
    """The call alone is larger than every deployment's quota: no wait would let it through."""

    default_code = "request_too_large"


class RouteNotFound(ClientError):
    """No endpoint at this method and path."""

    status_code = 404
    default_code = "unknown_url"


class PayloadTooLarge(ClientError):
    """The request body is over the configured limit."""

    status_code = 413
    default_code = "request_too_large"


class UnsupportedMediaType(ClientError):
    """The request body is not JSON."""

    status_code = 415
    default_code = "unsupported_media_type"


class RateLimited(ClientError):
    """A limit enforced by the gateway itself."""

    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamError(GatewayError):
    """An upstream call failed; ``fault`` tells the router whether to retry or cool down."""

    fault: ClassVar[Fault] = Fault.TRANSIENT
    status_code = 502
    error_type = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        upstream_status: int | None = None,
        retry_after_s: float | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, param=param, headers=headers)
        self.upstream_status = upstream_status
        self.retry_after_s = retry_after_s
        self.upstream_body = dict(body) if body is not None else None


class UpstreamRejected(UpstreamError):
    """The upstream refused the request itself (a 4xx other than 401/403/408/429).

    The client gets the upstream's status and error body, in OpenAI's shape.
    """

    fault = Fault.REQUEST
    error_type = "invalid_request_error"

    @property
    def status(self) -> int:
        """The upstream's own status."""
        return self.upstream_status or 400

    def body(self) -> dict[str, Any]:
        """The upstream's error, normalised to OpenAI's four keys."""
        if self.upstream_body is not None:
            return {"error": self.upstream_body}
        return super().body()


class ContextWindowExceeded(UpstreamRejected):
    """The upstream says the prompt does not fit the model's context window."""

    default_code = "context_length_exceeded"


class ContentPolicyViolation(UpstreamRejected):
    """The upstream's content filter refused the request."""

    default_code = "content_filter"


class UpstreamAuthFailed(UpstreamError):
    """The deployment's credentials were refused (401/403): its configuration is wrong."""

    fault = Fault.DEPLOYMENT
    status_code = 502
    default_code = "upstream_auth_failed"


class UpstreamMisconfigured(UpstreamError):
    """The upstream says the configured deployment or resource does not exist."""

    fault = Fault.DEPLOYMENT
    status_code = 502
    default_code = "upstream_deployment_not_found"


class UpstreamBadResponse(UpstreamError):
    """The upstream answered something that is not the protocol."""

    fault = Fault.DEPLOYMENT
    status_code = 502
    default_code = "bad_upstream_response"


class UpstreamRateLimited(UpstreamError):
    """The upstream answered 429."""

    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamUnavailable(UpstreamError):
    """The upstream failed (5xx, 408) or could not be reached."""

    status_code = 503
    error_type = "service_unavailable_error"
    default_code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time."""

    status_code = 504
    error_type = "timeout_error"
    default_code = "upstream_timeout"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One upstream call made for a request: where it went and how it ended."""

    deployment_id: str
    outcome: str
    status: int | None
    duration_s: float


class RoutingError(GatewayError):
    """The router could not produce an answer."""

    status_code = 503
    error_type = "service_unavailable_error"


class NoDeploymentAvailable(RoutingError):
    """Every deployment of the group is cooling down; ``retry_after_s`` says for how long."""

    default_code = "no_deployment_available"

    def __init__(self, message: str, *, retry_after_s: float, status: int = 429) -> None:
        seconds = max(1, round(retry_after_s + 0.499))
        super().__init__(
            message,
            headers={"retry-after": str(seconds), "retry-after-ms": str(int(retry_after_s * 1000))},
        )
        self.retry_after_s = retry_after_s
        self._status = status

    @property
    def status(self) -> int:
        """429 when quota is the cause, 503 when the deployments are failing."""
        return self._status

    def body(self) -> dict[str, Any]:
        """OpenAI's shape; the type follows the status."""
        body = super().body()
        if self._status == 429:
            body["error"]["type"] = "rate_limit_error"
        return body


class AllAttemptsFailed(RoutingError):
    """Every attempt failed; the client sees the last upstream error."""

    def __init__(self, last: UpstreamError, attempts: Sequence[Attempt]) -> None:
        super().__init__(last.message, code=last.code, param=last.param, headers=last.headers)
        self.last = last
        self.attempts = list(attempts)

    @property
    def status(self) -> int:
        """The status of the last failure."""
        return self.last.status

    def body(self) -> dict[str, Any]:
        """The last failure's body."""
        return self.last.body()
