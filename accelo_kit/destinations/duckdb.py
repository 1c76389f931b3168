"""The embedded default destination: one DuckDB file, a typed table per entity, state in the same transaction.

Rows are upserted in batches (a DataFrame registered with DuckDB, cast column by column in SQL) because DuckDB's
`executemany` costs milliseconds a row. Every value is handed over as text and cast by DuckDB, so money stays
exact. DuckDB's own file lock keeps a second process out; a second sync in this process is refused here.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ..convert import DECIMAL_PRECISION, DECIMAL_SCALE
from ..entities import Entity
from ..errors import AcceloError
from ..state import SyncState
from .base import Record

SQL_TYPES = {
    "int": "BIGINT",
    "link": "BIGINT",
    "decimal": f"DECIMAL({DECIMAL_PRECISION},{DECIMAL_SCALE})",
    "timestamp": "TIMESTAMPTZ",
    "bool": "BOOLEAN",
    "str": "VARCHAR",
}
STATE_TABLE = "_accelo_kit_state"
SYNCED_AT = "_synced_at"
_open_paths: set[Path] = set()
_open_lock = threading.Lock()


class DatabaseBusy(AcceloError):
    """Another sync (in this process or another) is writing the same database."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


class DuckDBDestination:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()
        self._pending: dict[str, tuple[Entity, dict[Any, Record]]] = {}
        with _open_lock:
            if self.path in _open_paths:
                raise DatabaseBusy(f"another sync in this process is writing {self.path}")
            _open_paths.add(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(str(self.path))
        except duckdb.IOException as err:
            self._release()
            raise DatabaseBusy(f"{self.path} is in use by another process (only one sync at a time may write it): "
                               f"{str(err).splitlines()[0]}") from None
        except BaseException:
            self._release()
            raise
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (id INTEGER PRIMARY KEY, state VARCHAR, "
                         "updated_at TIMESTAMPTZ)")

    def _release(self) -> None:
        with _open_lock:
            _open_paths.discard(self.path)

    # -- the Destination interface -------------------------------------------------------------------------
    def load_state(self) -> SyncState | None:
        row = self.con.execute(f"SELECT state FROM {STATE_TABLE} WHERE id = 1").fetchone()
        return SyncState.from_json(row[0]) if row else None

    def prepare(self, entities: Sequence[Entity]) -> None:
        """Create missing tables; add columns the registry gained since (a table is never recreated)."""
        for entity in entities:
            columns = [f"{_quote(c.name)} {SQL_TYPES[c.type]}" for c in entity.columns]
            self.con.execute(
                f"CREATE TABLE IF NOT EXISTS {_quote(entity.name)} ({', '.join(columns)}, "
                f"{SYNCED_AT} TIMESTAMPTZ, PRIMARY KEY ({_quote(entity.primary_key)}))")
            existing = {r[0] for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [entity.name]).fetchall()}
            for column in entity.columns:
                if column.name not in existing:
                    self.con.execute(f"ALTER TABLE {_quote(entity.name)} ADD COLUMN {_quote(column.name)} "
                                     f"{SQL_TYPES[column.type]}")

    def write(self, entity: Entity, rows: list[Record]) -> None:
        _, pending = self._pending.setdefault(entity.name, (entity, {}))
        for row in rows:  # the last version of a row wins, and DuckDB refuses one id twice in one statement
            pending[row[entity.primary_key]] = row

    def checkpoint(self, state: SyncState) -> None:
        """Upsert everything written since the last checkpoint and save `state`, in one transaction."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            for entity, rows in self._pending.values():
                if rows:
                    self._upsert(entity, list(rows.values()))
            self.con.execute(f"INSERT OR REPLACE INTO {STATE_TABLE} VALUES (1, ?, now())", [state.to_json()])
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self._pending.clear()

    def close(self) -> None:
        self._pending.clear()
        try:
            self.con.close()
        finally:
            self._release()

    def __enter__(self) -> DuckDBDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers -------------------------------------------------------------------------------------------
    def _upsert(self, entity: Entity, rows: list[Record]) -> None:
        names = entity.field_names
        frame = pd.DataFrame([[_text(row.get(n)) for n in names] for row in rows], columns=list(names),
                             dtype=object)
        casts = ", ".join(f"CAST({_quote(c.name)} AS {SQL_TYPES[c.type]})" for c in entity.columns)
        target = ", ".join([*(_quote(n) for n in names), SYNCED_AT])
        self.con.register("_accelo_batch", frame)
        try:
            self.con.execute(f"INSERT OR REPLACE INTO {_quote(entity.name)} ({target}) "
                             f"SELECT {casts}, now() FROM _accelo_batch")
        finally:
            self.con.unregister("_accelo_batch")
