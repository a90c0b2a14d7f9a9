"""A small synchronous client for a running gateway's management API (stdlib ``urllib``).

The CLI talks to the gateway rather than to the database, so that every replica's key cache
learns of a change the way it does for any management call. Failures become ``CliError``s whose
message is safe to print: the API's own error message, or what went wrong with the connection —
never the master key.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["AdminClient", "CliError"]

_MAX_ERROR_BYTES = 64 * 1024


class CliError(Exception):
    """A failure to report in one line on stderr; ``exit_code`` is what the command returns."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class AdminClient:
    """JSON over HTTP to one gateway, authenticated with ``master_key`` when there is one."""

    base_url: str
    master_key: str | None = None
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            msg = f"--url must be an http:// or https:// URL, not {self.base_url!r}"
            raise CliError(msg, exit_code=2)

    def get(self, path: str, query: Mapping[str, object] | None = None) -> Any:
        """``GET path?query``: the decoded JSON answer."""
        params = {name: _text(value) for name, value in (query or {}).items() if value is not None}
        suffix = f"?{urlencode(params)}" if params else ""
        return self._call("GET", path + suffix, None)

    def post(self, path: str, body: Mapping[str, object]) -> Any:
        """``POST path`` with a JSON body: the decoded JSON answer."""
        return self._call("POST", path, json.dumps(body).encode())

    def _call(self, method: str, path: str, body: bytes | None) -> Any:
        headers = {"accept": "application/json", "user-agent": "quotaflow-cli"}
        if body is not None:
            headers["content-type"] = "application/json"
        if self.master_key:
            headers["authorization"] = f"Bearer {self.master_key}"
        url = self.base_url.rstrip("/") + path
        request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310 - scheme checked in __post_init__
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310 - scheme checked in __post_init__
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            with error:
                raise CliError(_api_message(error.code, error.read(_MAX_ERROR_BYTES))) from None
        except urllib.error.URLError as error:
            raise CliError(self._unreachable(error.reason)) from None
        except TimeoutError as error:
            raise CliError(self._unreachable(error)) from None
        except json.JSONDecodeError:
            raise CliError(f"{self.base_url} answered {path} with something not JSON") from None

    def _unreachable(self, reason: object) -> str:
        if isinstance(reason, ConnectionRefusedError):
            why = "connection refused: is the gateway running there? (quotaflow serve)"
        elif isinstance(reason, TimeoutError):
            why = f"no answer within {self.timeout_s:g} s"
        else:
            why = str(reason)
        return f"cannot reach the gateway at {self.base_url}: {why}"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _api_message(status: int, raw: bytes) -> str:
    """The message of an OpenAI-shaped error body, with the status; or the status alone."""
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message: str = error["message"]
        if status in (401, 403):
            message += " (check --master-key, or --config with general_settings.master_key)"
        return f"error {status}: {message}"
    return f"error {status}: the gateway answered without an error message"
