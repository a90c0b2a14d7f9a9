"""Plain-text tables for the CLI: text left, numbers right, a rule under the headers."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Cell", "render"]

Cell = str | int | float | Decimal | None


def render(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """The rows under the headers; ``None`` shows as ``-``, float and Decimal with 4 decimals."""
    texts = [[_text(cell) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in texts:
        for column, text in enumerate(row):
            widths[column] = max(widths[column], len(text))
    numeric = [_numeric([row[column] for row in rows]) for column in range(len(headers))]
    lines = [
        _line(list(headers), widths, numeric),
        "  ".join("-" * width for width in widths),
    ]
    lines.extend(_line(row, widths, numeric) for row in texts)
    return "\n".join(lines)


def _line(texts: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
    cells = [
        text.rjust(width) if align else text.ljust(width)
        for text, width, align in zip(texts, widths, right, strict=True)
    ]
    return "  ".join(cells).rstrip()


def _numeric(cells: Sequence[Cell]) -> bool:
    numbers = [cell for cell in cells if cell is not None]
    return bool(numbers) and all(isinstance(cell, int | float | Decimal) for cell in numbers)


def _text(cell: Cell) -> str:
    if cell is None:
        return "-"
    if isinstance(cell, float | Decimal):
        return f"{cell:.4f}"
    return str(cell)
