"""Accelo's wire strings to Python values, exactly: int, Decimal, aware UTC datetime, bool, str.

Accelo sends every scalar as a string (docs/accelo-api.md, Values). A value that does not parse becomes None and is
counted per entity and field: a bad input must never turn into a plausible wrong number.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

Converter = Callable[[Any], Any]


class Invalid(ValueError):
    """Raised by a converter for a value it cannot represent; the row converter turns it into None and a count."""


_INT = re.compile(r"[+-]?\d+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
TRUE_WORDS = frozenset({"yes", "1", "true", "y", "t"})
FALSE_WORDS = frozenset({"no", "0", "false", "n", "f"})
# timestamps beyond this are not dates Accelo would send (year 9999); they would overflow datetime anyway
MAX_TIMESTAMP = 253_402_300_799
# every decimal column is DECIMAL(18, 4) in destinations: a value that would not fit exactly is refused here,
# because rounding it on the way in would invent a number
DECIMAL_PRECISION, DECIMAL_SCALE = 18, 4
# integer columns are BIGINT in DuckDB and LONG in Fivetran: a wider number is refused here, not overflowed at commit
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _text(value: Any) -> str | None:
    """None and empty strings are unset; a str, int or (for ids) JSON number is taken as its text."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Invalid(f"unexpected boolean {value!r}")
    if isinstance(value, (int, str)):
        text = str(value).strip()
        return text or None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise Invalid(f"unexpected {type(value).__name__}")


# Fast paths: nearly every value arrives as a plain ASCII string, handled without the general checks below. Each
# fast path accepts a subset of what its slow path accepts, with the same result; anything else takes the slow path.
_UTC = timezone.utc
_BOOLS: dict[Any, bool] = {"yes": True, "no": False, "1": True, "0": False, True: True, False: False}


def to_int(value: Any) -> int | None:
    if value.__class__ is str and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    text = _text(value)
    if text is None:
        return None
    if not _INT.fullmatch(text):
        raise Invalid(f"not an integer: {text[:40]!r}")
    if len(text) > 20:  # wider than any 64-bit number; int() of a 5,000-digit text would raise ValueError itself
        raise Invalid(f"integer beyond 64 bits: {text[:40]!r}")
    number = int(text)
    if not INT64_MIN <= number <= INT64_MAX:
        raise Invalid(f"integer beyond 64 bits: {text[:40]!r}")
    return number


def to_link(value: Any) -> int | None:
    """A linked field: its id, whether sent bare (`"12"`) or expanded (`{"id": "12", ...}`)."""
    if value.__class__ is str and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    if isinstance(value, Mapping):
        value = value.get("id")
    return to_int(value)


def to_decimal(value: Any) -> Decimal | None:
    if value.__class__ is str and value.isascii():
        whole, dot, fraction = value.partition(".")
        if whole.isdigit() and len(whole.lstrip("0")) <= DECIMAL_PRECISION - DECIMAL_SCALE and (
                not dot or (fraction.isdigit() and len(fraction) <= DECIMAL_SCALE)):
            return Decimal(value)
    if isinstance(value, float):
        raise Invalid("money must not arrive as a binary float")
    text = _text(value)
    if text is None:
        return None
    if not _DECIMAL.fullmatch(text):
        raise Invalid(f"not a decimal: {text!r}")
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes these
        raise Invalid(f"not a decimal: {text!r}") from None
    _, digits, exponent = number.as_tuple()
    scale = max(0, -int(exponent))
    if scale > DECIMAL_SCALE or len(digits) - scale > DECIMAL_PRECISION - DECIMAL_SCALE:
        raise Invalid(f"{text!r} does not fit DECIMAL({DECIMAL_PRECISION},{DECIMAL_SCALE}) exactly")
    return number


def to_timestamp(value: Any) -> datetime | None:
    """Unix seconds to an aware UTC datetime; `"0"` is Accelo's other way of saying unset."""
    if value.__class__ is str and value.isascii() and value.isdigit() and len(value) < 19:
        seconds = int(value)
        if 0 < seconds <= MAX_TIMESTAMP:
            return datetime.fromtimestamp(seconds, _UTC)
    number = to_int(value)
    if number is None or number == 0:
        return None
    if not 0 < number <= MAX_TIMESTAMP:
        raise Invalid(f"timestamp out of range: {number}")
    return datetime.fromtimestamp(number, tz=timezone.utc)


def to_bool(value: Any) -> bool | None:
    if value.__class__ in (str, bool):
        known = _BOOLS.get(value)
        if known is not None:
            return known
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = _text(value)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise Invalid(f"not a boolean: {text!r}")


def to_str(value: Any) -> str | None:
    if value.__class__ is str or value is None:
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise Invalid(f"unexpected {type(value).__name__} for text")


CONVERTERS: dict[str, Converter] = {
    "int": to_int,
    "link": to_link,
    "decimal": to_decimal,
    "timestamp": to_timestamp,
    "bool": to_bool,
    "str": to_str,
}


class RowConverter:
    """Converts rows of one entity. Built once per entity: the per-field choice is made here, not per value.

    `problems` counts bad values per field; `summary()` gives the one line a run reports.
    """

    def __init__(self, entity: str, columns: Iterable[tuple[str, str]]) -> None:
        self.entity = entity
        self._plan: list[tuple[str, Converter]] = [(name, CONVERTERS[kind]) for name, kind in columns]
        self.problems: collections.Counter[str] = collections.Counter()

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, convert in self._plan:
            raw = row.get(name)
            try:
                out[name] = convert(raw)
            except Invalid:
                out[name] = None
                self.problems[name] += 1
        return out

    def summary(self) -> str:
        if not self.problems:
            return ""
        fields = ", ".join(f"{name} ×{count}" for name, count in sorted(self.problems.items()))
        total = sum(self.problems.values())
        return f"{self.entity}: {total} values could not be converted and were set to null ({fields})"
