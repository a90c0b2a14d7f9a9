"""``install``: the dashboard on one gateway app.

Mounts ``/ui`` (the app shell), ``/ui/login``, ``/ui/logout`` and every static file under
``/ui/static/``, and puts the app's ``Sessions`` into its services, so the management API and
``/health`` accept the dashboard's session cookie. ``GET /dashboard/activity`` is in the route
table (``server/routes.py``). Without a master key the dashboard only says that it needs one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quotaflow.dashboard.assets import load_assets
from quotaflow.dashboard.endpoints import Pages
from quotaflow.dashboard.session import Sessions

if TYPE_CHECKING:
    from quotaflow.config import Settings
    from quotaflow.server import GatewayApp

__all__ = ["install"]


def install(app: GatewayApp, settings: Settings) -> Pages:
    """Serve the dashboard from ``app``; returns its page handlers."""
    master_key = settings.general_settings.master_key
    services = app.services
    sessions = Sessions(master_key.get_secret_value(), services.clock) if master_key else None
    services.dashboard = sessions
    pages = Pages(sessions)
    for path in ("/ui", "/ui/"):
        app.mount("GET", path, pages.shell)
    app.mount("GET", "/ui/login", pages.login_form)
    app.mount("POST", "/ui/login", pages.login)
    app.mount("POST", "/ui/logout", pages.logout)
    for path, asset in load_assets().items():
        app.mount("GET", f"/ui/static/{path}", asset.serve)
    return pages
