"""Incremental sync of many entities through one client into one destination, losing nothing.

The rules (design.md, "Correctness of an incremental sync"):
- each run's upper bound is its start on the **server's** clock; a date_modified window reaches back `overlap`
  seconds before the cursor (Accelo's `_after` is strict and whole-second) and stops before the run's start;
- windows are walked by keyset paging on id, so rows changing mid-run cannot shift pages;
- rows are committed with the state that covers them, every `checkpoint_every` pages and at the end of each entity;
  the state holds the pager's pending ranges, a low-water mark, so a killed run resumes where its last commit was;
- the cursor moves only when a window is completely written; an error leaves it where it was.
payments have no date_modified: new ones come above the highest id written, and a full pass every
`payments_full_pass_s` catches edits. staff has no dates: it is refetched every run.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import broken
from .budget import BudgetExhausted
from .client import AcceloClient
from .config import Settings
from .destinations.base import Destination
from .entities import ENTITIES, Entity
from .errors import AcceloError
from .paging import Page
from .state import EntityState, SyncState, Window

log = logging.getLogger(__name__)
DEFAULT_CHECKPOINT_EVERY = 10
DEFAULT_PAYMENTS_FULL_PASS_S = 24 * 3600
IDS = "#ids"  # scan key suffix of a reconciliation's id scan


class SyncError(AcceloError):
    """A sync that could not fetch or write something. Nothing after its last checkpoint was committed."""


@dataclass
class SyncOptions:
    full_refresh: bool = False
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    payments_full_pass_s: int = DEFAULT_PAYMENTS_FULL_PASS_S
    target: str | None = None  # what the state belongs to; default: the settings' deployment or base_url
    simulated: bool = False
    reconcile_deletes: bool | None = None  # True: every entity now; False: never; None: on schedule
    reconcile_every_s: int | None = None  # None: the settings' reconcile_every_days


@dataclass
class EntityReport:
    name: str
    window: str  # modified / new / full, and whether it resumed a crashed run
    rows: int = 0
    pages: int = 0
    seconds: float = 0.0
    complete: bool = False
    deleted: int | None = None  # rows a completed reconciliation marked deleted (None: none ran)
    id_pages: int = 0  # requests of the reconciliation's id scan


@dataclass
class SyncReport:
    run_start: int
    entities: dict[str, EntityReport] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    waited_s: float = 0.0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # converter summaries: values set to null
    notes: list[str] = field(default_factory=list)  # what was skipped and why (e.g. a reconciliation)
    deferred_until: float | None = None  # the budget ran out: the run stopped early at a checkpoint

    @property
    def complete(self) -> bool:
        return self.deferred_until is None and all(e.complete for e in self.entities.values())


class SyncProgress:
    """Hooks for progress display; the defaults do nothing. Called on the syncing thread."""

    def started(self, report: SyncReport) -> None: ...

    def page(self, name: str, rows: int, report: SyncReport) -> None: ...

    def finished(self, report: SyncReport) -> None: ...


def sync(client: AcceloClient, destination: Destination, entities: Sequence[str] | None = None,
         options: SyncOptions | None = None, progress: SyncProgress | None = None) -> SyncReport:
    """Bring `destination` up to date with the deployment `client` reads. Raises SyncError on failure."""
    return _Run(client, destination, entities, options or SyncOptions(), progress or SyncProgress()).run()


class _Run:
    def __init__(self, client: AcceloClient, destination: Destination, entities: Sequence[str] | None,
                 options: SyncOptions, progress: SyncProgress) -> None:
        self.client, self.destination, self.options, self.progress = client, destination, options, progress
        self.entities: list[Entity] = [ENTITIES[name] for name in (entities or client.settings.entities)]
        self.target = options.target or client.settings.target

    def run(self) -> SyncReport:
        started = time.monotonic()
        before = self.client.stats()
        state = self._load_state()
        run_start = int(self.client.server_time())
        state.check_clock(run_start)
        self.destination.prepare(self.entities)
        report = SyncReport(run_start=run_start)
        resumed = {e.name for e in self.entities if state.entity(e.name).window is not None}
        windows = {}
        for e in self.entities:
            saved = state.entity(e.name)
            saved.window = windows[e.name] = next_window(e, saved, run_start, self.client.settings, self.options)
        for e in self.entities:
            label = windows[e.name].kind + (" (resumed)" if e.name in resumed else "")
            report.entities[e.name] = EntityReport(e.name, label)
        requests = [self.client.scan_request(e.name, filters=self._filters(e, windows[e.name]),
                                             resume=_spans(windows[e.name].progress)) for e in self.entities]
        self._ids_seen: dict[str, set[int]] = {}
        for entity in self._reconciliations(state, windows, run_start, report, resumed):
            self._ids_seen[entity.name] = set()
            if not _covers_every_row(windows[entity.name]):
                requests.append(self.client.scan_request(entity.name, fields=[], key=entity.name + IDS))
        self.progress.started(report)
        try:
            self._consume(state, windows, requests, report)
        except BudgetExhausted as err:
            report.deferred_until = err.resume_at
            self.destination.checkpoint(state)
            log.warning("%s; the run stopped at a checkpoint and the next run carries on from there", err)
        except AcceloError as err:
            raise SyncError(f"{_entity_of(err, self.entities)}: {err}") from err
        finally:
            after = self.client.stats()
            report.requests = after.requests - before.requests
            report.retries = after.retries - before.retries
            report.throttled = after.throttled - before.throttled
            report.waited_s = after.waited_s - before.waited_s
            report.seconds = time.monotonic() - started
            report.problems = [self.client.converter(e.name).summary() for e in self.entities
                               if self.client.converter(e.name).problems]
        self.progress.finished(report)
        return report

    def _load_state(self) -> SyncState:
        state = self.destination.load_state()
        if state is not None:
            state.check_target(self.target)
            if self.options.full_refresh:
                state = None
        return state or SyncState(target=self.target, simulated=self.options.simulated)

    def _reconciliations(self, state: SyncState, windows: dict[str, Window], run_start: int,
                         report: SyncReport, resumed: set[str]) -> list[Entity]:
        """Entities whose hard deletes are looked for in this run: forced, or due on schedule, and affordable.
        A window begun this run that takes every row is an id scan already (staff every run, a full refresh):
        it costs nothing more. A resumed one saw only part of the ids, so it does not count."""
        if self.options.reconcile_deletes is False or not hasattr(self.destination, "mark_deleted"):
            return []
        chosen = []
        for entity in self.entities:
            saved, window = state.entity(entity.name), windows[entity.name]
            if _covers_every_row(window):
                if entity.name not in resumed:
                    chosen.append(entity)
                continue
            if saved.cursor is None and saved.max_id is None:
                continue  # nothing was held before this run that could have been deleted
            every = self.options.reconcile_every_s
            if every is None:
                every = int(self.client.settings.reconcile_every_days * 86_400)
            due = self.options.reconcile_deletes or saved.reconciled_at is None or \
                run_start - saved.reconciled_at >= every
            if due and self._affordable(entity, report):
                chosen.append(entity)
        return chosen

    def _affordable(self, entity: Entity, report: SyncReport) -> bool:
        """An id scan costs ⌈rows/100⌉ + 1 requests: skip it (saying so) if the budget left this window is short."""
        rows = self.client.count(entity.name)
        cost = math.ceil(rows / 100) + 1
        stats = self.client.stats()
        if stats.remaining is not None and stats.remaining - (stats.reserve or 0) < cost:
            report.notes.append(f"{entity.name}: delete reconciliation skipped: it needs {cost} requests and "
                                f"{stats.remaining} remain this window (the next run tries again)")
            return False
        return True

    def _reconcile(self, entity: Entity, state: SyncState, run_start: int, report: SyncReport) -> None:
        """A completed id scan: ids held but no longer in Accelo are flagged deleted. Only ids at or below the
        highest id the scan saw are judged (ids only grow, so anything above it is newer than the scan)."""
        seen = self._ids_seen.pop(entity.name)
        if not seen:
            return  # an empty answer is not evidence that everything was deleted
        high = max(seen)
        gone = {i for i in self.destination.known_ids(entity) if i <= high and i not in seen}  # type: ignore[attr-defined]
        self.destination.mark_deleted(entity, gone)  # type: ignore[attr-defined]
        state.entity(entity.name).reconciled_at = run_start
        report.entities[entity.name].deleted = len(gone)

    @staticmethod
    def _filters(entity: Entity, window: Window) -> list[str]:
        return window.filters(entity.cursor_field)

    def _consume(self, state: SyncState, windows: dict[str, Window], requests: list, report: SyncReport) -> None:
        since_checkpoint = 0
        first_page_at = {}
        for page in self.client.scan(requests):
            if page.key.endswith(IDS):
                name = page.key[: -len(IDS)]
                self._ids_seen[name].update(int(row["id"]) for row in page.rows)
                report.entities[name].id_pages += 1
                if page.complete:
                    self._reconcile(ENTITIES[name], state, report.run_start, report)
                    self.destination.checkpoint(state)
                self.progress.page(name, 0, report)
                continue
            entity = ENTITIES[page.key]
            window = windows[page.key]
            convert = self.client.converter(page.key)
            rows = [convert(row) for row in page.rows]
            if page.key in self._ids_seen and _covers_every_row(window):
                self._ids_seen[page.key].update(row[entity.primary_key] for row in rows)
            if rows:
                self.destination.write(entity, rows)
                top = max(row[entity.primary_key] for row in rows)
                window.max_id = top if window.max_id is None else max(window.max_id, top)
                if broken.on("cursor_from_max_seen") and entity.cursor_field:
                    stamps = [int(r[entity.cursor_field].timestamp()) for r in rows if r[entity.cursor_field]]
                    window.max_modified = max([window.max_modified or 0, *stamps])
            window.progress = [list(span) for span in page.progress]
            entry = report.entities[page.key]
            first_page_at.setdefault(page.key, time.monotonic())
            entry.rows += len(rows)
            entry.pages += 1
            since_checkpoint += 1
            if page.complete:
                self._finish(entity, state.entity(page.key), window)
                if page.key in self._ids_seen and _covers_every_row(window):
                    self._reconcile(entity, state, report.run_start, report)
                entry.complete = True
                entry.seconds = time.monotonic() - first_page_at[page.key]
            if page.complete or since_checkpoint >= self.options.checkpoint_every:
                self.destination.checkpoint(state)
                since_checkpoint = 0
            self.progress.page(page.key, len(rows), report)

    @staticmethod
    def _finish(entity: Entity, saved: EntityState, window: Window) -> None:
        """A window fully written: move the cursor (only now)."""
        if entity.strategy == "date_modified":
            saved.cursor = window.started
            if broken.on("cursor_from_max_seen"):
                saved.cursor = window.max_modified or saved.cursor
        elif entity.strategy == "created":
            if window.max_id is not None:
                saved.max_id = window.max_id if saved.max_id is None else max(saved.max_id, window.max_id)
            if window.kind == "full":
                saved.full_pass_at = window.started
                saved.max_id = saved.max_id or 0  # an empty table still counts as passed
        saved.window = None


def next_window(entity: Entity, saved: EntityState, run_start: int, settings: Settings,
                options: SyncOptions) -> Window:
    """The window a run starting at `run_start` fetches: a crashed run's, resumed, or a new one from the cursor."""
    if saved.window is not None:
        return saved.window
    start = settings.start_date
    start_ts = int(datetime(start.year, start.month, start.day, tzinfo=timezone.utc).timestamp()) if start else None
    if entity.strategy == "date_modified":
        if saved.cursor is not None:
            after: int | None = saved.cursor - settings.overlap_seconds - 1
            if broken.on("no_overlap"):
                after = saved.cursor
        else:
            after = None if start_ts is None else start_ts - 1
        if broken.on("cursor_from_max_seen"):
            return Window("modified", run_start, after, None)
        # the very first run of an entity without start_date takes every row, unset dates included
        return Window("modified", run_start, after, run_start if after is not None else None)
    if entity.strategy == "created":
        after = None if start_ts is None else start_ts - 1
        due = (saved.max_id is None or saved.full_pass_at is None
               or run_start - saved.full_pass_at >= options.payments_full_pass_s)
        if due:
            return Window("full", run_start, after)
        return Window("new", run_start, after, progress=[[saved.max_id, None]])
    return Window("full", run_start)


def _covers_every_row(window: Window) -> bool:
    """A window without bounds sees every id: as good as a reconciliation's id scan."""
    return window.kind != "new" and window.after is None and window.before is None


def _spans(progress: list[list[int | None]] | None) -> list[tuple[int, int | None]] | None:
    return None if progress is None else [(int(lo), None if hi is None else int(hi)) for lo, hi in progress]


def _entity_of(err: AcceloError, entities: Sequence[Entity]) -> str:
    path = (err.path or "").strip("/").split("/")[0]
    return path if path in {e.name for e in entities} else "sync"


__all__ = ["Page", "SyncError", "SyncOptions", "SyncProgress", "SyncReport", "sync"]
