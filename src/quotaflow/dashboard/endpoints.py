"""The dashboard's own pages: the app shell at ``/ui``, login and logout.

Everything else the dashboard shows comes from the management API and ``/health``, which the
page's scripts call with the session cookie and, on every POST, the CSRF token.

- ``GET /ui``: the app shell (with the session's CSRF token in a ``<meta>`` tag), or a 303 to
  the login page without a valid session.
- ``GET /ui/login``: the form, with a fresh ``qf_login`` nonce cookie and its token.
- ``POST /ui/login``: form fields ``key`` and ``csrf``. The master key or an admin key opens a
  session (303 to ``/ui`` with the ``qf_session`` cookie); anything else shows the form again
  with 401. The key itself is never stored anywhere.
- ``POST /ui/logout``: form field ``csrf`` (or the ``x-csrf-token`` header); clears the cookie.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from quotaflow.dashboard.assets import SECURITY_HEADERS, load_template
from quotaflow.dashboard.session import (
    CSRF_HEADER,
    LOGIN_COOKIE,
    MASTER,
    SESSION_COOKIE,
    cookie_header,
    request_cookie,
    request_header,
)
from quotaflow.errors import GatewayError

if TYPE_CHECKING:
    from quotaflow.dashboard.assets import Template
    from quotaflow.dashboard.session import Session, Sessions
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services

__all__ = ["Pages"]

_FORM_LIMIT_BYTES = 8192
_LOGIN_TTL_S = 900
_LOGIN_PATH = "/ui/login"
_HTML = (b"content-type", b"text/html; charset=utf-8")
_NO_STORE = (b"cache-control", b"no-store")


class Pages:
    """The handlers of ``/ui``, ``/ui/login`` and ``/ui/logout``."""

    def __init__(self, sessions: Sessions | None) -> None:
        self._sessions = sessions
        self._shell = load_template("app.html")
        self._login = load_template("login.html")

    async def shell(self, services: Services, exchange: Exchange) -> None:
        """``GET /ui``: the app, or the login page for a browser without a session."""
        session = self._session(exchange)
        if session is None:
            await _redirect(exchange, _LOGIN_PATH)
            return
        who = "master key" if session.subject == MASTER else _key_name(services, session)
        body = self._shell.render(csrf=session.csrf, who=who)
        await _html(exchange, 200, body)

    async def login_form(self, services: Services, exchange: Exchange) -> None:
        """``GET /ui/login``: the form (or straight to the app with a session)."""
        if self._session(exchange) is not None:
            await _redirect(exchange, "/ui")
            return
        await self._form(exchange, 200, "")

    async def login(self, services: Services, exchange: Exchange) -> None:
        """``POST /ui/login``: open a session for the master key or an admin key."""
        sessions = self._sessions
        if sessions is None:
            await self._form(exchange, 404, "")
            return
        form = await _read_form(exchange)
        nonce = request_cookie(exchange.scope, LOGIN_COOKIE)
        if not sessions.login_token_ok(nonce, form.get("csrf")):
            await self._form(exchange, 403, "The form expired. Please try again.")
            return
        subject = _subject(services, form.get("key", "").strip())
        if subject is None:
            await self._form(exchange, 401, "That key is not the master key or an admin key.")
            return
        value, _ = sessions.issue(subject)
        secure = _secure(exchange)
        await _redirect(
            exchange,
            "/ui",
            cookies=[
                cookie_header(
                    SESSION_COOKIE, value, max_age_s=sessions.ttl_s, path="/", secure=secure
                ),
                cookie_header(LOGIN_COOKIE, "", max_age_s=0, path=_LOGIN_PATH, secure=secure),
            ],
        )

    async def logout(self, services: Services, exchange: Exchange) -> None:
        """``POST /ui/logout``: forget the session cookie (the CSRF token is required)."""
        session = self._session(exchange)
        if session is not None:
            form = await _read_form(exchange)
            token = form.get("csrf") or request_header(exchange.scope, CSRF_HEADER) or ""
            if not hmac.compare_digest(token.encode(), session.csrf.encode()):
                await _html(exchange, 403, b"Missing or wrong CSRF token.")
                return
        clear = cookie_header(SESSION_COOKIE, "", max_age_s=0, path="/", secure=_secure(exchange))
        await _redirect(exchange, _LOGIN_PATH, cookies=[clear])

    def _session(self, exchange: Exchange) -> Session | None:
        value = request_cookie(exchange.scope, SESSION_COOKIE)
        if self._sessions is None or value is None:
            return None
        return self._sessions.read(value)

    async def _form(self, exchange: Exchange, status: int, error: str) -> None:
        sessions = self._sessions
        if sessions is None:
            body = _render_login(self._login, token="", error="", disabled=True)
            await _html(exchange, status or 200, body)
            return
        nonce = secrets.token_urlsafe(18)
        body = _render_login(self._login, token=sessions.login_token(nonce), error=error)
        cookie = cookie_header(
            LOGIN_COOKIE, nonce, max_age_s=_LOGIN_TTL_S, path=_LOGIN_PATH, secure=_secure(exchange)
        )
        await _html(exchange, status, body, cookies=[cookie])


def _render_login(template: Template, *, token: str, error: str, disabled: bool = False) -> bytes:
    notice = (
        "The dashboard needs a master key: set general_settings.master_key and restart."
        if disabled
        else ""
    )
    return template.render(
        csrf=token,
        error=error,
        error_hidden="" if error else "hidden",
        notice=notice,
        notice_hidden="" if notice else "hidden",
        form_hidden="hidden" if disabled else "",
    )


def _subject(services: Services, key: str) -> str | None:
    """Who a presented key is, if it may open the dashboard: ``master`` or the key's hash."""
    if not key or not services.authenticator.required:
        return None
    try:
        principal = services.authenticator.authenticate(f"Bearer {key}", None)
    except GatewayError:
        return None
    if not principal.is_admin:
        return None
    return principal.key_hash or MASTER


def _key_name(services: Services, session: Session) -> str:
    registry = services.registry
    key = registry.cache.key(session.subject) if registry is not None else None
    if key is None:
        return "admin key"
    return f"admin key {key.key_alias or key.key_name or ''}".strip()


def _secure(exchange: Exchange) -> bool:
    return exchange.scope.get("scheme") == "https"


async def _read_form(exchange: Exchange) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (at most 8 KiB; more is ignored)."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await exchange.receive()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size <= _FORM_LIMIT_BYTES:
            parts.append(chunk)
        if not message.get("more_body", False):
            break
    if size > _FORM_LIMIT_BYTES:
        return {}
    return dict(parse_qsl(b"".join(parts).decode("utf-8", "replace"), keep_blank_values=True))


async def _html(
    exchange: Exchange, status: int, body: bytes, *, cookies: list[bytes] | None = None
) -> None:
    headers = [_HTML, _NO_STORE, (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]
    headers += [(b"set-cookie", cookie) for cookie in cookies or ()]
    await exchange.start(status, headers)
    await exchange.body(body)


async def _redirect(
    exchange: Exchange, location: str, *, cookies: list[bytes] | None = None
) -> None:
    headers = [(b"location", location.encode()), _NO_STORE, (b"content-length", b"0")]
    headers += [(b"set-cookie", cookie) for cookie in cookies or ()]
    await exchange.start(303, headers)
    await exchange.body(b"")
