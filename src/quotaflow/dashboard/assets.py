"""The dashboard's files: static assets served as they are, and the two HTML templates.

Everything ships as package data (``dashboard/static/**``, ``dashboard/templates/*.html``) and is
read once, when the dashboard is installed. Assets are served with an ``ETag`` and
``cache-control: no-cache``, so a browser revalidates and gets a 304 while nothing changed.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from quotaflow.dashboard.session import request_header

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services

__all__ = ["SECURITY_HEADERS", "Asset", "Template", "load_assets", "load_template"]

_TYPES = {
    ".css": b"text/css; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
    ".txt": b"text/plain; charset=utf-8",
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", _CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file and the headers it is served with."""

    body: bytes
    content_type: bytes
    etag: bytes

    async def serve(self, services: Services, exchange: Exchange) -> None:
        """``GET /ui/static/<path>``: the file, or 304 when the browser's copy is current."""
        cached = request_header(exchange.scope, b"if-none-match")
        headers = [
            (b"etag", self.etag),
            (b"cache-control", b"no-cache"),
            *SECURITY_HEADERS,
        ]
        if cached is not None and cached.encode() == self.etag:
            await exchange.start(304, headers)
            await exchange.body(b"")
            return
        headers += [
            (b"content-type", self.content_type),
            (b"content-length", str(len(self.body)).encode()),
        ]
        await exchange.start(200, headers)
        await exchange.body(self.body)


def load_assets() -> dict[str, Asset]:
    """Every file under ``static/`` by its path there (``pages/keys.js``)."""
    root = resources.files("quotaflow.dashboard") / "static"
    assets: dict[str, Asset] = {}
    for path, entry in _walk(root, ""):
        suffix = path[path.rfind(".") :] if "." in path else ""
        content_type = _TYPES.get(suffix)
        if content_type is None:
            continue  # licences and notes ship beside the code but are not served
        body = entry.read_bytes()
        etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'
        assets[path] = Asset(body, content_type, etag)
    return assets


def _walk(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        path = f"{prefix}{entry.name}"
        if entry.is_dir():
            found += _walk(entry, path + "/")
        elif entry.is_file():
            found.append((path, entry))
    return found


class Template:
    """An HTML page with ``{{name}}`` slots, filled with escaped text."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def render(self, **values: str) -> bytes:
        """The page with every ``{{name}}`` replaced by its HTML-escaped value."""
        text = self._text
        for name, value in values.items():
            text = text.replace("{{" + name + "}}", html.escape(value))
        return text.encode()


def load_template(name: str) -> Template:
    """``templates/<name>``."""
    entry = resources.files("quotaflow.dashboard") / "templates" / name
    return Template(entry.read_text(encoding="utf-8"))
