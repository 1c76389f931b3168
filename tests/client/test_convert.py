"""Converters (issue 3; docs/accelo-api.md, Values): exact values, unset is None, a bad value is None and counted,
never a plausible wrong value."""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelo_kit.convert import CONVERTERS, Invalid, RowConverter
from accelo_kit.entities import ENTITIES

UTC = timezone.utc
BAD = Invalid  # marker: the converter must refuse this value

TABLE: list[tuple[str, Any, Any]] = [
    # ints and ids
    ("int", "45", 45), ("int", 45, 45), ("int", "-3", -3), ("int", "007", 7), ("int", None, None), ("int", "", None),
    ("int", "abc", BAD), ("int", "12.5", BAD), ("int", "1e3", BAD), ("int", True, BAD), ("int", 12.0, 12),
    ("int", 12.5, BAD), ("int", [], BAD), ("int", "0x10", BAD),
    ("int", "1_000", BAD), ("int", "٣", BAD),
    # linked fields: an id or an expanded object
    ("link", "12", 12), ("link", {"id": "12", "name": "x"}, 12), ("link", {"name": "x"}, None), ("link", None, None),
    ("link", "x", BAD),
    # money and other decimals: exact, never float
    ("decimal", "200.00", Decimal("200.00")), ("decimal", "12.345", Decimal("12.345")),
    ("decimal", "-0.10", Decimal("-0.10")), ("decimal", "٣.00", BAD), ("decimal", "1.2345", Decimal("1.2345")),
    ("decimal", "1.23456", BAD), ("decimal", "99999999999999.9999", Decimal("99999999999999.9999")),
    ("decimal", "100000000000000", BAD),
    ("decimal", "0", Decimal("0")), ("decimal", 7, Decimal(7)), ("decimal", None, None), ("decimal", "", None),
    ("decimal", "abc", BAD), ("decimal", "NaN", BAD), ("decimal", "Infinity", BAD), ("decimal", "1,000.00", BAD),
    ("decimal", 0.1, BAD), ("decimal", "1e5", BAD),
    # dates: unix seconds as strings; "0" and null are unset
    ("timestamp", "1495671183", datetime(2017, 5, 25, 0, 13, 3, tzinfo=UTC)),
    ("timestamp", 1495671183, datetime(2017, 5, 25, 0, 13, 3, tzinfo=UTC)),
    ("timestamp", "0", None), ("timestamp", 0, None), ("timestamp", None, None), ("timestamp", "", None),
    ("timestamp", "-5", BAD), ("timestamp", "abc", BAD), ("timestamp", "2024-01-01", BAD),
    ("timestamp", "99999999999999", BAD), ("timestamp", "1495671183.5", BAD),
    # booleans in every spelling Accelo uses
    ("bool", "yes", True), ("bool", "no", False), ("bool", "1", True), ("bool", "0", False), ("bool", True, True),
    ("bool", False, False), ("bool", "YES", True), ("bool", "true", True), ("bool", 1, True), ("bool", 0, False),
    ("bool", None, None), ("bool", "", None), ("bool", "maybe", BAD), ("bool", "2", BAD), ("bool", 2, BAD),
    # text stays text
    ("str", "hello", "hello"), ("str", "", ""), ("str", None, None), ("str", 5, "5"), ("str", {"a": 1}, BAD),
]


@pytest.mark.parametrize(("kind", "wire", "expected"), TABLE)
def test_wire_value_to_python(kind: str, wire: Any, expected: Any) -> None:
    convert = CONVERTERS[kind]
    if expected is BAD:
        with pytest.raises(Invalid):
            convert(wire)
    else:
        value = convert(wire)
        assert value == expected
        assert type(value) is type(expected)
        if isinstance(value, datetime):
            assert value.tzinfo is not None and value.utcoffset().total_seconds() == 0


def test_row_converter_sets_bad_values_to_none_and_counts_them() -> None:
    convert = RowConverter("invoices", ENTITIES["invoices"].column_types())
    row = convert({"id": "7", "amount": "abc", "date_modified": "0", "outstanding": "12.345", "contact": {"id": "3"},
                   "invoice_number": "x1"})
    assert row["id"] == 7
    assert row["amount"] is None
    assert row["date_modified"] is None  # unset, not bad
    assert row["outstanding"] == Decimal("12.345")
    assert row["contact"] == 3
    assert row["invoice_number"] is None
    assert set(row) == set(ENTITIES["invoices"].field_names)  # a missing field is None, not absent
    convert({"id": "8", "amount": "also bad"})
    assert convert.problems == {"amount": 2, "invoice_number": 1}
    assert convert.summary() == ("invoices: 3 values could not be converted and were set to null "
                                 "(amount ×2, invoice_number ×1)")


def test_row_converter_is_compiled_once_per_entity() -> None:
    convert = RowConverter("staff", ENTITIES["staff"].column_types())
    assert list(convert({})) == list(ENTITIES["staff"].field_names)  # the compiled plan, in declaration order


wire_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
    st.from_regex(r"-?\d{1,20}(\.\d{1,4})?", fullmatch=True), st.dictionaries(st.text(max_size=3), st.text(max_size=3)),
    st.lists(st.integers(), max_size=2),
)


@given(kind=st.sampled_from(sorted(CONVERTERS)), value=wire_values)
def test_converters_never_raise_anything_but_invalid(kind: str, value: Any) -> None:
    with contextlib.suppress(Invalid):
        CONVERTERS[kind](value)


@given(text=st.text(max_size=20))
def test_integers_are_never_invented(text: str) -> None:
    """Whatever comes in, an int out is exactly the decimal number that was written, never a guess."""
    try:
        value = CONVERTERS["int"](text)
    except Invalid:
        return
    if value is not None:
        assert text.strip().lstrip("+-").isdigit() and value == int(text)


@given(text=st.text(max_size=20))
def test_decimals_are_never_invented(text: str) -> None:
    try:
        value = CONVERTERS["decimal"](text)
    except Invalid:
        return
    if value is not None:
        assert value.is_finite() and value == Decimal(text.strip())
        assert value == value.quantize(Decimal("0.0001"))  # fits the destinations' DECIMAL(18, 4) exactly


@given(row=st.dictionaries(st.sampled_from(ENTITIES["jobs"].field_names), wire_values))
def test_row_converter_never_raises(row: dict[str, Any]) -> None:
    convert = RowConverter("jobs", ENTITIES["jobs"].column_types())
    out = convert(row)
    assert set(out) == set(ENTITIES["jobs"].field_names)
