import math

import pytest

from quotaflow.clock import ManualClock
from quotaflow.providers.base import RateLimitHint
from quotaflow.routing.deployment import Deployment
from quotaflow.state.usage import UsageWindows


def _deployment(**kwargs) -> Deployment:
    return Deployment(id="d", model_group="g", provider="azure", upstream_model="m", **kwargs)


def test_tokens_slide_over_any_minute():
    clock = ManualClock()
    usage = UsageWindows(clock)
    deployment = _deployment(tpm=1_000)
    usage.charge(deployment, 600)
    clock.advance(30)
    usage.charge(deployment, 300)
    room = usage.headroom(deployment, 200)
    assert room.wait_s == 30  # the first charge leaves the window 60 s after it was made
    assert room.free == pytest.approx(0.1)
    clock.advance(30)
    assert usage.headroom(deployment, 200).wait_s == 0


def test_requests_are_paced_per_ten_seconds_like_azure():
    clock = ManualClock()
    usage = UsageWindows(clock)
    deployment = _deployment(rpm=60)  # 10 per 10 s
    for _ in range(10):
        usage.charge(deployment, 1)
        clock.advance(0.5)
    assert usage.headroom(deployment, 1).wait_s == 5.0
    clock.advance(5)
    assert usage.headroom(deployment, 1).wait_s == 0


def test_a_call_larger_than_the_quota_never_fits():
    usage = UsageWindows(ManualClock())
    assert math.isinf(usage.headroom(_deployment(tpm=1_000), 1_001).wait_s)


def test_refund_takes_back_a_refused_call():
    usage = UsageWindows(ManualClock())
    deployment = _deployment(tpm=10_000)
    usage.charge(deployment, 400)
    usage.charge(deployment, 700)
    usage.refund(deployment, 700)
    assert usage.sent("d") == (1, 400)


def test_upstream_headers_tighten_the_picture():
    clock = ManualClock()
    usage = UsageWindows(clock)
    deployment = _deployment()  # no declared quota: only the upstream's word counts
    usage.observe("d", RateLimitHint(remaining_requests=5, remaining_tokens=100))
    assert usage.headroom(deployment, 500).wait_s > 0
    assert usage.headroom(deployment, 50).wait_s == 0
    clock.advance(11)  # the hint is only trusted for a while
    assert usage.headroom(deployment, 500).wait_s == 0


def test_windows_stay_bounded_and_are_kept_only_for_declared_quotas():
    clock = ManualClock()
    usage = UsageWindows(clock)
    quota, free = (
        _deployment(tpm=10**9),
        Deployment(id="free", model_group="g", provider="azure", upstream_model="m"),
    )
    for _ in range(1_000):
        usage.charge(quota, 1)
        usage.charge(free, 1)
        clock.advance(0.1)  # 100 s in all: the first 40 s have left the minute
    assert usage.sent("d")[1] == 600
    assert usage.sent("free") == (0, 0)
