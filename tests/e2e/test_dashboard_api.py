"""The dashboard's server side without a browser: sessions, CSRF, login, assets, activity.

In process (``httpx.ASGITransport``), with virtual keys on a SQLite store and a manual clock, so
these run even where Chromium is missing.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from quotaflow import dashboard
from quotaflow.clock import ManualClock
from quotaflow.config import load_settings
from quotaflow.dashboard.activity_api import MAX_RECORDS
from quotaflow.dashboard.session import Sessions, request_cookie
from quotaflow.store.records import SpendRecord
from tests.unit.management.keyed import MASTER, keyed_app, settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.unit.management.keyed import Keyed

pytestmark = pytest.mark.e2e

TOKEN_FIELD = re.compile(r'name="csrf" value="([^"]*)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


@contextlib.asynccontextmanager
async def dashboard_app(folder: Path, **general: Any) -> AsyncIterator[tuple[Keyed, ManualClock]]:
    """An app with keys, ``/health`` (``create_app`` installs it) and the dashboard."""
    clock = ManualClock()
    config = settings(**general)
    async with keyed_app(folder, config, clock) as keyed:
        loaded = load_settings(data=config, environ={}).settings
        dashboard.install(keyed.app, loaded)
        yield keyed, clock


def browser(keyed: Keyed) -> httpx.AsyncClient:
    """A client without a key: it keeps cookies, as a browser would."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=keyed.app), base_url="http://gateway"
    )


def admin(keyed: Keyed) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=keyed.app),
        base_url="http://gateway",
        headers={"authorization": f"Bearer {MASTER}"},
    )


async def log_in(client: httpx.AsyncClient, key: str = MASTER) -> httpx.Response:
    """The login form, filled in and posted."""
    form = await client.get("/ui/login")
    token = TOKEN_FIELD.search(form.text)
    assert token is not None
    return await client.post("/ui/login", data={"key": key, "csrf": token.group(1)})


async def csrf_of(client: httpx.AsyncClient) -> str:
    shell = await client.get("/ui")
    assert shell.status_code == 200
    found = CSRF_META.search(shell.text)
    assert found is not None
    return found.group(1)


def test_the_public_surface_is_documented():
    for name in dashboard.__all__:
        assert inspect.getdoc(getattr(dashboard, name)), name


def test_session_cookies_are_signed_and_expire():
    clock = ManualClock()
    sessions = Sessions("sk-master-one", clock, ttl_s=60)
    value, session = sessions.issue("master")
    assert sessions.read(value) == session
    assert "sk-master-one" not in value
    payload, signature = value.split(".")
    assert sessions.read(f"{payload}.{signature[:-2]}AA") is None
    assert sessions.read(f"{payload[:-2]}AA.{signature}") is None
    assert sessions.read("garbage") is None
    assert sessions.read("a.b.c") is None
    assert Sessions("sk-master-two", clock).read(value) is None  # a new master key ends them
    assert Sessions("sk-master-one", clock).read(value) == session  # every replica accepts it
    _, other = sessions.issue("master")
    assert other.csrf != session.csrf
    clock.advance(61)
    assert sessions.read(value) is None


def test_the_session_cookie_is_found_beside_odd_cookies():
    scope = {
        "headers": [
            (b"cookie", b'theme="dark; x'),
            (b"cookie", b"other=1; qf_session=abc.def; last=2"),
        ]
    }
    assert request_cookie(scope, "qf_session") == "abc.def"
    assert request_cookie(scope, "missing") is None
    assert request_cookie({"headers": []}, "qf_session") is None


def test_login_tokens_belong_to_their_nonce():
    sessions = Sessions("sk-master", ManualClock())
    token = sessions.login_token("nonce-1")
    assert sessions.login_token_ok("nonce-1", token)
    assert not sessions.login_token_ok("nonce-2", token)
    assert not sessions.login_token_ok(None, token)
    assert not sessions.login_token_ok("nonce-1", None)


