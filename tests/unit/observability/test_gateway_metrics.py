"""``GatewayMetrics.record``: one request's facts become exactly the expected samples."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from quotaflow.errors import AllAttemptsFailed, Attempt, UpstreamRateLimited
from quotaflow.observability.facts import FactReader, status_class
from quotaflow.observability.metrics import OTHER_TEAM, GatewayMetrics, attempt_outcome
from tests.unit.observability.support import DEPLOYMENTS, FRANCE, MINI, SWEDEN, facts, failed


@pytest.fixture
def metrics() -> GatewayMetrics:
    return GatewayMetrics(CollectorRegistry(), max_teams=2)


def value(metrics: GatewayMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_an_answered_request_counts_its_request_tokens_spend_duration_and_attempt(metrics):
    metrics.record(facts(team="dev"), DEPLOYMENTS)

    assert (
        value(
            metrics, "quotaflow_requests_total", model_group="gpt-4", status_class="2xx", team="dev"
        )
        == 1
    )
    where = {"model_group": "gpt-4", "deployment": "sweden", "team": "dev"}
    assert value(metrics, "quotaflow_tokens_total", gen_ai_token_type="input", **where) == 12
    assert value(metrics, "quotaflow_tokens_total", gen_ai_token_type="output", **where) == 34
    assert value(metrics, "quotaflow_spend_usd_total", **where) == pytest.approx(0.0015)
    duration = {
        "gen_ai_operation_name": "chat",
        "model_group": "gpt-4",
        "deployment": "sweden",
        "provider": "azure",
        "status_class": "2xx",
    }
    assert value(metrics, "gen_ai_server_request_duration_seconds_count", **duration) == 1
    assert value(metrics, "gen_ai_server_request_duration_seconds_sum", **duration) == 0.5
    usage = {"gen_ai_operation_name": "chat", "model_group": "gpt-4", "deployment": "sweden"}
    assert (
        value(metrics, "gen_ai_client_token_usage_sum", gen_ai_token_type="output", **usage) == 34
    )
    assert (
        value(
            metrics,
            "quotaflow_upstream_attempts_total",
            model_group="gpt-4",
            deployment="sweden",
            provider="azure",
            outcome="ok",
        )
        == 1
    )
    # A whole answer: overhead = 0.5 - 0.4 upstream; no time to first token.
    assert value(metrics, "quotaflow_gateway_overhead_seconds_sum") == pytest.approx(0.1)
    assert (
        value(metrics, "gen_ai_server_time_to_first_token_seconds_count", **usage, provider="azure")
        is None
    )
    assert value(metrics, "quotaflow_retries_total", model_group="gpt-4") is None


def test_a_stream_records_the_answering_attempts_time_to_first_token_not_overhead(metrics):
    attempts = [
        Attempt("sweden", "UpstreamRateLimited", 429, 0.05),
        Attempt("france", "ok", 200, 0.2),
    ]
    metrics.record(
        facts(streamed=True, deployment=FRANCE, attempts=attempts, duration_s=3.0), DEPLOYMENTS
    )

    ttft = {
        "gen_ai_operation_name": "chat",
        "model_group": "gpt-4",
        "deployment": "france",
        "provider": "azure",
    }
    assert value(metrics, "gen_ai_server_time_to_first_token_seconds_sum", **ttft) == 0.2
    assert value(metrics, "quotaflow_gateway_overhead_seconds_count") == 0
    assert value(metrics, "quotaflow_retries_total", model_group="gpt-4") == 1
    assert (
        value(
            metrics,
            "quotaflow_upstream_attempts_total",
            model_group="gpt-4",
            deployment="sweden",
            provider="azure",
            outcome="rate_limited",
        )
        == 1
    )


def test_a_stream_that_broke_after_its_first_byte_is_counted(metrics):
    from quotaflow.errors import UpstreamUnavailable  # noqa: PLC0415

    metrics.record(facts(streamed=True, error=UpstreamUnavailable("cut")), DEPLOYMENTS)

    assert (
        value(
            metrics,
            "quotaflow_streams_broken_total",
            model_group="gpt-4",
            deployment="sweden",
            provider="azure",
        )
        == 1
    )


def test_an_answer_from_another_group_is_a_fallback(metrics):
    metrics.record(facts(deployment=MINI, attempts=[Attempt("mini", "ok", 200, 0.1)]), DEPLOYMENTS)

    assert (
        value(
            metrics, "quotaflow_fallbacks_total", model_group="gpt-4", fallback_group="gpt-4o-mini"
        )
        == 1
    )
    # Deployment-level series carry the group that served.
    assert (
        value(
            metrics,
            "quotaflow_tokens_total",
            model_group="gpt-4o-mini",
            deployment="mini",
            team="",
            gen_ai_token_type="input",
        )
        == 12
    )


def test_a_failed_request_counts_every_attempt_and_its_cooldowns(metrics):
    attempts = [
        Attempt("sweden", "UpstreamRateLimited", 429, 0.1),
        Attempt("france", "UpstreamUnavailable", 503, 0.2),
    ]
    error = AllAttemptsFailed(UpstreamRateLimited("busy"), attempts)
    metrics.record(failed(*attempts, error=error), DEPLOYMENTS, [SWEDEN, FRANCE])

    assert (
        value(metrics, "quotaflow_requests_total", model_group="gpt-4", status_class="4xx", team="")
        == 1
    )
    for deployment, outcome in (("sweden", "rate_limited"), ("france", "unavailable")):
        labels = {"model_group": "gpt-4", "deployment": deployment, "provider": "azure"}
        assert value(metrics, "quotaflow_upstream_attempts_total", outcome=outcome, **labels) == 1
        assert value(metrics, "quotaflow_cooldowns_total", **labels) == 1
    assert value(metrics, "quotaflow_retries_total", model_group="gpt-4") == 1
    assert (
        value(
            metrics,
            "gen_ai_server_request_duration_seconds_count",
            gen_ai_operation_name="chat",
            model_group="gpt-4",
            deployment="",
            provider="",
            status_class="4xx",
        )
        == 1
    )
    assert (
        value(
            metrics, "quotaflow_spend_usd_total", model_group="gpt-4", deployment="sweden", team=""
        )
        is None
    )


def test_queue_wait_is_observed_only_for_requests_that_waited(metrics):
    metrics.record(facts(), DEPLOYMENTS)
    metrics.record(facts(queue_s=2.0), DEPLOYMENTS)

    assert value(metrics, "quotaflow_queue_wait_duration_seconds_count", model_group="gpt-4") == 1
    assert value(metrics, "quotaflow_queue_wait_duration_seconds_sum", model_group="gpt-4") == 2


def test_team_labels_are_capped(metrics):
    for team in ("a", "b", "c", "d", "a"):
        metrics.record(facts(team=team, cost_usd=Decimal(1)), DEPLOYMENTS)

    def spend(team: str) -> float | None:
        return value(
            metrics,
            "quotaflow_spend_usd_total",
            model_group="gpt-4",
            deployment="sweden",
            team=team,
        )

    assert (spend("a"), spend("b"), spend(OTHER_TEAM)) == (2, 1, 2)
    assert spend("c") is None


def test_the_registry_is_the_apps_own():
    from prometheus_client import REGISTRY  # noqa: PLC0415

    GatewayMetrics(CollectorRegistry())
    GatewayMetrics(CollectorRegistry())  # a second app in the same process: no clash
    assert REGISTRY.get_sample_value("quotaflow_requests_total", {}) is None


@pytest.mark.parametrize(
    ("outcome", "label"),
    [
        ("ok", "ok"),
        ("UpstreamRateLimited", "rate_limited"),
        ("UpstreamAuthFailed", "auth_failed"),
        ("ContextWindowExceeded", "context_window_exceeded"),
    ],
)
def test_attempt_outcomes_are_short_snake_case(outcome, label):
    assert attempt_outcome(outcome) == label


def test_status_classes():
    assert [status_class(s) for s in (200, 302, 404, 503, 0)] == [
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "unknown",
    ]


def test_model_names_are_bounded_to_served_groups_and_aliases():
    reader = FactReader({"gpt-4": (SWEDEN, FRANCE)}, {"gpt4": "gpt-4", "ghost": "missing"})

    assert reader.group_of("gpt-4") == "gpt-4"
    assert reader.group_of("gpt4") == "gpt-4"
    assert reader.group_of("ghost") == "unknown"
    assert reader.group_of("made-up-by-a-client") == "unknown"
    assert reader.group_of(None) == "none"


def test_the_team_label_is_the_teams_alias_else_its_id():
    from types import SimpleNamespace  # noqa: PLC0415

    from quotaflow.observability.facts import team_of  # noqa: PLC0415

    def caller(team: object, user_id: str | None = None) -> Any:
        return SimpleNamespace(is_admin=False, key_alias="k", team=team, user_id=user_id)

    assert team_of(None) == (None, None)
    assert team_of(caller(None)) == (None, None)
    assert team_of(caller(SimpleNamespace(team_id="t-1", team_alias="dev"), "u-1")) == (
        "dev",
        "u-1",
    )
    assert team_of(caller(SimpleNamespace(team_id="t-1", team_alias=None))) == ("t-1", None)
