"""The embedded default destination: one DuckDB file, a typed table per entity, state in the same transaction.

Rows are upserted in batches (a DataFrame registered with DuckDB, cast column by column in SQL) because DuckDB's
`executemany` costs milliseconds a row. Every value is handed over as text and cast by DuckDB, so money stays
exact. DuckDB's own file lock keeps a second process out; a second sync in this process is refused here.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ..convert import DECIMAL_PRECISION, DECIMAL_SCALE
from ..entities import Entity
from ..errors import AcceloError
from ..sync.destination import Record
from ..sync.state import SyncState

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
DELETED, DELETED_AT = "_deleted", "_deleted_at"  # soft deletes from reconciliation, like Fivetran's
_open_paths: set[Path] = set()
_open_lock = threading.Lock()


class DatabaseBusy(AcceloError):
    """Another sync (in this process or another) is writing the same database."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column(kind: str, values: list[Any]) -> Any:
    """One column for DuckDB to scan: numbers, times and flags as masked arrays it reads natively (fast, without
    Python objects); decimals as exact text that SQL casts; text as pandas strings."""
    if kind in {"int", "link"}:
        return pd.array(values, dtype="Int64")
    if kind == "bool":
        return pd.array(values, dtype="boolean")
    if kind == "timestamp":  # whole unix seconds; SQL's to_timestamp makes them TIMESTAMPTZ, whatever the TimeZone
        return pd.array([None if v is None else int(v.timestamp()) for v in values], dtype="Int64")
    if kind == "decimal":
        return pd.array([None if v is None else format(v, "f") for v in values], dtype="string")
    return pd.array(values, dtype="string")


