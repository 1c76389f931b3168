"""An in-memory destination for tests and notebooks: the Destination contract without a database."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from ..entities import Entity
from ..sync.destination import Record
from ..sync.state import SyncState


class MemoryDestination:
    """Tables as dicts keyed by id. Uncommitted rows vanish on `rollback()`, like a crashed process's would."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[int, Record]] = {}
        self.deleted: dict[str, set[int]] = {}
        self.state: SyncState | None = None
        self.checkpoints = 0
        self._pending: dict[str, dict[int, Record]] = {}
        self._pending_deletes: dict[str, set[int]] = {}

    def load_state(self) -> SyncState | None:
        return copy.deepcopy(self.state)

    def prepare(self, entities: Sequence[Entity]) -> None:
        for entity in entities:
            self.tables.setdefault(entity.name, {})

    def write(self, entity: Entity, rows: list[Record]) -> None:
        pending = self._pending.setdefault(entity.name, {})
        for row in rows:
            pending[row[entity.primary_key]] = row

    def known_ids(self, entity: Entity) -> set[int]:
        return set(self.tables.get(entity.name, {})) - self.deleted.get(entity.name, set())

    def mark_deleted(self, entity: Entity, ids: set[int]) -> None:
        self._pending_deletes.setdefault(entity.name, set()).update(ids)

    def checkpoint(self, state: SyncState) -> None:
        for name, rows in self._pending.items():
            self.tables.setdefault(name, {}).update(rows)
            self.deleted.setdefault(name, set()).difference_update(rows)
        for name, ids in self._pending_deletes.items():
            self.deleted.setdefault(name, set()).update(ids)
        self._pending.clear()
        self._pending_deletes.clear()
        self.state = copy.deepcopy(state)
        self.checkpoints += 1

    def rollback(self) -> None:
        self._pending.clear()
        self._pending_deletes.clear()

    def close(self) -> None:
        self.rollback()
