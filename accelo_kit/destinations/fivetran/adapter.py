"""Fivetran as a destination: the sync engine's writes and checkpoints become Connector SDK operations
(docs/fivetran.md).

Fivetran keeps what `op.upsert` sends until the next `op.checkpoint` and commits it together with that state, which
is the Destination contract already, so the adapter forwards each call and converts values into the types the SDK
accepts. It takes the SDK's `Operations` and `Logging` as parameters: the kit stays importable without the SDK, and
tests can record the calls. `connector.py` is only the wiring around what lives here and in schema.py.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from ...entities import Entity
from ...errors import AcceloError
from ...servertime import format_utc
from ...sync.destination import Record
from ...sync.progress import SyncProgress, SyncReport, WaitNotices
from ...sync.state import StateError, SyncState
from .idcodec import decode_ids, encode_ids

IDS_KEY = "fivetran_ids"  # the state's extra key: ids held per table, for hard-delete reconciliation


class Operations(Protocol):
    """The part of the SDK's `Operations` the adapter uses."""

    @staticmethod
    def upsert(table: str, data: dict[str, Any]) -> None: ...

    @staticmethod
    def delete(table: str, keys: dict[str, Any]) -> None: ...

    @staticmethod
    def checkpoint(state: dict[str, Any]) -> None: ...


class Log(Protocol):
    """The part of the SDK's `Logging` the adapter uses."""

    @staticmethod
    def info(message: str) -> None: ...

    @staticmethod
    def warning(message: str) -> None: ...


class FivetranDestination:
    """The Destination protocol over the SDK's operations. Upserts come only from the thread that built it (the
    thread Fivetran called `update()` on): the sync engine writes from its own thread, and this makes sure of it."""

    def __init__(self, op: Operations, state: Mapping[str, Any] | None, log: Log | None = None) -> None:
        self.op, self.log = op, log
        self._saved = dict(state or {})
        # A connector cannot read the warehouse, so the ids it holds travel in the state (compactly), for the
        # sync's hard-delete reconciliation: `known_ids` answers from them, `mark_deleted` becomes `op.delete`.
        self._ids: dict[str, set[int]] = {name: decode_ids(text) for name, text in
                                          (self._saved.pop(IDS_KEY, None) or {}).items()}
        self._encoded: dict[str, str] = {}
        self._thread = threading.get_ident()
        self._decimals: dict[str, tuple[str, ...]] = {}
        self.rows_since_checkpoint: Counter[str] = Counter()
        self.checkpoints = 0

    def load_state(self) -> SyncState | None:
        if not self._saved:
            return None  # Fivetran's first sync, or a reset connection: the state is {}
        try:
            return SyncState.from_json(json.dumps(self._saved))
        except StateError as err:
            raise StateError(f"{err} (on Fivetran, re-sync the connection's historical data; locally, "
                             "`fivetran reset`)") from None

    def prepare(self, entities: Sequence[Entity]) -> None:
        """Tables are declared by `schema()`; here only which columns need converting."""
        for entity in entities:
            self._decimals[entity.name] = tuple(c.name for c in entity.columns if c.type == "decimal")

    def write(self, entity: Entity, rows: list[Record]) -> None:
        self._check_thread()
        decimals = self._decimals.get(entity.name)
        if decimals is None:
            decimals = self._decimals[entity.name] = tuple(c.name for c in entity.columns if c.type == "decimal")
        held = self._ids.setdefault(entity.name, set())
        for row in rows:
            self.op.upsert(entity.name, sdk_row(row, decimals))
            held.add(row[entity.primary_key])
        self._encoded.pop(entity.name, None)
        self.rows_since_checkpoint[entity.name] += len(rows)

    def known_ids(self, entity: Entity) -> set[int]:
        return set(self._ids.get(entity.name, ()))

    def mark_deleted(self, entity: Entity, ids: set[int]) -> None:
        """Soft deletes: Fivetran sets `_fivetran_deleted` on each, and a later upsert of the id undoes it."""
        self._check_thread()
        held = self._ids.setdefault(entity.name, set())
        for row_id in sorted(ids):
            self.op.delete(entity.name, {entity.primary_key: row_id})
            held.discard(row_id)
        self._encoded.pop(entity.name, None)

    def checkpoint(self, state: SyncState) -> None:
        """Commit every upsert so far together with `state` (a plain dict, as Fivetran keeps it)."""
        self._check_thread()
        payload = json.loads(state.to_json())
        for name, ids in self._ids.items():
            if name not in self._encoded:
                self._encoded[name] = encode_ids(ids)
        payload[IDS_KEY] = dict(self._encoded)
        self.op.checkpoint(payload)
        self.checkpoints += 1
        if self.log is not None and self.rows_since_checkpoint:
            written = ", ".join(f"{name} {count}" for name, count in self.rows_since_checkpoint.items())
            self.log.info(f"checkpoint: rows committed since the last one: {written}")
        self.rows_since_checkpoint.clear()

    def close(self) -> None:
        """Nothing to release: upserts after the last checkpoint are Fivetran's to drop or to commit at the end."""

    def _check_thread(self) -> None:
        if threading.get_ident() != self._thread:
            raise AcceloError("Fivetran operations must come from the thread that runs update(), not a worker")


def sdk_row(row: Record, decimals: Sequence[str]) -> dict[str, Any]:
    """A converted row as the SDK accepts it: a DECIMAL column takes text or int, never a Decimal or a float, so
    exact money goes over as plain-notation text; ints, bools, aware datetimes, str and None go as they are."""
    if not decimals:
        return dict(row)
    out = dict(row)
    for name in decimals:
        value = out.get(name)
        if isinstance(value, Decimal):
            out[name] = format(value, "f")
    return out


class LogProgress(SyncProgress):
    """The run's story in Fivetran's log: a line per entity as it starts and finishes, a line per checkpoint (from
    the destination), waits for the rate window, a summary, and the converter's bad values as warnings."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self._done: set[str] = set()
        self._notices = WaitNotices()

    def started(self, report: SyncReport) -> None:
        for name, entry in report.entities.items():
            self.log.info(f"{name}: fetching ({entry.window} window)")

    def page(self, name: str, rows: int, report: SyncReport) -> None:
        entry = report.entities[name]
        if entry.complete and name not in self._done:  # once, even if more pages of the entity follow
            self._done.add(name)
            self.log.info(f"{name}: complete, {entry.rows} rows in {entry.pages} pages ({entry.seconds:.1f} s)")

    def waiting(self, seconds: float, reason: str) -> None:
        message = self._notices.message(seconds, reason)  # pacing and yielding: once in a while, not per request
        if message is not None:
            self.log.info(message)

    def finished(self, report: SyncReport) -> None:
        self.log.info(f"sync summary: {report.totals()}; "
                      + ", ".join(f"{e.name} {e.rows}" for e in report.entities.values()))
        for problem in report.problems:
            self.log.warning(problem)
        if report.deferred_until is not None:
            self.log.warning(deferral_message(report.deferred_until))


def deferral_message(resume_at: float) -> str:
    when = format_utc(resume_at)
    return (f"the deployment's hourly request budget is spent and resets at {when}: this sync stopped at a "
            "checkpoint instead of waiting, and the next sync carries on from there")
