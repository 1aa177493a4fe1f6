"""Markdown tables."""
from __future__ import annotations

import math
from typing import Any, Sequence


def format_number(value: Any, digits: int = 2) -> str:
    """Numbers with ``digits`` decimals, ``None`` / NaN as an en dash, anything else as ``str``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return str(value)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, digits: int = 2) -> str:
    """A GitHub-flavoured Markdown table; the first column left-aligned, the others right-aligned.

    Raises:
        ValueError: a row whose length differs from ``columns``.
    """
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row {list(row)!r} has {len(row)} cells for {len(columns)} columns")
    head = "| " + " | ".join(columns) + " |"
    rule = "| " + " | ".join(["---"] + ["---:"] * (len(columns) - 1)) + " |"
    body = ["| " + " | ".join(format_number(v, digits) for v in row) + " |" for row in rows]
    return "\n".join([head, rule, *body]) + "\n"
