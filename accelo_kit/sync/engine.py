"""Incremental sync of many entities through one client into one destination, losing nothing.

The rules (docs/sync.md):
- each run's window per entity comes from accelo_kit/sync/windows.py: bounded by the run's start on the
  **server's** clock, reaching back an overlap before the cursor;
- windows are walked by keyset paging on id, so rows changing mid-run cannot shift pages;
- rows are committed with the state that covers them, every `checkpoint_every` pages and at the end of each entity;
  the state holds the pager's pending ranges, a low-water mark, so a killed run resumes where its last commit was;
- the cursor moves only when a window is completely written; an error leaves it where it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..budget import BudgetExhausted
from ..client import AcceloClient
from ..entities import ENTITIES, Entity
from ..errors import AcceloError
from ..paging import PAGE_SIZE, Page, ScanRequest
from . import windows
from .cost import fits, request_cost
from .destination import DeletingDestination, Destination
from .progress import EntityReport, SyncProgress, SyncReport
from .state import StateError, SyncState, Window, starting_state
from .windows import DEFAULT_PAYMENTS_FULL_PASS_S

log = logging.getLogger(__name__)
DEFAULT_CHECKPOINT_EVERY = 10
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
        self._ids_seen: dict[str, set[int]] = {}
        self._id_scan_costs: dict[str, int] = {}  # requests each reconciliation's id scan takes, from its count

    def run(self) -> SyncReport:
        started = time.monotonic()
        before = self.client.stats()
        state = starting_state(self.destination.load_state(), self.target, full_refresh=self.options.full_refresh,
                               simulated=self.options.simulated)
        run_start = int(self.client.server_time())
        state.check_clock(run_start)
        self.destination.prepare(self.entities)
        report = SyncReport(run_start=run_start, budget_policy=self.client.settings.budget_policy)
        resumed = {e.name for e in self.entities if state.entity(e.name).window is not None}
        current: dict[str, Window] = {}
        for e in self.entities:
            saved = state.entity(e.name)
            saved.window = current[e.name] = windows.next_window(e, saved, run_start, self.client.settings,
                                                                 self.options.payments_full_pass_s)
        for e in self.entities:
            label = current[e.name].kind + (" (resumed)" if e.name in resumed else "")
            report.entities[e.name] = EntityReport(e.name, label)
        requests = [self.client.scan_request(e.name, filters=current[e.name].filters(e.cursor_field),
                                             resume=_spans(current[e.name].progress)) for e in self.entities]
        for entity in self._reconciliations(state, current, run_start, report, resumed):
            self._ids_seen[entity.name] = set()
            if not windows.covers_every_row(current[entity.name]):
                requests.append(self.client.scan_request(entity.name, fields=[], key=entity.name + IDS))
        report.expected_requests = self._expect(state, current, resumed)
        self.progress.started(report)
        stop_waiting = self.client.add_hook("wait", self.progress.waiting)  # waits reach progress this one way
        try:
            self._consume(state, current, requests, report)
        except BudgetExhausted as err:
            report.deferred_until = err.resume_at
            self.destination.checkpoint(state)
            log.warning("%s; the run stopped at a checkpoint and the next run carries on from there", err)
        except AcceloError as err:
            raise SyncError(f"{_entity_of(err, self.entities)}: {err}") from err
        finally:
            stop_waiting()
            after = self.client.stats()
            report.requests = after.requests - before.requests
            report.retries = after.retries - before.retries
            report.throttled = after.throttled - before.throttled
            report.waited_s = after.waited_s - before.waited_s
            report.paced_s = after.paced_s - before.paced_s
            report.yielded_s = after.yielded_s - before.yielded_s
            report.budget_policy = after.policy
            report.note_others(after)
            report.seconds = time.monotonic() - started
            report.problems = [self.client.converter(e.name).summary() for e in self.entities
                               if self.client.converter(e.name).problems]
        self.progress.finished(report)
        return report

    def _reconciliations(self, state: SyncState, current: dict[str, Window], run_start: int,
                         report: SyncReport, resumed: set[str]) -> list[Entity]:
        """Entities whose hard deletes are looked for in this run: forced, or due on schedule, and affordable.
        A window begun this run that takes every row is an id scan already (staff every run, a full refresh):
        it costs nothing more. A resumed one saw only part of the ids, so it does not count."""
        if self.options.reconcile_deletes is False or not isinstance(self.destination, DeletingDestination):
            return []
        chosen = []
        for entity in self.entities:
            saved, window = state.entity(entity.name), current[entity.name]
            if windows.covers_every_row(window):
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
        """An id scan of every row: skip it (saying so) if the budget left this window is short."""
        cost = request_cost(self.client.count(entity.name))
        self._id_scan_costs[entity.name] = cost
        stats = self.client.stats()
        if not fits(cost, stats):
            report.notes.append(f"{entity.name}: delete reconciliation skipped: it needs {cost} requests and "
                                f"{stats.remaining} remain this window (the next run tries again)")
            return False
        return True

    def _expect(self, state: SyncState, current: dict[str, Window], resumed: set[str]) -> int | None:
        """Tell the client how many requests this run will take, so a run that fits the rate window goes at full
        speed and a bigger one is spread over it (the adaptive budget policy; docs/reliability.md). A first window
        or a periodic full pass is counted (one request); an incremental or resumed window is taken as one page
        (more than that shows when the budget meets a spent window, and the run is paced from then on)."""
        if self.client.settings.budget_policy != "adaptive":
            return None
        expected = sum(self._id_scan_costs.values())  # the reconciliations' id scans, counted by _affordable
        for entity in self.entities:
            window = current[entity.name]
            big = entity.name not in resumed and (  # (a resumed window is not counted: unknown, one page)
                (window.kind == "full" and entity.strategy != "full") or (
                    entity.strategy == "date_modified" and state.entity(entity.name).cursor is None))
            rows = self.client.count(entity.name, windows.count_filters(entity, window)) if big else PAGE_SIZE
            expected += request_cost(rows, ranges=min(self.client.settings.threads, 1 + rows // PAGE_SIZE))
        self.client.expect_requests(expected)
        return expected

    def _reconcile(self, destination: DeletingDestination, entity: Entity, state: SyncState, run_start: int,
                   report: SyncReport) -> None:
        """A completed id scan: ids held but no longer in Accelo are flagged deleted. Only ids at or below the
        highest id the scan saw are judged (ids only grow, so anything above it is newer than the scan)."""
        seen = self._ids_seen.pop(entity.name)
        if not seen:
            return  # an empty answer is not evidence that everything was deleted
        high = max(seen)
        gone = {i for i in destination.known_ids(entity) if i <= high and i not in seen}
        destination.mark_deleted(entity, gone)
        state.entity(entity.name).reconciled_at = run_start
        report.entities[entity.name].deleted = len(gone)

    def _consume(self, state: SyncState, current: dict[str, Window], requests: list[ScanRequest],
                 report: SyncReport) -> None:
        since_checkpoint = 0
        first_page_at: dict[str, float] = {}
        deleting = self.destination if isinstance(self.destination, DeletingDestination) else None
        for page in self.client.scan(requests):
            if page.key.endswith(IDS):
                name = page.key[: -len(IDS)]
                self._ids_seen[name].update(int(row["id"]) for row in page.rows)
                report.entities[name].id_pages += 1
                if page.complete and deleting is not None:
                    self._reconcile(deleting, ENTITIES[name], state, report.run_start, report)
                    self.destination.checkpoint(state)
                self._show_page(name, 0, report)
                continue
            entity = ENTITIES[page.key]
            window = current[page.key]
            convert = self.client.converter(page.key)
            rows = [convert(row) for row in page.rows]
            if page.key in self._ids_seen and windows.covers_every_row(window):
                self._ids_seen[page.key].update(row[entity.primary_key] for row in rows)
            if rows:
                self.destination.write(entity, rows)
                windows.record_rows(entity, window, rows)
            window.progress = [list(span) for span in page.progress]
            entry = report.entities[page.key]
            first_page_at.setdefault(page.key, time.monotonic())
            entry.rows += len(rows)
            entry.pages += 1
            since_checkpoint += 1
            if page.complete:
                windows.close_window(entity, state.entity(page.key), window)
                if deleting is not None and page.key in self._ids_seen and windows.covers_every_row(window):
                    self._reconcile(deleting, entity, state, report.run_start, report)
                entry.complete = True
                entry.seconds = time.monotonic() - first_page_at[page.key]
            if page.complete or since_checkpoint >= self.options.checkpoint_every:
                self.destination.checkpoint(state)
                since_checkpoint = 0
            self._show_page(page.key, len(rows), report)

    def _show_page(self, name: str, rows: int, report: SyncReport) -> None:
        report.budget_remaining = self.client.stats().remaining
        self.progress.page(name, rows, report)


def _spans(progress: list[list[int | None]] | None) -> list[tuple[int, int | None]] | None:
    """A saved window's pending ranges as the scanner takes them (only the upper bound may be open)."""
    if progress is None:
        return None
    spans: list[tuple[int, int | None]] = []
    for lo, hi in progress:
        if lo is None:
            raise StateError("the saved sync state holds a pending range without a lower bound; "
                             "run with --full-refresh")
        spans.append((int(lo), None if hi is None else int(hi)))
    return spans


def _entity_of(err: AcceloError, entities: Sequence[Entity]) -> str:
    path = (err.path or "").strip("/").split("/")[0]
    return path if path in {e.name for e in entities} else "sync"


__all__ = ["IDS", "Page", "SyncError", "SyncOptions", "sync"]
