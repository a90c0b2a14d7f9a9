"""Structured logs: one JSON object a line (or a compact human line on a terminal), secrets out.

``configure_logging`` sets up the process's root handler; ``AccessLog`` writes one record per
request on the ``quotaflow.access`` logger, its fields in ``record.access``. The JSON formatter
puts those fields at the top level of the line; any other formatter gets the human line as the
message. Every handler carries a ``RedactionFilter``.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TextIO

import orjson

from quotaflow.observability.redaction import RedactionFilter, Redactor

if TYPE_CHECKING:
    from collections.abc import Iterable

    from quotaflow.observability.facts import RequestFacts

__all__ = [
    "ACCESS_LOGGER",
    "AccessLog",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "access_line",
    "configure_logging",
    "redact_handlers",
]

ACCESS_LOGGER = "quotaflow.access"
LogFormat = Literal["auto", "json", "text"]
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_OURS = "_quotaflow_handler"  # marks the handler configure_logging installed


class _Timestamps:
    """ISO 8601 UTC with milliseconds; the part up to the second is reused within a second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        millis = min(999, round((created - second) * 1_000_000) // 1000)  # as datetime rounds
        return f"{self._prefix}.{millis:03d}+00:00"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, ``message`` (and fields)."""

    def __init__(self) -> None:
        super().__init__()
        self._timestamp = _Timestamps()

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        data: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            data["message"] = f"{access.get('method')} {access.get('path')} {access.get('status')}"
            data.update(access)
        else:
            data["message"] = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return orjson.dumps(data, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message``; an access record's message is its human line."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)


def access_line(fields: dict[str, Any]) -> str:
    """A request in one short human line."""
    parts = [f"{fields.get('status')} {fields.get('method')} {fields.get('path')}"]
    if "model" in fields:
        served = f" -> {fields['deployment']}" if "deployment" in fields else ""
        parts.append(f"{fields['model']}{served}")
    attempts = fields.get("attempts") or []
    if len(attempts) > 1 or any(a["outcome"] != "ok" for a in attempts):
        trail = ", ".join(f"{a['deployment']} {a['outcome']}" for a in attempts)
        parts.append(f"attempts={len(attempts)} ({trail})")
    parts.append(f"{fields.get('latency_ms')}ms")
    if "queue_ms" in fields:
        parts.append(f"queued={fields['queue_ms']}ms")
    if "prompt_tokens" in fields:
        parts.append(f"tokens={fields['prompt_tokens']}+{fields['completion_tokens']}")
    if "cost_usd" in fields:
        parts.append(f"${fields['cost_usd']}")
    if "error_type" in fields:
        parts.append(f"error={fields['error_type']}")
    for name in ("key_alias", "team"):
        if name in fields:
            parts.append(f"{name.removesuffix('_alias')}={fields[name]}")
    parts.append(f"id={fields.get('request_id')}")
    return " ".join(parts)


class _AccessMessage:
    """The message of an access record, rendered only if a formatter asks for it."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return access_line(self.fields)


def access_fields(facts: RequestFacts) -> dict[str, Any]:
    """The access record's fields; absent ones are left out."""
    fields: dict[str, Any] = {
        "request_id": facts.request_id,
        "method": facts.method,
        "path": facts.path,
        "status": facts.status,
        "latency_ms": round(facts.duration_s * 1000, 3),
    }
    if facts.model is not None:
        fields["model"] = facts.model
        fields["model_group"] = facts.model_group
    _routing_fields(facts, fields)
    usage = facts.usage
    if usage is not None:
        fields["prompt_tokens"] = usage.prompt_tokens
        fields["completion_tokens"] = usage.completion_tokens
    if facts.cost_usd is not None:
        fields["cost_usd"] = float(facts.cost_usd)
    error = facts.error
    if error is not None:
        fields["error_type"] = type(error).__name__
        fields["error_code"] = error.code
        fields["error"] = error.message
    for name in ("key_alias", "team", "user"):
        value = getattr(facts, name)
        if value is not None:
            fields[name] = value
    return fields


def _routing_fields(facts: RequestFacts, fields: dict[str, Any]) -> None:
    deployment = facts.deployment
    if deployment is not None:
        fields["deployment"] = deployment.id
        fields["provider"] = deployment.provider
    if facts.attempts:
        fields["attempts"] = [
            {
                "deployment": a.deployment_id,
                "outcome": a.outcome,
                "status": a.status,
                "ms": round(a.duration_s * 1000, 3),
            }
            for a in facts.attempts
        ]
    if facts.queue_s > 0:
        fields["queue_ms"] = round(facts.queue_s * 1000, 3)
    if facts.streamed:
        fields["streamed"] = True


class AccessLog:
    """Writes one ``quotaflow.access`` record per request, at INFO."""

    __slots__ = ("_logger",)

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(ACCESS_LOGGER)

    def __call__(self, facts: RequestFacts) -> None:
        """Log ``facts`` (nothing is built when INFO is off for the access logger)."""
        logger = self._logger
        if logger.isEnabledFor(logging.INFO):
            fields = access_fields(facts)
            # ``makeRecord`` + ``handle`` is ``logger.info`` without walking the stack to find
            # the caller, which would only ever be this line.
            record = logger.makeRecord(
                logger.name,
                logging.INFO,
                __file__,
                0,
                _AccessMessage(fields),
                (),
                None,
                extra={"access": fields},
            )
            logger.handle(record)


def configure_logging(
    level: str | int = "info",
    fmt: LogFormat = "auto",
    *,
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> RedactionFilter:
    """Log to ``stream`` (stderr) at ``level``: JSON, or text on a terminal when ``fmt='auto'``.

    Replaces the handler an earlier call installed (so it may be called again once the
    settings, and with them the secrets, are known). Returns the handler's redaction filter.
    """
    target = stream if stream is not None else sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not _is_terminal(target))
    handler = logging.StreamHandler(target)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    redaction = RedactionFilter(Redactor(secrets))
    handler.addFilter(redaction)
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return redaction


def redact_handlers(
    secrets: Iterable[str], loggers: Iterable[str] = ("", "uvicorn", "uvicorn.access")
) -> None:
    """Make every handler of these loggers redact ``secrets`` too (adding a filter if needed)."""
    wanted = list(secrets)
    for name in loggers:
        for handler in logging.getLogger(name).handlers:
            found = [f for f in handler.filters if isinstance(f, RedactionFilter)]
            if found:
                for redaction in found:
                    redaction.redactor.add(wanted)
            else:
                handler.addFilter(RedactionFilter(Redactor(wanted)))


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())
