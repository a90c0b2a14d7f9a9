"""JSON lines off a terminal, human lines on one; the access record's fields; one handler."""

from __future__ import annotations

import io
import logging
from decimal import Decimal

import orjson
import pytest

from quotaflow.errors import AllAttemptsFailed, Attempt, UpstreamUnavailable
from quotaflow.observability.logs import (
    ACCESS_LOGGER,
    AccessLog,
    JsonFormatter,
    TextFormatter,
    access_line,
    configure_logging,
)
from tests.unit.observability.support import facts, failed


@pytest.fixture
def root_handlers():
    """Restore the root logger as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def access_record(**overrides: object) -> logging.LogRecord:
    capture = Capture()
    logger = logging.getLogger("quotaflow.test.access")
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    try:
        AccessLog(logger)(facts(**overrides))
    finally:
        logger.removeHandler(capture)
    (item,) = capture.records
    return item


def test_an_access_record_as_json_has_every_field_at_the_top_level():
    line = JsonFormatter().format(access_record(team="dev", queue_s=0.25))
    data = orjson.loads(line)

    assert data["logger"] == "quotaflow.test.access"
    assert data["level"] == "info"
    assert data["ts"].endswith("+00:00")
    assert {
        k: data[k]
        for k in (
            "request_id",
            "method",
            "path",
            "status",
            "model",
            "deployment",
            "provider",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "key_alias",
            "team",
            "latency_ms",
            "queue_ms",
        )
    } == {
        "request_id": "req-1",
        "method": "POST",
        "path": "/v1/chat/completions",
        "status": 200,
        "model": "gpt-4",
        "deployment": "sweden",
        "provider": "azure",
        "prompt_tokens": 12,
        "completion_tokens": 34,
        "cost_usd": 0.0015,
        "key_alias": "master",
        "team": "dev",
        "latency_ms": 500.0,
        "queue_ms": 250.0,
    }
    assert data["attempts"] == [
        {"deployment": "sweden", "outcome": "ok", "status": 200, "ms": 400.0}
    ]
    assert "error" not in data


def test_a_failed_request_logs_its_error_and_attempt_trail():
    attempts = [
        Attempt("sweden", "UpstreamUnavailable", 503, 0.1),
        Attempt("france", "UpstreamUnavailable", 503, 0.1),
    ]
    error = AllAttemptsFailed(UpstreamUnavailable("down"), attempts)
    capture = Capture()
    logger = logging.getLogger("quotaflow.test.failed")
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    AccessLog(logger)(failed(*attempts, error=error))
    logger.removeHandler(capture)
    data = orjson.loads(JsonFormatter().format(capture.records[0]))

    assert (data["status"], data["error_type"], data["error"]) == (503, "AllAttemptsFailed", "down")
    assert [a["outcome"] for a in data["attempts"]] == ["UpstreamUnavailable"] * 2
    assert "deployment" not in data  # nobody answered


def test_the_human_line_is_short_and_complete():
    line = access_line(
        {
            "request_id": "r1",
            "method": "POST",
            "path": "/v1/chat/completions",
            "status": 200,
            "latency_ms": 12.5,
            "model": "gpt-4",
            "deployment": "france",
            "prompt_tokens": 3,
            "completion_tokens": 4,
            "cost_usd": 0.001,
            "key_alias": "ci",
            "team": "dev",
            "attempts": [
                {"deployment": "sweden", "outcome": "UpstreamRateLimited"},
                {"deployment": "france", "outcome": "ok"},
            ],
        }
    )
    assert line == (
        "200 POST /v1/chat/completions gpt-4 -> france attempts=2 (sweden UpstreamRateLimited, "
        "france ok) 12.5ms tokens=3+4 $0.001 key=ci team=dev id=r1"
    )
    assert TextFormatter().format(access_record()).endswith("key=master id=req-1")


def test_access_log_builds_nothing_when_info_is_off():
    logger = logging.getLogger("quotaflow.test.quiet")
    logger.setLevel(logging.WARNING)
    capture = Capture()
    logger.addHandler(capture)
    AccessLog(logger)(facts(cost_usd=Decimal(1)))
    logger.removeHandler(capture)
    assert capture.records == []


@pytest.mark.usefixtures("root_handlers")
def test_configure_logging_json_off_a_terminal_and_replaces_its_own_handler():
    first = io.StringIO()
    configure_logging("info", "auto", stream=first)
    stream = io.StringIO()
    configure_logging("debug", "auto", stream=stream, secrets=["sk-master-123456"])

    logging.getLogger("quotaflow.test").debug("key is %s", "sk-master-123456")
    logging.getLogger(ACCESS_LOGGER).info("plain")

    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["key is ***", "plain"]
    assert first.getvalue() == ""


@pytest.mark.usefixtures("root_handlers")
def test_configure_logging_text_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    configure_logging("info", "auto", stream=stream)
    logging.getLogger("quotaflow.test").info("hello")

    assert stream.getvalue().rstrip().endswith("INFO quotaflow.test: hello")


def test_timestamps_are_utc_with_milliseconds():
    item = logging.LogRecord("quotaflow.test", logging.INFO, __file__, 1, "m", (), None)
    formatter = JsonFormatter()
    for created, expected in [
        (1_760_000_000.123, "2025-10-09T08:53:20.123+00:00"),
        (1_760_000_000.9999, "2025-10-09T08:53:20.999+00:00"),
        (1_760_000_061.0, "2025-10-09T08:54:21.000+00:00"),
    ]:
        item.created = created
        assert orjson.loads(formatter.format(item))["ts"] == expected
