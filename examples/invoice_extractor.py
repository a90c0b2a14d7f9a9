"""Extract structured invoices through quotaflow with ``instructor`` and the ``openai`` SDK.

The document processor in small: a few invoice texts go to the gateway concurrently, and each
comes back as a validated Pydantic ``Invoice``, printed as JSON. The SDK does not know it talks
to a gateway: only ``base_url`` and the key change. The gateway spreads the calls over its
deployments and fails over between them when one is rate limited or down.

Run it against a running gateway (``examples/README.md`` starts one in front of two fake Azure
regions, no real provider needed)::

    python examples/invoice_extractor.py
    python examples/invoice_extractor.py --base-url http://127.0.0.1:4000/v1 --api-key sk-...

Against the fake regions the field values are schema-valid placeholders (the fake answers from
the tool's JSON schema, not from the text); against real Azure OpenAI they come from the text.
``extract_all`` is the importable core; ``tests/unit/test_examples.py`` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

import instructor
import openai
from instructor.core import InstructorRetryException
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SAMPLE_INVOICES", "Currency", "Invoice", "LineItem", "extract_all", "main"]

DEFAULT_BASE_URL = "http://127.0.0.1:4000/v1"
DEFAULT_API_KEY = "sk-demo-master"  # the MASTER_KEY that examples/README.md exports
DEFAULT_MODEL = "gpt-4-preview"  # the model_name in examples/config.yaml
MAX_TOKENS = 1024  # enough for an invoice; Azure reserves quota (TPM) by max_tokens

SYSTEM_PROMPT = (
    "You extract invoices. Copy names and numbers exactly as written, give dates as "
    "YYYY-MM-DD, and list every line item with its quantity and unit price."
)


class Currency(StrEnum):
    """ISO 4217 codes the invoices may use."""

    EUR = "EUR"
    SEK = "SEK"
    GBP = "GBP"
    USD = "USD"


class LineItem(BaseModel):
    """One billed line."""

    description: str = Field(description="What was billed, as written on the invoice")
    quantity: Decimal = Field(gt=0, description="Units billed (may be fractional, e.g. hours)")
    unit_price: Decimal = Field(ge=0, description="Price of one unit, before tax")


class Invoice(BaseModel):
    """The fields a document processor needs from one invoice."""

    supplier: str = Field(description="The company that issued the invoice")
    document_number: str = Field(description="The invoice number, exactly as printed")
    issue_date: date
    currency: Currency
    line_items: list[LineItem] = Field(min_length=1)
    total: Decimal = Field(ge=0, description="Amount due, including tax")


SAMPLE_INVOICES: tuple[str, ...] = (
    """\
Nordkraft Konsult AB, Kungsgatan 12, 111 43 Stockholm
FAKTURA nr 2024-0117            Fakturadatum: 2024-03-05
Konsulttimmar, integration      12,5 h  à 1 150,00 SEK
Resor Stockholm-Göteborg         1      à 1 480,00 SEK
Moms 25 %                                 3 963,75 SEK
Att betala                               19 818,75 SEK
""",
    """\
Atelier Lumière SARL — 8 rue des Tanneurs, 69002 Lyon
Facture N° F-88231 — Date d'émission : 14/02/2024
2 x Lampe de bureau « Orsay »      89,00 EUR l'unité
1 x Livraison express              15,00 EUR
TVA 20 %                           38,60 EUR
Total TTC                         231,60 EUR
""",
    """\
Harbour Print Ltd, 3 Quay Street, Bristol BS1 4DB
Invoice INV/7741 issued 28 January 2024
500  Business cards, 350gsm        £0.09 each
1    Design proof                  £25.00
VAT 20%                            £14.00
Balance due                        £84.00
""",
)


async def extract_all(
    client: openai.AsyncOpenAI, texts: Sequence[str], *, model: str = DEFAULT_MODEL
) -> list[Invoice]:
    """One ``Invoice`` per text, in order; the calls run concurrently."""
    structured = instructor.from_openai(client)  # tool calling: the schema travels as a tool

    async def extract(text: str) -> Invoice:
        return await structured.chat.completions.create(
            model=model,
            response_model=Invoice,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": text},
            ],
            max_tokens=MAX_TOKENS,
            temperature=0,
            max_retries=1,  # instructor re-asks once if the answer fails validation
        )

    return list(await asyncio.gather(*(extract(text) for text in texts)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="the gateway's /v1 URL")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the gateway's key")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a model name the gateway serves")
    return parser


async def _run(args: argparse.Namespace) -> int:
    # The gateway already fails over between deployments; the SDK's own retries only come into
    # play when every deployment is out of quota, and then it waits for the gateway's Retry-After.
    async with openai.AsyncOpenAI(base_url=args.base_url, api_key=args.api_key) as client:
        try:
            invoices = await extract_all(client, SAMPLE_INVOICES, model=args.model)
        except InstructorRetryException as error:
            sys.stderr.write(f"extraction failed: {_reason(error, args.base_url)}\n")
            return 1
    for invoice in invoices:
        sys.stdout.write(invoice.model_dump_json(indent=2) + "\n")
    return 0


def _reason(error: InstructorRetryException, base_url: str) -> str:
    """What went wrong, in one line: instructor wraps the SDK's errors."""
    cause = error.__cause__
    if isinstance(cause, openai.APIConnectionError):
        return f"no gateway answers at {base_url} (see examples/README.md)"
    if isinstance(cause, openai.APIStatusError):
        return f"the gateway answered HTTP {cause.status_code}: {cause.message}"
    return str(error)


def main(argv: Sequence[str] | None = None) -> int:
    """Extract the sample invoices and print them as JSON."""
    return asyncio.run(_run(_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
