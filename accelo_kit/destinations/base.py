"""The destination interface the sync engine writes through, and an in-memory one for tests and notebooks."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Protocol

from ..entities import Entity
from ..state import SyncState

Record = dict[str, Any]


class Destination(Protocol):
    """Rows handed to `write` become durable only at the next `checkpoint`, atomically with that state."""

    def load_state(self) -> SyncState | None: ...

    def prepare(self, entities: Sequence[Entity]) -> None: ...

    def write(self, entity: Entity, rows: list[Record]) -> None: ...

    def checkpoint(self, state: SyncState) -> None: ...

    def close(self) -> None: ...


class MemoryDestination:
    """Tables as dicts keyed by id. Uncommitted rows vanish on `rollback()`, like a crashed process's would."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[int, Record]] = {}
        self.state: SyncState | None = None
        self.checkpoints = 0
        self._pending: dict[str, dict[int, Record]] = {}

    def load_state(self) -> SyncState | None:
        return copy.deepcopy(self.state)

    def prepare(self, entities: Sequence[Entity]) -> None:
        for entity in entities:
            self.tables.setdefault(entity.name, {})

    def write(self, entity: Entity, rows: list[Record]) -> None:
        pending = self._pending.setdefault(entity.name, {})
        for row in rows:
            pending[row[entity.primary_key]] = row

    def checkpoint(self, state: SyncState) -> None:
        for name, rows in self._pending.items():
            self.tables.setdefault(name, {}).update(rows)
        self._pending.clear()
        self.state = copy.deepcopy(state)
        self.checkpoints += 1

    def rollback(self) -> None:
        self._pending.clear()

    def close(self) -> None:
        self.rollback()