async def test_login_opens_a_session_the_management_api_accepts(tmp_path: Path):
    async with dashboard_app(tmp_path) as (keyed, _), browser(keyed) as client:
        assert (await client.get("/ui")).headers["location"] == "/ui/login"
        login = await log_in(client)
        assert login.status_code == 303
        assert login.headers["location"] == "/ui"
        cookie = next(
            c for c in login.headers.get_list("set-cookie") if c.startswith("qf_session=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/;" in cookie
        assert "Max-Age=28800" in cookie
        assert MASTER not in cookie
        assert (await client.get("/team/list")).json() == []
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/dashboard/activity")).status_code == 200

        refused = await client.post("/team/new", json={"team_id": "dev"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf_failed"
        token = await csrf_of(client)
        made = await client.post(
            "/team/new", json={"team_id": "dev"}, headers={"x-csrf-token": token}
        )
        assert made.status_code == 200, made.text
        assert MASTER not in (await client.get("/ui")).text

        # An explicit key header wins over the cookie.
        wrong = await client.get("/team/list", headers={"authorization": "Bearer sk-wrong"})
        assert wrong.status_code == 401

        out = await client.post("/ui/logout", data={"csrf": token})
        assert out.status_code == 303
        assert "qf_session=;" in out.headers["set-cookie"]
        assert "Max-Age=0" in out.headers["set-cookie"]


async def test_login_is_refused_without_its_form_token_or_with_a_wrong_key(tmp_path: Path):
    async with dashboard_app(tmp_path) as (keyed, _), browser(keyed) as client:
        forged = await client.post("/ui/login", data={"key": MASTER, "csrf": "x"})
        assert forged.status_code == 403
        assert "qf_session" not in forged.headers.get("set-cookie", "")
        wrong = await log_in(client, "sk-nope")
        assert wrong.status_code == 401
        assert "not the master key or an admin key" in wrong.text
        assert "qf_session" not in wrong.headers.get("set-cookie", "")
        assert (await client.get("/team/list")).status_code == 401


async def test_expired_or_forged_sessions_are_401(tmp_path: Path):
    async with dashboard_app(tmp_path) as (keyed, clock), browser(keyed) as client:
        await log_in(client)
        clock.advance(8 * 3600 + 1)
        expired = await client.get("/team/list")
        assert expired.status_code == 401
        assert expired.json()["error"]["code"] == "session_expired"
        assert (await client.get("/ui")).status_code == 303
        client.cookies.set("qf_session", "e30.AAAA")
        assert (await client.get("/health")).status_code == 401


async def test_admin_keys_may_log_in_and_lose_their_session_when_blocked(tmp_path: Path):
    async with dashboard_app(tmp_path) as (keyed, _), admin(keyed) as api:
        boss = (await api.post("/user/new", json={"user_role": "proxy_admin"})).json()
        worker = (await api.post("/user/new", json={"user_id": "worker"})).json()
        async with browser(keyed) as client:
            assert (await log_in(client, worker["key"])).status_code == 401
            assert (await log_in(client, boss["key"])).status_code == 303
            assert (await client.get("/ui")).text.count("admin key") >= 1
            assert (await client.get("/key/list")).status_code == 200
            await api.post("/key/block", json={"key": boss["token"]})
            blocked = await client.get("/key/list")
            assert blocked.status_code == 401
            assert blocked.json()["error"]["code"] == "session_expired"


def record(
    at: datetime, deployment: str | None, *, status: int = 200, latency_ms: float = 100.0
) -> SpendRecord:
    return SpendRecord(
        request_id=f"r-{at.timestamp()}-{deployment}-{latency_ms}",
        started_at=at,
        ended_at=at + timedelta(milliseconds=latency_ms),
        cost_usd=Decimal("0.001") if status < 400 else Decimal(0),
        team_id="dev",
        model_group="gpt-4-preview",
        deployment_id=deployment,
        provider="openai",
        prompt_tokens=10 if status < 400 else 0,
        completion_tokens=5 if status < 400 else 0,
        latency_ms=latency_ms,
        status=status,
    )


async def test_activity_folds_the_spend_records(tmp_path: Path):
    async with dashboard_app(tmp_path) as (keyed, clock), admin(keyed) as api:
        now = datetime.fromtimestamp(clock.wall(), UTC)
        deployment = keyed.app.services.router.groups["gpt-4-preview"].deployments[0].id
        records = [
            record(now - timedelta(minutes=5), deployment, latency_ms=10.0 * i)
            for i in range(1, 101)
        ]
        records += [
            record(now - timedelta(minutes=30), None, status=404, latency_ms=1.0),
            record(now - timedelta(hours=3), deployment),  # outside the hour
        ]
        await keyed.store.spend.write_batch(records)
        answer = (await api.get("/dashboard/activity", params={"window": "1h"})).json()
        totals = answer["totals"]
        assert (totals["requests"], totals["errors"]) == (101, 1)
        assert totals["total_tokens"] == 1500
        assert totals["spend"] == pytest.approx(0.1)
        assert (totals["latency_p50_ms"], totals["latency_p99_ms"]) == (500.0, 990.0)
        by_name = {d["name"]: d for d in answer["deployments"]}
        assert by_name[deployment]["requests"] == 100
        assert by_name[deployment]["model_group"] == "gpt-4-preview"
        assert by_name["(not routed)"]["errors"] == 1
        assert answer["bucket_s"] == 120
        assert len(answer["buckets"]) == 30
        assert sum(b["requests"] for b in answer["buckets"]) == 101
        assert [g["name"] for g in answer["served"]] == ["gpt-4-preview", "gpt-4o-mini"]
        assert not answer["truncated"]
        day = (await api.get("/dashboard/activity", params={"window": "24h"})).json()
        assert day["totals"]["requests"] == 102
        assert len(day["buckets"]) == 24
        team = await api.get("/dashboard/activity", params={"team_id": "ops"})
        assert team.json()["totals"]["requests"] == 0
        bad = await api.get("/dashboard/activity", params={"window": "2h"})
        assert (bad.status_code, bad.json()["error"]["param"]) == (400, "window")
        assert MAX_RECORDS >= 10_000


async def test_activity_is_for_admins_only(tmp_path: Path):
    async with dashboard_app(tmp_path) as (keyed, _), admin(keyed) as api:
        key = (await api.post("/key/generate", json={})).json()["key"]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=keyed.app),
            base_url="http://gateway",
            headers={"authorization": f"Bearer {key}"},
        ) as caller:
            assert (await caller.get("/dashboard/activity")).status_code == 403


async def test_static_files_are_served_with_etags_and_a_strict_policy(tmp_path: Path):
    async with dashboard_app(tmp_path) as (keyed, _), browser(keyed) as client:
        script = await client.get("/ui/static/app.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        again = await client.get(
            "/ui/static/pages/overview.js", headers={"if-none-match": "nothing"}
        )
        assert again.status_code == 200
        cached = await client.get(
            "/ui/static/app.js", headers={"if-none-match": script.headers["etag"]}
        )
        assert cached.status_code == 304
        page = await client.get("/ui/login")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert (await client.get("/ui/static/nope.js")).status_code == 404


async def test_without_a_master_key_the_dashboard_only_says_so(tmp_path: Path):
    async with dashboard_app(tmp_path, master_key=None) as (keyed, _), browser(keyed) as client:
        page = await client.get("/ui", follow_redirects=True)
        assert "needs a master key" in page.text
        assert (await client.post("/ui/login", data={"key": "x"})).status_code == 404
