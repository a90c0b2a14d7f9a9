"""The dashboard in headless Chromium: the seed's story, form errors, CSRF and login.

A gateway on 127.0.0.1 with virtual keys, ``/health`` and ``/ui``, in front of two fake Azure
regions, France and Sweden. Every page is saved to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import asyncio
import csv
import io
from typing import TYPE_CHECKING, Any

import openai
import pytest

from tests.e2e.dashboard_support import (
    CHAT,
    PHONE,
    chromium,
    deploy,
    log_in,
    open_page,
    page_of,
    reload_page,
    screenshot,
    text,
)
from tests.support import MASTER_KEY

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.async_api import Page

    from tests.e2e.dashboard_support import Deployed
    from tests.support import Stack

pytestmark = pytest.mark.e2e

CALLS = 12
MESSAGES: list[Any] = [{"role": "user", "content": "Summarise this invoice for dev."}]


def number(shown: str) -> int:
    return int(shown.replace(",", ""))


async def spend_records(gateway: Deployed, count: int) -> list[dict[str, Any]]:
    """The spend logs once ``count`` records have been written (the writer flushes in ms)."""
    for _ in range(200):
        logs: list[dict[str, Any]] = (await gateway.admin.get("/spend/logs")).json()
        if len(logs) >= count:
            return logs
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {len(logs)} spend records, expected {count}")


async def create_team(page: Page, **fields: str) -> None:
    await open_page(page, "teams")
    form = page.locator("[data-testid=team-form]")
    if not await form.is_visible():
        await page.click("[data-testid=new-team]")
    for name, value in fields.items():
        await form.locator(f"input[name={name}]").fill(value)
    await form.locator("button[type=submit]").click()


async def create_key(page: Page, alias: str, team: str, **fields: str) -> None:
    await open_page(page, "keys")
    form = page.locator("[data-testid=key-form]")
    if not await form.is_visible():
        await page.click("[data-testid=new-key]")
    await form.locator("input[name=key_alias]").fill(alias)
    await form.locator("select[name=team_id]").select_option(team)
    for name, value in fields.items():
        await form.locator(f"input[name={name}]").fill(value)
    await form.locator("button[type=submit]").click()


async def test_seed_story_team_key_traffic_usage_and_split(stack: Stack, tmp_path: Path):
    gateway = await deploy(stack, tmp_path, latency_ms=60)
    async with chromium() as browser, page_of(browser, gateway.url) as page:
        await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        await page.goto("/ui")
        assert page.url.endswith("/ui/login")
        await screenshot(page, "login")
        await log_in(page)
        key = await team_and_key(page)
        tokens = await traffic(gateway, key)
        await check_overview(page, gateway)
        await check_team(page, tokens)
        await check_usage(page, gateway, tokens)
        await check_logs(page, gateway.chats("france"), gateway.chats("sweden"))
        await open_page(page, "deployments")
        assert await text(page, "[data-testid=state-france]") == "Healthy"
        assert await text(page, "[data-testid=state-sweden]") == "Healthy"
        await screenshot(page, "deployments")
        await page.set_viewport_size(PHONE)
        await open_page(page, "overview")
        await screenshot(page, "overview-phone")


async def team_and_key(page: Page) -> str:
    """The operator creates team dev with access to only gpt-4-preview, and a key for it."""
    await create_team(page, team_id="dev", models=CHAT)
    await page.wait_for_selector("[data-testid=team-detail]")
    assert await text(page, "tr[data-team=dev] td:nth-child(2)") == CHAT
    await create_key(page, "dev-key", "dev")
    key = await page.input_value("[data-testid=new-key-value]")
    assert key.startswith("sk-")
    await page.click("[data-testid=copy-key]")
    assert await page.evaluate("() => navigator.clipboard.readText()") == key
    await screenshot(page, "keys-new-key")
    await open_page(page, "keys")
    assert await page.locator("[data-testid=new-key-value]").count() == 0  # shown only once
    return key


async def traffic(gateway: Deployed, key: str) -> int:
    """The process service calls through the gateway with the key; the tokens it used."""
    client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    answers = await asyncio.gather(
        *[
            client.chat.completions.create(model=CHAT, messages=MESSAGES, max_tokens=20)
            for _ in range(CALLS)
        ]
    )
    with pytest.raises(openai.NotFoundError):  # the team may not use embeddings
        await client.embeddings.create(model="text-embedding-3-small", input="hi")
    await client.close()
    france, sweden = gateway.chats("france"), gateway.chats("sweden")
    assert france + sweden == CALLS
    assert france > 0
    assert sweden > 0
    await spend_records(gateway, CALLS + 1)
    return sum(a.usage.total_tokens for a in answers if a.usage is not None)


async def check_overview(page: Page, gateway: Deployed) -> None:
    """The traffic and its France/Sweden split, as the fake regions counted it."""
    await open_page(page, "overview")
    assert number(await text(page, "[data-testid=kpi-requests]")) == CALLS + 1
    assert number(await text(page, "[data-testid=kpi-errors]")) == 1
    assert number(await text(page, "[data-testid=split-france]")) == gateway.chats("france")
    assert number(await text(page, "[data-testid=split-sweden]")) == gateway.chats("sweden")
    row = page.locator("[data-testid=table-deployments] tr[data-deployment=france] td")
    assert number(await row.nth(2).inner_text()) == gateway.chats("france")
    assert await page.locator("[data-testid=chart-deployments] svg rect[fill]").count() > 0
    await screenshot(page, "overview")


async def check_team(page: Page, tokens: int) -> None:
    """The dev team's usage, and its key's spend."""
    await open_page(page, "teams", "dev")
    assert number(await text(page, "[data-testid=team-requests]")) == CALLS + 1
    assert number(await text(page, "[data-testid=team-tokens]")) == tokens
    await screenshot(page, "teams")
    await open_page(page, "keys")
    assert (await text(page, "tr[data-key=dev-key] [data-testid=key-spend]")).startswith("$0.0")
    await screenshot(page, "keys")


async def check_usage(page: Page, gateway: Deployed, tokens: int) -> None:
    await open_page(page, "usage")
    dev = page.locator("[data-testid=table-usage] tr[data-group=dev]")
    assert number(await dev.locator("[data-testid=usage-requests]").inner_text()) == CALLS + 1
    assert number(await dev.locator("[data-testid=usage-tokens]").inner_text()) == tokens
    await screenshot(page, "usage")
    await page.select_option("[data-testid=usage-form] select[name=group_by]", "deployment")
    await page.wait_for_selector("[data-testid=table-usage] tr[data-group=france]")
    for region in ("france", "sweden"):
        row = page.locator(f"[data-testid=table-usage] tr[data-group={region}]")
        shown = number(await row.locator("[data-testid=usage-requests]").inner_text())
        assert shown == gateway.chats(region)
    async with page.expect_download() as downloading:
        await page.click("[data-testid=export-csv]")
    download = await downloading.value
    exported = list(csv.DictReader(io.StringIO((await download.path()).read_text())))
    by_group = {row["group"]: int(row["requests"]) for row in exported}
    assert by_group["france"] == gateway.chats("france")
    assert by_group["sweden"] == gateway.chats("sweden")
    assert {row["group_by"] for row in exported} == {"deployment"}


async def check_logs(page: Page, france: int, sweden: int) -> None:
    await open_page(page, "logs")
    shown = await page.locator("[data-testid=table-logs] [data-testid=log-deployment]").all()
    deployments = [(await cell.inner_text()).strip() for cell in shown]
    assert deployments.count("france") == france
    assert deployments.count("sweden") == sweden
    assert deployments.count("not routed") == 1
    await page.select_option("select[name=status]", "errors")
    assert await page.locator("[data-testid=table-logs] tbody tr").count() == 1
    await page.select_option("select[name=status]", "")
    await screenshot(page, "logs")


async def field_error(page: Page, form: str, name: str) -> str:
    slot = page.locator(f"[data-testid={form}] [data-error-for={name}]")
    await slot.wait_for(state="visible")
    return (await slot.inner_text()).strip()


async def test_bad_input_is_shown_beside_the_field_and_nothing_is_saved(
    stack: Stack, tmp_path: Path
):
    gateway = await deploy(stack, tmp_path)
    async with chromium() as browser, page_of(browser, gateway.url) as page:
        await log_in(page)
        await create_team(page, team_id="qa", max_budget="-5")
        assert "max_budget" in await field_error(page, "team-form", "max_budget")
        assert await page.get_attribute(
            "[data-testid=team-form] input[name=max_budget]", "aria-invalid"
        )
        await create_team(page, team_id="qa", models="gpt-5-turbo-nonexistent")
        assert "no model named 'gpt-5-turbo-nonexistent'" in await field_error(
            page, "team-form", "models"
        )
        assert (await gateway.admin.get("/team/list")).json() == []

        await create_team(page, team_id="qa", models=CHAT)
        await page.wait_for_selector("[data-testid=team-detail]")
        await create_key(page, "qa-bot", "qa")
        await page.wait_for_selector("[data-testid=new-key-value]")
        await create_key(page, "qa-bot", "qa", max_budget="3")
        assert "already exists" in await field_error(page, "key-form", "key_alias")
        await create_key(page, "qa-other", "qa", models="text-embedding-3-small")
        assert "not among its team's models" in await field_error(page, "key-form", "models")
        await create_key(page, "qa-other", "qa", max_budget="-1")
        assert "max_budget" in await field_error(page, "key-form", "max_budget")
        await screenshot(page, "keys-form-errors")
        listed = (await gateway.admin.get("/key/list", params={"return_full_object": True})).json()
        assert [(k["key_alias"], k["max_budget"]) for k in listed["keys"]] == [("qa-bot", None)]
        teams = (await gateway.admin.get("/team/list")).json()
        assert [(t["team_id"], t["models"]) for t in teams] == [("qa", [CHAT])]

        # Editing the team with a bad value saves none of the form's fields.
        await open_page(page, "teams", "qa")
        edit = page.locator("[data-testid=team-edit]")
        await edit.locator("input[name=rpm_limit]").fill("100")
        await edit.locator("input[name=max_budget]").fill("-2")
        await edit.locator("button[type=submit]").click()
        assert "max_budget" in await field_error(page, "team-edit", "max_budget")
        team = (await gateway.admin.get("/team/info", params={"team_id": "qa"})).json()
        assert team["team_info"]["rpm_limit"] is None
        await screenshot(page, "teams-form-errors")


async def test_login_csrf_and_logout(stack: Stack, tmp_path: Path):
    gateway = await deploy(stack, tmp_path)
    async with chromium() as browser, page_of(browser, gateway.url) as page:
        await page.goto("/ui/login")
        await page.fill("input[name=key]", "sk-not-the-master-key")
        async with page.expect_response("**/ui/login") as answered:
            await page.click("button[type=submit]")
        answer = await answered.value
        assert answer.status == 401
        assert "not the master key" in await text(page, "[data-testid=login-error]")
        assert not [c for c in await page.context.cookies() if c["name"] == "qf_session"]
        await screenshot(page, "login-wrong-key")

        await log_in(page)
        [cookie] = [c for c in await page.context.cookies() if c["name"] == "qf_session"]
        assert cookie["httpOnly"]
        assert cookie["sameSite"] == "Strict"
        assert cookie["expires"] > 0
        assert MASTER_KEY not in cookie["value"]
        assert MASTER_KEY not in await page.content()
        assert await page.evaluate("() => document.cookie") == ""  # scripts cannot read it

        post = """async ([path, body, token]) => {
            const headers = {"content-type": "application/json"};
            if (token !== null) headers["x-csrf-token"] = token;
            const r = await fetch(path, {method: "POST", headers, body: JSON.stringify(body)});
            return [r.status, await r.json()];
        }"""
        status, body = await page.evaluate(post, ["/team/new", {"team_id": "sneaky"}, None])
        assert (status, body["error"]["code"]) == (403, "csrf_failed")
        status, body = await page.evaluate(post, ["/team/new", {"team_id": "sneaky"}, "forged"])
        assert (status, body["error"]["code"]) == (403, "csrf_failed")
        assert (await gateway.admin.get("/team/list")).json() == []
        token = await page.get_attribute("meta[name=csrf-token]", "content")
        status, body = await page.evaluate(post, ["/team/new", {"team_id": "fine"}, token])
        assert (status, body["team_id"]) == (200, "fine")

        await page.click("[data-testid=logout]")
        await page.wait_for_url("**/ui/login")
        assert not [c for c in await page.context.cookies() if c["name"] == "qf_session"]
        status, _ = await page.evaluate(
            "async () => { const r = await fetch('/team/list'); return [r.status, null]; }"
        )
        assert status == 401
        await page.goto("/ui")
        assert page.url.endswith("/ui/login")


async def test_reload_keeps_the_session_and_pages_refresh(stack: Stack, tmp_path: Path):
    gateway = await deploy(stack, tmp_path)
    async with chromium() as browser, page_of(browser, gateway.url) as page:
        await log_in(page)
        await open_page(page, "deployments")
        await page.reload()
        await page.wait_for_selector("#page[data-ready=deployments]")
        assert await text(page, "[data-testid=in-flight-france]") == "0"
        await reload_page(page, "deployments")
        assert gateway.chats("france") == 0  # looking never calls an upstream


async def key_status(gateway: Deployed) -> list[tuple[str, bool, int | None]]:
    listed = (await gateway.admin.get("/key/list", params={"return_full_object": True})).json()
    return [(k["key_alias"], k["blocked"], k["rpm_limit"]) for k in listed["keys"]]


async def test_key_and_team_actions(stack: Stack, tmp_path: Path):
    gateway = await deploy(stack, tmp_path)
    async with chromium() as browser, page_of(browser, gateway.url) as page:
        await log_in(page)
        await create_team(page, team_id="ops", team_alias="Operations")
        await page.wait_for_selector("[data-testid=team-detail]")
        members = page.locator("[data-testid=team-detail] form").filter(has_text="User id")
        await members.locator("input[name=user_id]").fill("alice")
        await members.locator("button[type=submit]").click()
        await page.wait_for_selector("text=alice added.")
        await create_key(page, "ops-bot", "ops")
        old = await page.input_value("[data-testid=new-key-value]")

        row = page.locator("tr[data-key=ops-bot]")
        await row.locator("[data-action=block]").click()
        await page.wait_for_selector("tr[data-key=ops-bot] [data-action=unblock]")
        assert await text(page, "tr[data-key=ops-bot] [data-testid=key-status]") == "Blocked"
        assert await key_status(gateway) == [("ops-bot", True, None)]
        await row.locator("[data-action=unblock]").click()
        await page.wait_for_selector("tr[data-key=ops-bot] [data-action=block]")

        await row.locator("[data-action=edit]").click()
        edit = page.locator("[data-testid=key-edit]")
        await edit.locator("input[name=rpm_limit]").fill("5")
        await edit.locator("button[type=submit]").click()
        await page.wait_for_selector("tr[data-key=ops-bot] >> text=5 rpm")
        assert await key_status(gateway) == [("ops-bot", False, 5)]

        await row.locator("[data-action=regenerate]").click()
        new = await page.input_value("[data-testid=new-key-value]")
        assert new.startswith("sk-")
        assert new != old
        client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=old, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
        await client.close()

        await page.locator("tr[data-key=ops-bot] [data-action=delete]").click()
        await page.wait_for_selector("[data-testid=table-keys] >> text=No keys yet")
        assert await key_status(gateway) == []

        await open_page(page, "teams", "ops")
        assert await text(page, "[data-testid=team-detail] td >> nth=0") == "alice"
        await page.click("[data-testid=delete-team]")
        await page.wait_for_selector("[data-testid=table-teams] >> text=No teams yet")
        assert (await gateway.admin.get("/team/list")).json() == []
