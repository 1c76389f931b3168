"""The plot a load shows: rows per month of the resource's date and, for money, the amount per month
(matplotlib is imported only when a plot is asked for)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ...entities import MONEY
from ..frames import money_as_float
from .load import date_field


def monthly(frame: pd.DataFrame, date_column: str, value_column: str | None = None) -> pd.Series:
    """Rows (or the sum of a money column, as float) per calendar month (UTC) of `date_column`."""
    months = frame[date_column].dt.tz_localize(None).dt.to_period("M")
    series: pd.Series
    if value_column is None:
        series = months.value_counts()
    else:
        series = money_as_float(frame[value_column]).groupby(months).sum()
    if series.empty:
        return series
    every = pd.period_range(series.index.min(), series.index.max(), freq="M")  # empty months show as gaps
    return series.reindex(every, fill_value=0)


def plot_frame(name: str, frame: pd.DataFrame) -> Any:
    """Rows per month of the resource's date field and, for money resources, the amount per month; for staff
    (no dates), rows per standing. Returns a matplotlib Figure, or None if there is nothing to plot."""
    import matplotlib.pyplot as plt

    panels: list[tuple[str, pd.Series, str]] = []
    when = date_field(name)
    if when and when in frame.columns and frame[when].notna().any():
        panels.append((f"{name} by month of {when}", monthly(frame, when), "rows"))
    if name in MONEY:
        amount, money_date = MONEY[name]
        if amount in frame.columns and money_date in frame.columns and frame[money_date].notna().any():
            panels.append((f"{amount} by month of {money_date}", monthly(frame, money_date, amount), amount))
    if not panels and "standing" in frame.columns:
        panels.append((f"{name} by standing", frame["standing"].value_counts(), "rows"))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.2), squeeze=False)
    for ax, (title, series, ylabel) in zip(axes[0], panels, strict=True):
        labels = [str(i) for i in series.index]
        ax.bar(range(len(series)), series.to_numpy(dtype=float), color="tab:blue")
        step = max(1, len(labels) // 12)
        ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=45, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig
