"""One plain-text table formatter for everything the kit prints to a terminal or a log (sync summaries, the
tuning sweep, the benchmark): aligned columns, numbers right and text left, with no dependency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def format_table(rows: Sequence[Mapping[str, Any]], headers: Sequence[str] | None = None, *,
                 left_headers: bool = False, strip: bool = True) -> str:
    """`rows` as aligned columns under `headers` (default: the first row's keys) and a dashed rule.
    A cell that starts with a digit (or a minus sign and a digit) is right-aligned; other cells left-aligned.
    `left_headers` left-aligns every header (not only those of text columns); `strip=False` keeps the padding at
    the ends of lines (the sync summary keeps both, as it always printed)."""
    heads = list(headers) if headers is not None else list(rows[0]) if rows else []
    cells = [[str(row.get(h, "")) for h in heads] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    numeric = [not left_headers and bool(cells) and all(_is_number(c[i]) for c in cells) for i in range(len(heads))]
    lines = ["  ".join(h.rjust(w) if n else h.ljust(w) for h, w, n in zip(heads, widths, numeric, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) if _is_number(c) else c.ljust(w) for c, w in zip(row, widths, strict=True))
              for row in cells]
    return "\n".join(line.rstrip() if strip else line for line in lines)


def _is_number(cell: str) -> bool:
    return cell[:1].isdigit() or (cell[:1] == "-" and cell[1:2].isdigit())