class DuckDBDestination:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()
        self._pending: dict[str, tuple[Entity, dict[Any, Record]]] = {}
        self._deletes: dict[str, tuple[Entity, set[int]]] = {}
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
        self._jobs: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._failure: BaseException | None = None
        self._writer = threading.Thread(target=self._write_loop, name="accelo-duckdb-writer", daemon=True)
        self._writer.start()

    def _release(self) -> None:
        with _open_lock:
            _open_paths.discard(self.path)

    # -- the Destination interface -------------------------------------------------------------------------
    def load_state(self) -> SyncState | None:
        return _state_of(self.con)

    def prepare(self, entities: Sequence[Entity]) -> None:
        """Create missing tables; add columns the registry gained since (a table is never recreated)."""
        for entity in entities:
            columns = [f"{_quote(c.name)} {SQL_TYPES[c.type]}" for c in entity.columns]
            self.con.execute(
                f"CREATE TABLE IF NOT EXISTS {_quote(entity.name)} ({', '.join(columns)}, "
                f"{SYNCED_AT} TIMESTAMPTZ, {DELETED} BOOLEAN DEFAULT false, {DELETED_AT} TIMESTAMPTZ, "
                f"PRIMARY KEY ({_quote(entity.primary_key)}))")
            existing = {r[0] for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [entity.name]).fetchall()}
            wanted = [(c.name, SQL_TYPES[c.type]) for c in entity.columns]
            wanted += [(DELETED, "BOOLEAN DEFAULT false"), (DELETED_AT, "TIMESTAMPTZ")]
            for name, sql_type in wanted:
                if name not in existing:
                    self.con.execute(f"ALTER TABLE {_quote(entity.name)} ADD COLUMN {_quote(name)} {sql_type}")

    def known_ids(self, entity: Entity) -> set[int]:
        """Ids held and not flagged deleted, once every checkpoint handed over is committed."""
        self.flush()
        with self.con.cursor() as reader:  # the writer thread owns `con`; a cursor is a connection of its own
            rows = reader.execute(f"SELECT {_quote(entity.primary_key)} FROM {_quote(entity.name)} "
                                  f"WHERE NOT coalesce({DELETED}, false)").fetchall()
        return {row[0] for row in rows}

    def mark_deleted(self, entity: Entity, ids: set[int]) -> None:
        self._deletes.setdefault(entity.name, (entity, set()))[1].update(ids)

    def write(self, entity: Entity, rows: list[Record]) -> None:
        _, pending = self._pending.setdefault(entity.name, (entity, {}))
        for row in rows:  # the last version of a row wins, and DuckDB refuses one id twice in one statement
            pending[row[entity.primary_key]] = row

    def checkpoint(self, state: SyncState) -> None:
        """Hand everything written since the last checkpoint, with `state`, to the writer thread, which upserts
        and saves them in one transaction. At most one checkpoint waits while another commits, so the syncing
        thread keeps paging during a commit and memory stays bounded; `flush()`/`close()` wait for the commits."""
        self._raise_failure()
        batches, self._pending = self._pending, {}
        deletes, self._deletes = self._deletes, {}
        self._jobs.put((batches, deletes, state.to_json()))

    def flush(self) -> None:
        """Wait until every checkpoint handed over is committed; raise the writer's error if one failed."""
        self._jobs.join()
        self._raise_failure()

    def close(self) -> None:
        """Commit the checkpoints already handed over (rows written since the last one are dropped, as a crash
        would drop them), then close."""
        self._pending.clear()
        self._deletes.clear()
        try:
            self._jobs.join()
            self._jobs.put(None)
            self._writer.join()
            self.con.close()
        finally:
            self._release()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise AcceloError(f"could not write to {self.path}: {failure}") from failure

    def _write_loop(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self._failure is None:  # after a failure nothing more is committed: the state would lie
                    self._commit(*job)
            except Exception as err:
                self._failure = err
            finally:
                self._jobs.task_done()

    def _commit(self, batches: dict[str, tuple[Entity, dict[Any, Record]]],
                deletes: dict[str, tuple[Entity, set[int]]], state_json: str) -> None:
        """One checkpoint in one transaction: its rows, its deletes and the state that covers them."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            for entity, rows in batches.values():
                if rows:
                    self._upsert(entity, list(rows.values()))
            for entity, ids in deletes.values():
                if ids:
                    self.con.execute(f"UPDATE {_quote(entity.name)} SET {DELETED} = true, {DELETED_AT} = now() "
                                     f"WHERE {_quote(entity.primary_key)} IN (SELECT unnest(?))", [sorted(ids)])
            self._save_state(state_json)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def _save_state(self, state_json: str) -> None:
        self.con.execute(f"INSERT OR REPLACE INTO {STATE_TABLE} VALUES (1, ?, now())", [state_json])

    def __enter__(self) -> DuckDBDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers -------------------------------------------------------------------------------------------
    def _upsert(self, entity: Entity, rows: list[Record]) -> None:
        frame = pd.DataFrame({c.name: _column(c.type, [row.get(c.name) for row in rows]) for c in entity.columns},
                             copy=False)
        names = entity.field_names
        casts = ", ".join(f"to_timestamp({_quote(c.name)})" if c.type == "timestamp" else
                          f"CAST({_quote(c.name)} AS {SQL_TYPES[c.type]})" for c in entity.columns)
        target = ", ".join([*(_quote(n) for n in names), SYNCED_AT, DELETED, DELETED_AT])
        self.con.register("_accelo_batch", frame)
        try:
            self.con.execute(f"INSERT OR REPLACE INTO {_quote(entity.name)} ({target}) "
                             f"SELECT {casts}, now(), false, NULL FROM _accelo_batch")
        finally:
            self.con.unregister("_accelo_batch")


# -- reading a database without syncing (`accelo-kit status` and `plan`) ---------------------------------------
def read_state(path: str | Path) -> SyncState | None:
    """The sync state a database holds; None if the file does not exist or holds no accelo-kit state. Read-only:
    a sync writing the file at the same time makes DuckDB refuse with an IOException."""
    if not Path(path).exists():
        return None
    with duckdb.connect(str(path), read_only=True) as con:
        try:
            return _state_of(con)
        except duckdb.CatalogException:
            return None


def row_counts(path: str | Path, names: Sequence[str]) -> dict[str, int]:
    """Rows held per table (soft-deleted rows included), read-only."""
    with duckdb.connect(str(path), read_only=True) as con:
        return {name: _count(con, name) for name in names}


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {_quote(name)}").fetchone()
    return int(row[0]) if row else 0


def _state_of(con: duckdb.DuckDBPyConnection) -> SyncState | None:
    row = con.execute(f"SELECT state FROM {STATE_TABLE} WHERE id = 1").fetchone()
    return SyncState.from_json(row[0]) if row else None
