"""A loaded frame at a glance: each column's dtype and nulls, the standings and statuses, the span of its dates."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Profile:
    rows: int
    columns: pd.DataFrame  # per column: dtype, non-null, nulls
    value_counts: dict[str, pd.Series] = field(default_factory=dict)  # standing, status
    date_ranges: pd.DataFrame | None = None  # per timestamp column: first, last, unset


def profile(frame: pd.DataFrame) -> Profile:
    columns = pd.DataFrame({"dtype": frame.dtypes.astype(str), "non-null": frame.notna().sum(),
                            "nulls": frame.isna().sum()})
    counts = {c: frame[c].value_counts(dropna=False) for c in ("standing", "status") if c in frame.columns}
    stamps = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    ranges = pd.DataFrame({"first": [frame[c].min() for c in stamps], "last": [frame[c].max() for c in stamps],
                           "unset": [int(frame[c].isna().sum()) for c in stamps]}, index=stamps) if stamps else None
    return Profile(len(frame), columns, counts, ranges)
