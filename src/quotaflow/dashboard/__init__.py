"""The web dashboard at ``/ui``: hand-written HTML, CSS and ES modules, no build step, no CDN.

Owns the session cookie and CSRF tokens (``session``), the pages it serves itself (``endpoints``:
the app shell, login, logout; ``assets``: static files), and one JSON route the management API
lacks (``activity_api``: requests, tokens, spend, errors and latency per model group, deployment
and time bucket). Every other figure the pages show comes from the management API and
``/health``. The management API imports ``session``, so nothing here is imported eagerly:
``install`` loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quotaflow.dashboard.wiring import install

__all__ = ["install"]


def __getattr__(name: str) -> object:
    if name == "install":
        from quotaflow.dashboard.wiring import install  # noqa: PLC0415 - see the docstring

        return install
    raise AttributeError(name)
