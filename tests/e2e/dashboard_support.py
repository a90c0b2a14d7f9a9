"""Test support for the dashboard: a gateway with keys, ``/health`` and ``/ui`` in front of two
fake regions (France and Sweden), and Debian's Chromium driven by Playwright.

Chromium or Playwright missing: the browser tests fail when ``CI`` is set, else they skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from quotaflow import dashboard
from quotaflow.app import create_app
from quotaflow.config import load_settings
from quotaflow.serving import serve_app
from tests.support import MASTER_KEY, two_region_settings
from tests.unit.management.keyed import Keyed, keyed_services

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from playwright.async_api import Browser, Page, ViewportSize

    from tests.support import Region, Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parents[2] / "test-artifacts" / "screenshots"
DESKTOP: ViewportSize = {"width": 1366, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
INPUT_PRICE, OUTPUT_PRICE = 0.00001, 0.00003
CHAT = "gpt-4-preview"


@dataclass
class Deployed:
    """A gateway with the dashboard, its regions, and an admin client for its API."""

    url: str
    regions: dict[str, Region]
    keyed: Keyed
    admin: httpx.AsyncClient

    def chats(self, region: str) -> int:
        """Chat completions the region answered."""
        return self.regions[region].app.stats.requests["chat"]


async def deploy(stack: Stack, folder: Path, *, latency_ms: float = 0) -> Deployed:
    """Regions ``france`` and ``sweden``, and a gateway with keys, metrics and the dashboard."""
    regions = {
        name: await stack.region(name, latency_ms=latency_ms) for name in ("france", "sweden")
    }
    config = two_region_settings(list(regions.values()))
    for entry in config["model_list"]:
        entry["litellm_params"] |= {
            "input_cost_per_token": INPUT_PRICE,
            "output_cost_per_token": OUTPUT_PRICE,
        }
    settings = load_settings(data=config, environ={}).settings
    app = create_app(settings)  # with metrics and /health
    keyed = await stack.enter(keyed_services(app, config, folder))
    dashboard.install(app, settings)
    url = await stack.enter(serve_app(app, lifespan=True))
    admin = await stack.enter(
        httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {MASTER_KEY}"})
    )
    return Deployed(url, regions, keyed, admin)


def require_browser() -> None:
    """Skip (fail under CI) unless Playwright and Debian's Chromium are installed."""
    missing = []
    try:
        import playwright.async_api  # noqa: F401, PLC0415
    except ImportError:
        missing.append("the 'playwright' package (pip install -e '.[dev]')")
    if shutil.which(CHROMIUM) is None:
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if missing:
        message = "dashboard browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium for one test."""
    require_browser()
    from playwright.async_api import async_playwright  # noqa: PLC0415

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def page_of(browser: Browser, url: str, **context: Any) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) and page at desktop size; dialogs are accepted.

    An uncaught error in the page's scripts fails the test when the block ends.
    """
    ctx = await browser.new_context(base_url=url, viewport=DESKTOP, **context)
    page = await ctx.new_page()
    page.set_default_timeout(8000)
    page.on("dialog", lambda dialog: dialog.accept())
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        await ctx.close()
    assert not errors, f"errors in the page's scripts: {errors}"


async def log_in(page: Page, key: str = MASTER_KEY) -> None:
    """Log in through the form and wait for the overview."""
    await page.goto("/ui")
    await page.fill("input[name=key]", key)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#page[data-ready=overview]")


async def open_page(page: Page, name: str, *args: str) -> None:
    """Go to one of the dashboard's pages and wait until it has drawn."""
    path = "/".join((name, *args))
    await page.evaluate(
        "hash => { document.getElementById('page').removeAttribute('data-ready');"
        " if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));"
        " else location.hash = hash; }",
        f"#/{path}",
    )
    await page.wait_for_selector(f"#page[data-ready={name}]")


async def reload_page(page: Page, name: str) -> None:
    """Draw the current page again with fresh data."""
    await page.evaluate("() => window.dispatchEvent(new HashChangeEvent('hashchange'))")
    await page.wait_for_selector(f"#page[data-ready={name}]")


async def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot in ``test-artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.evaluate("() => document.querySelectorAll('.toast').forEach(t => t.remove())")
    await page.wait_for_timeout(150)  # charts redraw once they know their width
    await page.screenshot(path=str(path), full_page=True)
    return path


async def text(page: Page, selector: str) -> str:
    """The trimmed text of the first element matching ``selector``."""
    return (await page.locator(selector).first.inner_text()).strip()
