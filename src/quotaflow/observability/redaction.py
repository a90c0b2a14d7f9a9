"""Secrets out of log lines: a ``Redactor`` and the logging filter that applies it everywhere.

What is removed, wherever it appears in a message, its arguments, an exception's text or an
access record's fields:

- the exact secret strings the config holds (master key, provider API keys, database and Redis
  URLs and passwords, the values of extra headers), given at install time;
- anything shaped like a key: ``sk-…`` tokens, ``Bearer …`` credentials, the values of
  ``authorization``/``api-key``/``x-api-key`` (and ``api_key=``) pairs, passwords in URLs.

Secrets shorter than ``MIN_SECRET_LENGTH`` are ignored: replacing two-letter words everywhere
would wreck the logs without protecting anything.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from quotaflow.config import Settings

__all__ = ["MASK", "MIN_SECRET_LENGTH", "RedactionFilter", "Redactor", "secrets_of"]

MASK = "***"
MIN_SECRET_LENGTH = 6

# Order matters: a header pair's value may itself be ``Bearer <token>``.
_SHAPES = (
    r"(?P<bearer>\b[Bb]earer\s+)[^\s\"',;}&]+"
    r"|(?P<pair>\b(?:authorization|x-api-key|api-key|api_key|apikey|x-goog-api-key)"
    r"[\"']?\s*[:=]\s*[\"']?(?:[Bb]earer\s+)?)[^\s\"',;}&]+"
    r"|(?P<sk>\bsk-)[A-Za-z0-9_\-]{6,}"
    r"|(?P<url>://[^/\s:@\"']+:)[^@\s/\"']+(?=@)"
)
_PREFIXES = ("bearer", "pair", "sk", "url")
# Text containing none of these (lower-cased) cannot match: most text skips the regex.
_TRIGGERS = ("bearer", "authorization", "api-key", "api_key", "apikey", "sk-", "://")
# Fields of an access record that only ever hold the gateway's own bounded values.
_SAFE_FIELDS = frozenset({"method", "status", "model_group", "deployment", "provider"})


def _mask(match: re.Match[str]) -> str:
    for name in _PREFIXES:
        prefix = match.group(name)
        if prefix is not None:
            return f"{prefix}{MASK}"
    return MASK  # an exact secret


class Redactor:
    """Removes known secrets and key-shaped strings from text, in one regex pass."""

    __slots__ = ("_pattern", "_secrets", "_triggers")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern = re.compile(_SHAPES, re.IGNORECASE)
        self._triggers: tuple[str, ...] = _TRIGGERS
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Also remove these exact strings from now on."""
        self._secrets.update(s for s in secrets if len(s) >= MIN_SECRET_LENGTH)
        if self._secrets:
            # Longest first, so a secret containing another is removed whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            exact = "|".join(re.escape(s) for s in ordered)
            self._pattern = re.compile(f"(?:{exact})|{_SHAPES}", re.IGNORECASE)
            self._triggers = _TRIGGERS + tuple({s.lower() for s in ordered})

    def suspect(self, text: str) -> bool:
        """Whether ``text`` may hold something to remove (a cheap test before the regex)."""
        lowered = text.lower()
        return any(trigger in lowered for trigger in self._triggers)

    def __call__(self, text: str) -> str:
        """``text`` without secrets."""
        return self._pattern.sub(_mask, text) if self.suspect(text) else text


class RedactionFilter(logging.Filter):
    """A handler filter: the record leaves it with its message and exception text redacted.

    Attach it to every handler (``configure_logging`` and ``install`` do): filters on a
    logger do not see records propagated from its children, handler filters do.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops a record."""
        redact = self.redactor
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            # Access records build their message from these fields when formatted.
            names = [n for n, v in access.items() if isinstance(v, str) and n not in _SAFE_FIELDS]
            if redact.suspect("\n".join(access[name] for name in names)):
                for name in names:
                    access[name] = redact(access[name])
        else:
            record.msg = redact(record.getMessage())
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def secrets_of(settings: Settings) -> set[str]:
    """Every secret string in the settings: keys, passwords, URLs with credentials."""
    found: set[str] = set()
    general, router = settings.general_settings, settings.router_settings
    for secret in (general.master_key, general.database_url, router.redis_password):
        if secret is not None:
            found.add(secret.get_secret_value())
    if router.redis_url is not None:
        found.add(router.redis_url.get_secret_value())
    for entry in settings.model_list:
        params = entry.params
        if params.api_key is not None:
            found.add(params.api_key.get_secret_value())
        # Extra header values often carry credentials (the schema keeps them out of repr too).
        found.update((params.extra_headers or {}).values())
    return {secret for secret in found if secret}
