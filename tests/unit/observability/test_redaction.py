"""Secrets never leave through a log handler: exact config secrets and key-shaped strings."""

from __future__ import annotations

import logging

import pytest

from quotaflow.observability.redaction import MASK, RedactionFilter, Redactor, secrets_of
from tests.unit.observability.support import settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-abcdef1234567890 refused", f"key sk-{MASK} refused"),
        ("Authorization: Bearer abc.def-123", f"Authorization: Bearer {MASK}"),
        ("{'authorization': 'Bearer tok123456'}", f"{{'authorization': 'Bearer {MASK}'}}"),
        ('{"api-key": "0123456789abcdef"}', f'{{"api-key": "{MASK}"}}'),
        ("x-api-key=secretvalue&x=1", f"x-api-key={MASK}&x=1"),
        ("https://user:hunter22@db.example.com/q", f"https://user:{MASK}@db.example.com/q"),
        ("calling https://sweden.example.com/openai", "calling https://sweden.example.com/openai"),
        ("risk-assessment task-force", "risk-assessment task-force"),
        ("POST /v1/chat/completions 200", "POST /v1/chat/completions 200"),
    ],
)
def test_key_shaped_strings_are_masked(text, expected):
    assert Redactor()(text) == expected


def test_exact_secrets_are_masked_anywhere_longest_first():
    redact = Redactor(["provider-key-sweden", "provider-key-sweden-2", "short"])

    assert redact("a provider-key-sweden-2 b provider-key-sweden") == f"a {MASK} b {MASK}"
    assert redact("short words stay") == "short words stay"  # under the minimum length


def test_secrets_of_the_config_include_every_credential():
    found = secrets_of(settings(database_url="postgresql://qf:dbpass123@db:5432/qf"))

    assert {
        "sk-master-123456",
        "provider-key-sweden",
        "provider-key-france",
        "provider-key-openai",
        "org-token-123456",
        "postgresql://qf:dbpass123@db:5432/qf",
    } <= found


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    item = logging.LogRecord("quotaflow.test", logging.INFO, __file__, 1, msg, args, None)
    item.__dict__.update(extra)
    return item


def test_the_filter_redacts_message_arguments_and_exceptions():
    redaction = RedactionFilter(Redactor(["provider-key-sweden"]))
    try:
        raise ValueError("upstream said: invalid key provider-key-sweden")
    except ValueError:
        import sys  # noqa: PLC0415

        item = record("headers %s", {"authorization": "Bearer sk-abcdefghijkl"})
        item.exc_info = sys.exc_info()

    assert redaction.filter(item)

    text = logging.Formatter().format(item)
    assert "provider-key-sweden" not in text
    assert "sk-abcdefghijkl" not in text
    assert "invalid key ***" in text


def test_the_filter_redacts_access_fields_but_leaves_bounded_ones():
    redaction = RedactionFilter(Redactor(["provider-key-sweden"]))
    fields = {
        "path": "/v1/x?api_key=abcdef123456",
        "error": "bad provider-key-sweden",
        "deployment": "sweden",
        "status": 401,
    }

    redaction.filter(record("", access=fields))

    assert fields == {
        "path": f"/v1/x?api_key={MASK}",
        "error": f"bad {MASK}",
        "deployment": "sweden",
        "status": 401,
    }
