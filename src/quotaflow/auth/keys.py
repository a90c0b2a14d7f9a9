"""Virtual keys: mint, hash, display form, and the constant-time master-key check.

A key is ``sk-`` followed by 43 URL-safe characters (32 random bytes). Only its SHA-256 (lower-
case hex) is stored; the key itself is shown once, when it is minted. The display form
(``sk-...abcd``) names a key in listings without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["KEY_PREFIX", "MasterKey", "display_key", "hash_key", "is_key_hash", "mint_key"]

KEY_PREFIX = "sk-"
_RANDOM_BYTES = 32
_HASH_CHARS = 64
_HEX = frozenset("0123456789abcdef")


def mint_key() -> str:
    """A new random virtual key."""
    return KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def hash_key(key: str) -> str:
    """The stored form of a key: hex SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


def display_key(key: str) -> str:
    """``sk-...abcd``: enough to recognise a key, not to use it."""
    return f"{KEY_PREFIX}...{key[-4:]}"


def is_key_hash(text: str) -> bool:
    """Whether ``text`` looks like a stored key hash (64 lower-case hex digits)."""
    return len(text) == _HASH_CHARS and set(text) <= _HEX


class MasterKey:
    """The master key, compared in constant time; never stored, never shown."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value.encode()

    def matches(self, presented: str) -> bool:
        """Whether ``presented`` is the master key (the comparison time does not leak it)."""
        return hmac.compare_digest(presented.encode(), self._value)

    def __repr__(self) -> str:
        """Never the key."""
        return "MasterKey(***)"
