"""Deliberately broken variants of the kit, to prove the suite catches them: a suite that passes a broken
implementation is itself broken (docs/reliability.md).

Nothing in accelo_kit knows about them. Each variant replaces, in this process only, the seam its mistake lives
in: the scanner (`KeysetScanner.scan`), the window rules the engine calls through `accelo_kit.sync.windows`, or
the DuckDB destination's commit (`DuckDBDestination._commit`). `ACCELO_KIT_BROKEN=name[,name]` in a TEST process's
environment switches them on: tests/conftest.py applies them when pytest starts, and every entry point the tests
run in a subprocess of their own (tests/chaos/killer.py, the kill script of tests/sync/test_sync.py) calls
`apply_from_env()` first. tests/chaos/test_broken_variants.py runs selected tests with each one and expects red.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

ENV = "ACCELO_KIT_BROKEN"
VARIANTS = {
    "offset_paging": "page with _page offsets instead of keyset ranges (rows shift when data changes mid-scan)",
    "cursor_from_max_seen": "no upper bound on the window; the cursor becomes the newest date_modified seen",
    "no_overlap": "the window starts at the cursor with a strict _after and no overlap",
    "state_before_rows": "the checkpoint commits the state before, and apart from, the rows it covers",
}
_applied: list[str] = []


def selected(environ: Mapping[str, str] | None = None) -> list[str]:
    """The variants `ACCELO_KIT_BROKEN` names (none if unset); an unknown name is an error, never ignored."""
    names = [v.strip() for v in (os.environ if environ is None else environ).get(ENV, "").split(",") if v.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise KeyError(f"unknown broken variant(s) {unknown}; known: {sorted(VARIANTS)}")
    return names


def apply_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """Switch on, in this process, every variant the environment names. Returns what is on."""
    for name in selected(environ):
        apply(name)
    return list(_applied)


def apply(name: str) -> None:
    """Switch one variant on for the rest of this process (once: applying it again changes nothing)."""
    if name not in VARIANTS:
        raise KeyError(f"unknown broken variant {name!r}")
    if name in _applied:
        return
    {"offset_paging": _offset_paging, "cursor_from_max_seen": _cursor_from_max_seen, "no_overlap": _no_overlap,
     "state_before_rows": _state_before_rows}[name]()
    _applied.append(name)


# -- the variants -------------------------------------------------------------------------------------------------
def _offset_paging() -> None:
    from accelo_kit.paging import KeysetScanner, Page, ScanRequest

    def offset_scan(self: KeysetScanner, requests: Sequence[ScanRequest]) -> Iterator[Page]:
        """`_page` offsets, one scan after another: rows deleted mid-scan shift later pages, and rows are lost."""
        for request in requests:
            number = 0
            while True:
                params = {"_limit": str(self.page_size), "_page": str(number)}
                if request.filters:
                    params["_filters"] = ",".join(request.filters)
                if request.fields:
                    params["_fields"] = request.fields
                rows = self.fetch(request.path, params)
                number += 1
                done = len(rows) < self.page_size
                yield Page(request.key, rows, () if done else ((0, None),), done)
                if done:
                    break

    KeysetScanner.scan = offset_scan  # type: ignore[method-assign]


def _no_overlap() -> None:
    from accelo_kit.sync import windows

    original = windows.next_window

    def next_window(entity: Any, saved: Any, run_start: int, settings: Any, *args: Any, **kwargs: Any) -> Any:
        window = original(entity, saved, run_start, settings, *args, **kwargs)
        if saved.window is None and entity.strategy == "date_modified" and saved.cursor is not None:
            window.after = saved.cursor  # strict `_after` at the cursor: a change in its very second is missed
        return window

    windows.next_window = next_window


def _cursor_from_max_seen() -> None:
    from accelo_kit.sync import windows

    next_window, record_rows, close_window = windows.next_window, windows.record_rows, windows.close_window
    newest: dict[tuple[str, int], int] = {}  # (entity, window start) -> the newest date_modified written

    def unbounded(entity: Any, saved: Any, run_start: int, settings: Any, *args: Any, **kwargs: Any) -> Any:
        window = next_window(entity, saved, run_start, settings, *args, **kwargs)
        if saved.window is None and entity.strategy == "date_modified":
            window.before = None
        return window

    def tracking(entity: Any, window: Any, rows: Any) -> None:
        record_rows(entity, window, rows)
        if entity.cursor_field:
            key = (entity.name, window.started)
            stamps = [int(r[entity.cursor_field].timestamp()) for r in rows if r[entity.cursor_field]]
            newest[key] = max([newest.get(key, 0), *stamps])

    def cursor_from_rows(entity: Any, saved: Any, window: Any) -> None:
        seen = newest.pop((entity.name, window.started), None)
        close_window(entity, saved, window)
        if entity.strategy == "date_modified":
            saved.cursor = seen or saved.cursor

    windows.next_window, windows.record_rows, windows.close_window = unbounded, tracking, cursor_from_rows


def _state_before_rows() -> None:
    from accelo_kit.destinations.duckdb import DuckDBDestination

    commit = DuckDBDestination._commit

    def state_first(self: DuckDBDestination, batches: Any, deletes: Any, state_json: str) -> None:
        self._save_state(state_json)  # outside the transaction: a crash before COMMIT keeps the state, loses rows
        commit(self, batches, deletes, state_json)

    DuckDBDestination._commit = state_first  # type: ignore[method-assign]
