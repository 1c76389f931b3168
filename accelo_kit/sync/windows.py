"""Window computation: what a run fetches of an entity, and when the entity's cursor moves (docs/sync.md).

- a date_modified window reaches back `overlap_seconds` before the cursor (Accelo's `_after` is strict and
  whole-second) and stops before the run's start on the server's clock; the cursor becomes that start only once
  the window is completely written;
- payments have no date_modified: new ones come above the highest id written, and a full pass every
  `payments_full_pass_s` catches edits; staff has no dates: it is refetched every run.

The engine calls these functions through this module (`windows.next_window(...)`), so a test can substitute one
of them to prove the suite catches a wrong rule (tests/broken_variants.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..config import Settings
from ..entities import Entity
from ..servertime import day_start_utc
from .state import EntityState, Window

DEFAULT_PAYMENTS_FULL_PASS_S = 24 * 3600


def next_window(entity: Entity, saved: EntityState, run_start: int, settings: Settings,
                payments_full_pass_s: int = DEFAULT_PAYMENTS_FULL_PASS_S) -> Window:
    """The window a run starting at `run_start` fetches: a crashed run's, resumed, or a new one from the cursor."""
    if saved.window is not None:
        return saved.window
    start = settings.start_date
    start_ts = day_start_utc(start) if start else None
    if entity.strategy == "date_modified":
        if saved.cursor is not None:
            after: int | None = saved.cursor - settings.overlap_seconds - 1
        else:
            after = None if start_ts is None else start_ts - 1
        # the very first run of an entity without start_date takes every row, unset dates included
        return Window("modified", run_start, after, run_start if after is not None else None)
    if entity.strategy == "created":
        after = None if start_ts is None else start_ts - 1
        due = (saved.max_id is None or saved.full_pass_at is None
               or run_start - saved.full_pass_at >= payments_full_pass_s)
        if due:
            return Window("full", run_start, after)
        return Window("new", run_start, after, progress=[[saved.max_id, None]])
    return Window("full", run_start)


def record_rows(entity: Entity, window: Window, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of `window` handed to the destination (converted, not empty): remember the highest id written."""
    top = max(row[entity.primary_key] for row in rows)
    window.max_id = top if window.max_id is None else max(window.max_id, top)


def close_window(entity: Entity, saved: EntityState, window: Window) -> None:
    """A window fully written: move the cursor (only now) and forget the window."""
    if entity.strategy == "date_modified":
        saved.cursor = window.started
    elif entity.strategy == "created":
        if window.max_id is not None:
            saved.max_id = window.max_id if saved.max_id is None else max(saved.max_id, window.max_id)
        if window.kind == "full":
            saved.full_pass_at = window.started
            saved.max_id = saved.max_id or 0  # an empty table still counts as passed
    saved.window = None


def count_filters(entity: Entity, window: Window) -> list[str]:
    """The `_filters` that count the rows `window` has left to fetch (a "new" window starts above an id)."""
    filters = window.filters(entity.cursor_field)
    if window.kind == "new" and window.progress:
        filters.append(f"id_greater_than({window.progress[0][0]})")
    return filters


def covers_every_row(window: Window) -> bool:
    """A window without bounds sees every id: as good as a reconciliation's id scan."""
    return window.kind != "new" and window.after is None and window.before is None
