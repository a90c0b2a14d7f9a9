"""``UsageWindows``: what each deployment was sent recently, against its declared quota.

Windows slide, so a deployment never receives more than its quota in *any* window the provider
may check: ``tpm`` tokens in any 60 seconds and ``ceil(rpm / 6)`` requests in any 10 seconds (Azure
enforces RPM over 10-second slices). Tokens are charged as the provider charges them: on arrival,
the prompt plus ``max_tokens``. The upstream's own rate-limit headers (read by its adapter:
``x-ratelimit-remaining-*``, ``anthropic-ratelimit-*-remaining``) tighten the picture when it
knows better (a quota shared with other clients).

With several replicas (shared state in Redis) the windows here hold this process's own calls;
``merge_fleet`` adds what the other replicas sent, as last reported by the shared state, and
``block`` notes when the shared state refused a call and for how long. That view only steers
the choice: the shared state itself decides, atomically, whether a call still fits. ``share``
scales every declared quota down to this process's part when it must decide alone (Redis
unreachable, or several workers without Redis).
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
# When the other replicas' last reported usage fills a deployment, look again this soon: their
# calls slide out of the window, and the shared state tells exactly at the next claim.
_FLEET_RECHECK_S = 0.1


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
    # The other replicas' calls, as the shared state last reported them.
    fleet_requests: int = 0
    fleet_tokens: int = 0
    blocked_until: float = 0.0  # the shared state refused a call until then


class UsageWindows:
    """Sliding request and token windows per deployment, in one process."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self.share = 1.0  # this process's part of each declared quota when it decides alone

    def request_limit(self, deployment: Deployment) -> int | None:
        """Requests allowed per 10 s (``rpm / 6``), scaled by ``share``."""
        if deployment.rpm is None:
            return None
        limit = math.ceil(deployment.rpm / _REQUEST_SLICES)
        return limit if self.share >= 1.0 else max(1, math.floor(limit * self.share))

    def token_limit(self, deployment: Deployment) -> int | None:
        """Tokens allowed per 60 s, scaled by ``share``."""
        if deployment.tpm is None:
            return None
        return deployment.tpm if self.share >= 1.0 else math.floor(deployment.tpm * self.share)

    def headroom(self, deployment: Deployment, tokens: int) -> Headroom:
        """How much of ``deployment``'s quota is free, and how long until ``tokens`` more fit."""
        now = self._clock.monotonic()
        if deployment.rpm is None and deployment.tpm is None:
            window = self._windows.get(deployment.id)
            if window is None or (window.hint_until <= now and window.blocked_until <= now):
                return Headroom(1.0, 0.0)
        window = self._expire(deployment.id, now)
        free_parts = [1.0]
        waits = [0.0, window.blocked_until - now]
        request_limit = self.request_limit(deployment)
        if request_limit is not None:
            used = len(window.requests) + window.fleet_requests
            free_parts.append(1.0 - used / request_limit if request_limit else 0.0)
            waits.append(_request_wait(window, request_limit, now))
        token_limit = self.token_limit(deployment)
        if token_limit is not None:
            used_tokens = window.token_sum + window.fleet_tokens
            free_parts.append(1.0 - used_tokens / token_limit if token_limit else 0.0)
            waits.append(_token_wait(window, token_limit, tokens, now))
            if used_tokens + tokens > token_limit and tokens <= token_limit:
                waits.append(_FLEET_RECHECK_S)
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

    def merge_fleet(self, deployment_id: str, requests: int, tokens: int) -> None:
        """The whole fleet's requests (10 s) and tokens (60 s) on the deployment, just read."""
        window = self._expire(deployment_id, self._clock.monotonic())
        window.fleet_requests = max(0, requests - len(window.requests))
        window.fleet_tokens = max(0, tokens - window.token_sum)

    def forget_fleet(self) -> None:
        """Drop what the other replicas reported: this process decides alone from now on."""
        for window in self._windows.values():
            window.fleet_requests = window.fleet_tokens = 0
            window.blocked_until = 0.0

    def block(self, deployment_id: str, seconds: float) -> None:
        """The shared state refused a call on the deployment; it has room again in ``seconds``."""
        window = self._windows.get(deployment_id)
        if window is None:
            window = self._windows[deployment_id] = _Window()
        window.blocked_until = self._clock.monotonic() + seconds

    def hint(self, deployment_id: str) -> tuple[int | None, int | None, float]:
        """The upstream's remaining requests and tokens, and until when (monotonic) they hold;
        ``(None, None, 0.0)`` when its last headers are stale or there were none."""
        window = self._windows.get(deployment_id)
        if window is None or window.hint_until <= self._clock.monotonic():
            return None, None, 0.0
        return window.hint_requests, window.hint_tokens, window.hint_until

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


def _request_wait(window: _Window, limit: int, now: float) -> float:
    """Seconds until one more request fits ``limit`` per 10 s (the fleet's last count included)."""
    own = len(window.requests)
    if limit == 0:
        return 60.0
    if own >= limit:
        return window.requests[own - limit] + REQUEST_WINDOW_S - now
    return _FLEET_RECHECK_S if own + window.fleet_requests >= limit else 0.0


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
