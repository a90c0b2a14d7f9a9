"""``UsageWindows``: what each deployment was sent recently, against its declared quota.

Windows slide, so a deployment never receives more than its quota in *any* window the provider
may check: ``tpm`` tokens in any 60 seconds and ``ceil(rpm / 6)`` requests in any 10 seconds (Azure
enforces RPM over 10-second slices). Tokens are charged as the provider charges them: on arrival,
the prompt plus ``max_tokens``. The upstream's own rate-limit headers (read by its adapter:
``x-ratelimit-remaining-*``, ``anthropic-ratelimit-*-remaining``) tighten the picture when it
knows better (a quota shared with other clients).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quotaflow.clock import Clock
    from quotaflow.providers.base import RateLimitHint
    from quotaflow.routing.deployment import Deployment

__all__ = ["Headroom", "UsageWindows"]

TOKEN_WINDOW_S = 60.0
REQUEST_WINDOW_S = 10.0
_REQUEST_SLICES = 6  # 60 s / 10 s
_HINT_TTL_S = 10.0  # how long an upstream's remaining-quota header is trusted without a reset


@dataclass(frozen=True, slots=True)
class Headroom:
    """Room for one call: the share of quota still free, and when a call of that size fits."""

    free: float  # 0 (full) .. 1 (idle); 1 for a deployment without declared quota
    wait_s: float  # 0 when the call fits now


@dataclass(slots=True)
class _Window:
    # Plain floats and ints in deques: nothing here for the garbage collector to traverse.
    requests: deque[float] = field(default_factory=deque)
    token_times: deque[float] = field(default_factory=deque)
    token_counts: deque[int] = field(default_factory=deque)
    token_sum: int = 0
    hint_requests: int | None = None
    hint_tokens: int | None = None
    hint_until: float = 0.0


class UsageWindows:
    """Sliding request and token windows per deployment, in one process."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def headroom(self, deployment: Deployment, tokens: int) -> Headroom:
        """How much of ``deployment``'s quota is free, and how long until ``tokens`` more fit."""
        if deployment.rpm is None and deployment.tpm is None:
            window = self._windows.get(deployment.id)
            if window is None or window.hint_until <= self._clock.monotonic():
                return Headroom(1.0, 0.0)
        now = self._clock.monotonic()
        window = self._expire(deployment.id, now)
        free_parts = [1.0]
        waits = [0.0]
        if deployment.rpm is not None:
            limit = math.ceil(deployment.rpm / _REQUEST_SLICES)
            used = len(window.requests)
            free_parts.append(1.0 - used / limit if limit else 0.0)
            if used >= limit:
                waits.append(
                    window.requests[used - limit] + REQUEST_WINDOW_S - now if limit else 60.0
                )
        if deployment.tpm is not None:
            free_parts.append(1.0 - window.token_sum / deployment.tpm if deployment.tpm else 0.0)
            waits.append(_token_wait(window, deployment.tpm, tokens, now))
        if window.hint_until > now:
            if window.hint_requests is not None and window.hint_requests < 1:
                waits.append(window.hint_until - now)
            if window.hint_tokens is not None and window.hint_tokens < tokens:
                waits.append(window.hint_until - now)
        return Headroom(max(0.0, min(free_parts)), max(waits))

    def charge(self, deployment: Deployment, tokens: int) -> None:
        """Count one call of ``tokens`` (estimated on arrival) against the deployment.

        Windows are kept only for deployments that declare a quota; for the others only the
        upstream's own remaining-quota hint is counted down.
        """
        now = self._clock.monotonic()
        window = self._windows.get(deployment.id)
        if window is None:
            window = self._windows[deployment.id] = _Window()
        if window.hint_until > now:
            if window.hint_requests is not None:
                window.hint_requests -= 1
            if window.hint_tokens is not None:
                window.hint_tokens -= tokens
        if deployment.rpm is None and deployment.tpm is None:
            return
        self._expire(deployment.id, now)
        window.requests.append(now)
        window.token_times.append(now)
        window.token_counts.append(tokens)
        window.token_sum += tokens

    def refund(self, deployment: Deployment, tokens: int) -> None:
        """Take back the newest charge: the upstream refused the call before counting it."""
        window = self._windows.get(deployment.id)
        if window is None or not window.requests:
            return
        window.requests.pop()
        counts = window.token_counts
        for index in range(len(counts) - 1, -1, -1):
            if counts[index] == tokens:
                del counts[index]
                del window.token_times[index]
                window.token_sum -= tokens
                break

    def observe(self, deployment_id: str, hint: RateLimitHint | None) -> None:
        """Remember the upstream's own view of its remaining quota (from its headers)."""
        if hint is None:
            return
        window = self._windows.get(deployment_id)
        if window is None:
            window = self._windows[deployment_id] = _Window()
        window.hint_requests = hint.remaining_requests
        window.hint_tokens = hint.remaining_tokens
        window.hint_until = self._clock.monotonic() + _HINT_TTL_S

    def sent(self, deployment_id: str) -> tuple[int, int]:
        """Requests in the last 10 s and tokens in the last 60 s."""
        window = self._expire(deployment_id, self._clock.monotonic())
        return len(window.requests), window.token_sum

    def _expire(self, deployment_id: str, now: float) -> _Window:
        window = self._windows.get(deployment_id)
        if window is None:
            window = self._windows[deployment_id] = _Window()
        requests, times, counts = window.requests, window.token_times, window.token_counts
        while requests and requests[0] <= now - REQUEST_WINDOW_S:
            requests.popleft()
        while times and times[0] <= now - TOKEN_WINDOW_S:
            times.popleft()
            window.token_sum -= counts.popleft()
        return window


def _token_wait(window: _Window, tpm: int, tokens: int, now: float) -> float:
    """Seconds until ``tokens`` more fit under ``tpm`` in the sliding minute."""
    if window.token_sum + tokens <= tpm:
        return 0.0
    if tokens > tpm:
        return math.inf  # larger than the whole quota: it never fits
    excess = window.token_sum + tokens - tpm
    for at, charged in zip(window.token_times, window.token_counts, strict=True):
        excess -= charged
        if excess <= 0:
            return at + TOKEN_WINDOW_S - now
    return TOKEN_WINDOW_S
