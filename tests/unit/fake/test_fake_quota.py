"""Quota windows, exactly: TPM on the arrival estimate per minute, rpm/6 per 10 s, retry hints."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from quotaflow.fake import QuotaWindows

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from quotaflow.clock import ManualClock
    from quotaflow.fake import FakeProvider

    Connect = Callable[..., tuple[FakeProvider, httpx.AsyncClient]]

CHAT = "/v1/chat/completions"
AZURE_CHAT = "/openai/deployments/gpt4/chat/completions?api-version=2024-02-01"
FORTY_CHARS = [{"role": "user", "content": "x" * 40}]  # estimate: 10 tokens + the reserve


def test_windows_charge_and_refuse_without_charging() -> None:
    quota = QuotaWindows(tpm=100, rpm=12, start=0.0)  # 2 requests per 10 s
    first = quota.charge(60, now=1.0)
    assert first.allowed
    assert (first.remaining_tokens, first.remaining_requests) == (40, 1)
    assert (first.reset_tokens_s, first.reset_requests_s) == (59.0, 9.0)
    too_big = quota.charge(41, now=2.0)
    assert not too_big.allowed
    assert too_big.limited_by == "tokens"
    assert too_big.retry_after_s == 58.0
    assert too_big.remaining_tokens == 40  # the refused request was not charged
    assert quota.charge(40, now=3.0).allowed
    calls = quota.charge(0, now=4.5)
    assert calls.limited_by == "requests"
    assert calls.retry_after_s == 5.5
    assert quota.charge(0, now=10.0).allowed  # next 10 s slice
    assert quota.charge(1, now=59.999).limited_by == "tokens"
    assert quota.charge(100, now=60.0).allowed  # next minute


def test_unlimited_dimensions() -> None:
    quota = QuotaWindows(tpm=0, rpm=None, start=0.0)
    assert not quota.enabled
    assert QuotaWindows(tpm=None, rpm=6, start=0.0).charge(10**9, now=0.0).allowed


async def test_tpm_charges_estimate_including_max_tokens(
    connect: Connect, clock: ManualClock
) -> None:
    app, client = connect(tpm=250)
    body = {"model": "m", "messages": FORTY_CHARS, "max_tokens": 90}
    first = await client.post(CHAT, json=body)  # 10 + 90
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-tokens"] == "250"
    assert first.headers["x-ratelimit-remaining-tokens"] == "150"
    assert first.headers["x-ratelimit-reset-tokens"] == "1m0s"
    assert "x-ratelimit-limit-requests" not in first.headers
    clock.advance(18.5)
    refused = await client.post(CHAT, json={**body, "n": 2})  # 10 + 2 * 90 > 150
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "42"
    assert refused.headers["retry-after-ms"] == "41500"
    assert refused.json() == {
        "error": {
            "message": "Rate limit reached for m in organization org-fake on tokens per min (TPM):"
            " Limit 250, Used 100, Requested 190. Please try again in 41.5s.",
            "type": "tokens",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert (await client.post(CHAT, json=body)).headers["x-ratelimit-remaining-tokens"] == "50"
    clock.advance(41.5)
    again = await client.post(CHAT, json={**body, "n": 2})
    assert again.status_code == 200
    assert again.headers["x-ratelimit-remaining-tokens"] == "60"
    assert app.stats.tokens_charged == 100 + 100 + 190


async def test_default_max_tokens_is_reserved(connect: Connect) -> None:
    _, client = connect(tpm=1000, default_max_tokens=990)
    body = {"model": "m", "messages": FORTY_CHARS}
    assert (await client.post(CHAT, json=body)).headers["x-ratelimit-remaining-tokens"] == "0"
    assert (await client.post(CHAT, json=body)).status_code == 429


async def test_request_larger_than_tpm(connect: Connect) -> None:
    _, client = connect(tpm=50)
    response = await client.post(CHAT, json={"model": "m", "messages": FORTY_CHARS})
    assert response.status_code == 429
    assert response.json()["error"]["message"].startswith("Request too large for m")


async def test_rpm_in_ten_second_slices(connect: Connect, clock: ManualClock) -> None:
    _, client = connect(rpm=12)  # ceil(12 / 6) = 2 per 10 s
    body = {"model": "m", "messages": FORTY_CHARS}
    first = await client.post(CHAT, json=body)
    assert first.headers["x-ratelimit-limit-requests"] == "12"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-reset-requests"] == "10s"
    clock.advance(3.25)
    assert (await client.post(CHAT, json=body)).status_code == 200
    refused = await client.post(CHAT, json=body)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "requests"
    assert refused.json()["error"]["message"].endswith("Please try again in 6.75s.")
    assert (refused.headers["retry-after"], refused.headers["retry-after-ms"]) == ("7", "6750")
    clock.advance(6.75)
    assert (await client.post(CHAT, json=body)).status_code == 200


async def test_embeddings_charge_characters_only(connect: Connect) -> None:
    app, client = connect(tpm=100)
    response = await client.post("/v1/embeddings", json={"model": "e", "input": "y" * 41})
    assert response.headers["x-ratelimit-remaining-tokens"] == "89"
    assert app.stats.tokens_charged == 11


async def test_models_are_free_and_reset_clears_windows(
    connect: Connect, clock: ManualClock
) -> None:
    app, client = connect(rpm=6)  # 1 per 10 s
    body = {"model": "m", "messages": FORTY_CHARS}
    assert (await client.post(CHAT, json=body)).status_code == 200
    assert (await client.get("/v1/models")).status_code == 200
    assert (await client.post(CHAT, json=body)).status_code == 429
    clock.advance(4.0)
    await client.post("/_fake/reset")
    assert (await client.post(CHAT, json=body)).status_code == 200
    refused = await client.post(CHAT, json=body)
    assert refused.headers["retry-after-ms"] == "10000"  # windows realigned to the reset
    assert app.stats.statuses == {200: 1, 429: 1}


@pytest.mark.parametrize(
    ("rpm", "tpm", "unit", "remaining"),
    [
        (6, None, "call", {"x-ratelimit-remaining-requests": "0"}),
        (None, 110, "token", {"x-ratelimit-remaining-tokens": "10"}),
    ],
)
async def test_azure_429(
    connect: Connect,
    clock: ManualClock,
    rpm: int | None,
    tpm: int | None,
    unit: str,
    remaining: dict[str, str],
) -> None:
    _, client = connect(flavor="azure", rpm=rpm, tpm=tpm)
    body = {"messages": FORTY_CHARS, "max_tokens": 90}
    assert (await client.post(AZURE_CHAT, json=body)).status_code == 200
    clock.advance(2.5)
    refused = await client.post(AZURE_CHAT, json=body)
    assert refused.status_code == 429
    wait = 8 if rpm else 58  # 7.5 s to the 10 s slice's end, or 57.5 s to the minute's
    assert refused.headers["retry-after"] == str(wait)
    assert refused.headers["retry-after-ms"] == str(wait * 1000 - 500)
    for header, value in remaining.items():
        assert refused.headers[header] == value
    assert refused.json() == {
        "error": {
            "code": "429",
            "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API"
            f" version 2024-02-01 have exceeded {unit} rate limit of your current OpenAI S0"
            f" pricing tier. Please retry after {wait} seconds.",
        }
    }


async def test_azure_remaining_headers_on_success(connect: Connect) -> None:
    _, client = connect(flavor="azure", rpm=60, tpm=1000)
    response = await client.post(AZURE_CHAT, json={"messages": FORTY_CHARS, "max_tokens": 5})
    assert response.headers["x-ratelimit-remaining-requests"] == "9"
    assert response.headers["x-ratelimit-remaining-tokens"] == "985"
    assert "x-ratelimit-limit-tokens" not in response.headers
