"""Converted Accelo records → pandas DataFrames whose dtypes say what the registry says (pandas lives only here and
in the other notebook-side modules; the kit's core and the Fivetran path never import it).

- `int`, `link` → `Int64`: nullable, so a missing id stays missing instead of turning the column into floats;
  linked fields hold the linked object's integer id.
- `decimal` → `object` holding `decimal.Decimal`: money stays exact, the same values DuckDB's DECIMAL(18,4) gives
  back (pandas has no exact decimal dtype without pyarrow, which is not a dependency). `money_as_float` is for plots.
- `timestamp` → `datetime64[us, UTC]`: timezone-aware; unset dates are `NaT`.
- `bool` → `boolean`, `str` → `string`: nullable, `<NA>` rather than `None` or `nan`.

Frames are built column by column (one typed array per field), never row by row: a few hundred thousand rows take
a second or two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from ..entities import entity

TIMESTAMP_DTYPE = pd.DatetimeTZDtype(unit="us", tz="UTC")
DTYPES: dict[str, Any] = {
    "int": pd.Int64Dtype(),
    "link": pd.Int64Dtype(),
    "decimal": np.dtype(object),
    "timestamp": TIMESTAMP_DTYPE,
    "bool": pd.BooleanDtype(),
    "str": pd.StringDtype(),
}


def dtypes(name: str, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """The dtype of each column of `name` (every registry field, or just `columns`), as `to_frame` builds it."""
    kinds = dict(entity(name).column_types())
    return {column: DTYPES[kinds[column]] for column in (columns if columns is not None else kinds)}


def to_frame(name: str, records: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Records as `AcceloClient.iter_records` yields them (ints, Decimals, aware datetimes, bools, str, None) →
    a DataFrame with one typed column per field, in the registry's order (or `columns`' order)."""
    spec = entity(name)
    kinds = dict(spec.column_types())
    wanted = list(columns) if columns is not None else list(spec.field_names)
    unknown = [c for c in wanted if c not in kinds]
    if unknown:
        raise KeyError(f"{name} has no field(s) {', '.join(unknown)}")
    rows = records if isinstance(records, list) else list(records)
    data = {column: _column([row.get(column) for row in rows], kinds[column]) for column in wanted}
    frame: pd.DataFrame = pd.DataFrame(data, index=pd.RangeIndex(len(rows)), columns=wanted)
    return frame


def _column(values: list[Any], kind: str) -> Any:
    """One field's values → a typed array in one call (the converters already produced exact Python values)."""
    if kind == "timestamp":
        # aware datetimes (any zone) → one UTC array; None → NaT
        return pd.array(pd.to_datetime(values, utc=True).as_unit("us"))
    if kind == "decimal":
        array = pd.array(values, dtype=DTYPES["decimal"])
        bad = [v for v in values if v is not None and not isinstance(v, Decimal)]
        if bad:  # a float here would be an inexact number passed off as money
            raise TypeError(f"decimal column holds {type(bad[0]).__name__} {bad[0]!r}, expected Decimal or None")
        return array
    return pd.array(values, dtype=DTYPES[kind])


def money_as_float(series: pd.Series) -> pd.Series:
    """A Decimal column as float64 for plotting and quick statistics (NaN where unset); sums for reports should
    stay on the Decimal column, which is exact."""
    return pd.to_numeric(series.map(lambda v: None if v is None or v is pd.NA else float(v)), errors="coerce")

