"""Every Prometheus metric the gateway exposes, declared once, in an app-owned registry.

Names follow the OpenTelemetry GenAI semantic conventions where they exist
(``gen_ai.server.request.duration`` → ``gen_ai_server_request_duration_seconds``, …), the rest
are ``quotaflow_*``. Labels are bounded: model group, deployment, provider, status class,
outcome, GenAI operation and token type, and a team label capped at ``max_teams`` values (the
rest share ``other``). Model names a client made up never become label values (``unknown``).

Two kinds of metrics live here:

- per-request ones, recorded by ``GatewayMetrics.record`` from a request's ``RequestFacts``
  after its last byte: plain numbers per label tuple (``_fast.py``), rendered at scrape time,
  so a request costs a few dict lookups and additions;
- gauges read when Prometheus scrapes: the router's live state (``router_gauges.py``), the state
  backend, the spend writer and budgets (``backend_gauges.py``, ``budget_gauges.py``), the
  background probes (``probe.py``), and any ``GaugeFamily`` another component registers with
  ``Observability.add_gauge_source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from quotaflow.observability._fast import FastCounter as Counter
from quotaflow.observability._fast import FastHistogram as Histogram

if TYPE_CHECKING:
    from collections.abc import Sequence

    from prometheus_client import CollectorRegistry

    from quotaflow.errors import Attempt
    from quotaflow.observability.facts import RequestFacts
    from quotaflow.routing.deployment import Deployment

__all__ = [
    "BACKEND_UP",
    "BUDGET_MAX_USD",
    "BUDGET_REMAINING_USD",
    "DEPLOYMENT_COOLDOWN_REMAINING",
    "DEPLOYMENT_COOLING_DOWN",
    "DEPLOYMENT_IN_FLIGHT",
    "DEPLOYMENT_LATENCY",
    "FLEET_QUEUE_WAITING",
    "FLEET_REPLICAS",
    "NO_DEPLOYMENT",
    "NO_TEAM",
    "OTHER_TEAM",
    "PROBES",
    "PROBE_LATENCY",
    "PROBE_UP",
    "QUEUE_ADMITTED",
    "QUEUE_TURNED_AWAY",
    "QUEUE_WAITING",
    "QUEUE_WAIT_TOTAL",
    "SPEND_BUFFERED",
    "SPEND_DROPPED",
    "SPEND_SPOOLED",
    "SPEND_SPOOL_BYTES",
    "SPEND_WRITTEN",
    "UPSTREAM_REMAINING_REQUESTS",
    "UPSTREAM_REMAINING_TOKENS",
    "GatewayMetrics",
    "GaugeFamily",
    "attempt_outcome",
]

# Bucket boundaries: the GenAI conventions' advice for durations, TTFT and token counts.
# fmt: off
DURATION_BUCKETS_S = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                      40.96, 81.92)
TTFT_BUCKETS_S = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                  5.0, 7.5, 10.0)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
OVERHEAD_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
QUEUE_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# fmt: on

OTHER_TEAM = "other"  # the team label of every team past ``max_teams``
NO_TEAM = ""  # callers without a team (the master key, open mode)
NO_DEPLOYMENT = ""  # requests no deployment answered

_DEPLOYMENT_LABELS = ("model_group", "deployment", "provider")


@dataclass(frozen=True, slots=True)
class GaugeFamily:
    """A gauge whose values are read at scrape time: its name, help text and label names."""

    name: str
    documentation: str
    label_names: tuple[str, ...] = ()
    counter: bool = False  # a monotonically growing total read from elsewhere


# Read from the router at scrape time (``router_gauges.py``).
DEPLOYMENT_IN_FLIGHT = GaugeFamily(
    "quotaflow_deployment_in_flight", "Calls now open on the deployment.", _DEPLOYMENT_LABELS
)
DEPLOYMENT_COOLING_DOWN = GaugeFamily(
    "quotaflow_deployment_cooling_down",
    "1 while the deployment is cooling down (skipped by routing), else 0.",
    _DEPLOYMENT_LABELS,
)
DEPLOYMENT_COOLDOWN_REMAINING = GaugeFamily(
    "quotaflow_deployment_cooldown_remaining_seconds",
    "Seconds until the deployment's cooldown ends (0 when healthy).",
    _DEPLOYMENT_LABELS,
)
DEPLOYMENT_LATENCY = GaugeFamily(
    "quotaflow_deployment_latency_seconds",
    "Moving average of the deployment's recent successful call latency (to the first token "
    "for streams), as the router uses it.",
    _DEPLOYMENT_LABELS,
)
UPSTREAM_REMAINING_REQUESTS = GaugeFamily(
    "quotaflow_upstream_remaining_requests",
    "Requests the upstream said remain in its quota (rate-limit headers), while fresh.",
    _DEPLOYMENT_LABELS,
)
UPSTREAM_REMAINING_TOKENS = GaugeFamily(
    "quotaflow_upstream_remaining_tokens",
    "Tokens the upstream said remain in its quota (rate-limit headers), while fresh.",
    _DEPLOYMENT_LABELS,
)
QUEUE_WAITING = GaugeFamily(
    "quotaflow_queue_waiting", "Calls waiting in the admission queue.", ("model_group",)
)
QUEUE_ADMITTED = GaugeFamily(
    "quotaflow_queue_admitted", "Calls the admission queue admitted.", counter=True
)
QUEUE_TURNED_AWAY = GaugeFamily(
    "quotaflow_queue_turned_away",
    "Calls the admission queue gave up on (full, too late, or deadline passed).",
    counter=True,
)
QUEUE_WAIT_TOTAL = GaugeFamily(
    "quotaflow_queue_wait_seconds",
    "Seconds calls spent waiting in the admission queue, all together.",
    counter=True,
)
# Fed by the components behind them (``backend_gauges.py``, ``budget_gauges.py``, ``probe.py``)
# through ``Observability.add_gauge_source``.
BUDGET_REMAINING_USD = GaugeFamily(
    "quotaflow_budget_remaining_usd",
    "Budget left in the current period, in USD, per key or team (scope: key|team; name: alias).",
    ("scope", "name"),
)
BUDGET_MAX_USD = GaugeFamily(
    "quotaflow_budget_max_usd",
    "The budget of the current period, in USD, per key or team (scope: key|team; name: alias).",
    ("scope", "name"),
)
BACKEND_UP = GaugeFamily(
    "quotaflow_backend_up",
    "1 when the backend answered its last check, else 0 (role: state|store; backend: "
    "memory|redis|sqlite|postgres).",
    ("role", "backend"),
)
FLEET_REPLICAS = GaugeFamily(
    "quotaflow_fleet_replicas",
    "Replicas sharing the state, as last seen (this one included; 1 without Redis).",
)
FLEET_QUEUE_WAITING = GaugeFamily(
    "quotaflow_fleet_queue_waiting",
    "Calls waiting in every replica's admission queue, as last seen through the shared state.",
)
SPEND_BUFFERED = GaugeFamily(
    "quotaflow_spend_records_buffered",
    "Spend records in memory, waiting for the next batch write.",
)
SPEND_SPOOL_BYTES = GaugeFamily(
    "quotaflow_spend_spool_bytes",
    "Bytes of spend records in the disk spool, waiting for the database.",
)
SPEND_SPOOLED = GaugeFamily(
    "quotaflow_spend_records_spooled",
    "Spend records written to the disk spool because the database failed or lagged.",
    counter=True,
)
SPEND_WRITTEN = GaugeFamily(
    "quotaflow_spend_records_written",
    "Spend records the database acknowledged (a re-written one counts again).",
    counter=True,
)
SPEND_DROPPED = GaugeFamily(
    "quotaflow_spend_records_dropped",
    "Spend records lost: the spool was full, or a spooled line could not be read.",
    counter=True,
)
PROBES = GaugeFamily(
    "quotaflow_health_probes",
    "Background health probes this replica sent, by how they ended (ok, rate_limited, "
    "unavailable, …; skipped: the deployment was cooling down or out of quota).",
    (*_DEPLOYMENT_LABELS, "outcome"),
    counter=True,
)
PROBE_UP = GaugeFamily(
    "quotaflow_deployment_probe_up",
    "1 when the deployment's last background probe (by this replica) succeeded, else 0.",
    _DEPLOYMENT_LABELS,
)
PROBE_LATENCY = GaugeFamily(
    "quotaflow_deployment_probe_latency_seconds",
    "How long the deployment's last successful background probe took.",
    _DEPLOYMENT_LABELS,
)


def attempt_outcome(outcome: str) -> str:
    """``ok``, or the error class in snake case without ``Upstream``: ``rate_limited``, …"""
    if outcome == "ok":
        return outcome
    name = outcome.removeprefix("Upstream")
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


class GatewayMetrics:
    """The per-request metrics, in an app-owned registry; ``record`` takes one request."""

    def __init__(self, registry: CollectorRegistry, *, max_teams: int = 100) -> None:
        self.registry = registry
        self._max_teams = max_teams
        self._teams: set[str] = set()  # the teams with a label of their own
        self._outcomes: dict[str, str] = {}
        r = registry
        self.requests = Counter(
            "quotaflow_requests",
            "Requests answered, by the model group asked for and the status class sent.",
            ("model_group", "status_class", "team"),
            registry=r,
        ).labels
        self.duration = Histogram(
            "gen_ai_server_request_duration_seconds",
            "Time from a request's arrival to its last byte (a stream's whole length).",
            ("gen_ai_operation_name", "model_group", "deployment", "provider", "status_class"),
            buckets=DURATION_BUCKETS_S,
            registry=r,
        ).labels
        self.ttft = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Streams: the answering upstream attempt's time to its first chunk.",
            ("gen_ai_operation_name", "model_group", "deployment", "provider"),
            buckets=TTFT_BUCKETS_S,
            registry=r,
        ).labels
        self.token_usage = Histogram(
            "gen_ai_client_token_usage",
            "Tokens per call as the upstream reported them (gen_ai_token_type input|output).",
            ("gen_ai_operation_name", "model_group", "deployment", "gen_ai_token_type"),
            buckets=TOKEN_BUCKETS,
            registry=r,
        ).labels
        self.tokens = Counter(
            "quotaflow_tokens",
            "Tokens the upstreams reported (gen_ai_token_type input|output).",
            ("model_group", "deployment", "team", "gen_ai_token_type"),
            registry=r,
        ).labels
        self.spend = Counter(
            "quotaflow_spend_usd",
            "What the answered calls cost, in USD, from the price table.",
            ("model_group", "deployment", "team"),
            registry=r,
        ).labels
        self.attempts = Counter(
            "quotaflow_upstream_attempts",
            "Upstream calls made, by how they ended (ok, rate_limited, unavailable, …).",
            (*_DEPLOYMENT_LABELS, "outcome"),
            registry=r,
        ).labels
        self.retries = Counter(
            "quotaflow_retries",
            "Upstream attempts after a request's first one.",
            ("model_group",),
            registry=r,
        ).labels
        self.fallbacks = Counter(
            "quotaflow_fallbacks",
            "Requests answered by another model group than the one asked for.",
            ("model_group", "fallback_group"),
            registry=r,
        ).labels
        self.cooldowns = Counter(
            "quotaflow_cooldowns",
            "Cooldowns started or extended after a failed attempt (the router skips the "
            "deployment until it ends).",
            _DEPLOYMENT_LABELS,
            registry=r,
        ).labels
        self.broken_streams = Counter(
            "quotaflow_streams_broken",
            "Streams that failed after their first byte (the client got an error event).",
            _DEPLOYMENT_LABELS,
            registry=r,
        ).labels
        self.queue_wait = Histogram(
            "quotaflow_queue_wait_duration_seconds",
            "Time answered requests waited in the admission queue (only those that waited).",
            ("model_group",),
            buckets=QUEUE_BUCKETS_S,
            registry=r,
        ).labels
        self.overhead = Histogram(
            "quotaflow_gateway_overhead_seconds",
            "Time the gateway itself added to an answered, non-streamed request: its duration "
            "minus upstream calls and queueing.",
            buckets=OVERHEAD_BUCKETS_S,
            registry=r,
        )

    def team_label(self, team: str | None) -> str:
        """The team's label value: its name for the first ``max_teams`` teams, then ``other``."""
        if team is None:
            return NO_TEAM
        if team in self._teams:
            return team
        if len(self._teams) < self._max_teams:
            self._teams.add(team)
            return team
        return OTHER_TEAM

    def record(
        self,
        facts: RequestFacts,
        deployments: dict[str, Deployment],
        cooled: list[Deployment] | None = None,
    ) -> None:
        """Count one finished request.

        ``deployments`` resolves attempt ids; ``cooled`` lists the deployments whose cooldown
        this request's failures started or extended.
        """
        group = facts.model_group
        status_class = facts.status_class
        team = self.team_label(facts.team)
        self.requests(group, status_class, team).inc()
        deployment = facts.deployment
        op = facts.operation
        if deployment is None:
            self.duration(op, group, NO_DEPLOYMENT, NO_DEPLOYMENT, status_class).observe(
                facts.duration_s
            )
        else:
            self._answered(facts, deployment, team)
        if facts.attempts:
            self._attempts(group, facts.attempts, deployments)
        if facts.queue_s > 0:
            self.queue_wait(group).observe(facts.queue_s)
        for cooled_deployment in cooled or ():
            self.cooldowns(*_labels(cooled_deployment)).inc()

    def _answered(self, facts: RequestFacts, deployment: Deployment, team: str) -> None:
        served, deployment_id, provider = deployment.model_group, deployment.id, deployment.provider
        op = facts.operation
        self.duration(op, facts.model_group, deployment_id, provider, facts.status_class).observe(
            facts.duration_s
        )
        if served != facts.model_group:
            self.fallbacks(facts.model_group, served).inc()
        usage = facts.usage
        if usage is not None:
            self.tokens(served, deployment_id, team, "input").inc(usage.prompt_tokens)
            self.tokens(served, deployment_id, team, "output").inc(usage.completion_tokens)
            self.token_usage(op, served, deployment_id, "input").observe(usage.prompt_tokens)
            self.token_usage(op, served, deployment_id, "output").observe(usage.completion_tokens)
        if facts.cost_usd is not None:
            self.spend(served, deployment_id, team).inc(float(facts.cost_usd))
        if facts.streamed:
            ttft_s = facts.ttft_s
            if ttft_s is not None:
                self.ttft(op, served, deployment_id, provider).observe(ttft_s)
            if facts.error is not None:
                self.broken_streams(served, deployment_id, provider).inc()
        else:
            overhead_s = facts.duration_s - facts.upstream_s - facts.queue_s
            self.overhead.observe(max(overhead_s, 0.0))

    def _attempts(
        self, group: str, attempts: Sequence[Attempt], deployments: dict[str, Deployment]
    ) -> None:
        for attempt in attempts:
            deployment = deployments.get(attempt.deployment_id)
            if deployment is None:
                continue
            outcome = self._outcomes.get(attempt.outcome)
            if outcome is None:
                outcome = self._outcomes[attempt.outcome] = attempt_outcome(attempt.outcome)
            self.attempts(*_labels(deployment), outcome).inc()
        if len(attempts) > 1:
            self.retries(group).inc(len(attempts) - 1)


def _labels(deployment: Deployment) -> tuple[str, str, str]:
    return deployment.model_group, deployment.id, deployment.provider
