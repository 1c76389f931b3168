"""Stored rows to Accelo's wire shape: the chosen fields, links expanded one level, unset dates per switch."""

from __future__ import annotations

from typing import Any

from .data import Row, Tables
from .schema import RESOURCES, ResourceSpec

# with unset_date="mixed", these fields send "0" for unset and the rest send null
ZERO_WHEN_MIXED = frozenset({"date_last_interacted", "date_completed", "date_actioned"})


class Renderer:
    def __init__(self, tables: Tables, unset_date: str) -> None:
        self.tables = tables
        self.unset_date = unset_date

    def unset(self, name: str) -> str | None:
        if self.unset_date == "zero" or (self.unset_date == "mixed" and name in ZERO_WHEN_MIXED):
            return "0"
        return None

    def value(self, spec: ResourceSpec, row: Row, name: str) -> Any:
        raw = row.get(name)
        if raw is None and spec.by_name[name].kind == "ts":
            return self.unset(name)
        return raw

    def row(self, spec: ResourceSpec, row: Row, projection: list[tuple[str, list[str] | None]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, expand in projection:
            if expand is None or row.get(name) is None:
                out[name] = self.value(spec, row, name)
                continue
            target_spec = RESOURCES[spec.by_name[name].target or ""]
            target = self.tables[target_spec.name].get(int(row[name]))
            out[name] = None if target is None else {f: self.value(target_spec, target, f) for f in expand}
        return out

    def full(self, spec: ResourceSpec, row: Row) -> dict[str, Any]:
        """Every field, hidden ones included: the ground truth a destination is compared against."""
        return {f.name: self.value(spec, row, f.name) for f in spec.fields}
