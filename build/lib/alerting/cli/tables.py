"""Plain-text tables for the terminal that line up Chinese text: a wide character takes two columns."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

MISSING = "—"
GAP = "  "


def display_width(text: str) -> int:
    """Terminal columns `text` takes: East Asian wide and fullwidth characters count as two."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _cell(value: object) -> str:
    if value is None:
        return MISSING
    text = str(value)
    for control in "\r\n\t":
        text = text.replace(control, " ")  # one cell, one line
    return text


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def render_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Headers, a rule, then the rows; numbers are right-aligned, None is shown as "—"."""
    body = [list(row) for row in rows]
    for row in body:
        if len(row) != len(headers):
            raise ValueError(f"a row has {len(row)} cells for {len(headers)} headers")
    texts = [[_cell(v) for v in row] for row in body]
    widths = [display_width(h) for h in headers]
    for row_texts in texts:
        for i, text in enumerate(row_texts):
            widths[i] = max(widths[i], display_width(text))

    def line(cells: Sequence[str], right: Sequence[bool]) -> str:
        parts = []
        for text, width, align_right in zip(cells, widths, right, strict=True):
            pad = " " * (width - display_width(text))
            parts.append(pad + text if align_right else text + pad)
        return GAP.join(parts).rstrip()

    lines = [line(headers, [False] * len(headers)), GAP.join("-" * w for w in widths)]
    for row, row_texts in zip(body, texts, strict=True):
        lines.append(line(row_texts, [_is_number(v) for v in row]))
    return "\n".join(lines) + "\n"


def truncate(text: str, width: int) -> str:
    """`text` cut to at most `width` display columns, with "…" when cut."""
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        w = display_width(char)
        if used + w > width - 1:
            break
        out.append(char)
        used += w
    return "".join(out) + "…"
