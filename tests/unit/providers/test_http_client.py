"""The upstream HTTP client's own behaviour."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quotaflow.providers.base import UpstreamRequest
from quotaflow.providers.http import UpstreamClient
from quotaflow.serving import serve_app

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping


async def _cookie_monster(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    """Sets a cookie and answers with the Cookie header it was sent."""
    if scope["type"] != "http":
        return
    cookie = dict(scope["headers"]).get(b"cookie", b"")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"set-cookie", b"session=tenant-a; Path=/")],
        }
    )
    await send({"type": "http.response.body", "body": cookie})


async def test_upstream_cookies_are_never_kept_or_sent_back():
    async with serve_app(_cookie_monster) as url, UpstreamClient() as client:
        # A host name, not an IP: a default cookie jar would keep this cookie.
        request = UpstreamRequest("POST", url.replace("127.0.0.1", "localhost") + "/", {}, b"{}")
        first = await client.send(request, timeout_s=5)
        second = await client.send(request, timeout_s=5)
    assert first.headers["set-cookie"].startswith("session=tenant-a")
    assert second.body == b""  # the cookie from the first answer was not sent with the second
