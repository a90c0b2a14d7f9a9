"""Dashboard sessions: a signed, HTTP-only cookie instead of the master key, and CSRF tokens.

After a login with the master key (or an admin key) the browser holds ``qf_session``:
``base64url(payload).base64url(HMAC-SHA256(payload))``, the payload naming who logged in
(``master`` or the admin key's hash — never a key), a random session id and the expiry. The
signing key is derived from the master key, so every replica accepts every replica's cookies
and changing the master key ends every session. The cookie is ``HttpOnly`` (scripts cannot
read it), ``SameSite=Strict`` (other sites' requests do not carry it) and ``Path=/``, because
the dashboard calls the management API (``/key/*``, ``/team/*``, ``/spend/*``) and ``/health``.

Every request that changes something must also carry the session's CSRF token, an HMAC of the
session id, in ``x-csrf-token`` (the page gets it in a ``<meta>`` tag). The login form has its
own double-submit token tied to a short-lived ``qf_login`` cookie.

``session_principal`` is what the management API and ``/health`` call when a request has no
``Authorization``/``api-key`` header. Must not import the management package or the server's
route table (they import this module).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from quotaflow.auth import Principal
from quotaflow.errors import AuthenticationFailed, PermissionDenied

if TYPE_CHECKING:
    from quotaflow.clock import Clock
    from quotaflow.server.exchange import Exchange, Scope
    from quotaflow.server.services import Services

__all__ = [
    "CSRF_HEADER",
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "Session",
    "Sessions",
    "cookie_header",
    "request_cookie",
    "request_header",
    "session_principal",
]

SESSION_COOKIE = "qf_session"
LOGIN_COOKIE = "qf_login"
CSRF_HEADER = b"x-csrf-token"
MASTER = "master"

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LABEL = b"quotaflow/dashboard/session/v1"
_MASTER_PRINCIPAL = Principal(is_admin=True, key_alias=MASTER, can_view=True)
_MAX_COOKIE_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Session:
    """A verified dashboard session."""

    subject: str
    """``master``, or the hash of the admin key that logged in."""
    session_id: str
    expires_s: int
    csrf: str
    """The token every state-changing request of this session must send."""


class Sessions:
    """Issues and verifies session cookies and CSRF tokens; one per app."""

    def __init__(self, master_key: str, clock: Clock, *, ttl_s: int = 8 * 3600) -> None:
        self._key = hmac.new(master_key.encode(), _LABEL, hashlib.sha256).digest()
        self._clock = clock
        self.ttl_s = ttl_s

    def issue(self, subject: str) -> tuple[str, Session]:
        """A new session for ``subject``: the cookie value and the session it stands for."""
        session_id = secrets.token_urlsafe(18)
        expires_s = int(self._clock.wall()) + self.ttl_s
        payload = orjson.dumps({"s": subject, "i": session_id, "e": expires_s})
        value = f"{_b64(payload)}.{_b64(self._sign(b'session|' + payload))}"
        return value, Session(subject, session_id, expires_s, self._csrf(session_id))

    def read(self, value: str) -> Session | None:
        """The session a cookie value stands for; ``None`` if forged, malformed or expired."""
        if len(value) > _MAX_COOKIE_CHARS or value.count(".") != 1:
            return None
        encoded, signature = value.split(".")
        try:
            payload, given = _unb64(encoded), _unb64(signature)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(given, self._sign(b"session|" + payload)):
            return None
        try:
            fields = orjson.loads(payload)
            subject, session_id, expires_s = str(fields["s"]), str(fields["i"]), int(fields["e"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        if expires_s <= self._clock.wall():
            return None
        return Session(subject, session_id, expires_s, self._csrf(session_id))

    def now(self) -> float:
        """The wall time, from the clock that dates the sessions."""
        return self._clock.wall()

    def login_token(self, nonce: str) -> str:
        """The login form's token for the nonce in its ``qf_login`` cookie."""
        return _b64(self._sign(b"login|" + nonce.encode()))

    def login_token_ok(self, nonce: str | None, token: str | None) -> bool:
        """Whether the login form's token belongs to the browser's ``qf_login`` nonce."""
        if not nonce or not token:
            return False
        return hmac.compare_digest(token.encode(), self.login_token(nonce).encode())

    def _csrf(self, session_id: str) -> str:
        return _b64(self._sign(b"csrf|" + session_id.encode()))

    def _sign(self, message: bytes) -> bytes:
        return hmac.new(self._key, message, hashlib.sha256).digest()


def session_principal(services: Services, exchange: Exchange) -> Principal | None:
    """The admin behind a dashboard session cookie; ``None`` when the request has none.

    401 for a cookie that is forged or expired, or whose admin key is gone, blocked or no
    longer an admin; 403 for a state-changing request without the session's CSRF token.
    """
    sessions = services.dashboard
    value = request_cookie(exchange.scope, SESSION_COOKIE)
    if sessions is None or value is None:
        return None
    session = sessions.read(value)
    if session is None:
        raise AuthenticationFailed(
            "The dashboard session has expired or is not valid; log in again.",
            code="session_expired",
        )
    principal = _principal(services, session, sessions)
    if exchange.scope["method"] not in _SAFE_METHODS:
        token = request_header(exchange.scope, CSRF_HEADER)
        if token is None or not hmac.compare_digest(token.encode(), session.csrf.encode()):
            raise PermissionDenied(
                "Missing or wrong CSRF token: send the session's token in 'x-csrf-token'.",
                code="csrf_failed",
            )
    return principal


def _principal(services: Services, session: Session, sessions: Sessions) -> Principal:
    if session.subject == MASTER:
        return _MASTER_PRINCIPAL
    registry = services.registry
    principal = registry.cache.lookup(session.subject) if registry is not None else None
    now = sessions.now()
    if (
        principal is None
        or not principal.is_admin
        or principal.blocked is not None
        or (principal.expires_s is not None and now >= principal.expires_s)
    ):
        raise AuthenticationFailed(
            "The key this dashboard session was opened with may no longer be used; log in again.",
            code="session_expired",
        )
    return principal


def request_cookie(scope: Scope, name: str) -> str | None:
    """One cookie of the request, from every ``cookie`` header (HTTP/2 may send several).

    Parsed leniently, pair by pair: another application's odd cookie on the same host does
    not hide ours (``http.cookies`` stops at the first cookie it cannot parse).
    """
    for key, value in scope["headers"]:
        if key != b"cookie":
            continue
        header: str = value.decode("latin-1")
        for pair in header.split(";"):
            found, sep, text = pair.strip().partition("=")
            if sep and found == name and text:
                return text
    return None


def request_header(scope: Scope, name: bytes) -> str | None:
    """A request header the ``Exchange`` does not keep (cookies, CSRF token), decoded."""
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def cookie_header(name: str, value: str, *, max_age_s: int, path: str, secure: bool) -> bytes:
    """A ``set-cookie`` value: HTTP-only, same-site only, for ``max_age_s`` (0 deletes it)."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age_s}", "HttpOnly"]
    parts.append("SameSite=Strict")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
