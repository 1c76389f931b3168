"""Comparing a destination with the simulator's ground truth, shared by the sync and connector tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from accelo_kit.convert import RowConverter
from accelo_kit.entities import ENTITIES
from accelo_kit.sim import Simulator


def expected_rows(sim: Simulator, name: str) -> dict[int, dict[str, Any]]:
    """The simulator's truth for `name`, converted to Python values, keyed by id."""
    entity = ENTITIES[name]
    convert = RowConverter(name, entity.column_types())
    rows = {row["id"]: row for row in (convert(raw) for raw in sim.truth(name))}
    assert not convert.problems, convert.summary()
    return rows


def duckdb_rows(db: Path | str, name: str) -> dict[int, dict[str, Any]]:
    columns = ENTITIES[name].field_names
    with duckdb.connect(str(db), read_only=True) as con:
        fetched = con.execute(f'SELECT {", ".join(columns)} FROM "{name}"').fetchall()
    return {row[0]: dict(zip(columns, row, strict=True)) for row in fetched}


def assert_matches_truth(actual: dict[int, dict[str, Any]], sim: Simulator, name: str,
                         deleted: set[int] | frozenset[int] = frozenset()) -> None:
    """Every row and column equals the truth; rows hard-deleted in the simulator may linger (no delete feed)."""
    expected = expected_rows(sim, name)
    missing = set(expected) - set(actual)
    assert not missing, f"{name}: {len(missing)} rows missing, e.g. {sorted(missing)[:5]}"
    extra = set(actual) - set(expected) - set(deleted)
    assert not extra, f"{name}: {len(extra)} rows that the simulator does not have, e.g. {sorted(extra)[:5]}"
    wrong = [(i, col, actual[i][col], expected[i][col]) for i in expected for col in expected[i]
             if actual[i][col] != expected[i][col]]
    assert not wrong, f"{name}: {len(wrong)} values differ, e.g. {wrong[:3]}"
