"""Joining two loaded resources by id, with the link Accelo's records usually use suggested
(`accelo_kit.entities.JOIN_HINTS`)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ...entities import AGAINST_TYPES, JOIN_HINTS, entity


def join_columns(left: str, frame: pd.DataFrame) -> list[str]:
    """Columns of a loaded resource that can hold another row's id (int and link fields, not its own id)."""
    kinds = dict(entity(left).column_types())
    return [c for c in frame.columns if kinds.get(c) in ("int", "link") and c != entity(left).primary_key]


def suggest_join(left: str, right: str, frame: pd.DataFrame) -> str | None:
    hint = JOIN_HINTS.get((left, right))
    return hint if hint in frame.columns else None


@dataclass
class JoinResult:
    frame: pd.DataFrame
    matched: int
    left: str
    right: str
    on: str

    def describe(self) -> str:
        return (f"{self.left} ⋈ {self.right} on {self.left}.{self.on} = {self.right}.id: {self.matched:,} of "
                f"{len(self.frame):,} {self.left} rows matched")


def join_frames(left: str, left_frame: pd.DataFrame, on: str, right: str, right_frame: pd.DataFrame) -> JoinResult:
    """Every left row, with the right row whose id its `on` column holds; right columns are prefixed
    `right.`. An `against_id` only matches where `against_type` names the right resource."""
    if on not in left_frame.columns:
        raise KeyError(f"{left} has no loaded column {on!r}")
    key = left_frame[on]
    if on == "against_id" and "against_type" in left_frame.columns and right in AGAINST_TYPES:
        key = key.where(left_frame["against_type"] == AGAINST_TYPES[right])
    prefixed = right_frame.add_prefix(f"{right}.")
    right_id = f"{right}.{entity(right).primary_key}"
    joined = left_frame.assign(__key=key.astype(pd.Int64Dtype())).merge(
        prefixed, how="left", left_on="__key", right_on=right_id, validate="many_to_one").drop(columns="__key")
    return JoinResult(joined, int(joined[right_id].notna().sum()), left, right, on)
