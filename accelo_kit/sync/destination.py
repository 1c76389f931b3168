"""The destination interface the sync engine writes through. Destinations (accelo_kit/destinations/) implement it;
the engine never imports them, so the dependency points one way: destinations → sync."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..entities import Entity
from .state import SyncState

Record = dict[str, Any]


@runtime_checkable
class Destination(Protocol):
    """Rows handed to `write` become durable only at the next `checkpoint`, atomically with that state."""

    def load_state(self) -> SyncState | None: ...

    def prepare(self, entities: Sequence[Entity]) -> None: ...

    def write(self, entity: Entity, rows: list[Record]) -> None: ...

    def checkpoint(self, state: SyncState) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class DeletingDestination(Destination, Protocol):
    """A destination that can take part in hard-delete reconciliation (soft deletes: rows are kept, flagged).
    The engine asks `isinstance(destination, DeletingDestination)` before it schedules an id scan."""

    def known_ids(self, entity: Entity) -> set[int]:
        """Ids held and not marked deleted, as of the last checkpoint."""
        ...

    def mark_deleted(self, entity: Entity, ids: set[int]) -> None:
        """Flag these ids deleted at the next checkpoint. A later upsert of the same id undeletes it."""
        ...
