"""The provider cases the contract suite runs over: one row per adapter kind.

A row says how a deployment of that provider is configured against its fake upstream, what one
token costs there, how the upstream reports server errors, and which capabilities the adapter
declares unsupported (each with the parameter its 400 names). Tests read the rows; they never
branch on the provider's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from quotaflow.fake.config import Flavor

__all__ = [
    "CASES",
    "IMAGE_LINK",
    "ProviderCase",
    "Refusal",
    "Unsupported",
    "image_message",
    "refusals",
]


@dataclass(frozen=True, slots=True)
class Refusal:
    """The 400 an adapter answers for what it declares unsupported: its ``param`` and ``code``.

    The message always names the provider.
    """

    param: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A chat option an adapter refuses (``kwargs`` for ``chat.completions.create``)."""

    name: str
    kwargs: Mapping[str, Any]
    refusal: Refusal


@dataclass(frozen=True, slots=True)
class ProviderCase:
    """One provider kind, as the gateway is configured for it and as its upstream behaves."""

    name: str  # the pytest id
    provider: str  # the ``<provider>/`` prefix, named in the adapter's 400s
    flavor: Flavor  # the fake upstream's wire format
    model: str  # ``litellm_params.model``
    input_cost: Decimal  # USD per prompt token
    output_cost: Decimal  # USD per completion token
    api_path: str = ""  # appended to the fake's URL to make ``api_base``
    extra_params: Mapping[str, Any] = field(default_factory=dict)  # more ``litellm_params``
    base_model: str | None = None  # ``model_info.base_model``: what the catalog prices
    # The 5xx statuses this upstream answers when it fails or is overloaded.
    server_errors: tuple[int, ...] = (500, 503)
    # Capabilities: ``None`` when supported, else the 400 the adapter answers.
    json_schema: Refusal | None = None  # ``response_format`` of type ``json_schema``
    several_choices: Refusal | None = None  # ``n`` > 1
    image_links: Refusal | None = None  # an ``image_url`` that is an http(s) URL, not data
    embeddings: Refusal | None = None  # ``/v1/embeddings``
    # Other chat options the adapter refuses.
    unsupported: tuple[Unsupported, ...] = ()


CASES: tuple[ProviderCase, ...] = (
    ProviderCase(
        name="openai",
        provider="openai",
        flavor="openai",
        model="openai/gpt-4o-mini",
        api_path="/v1",
        input_cost=Decimal("0.00000015"),  # the catalog's gpt-4o-mini
        output_cost=Decimal("0.0000006"),
    ),
    ProviderCase(
        name="azure",
        provider="azure",
        flavor="azure",
        model="azure/prod-4o",  # an arbitrary Azure deployment name …
        base_model="azure/gpt-4o",  # … priced as what it really is
        extra_params={"api_version": "2024-10-21"},  # accepts stream_options.include_usage
        input_cost=Decimal("0.0000025"),
        output_cost=Decimal("0.00001"),
    ),
    ProviderCase(
        name="anthropic",
        provider="anthropic",
        flavor="anthropic",
        model="anthropic/claude-haiku-4-5",
        input_cost=Decimal("0.000001"),
        output_cost=Decimal("0.000005"),
        server_errors=(500, 529),  # 529: overloaded_error
        several_choices=Refusal("n", "unsupported_parameter"),
        embeddings=Refusal("model", None),
        unsupported=(
            Unsupported(
                "logprobs", {"logprobs": True}, Refusal("logprobs", "unsupported_parameter")
            ),
            Unsupported("seed", {"seed": 7}, Refusal("seed", "unsupported_parameter")),
        ),
    ),
    ProviderCase(
        name="gemini",
        provider="gemini",
        flavor="gemini",
        model="gemini/gemini-2.5-flash",
        input_cost=Decimal("0.0000003"),
        output_cost=Decimal("0.0000025"),
        # A pure adapter cannot download the image to inline it.
        image_links=Refusal("messages[0].content[1].image_url", "invalid_image_url"),
        embeddings=Refusal(None, "unsupported_endpoint"),
        unsupported=(
            Unsupported(
                "logit_bias",
                {"logit_bias": {"50256": -100}},
                Refusal("logit_bias", "unsupported_parameter"),
            ),
            Unsupported(
                "parallel_tool_calls",
                {"parallel_tool_calls": False},
                Refusal("parallel_tool_calls", "unsupported_parameter"),
            ),
        ),
    ),
    ProviderCase(
        # A self-hosted model has no catalog row: its prices come from the deployment's config.
        name="hosted_vllm",
        provider="hosted_vllm",
        flavor="openai",
        model="hosted_vllm/Qwen/Qwen2.5-7B-Instruct",
        api_path="/v1",
        extra_params={"input_cost_per_token": 0.0000001, "output_cost_per_token": 0.0000004},
        input_cost=Decimal("0.0000001"),
        output_cost=Decimal("0.0000004"),
    ),
)
"""Every provider kind covered (``hosted_vllm`` stands for the OpenAI-compatible presets)."""


IMAGE_LINK = "https://example.com/cat.png"


def image_message(url: str) -> list[dict[str, Any]]:
    """A user message with a text part and an image part."""
    parts = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    return [{"role": "user", "content": parts}]


def refusals(case: ProviderCase) -> list[Unsupported]:
    """Every chat option ``case``'s adapter declares unsupported, with the 400 it answers."""
    declined = list(case.unsupported)
    capabilities: list[tuple[str, dict[str, Any], Refusal | None]] = [
        (
            "json_schema",
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {}},
                }
            },
            case.json_schema,
        ),
        ("n", {"n": 2}, case.several_choices),
        ("image_link", {"messages": image_message(IMAGE_LINK)}, case.image_links),
    ]
    declined += [
        Unsupported(name, kwargs, refusal) for name, kwargs, refusal in capabilities if refusal
    ]
    return declined
