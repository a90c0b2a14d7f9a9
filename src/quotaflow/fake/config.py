"""What one fake provider instance serves, how fast, and under which quota."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DEFAULT_MODELS", "FakeProviderConfig", "Flavor"]

Flavor = Literal["openai", "azure", "anthropic", "gemini"]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo-instruct", "text-embedding-3-small")


@dataclass(frozen=True, slots=True)
class FakeProviderConfig:
    """One fake provider: its wire format (``flavor``), credentials, quota, latency and content.

    ``tpm``/``rpm`` of ``None`` or 0 mean unlimited. ``deployments`` (Azure) and ``models`` with
    ``strict_models`` restrict the names accepted; an empty ``deployments`` accepts any.
    """

    flavor: Flavor = "openai"
    api_key: str | None = None
    region: str = "francecentral"
    tpm: int | None = None
    rpm: int | None = None
    latency_ms: float = 0.0
    inter_chunk_ms: float = 0.0
    model_latency_ms: Mapping[str, float] = field(default_factory=dict)
    stream_chunks: int | None = None
    models: tuple[str, ...] = DEFAULT_MODELS
    strict_models: bool = False
    deployments: tuple[str, ...] = ()
    default_max_tokens: int = 4096
    model_version: str = "gpt-4-turbo-2024-04-09"
    embedding_model_version: str = "text-embedding-3-small"
    embedding_dimensions: int = 8
    content_filter_trigger: str = "__content_filter__"
    history_size: int = 100

    def __post_init__(self) -> None:
        if self.flavor not in get_args(Flavor):
            msg = f"unknown fake provider flavor {self.flavor!r}"
            raise ValueError(msg)
        numbers = {
            "tpm": self.tpm or 0,
            "rpm": self.rpm or 0,
            "latency_ms": self.latency_ms,
            "inter_chunk_ms": self.inter_chunk_ms,
            "default_max_tokens": self.default_max_tokens,
            "embedding_dimensions": self.embedding_dimensions - 1,
            "history_size": self.history_size,
            "stream_chunks": (self.stream_chunks or 1) - 1,
        }
        negative = [name for name, value in numbers.items() if value < 0]
        if negative:
            msg = f"fake provider settings out of range: {', '.join(negative)}"
            raise ValueError(msg)
