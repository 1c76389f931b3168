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


class DeletingDestination(Destination, Protocol):
    """A destination that can take part in hard-delete reconciliation (soft deletes: rows are kept, flagged)."""

    def known_ids(self, entity: Entity) -> set[int]:
        """Ids held and not marked deleted, as of the last checkpoint."""
        ...

    def mark_deleted(self, entity: Entity, ids: set[int]) -> None:
        """Flag these ids deleted at the next checkpoint. A later upsert of the same id undeletes it."""
        ...


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
