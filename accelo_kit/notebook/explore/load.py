"""What a Load click fetches, what it costs before it is spent, and the load itself.

Threads: one pool per load, the client's scan's own (the only threads that make requests). The caller's thread
(the kernel's) iterates the scan, converts, and makes every progress and widget update; budget-wait notices come
from the workers through a queue, and the scan hands control back while no page comes (`on_idle`), so a wait for
the rate window, which can take the rest of an hour, is announced when it starts.

The budget policy (docs/reliability.md, A good neighbour) is the client's: a load tells the client what it will
cost, so one that fits in what the window leaves after the other integrations' share goes at full speed, and a
bigger one (adaptive policy) is spread over the window instead of spent in a burst.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from ...budget import HOURLY_LIMIT
from ...client import AcceloClient
from ...convert import RowConverter
from ...entities import STANDINGS, entity
from ...servertime import day_start_utc
from ...sync.cost import request_cost
from ...sync.progress import WaitNotices, others_seen
from ..frames import to_frame

LARGE_LOAD_REQUESTS = HOURLY_LIMIT // 50  # 2% of Accelo's hourly 5,000: above this a load waits for a second click
LARGE_LOAD_SHARE = 0.10  # ... as does one that would spend more than this share of what is left this window
DEFAULT_ROW_CAP = 10_000
PROGRESS_EVERY_S = 0.1  # widget updates at most this often (each one is a message to the browser)


# -- what to load ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadRequest:
    resource: str
    all_fields: bool = True  # False: Accelo's default fields only (no `_fields`)
    date_from: date | None = None  # inclusive, whole UTC days, on `date_field(resource)`
    date_to: date | None = None
    standing: str = ""
    row_cap: int = DEFAULT_ROW_CAP

    def __post_init__(self) -> None:
        entity(self.resource)
        if self.row_cap < 1:
            raise ValueError("row_cap must be at least 1")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"the date range is empty: {self.date_from} is after {self.date_to}")

    @property
    def fields(self) -> list[str] | None:
        """None: every registry field, by name; []: no `_fields`, so Accelo sends its defaults."""
        return None if self.all_fields else []

    def filters(self) -> list[str]:
        """Accelo's `_after`/`_before` are strict and whole-second: a day range becomes (start − 1 s, end + 1 day)."""
        out = []
        field_name = date_field(self.resource)
        if field_name and self.date_from:
            out.append(f"{field_name}_after({day_start_utc(self.date_from) - 1})")
        if field_name and self.date_to:
            out.append(f"{field_name}_before({day_start_utc(self.date_to + timedelta(days=1))})")
        standing = self.standing.strip()
        if standing and self.resource in STANDINGS:
            out.append(f"standing({standing})")
        return out


def date_field(resource: str) -> str | None:
    """The date a range filters on: the incremental cursor (date_modified; payments: date_created; staff: none)."""
    return entity(resource).cursor_field


# -- what it costs -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadEstimate:
    request: LoadRequest
    matching: int  # rows the filters match (one /count)
    threads: int
    limit: int | None
    remaining: int | None
    reserve: int | None  # the floor: budget_reserve
    policy: str = "adaptive"  # budget_policy
    reserve_now: int | None = None  # what the budget keeps now: the floor, or the others' need if larger

    @property
    def rows(self) -> int:
        return min(self.matching, self.request.row_cap)

    @property
    def requests(self) -> int:
        """docs/performance.md: a scan of N rows costs ⌈N/100⌉ + 1 per id range; most loads use one or two."""
        return request_cost(self.rows)

    @property
    def at_most(self) -> int:
        """Every thread's range may end on one short page (or, for a capped load, one page still in flight)."""
        return request_cost(self.rows, ranges=self.threads)

    @property
    def usable(self) -> int | None:
        """What this window has left for the kit: remaining less what is kept for the other integrations."""
        if self.remaining is None:
            return None
        kept = max(self.reserve or 0, self.reserve_now or 0) if self.policy == "adaptive" else self.reserve or 0
        return self.remaining - kept

    @property
    def large(self) -> bool:
        usable = self.usable
        return self.at_most > LARGE_LOAD_REQUESTS or (usable is not None and self.at_most > LARGE_LOAD_SHARE * usable)

    @property
    def paced(self) -> bool:
        """The adaptive policy spreads a load over the window when it does not fit in what the window leaves."""
        return self.policy == "adaptive" and self.usable is not None and self.requests > self.usable

    def describe(self) -> str:
        capped = f" (capped from {self.matching:,})" if self.rows < self.matching else ""
        text = (f"Loading {self.rows:,} {self.request.resource}{capped} costs about {self.requests:,} requests "
                f"(at most {self.at_most:,})")
        if self.limit:
            text += f", {self.requests / self.limit:.1%} of the hourly {self.limit:,}"
        if self.remaining is not None:
            text += f"; {self.remaining:,} left in this window"
        return text + ". " + self.policy_note()

    def policy_note(self) -> str:
        """Which budget policy the load follows and what it means for this one."""
        if self.policy == "fixed":
            return (f"Budget policy fixed: only budget_reserve ({self.reserve or 0:,}) is kept for the other "
                    "integrations.")
        kept = max(self.reserve or 0, self.reserve_now or 0)
        if self.paced:
            return (f"Budget policy adaptive: {kept:,} kept for the other integrations, so this load does not fit "
                    "in the window: its requests are spread over it (paced).")
        return f"Budget policy adaptive: {kept:,} kept for the other integrations; the load fits, not paced."


def estimate_load(client: AcceloClient, request: LoadRequest) -> LoadEstimate:
    """One `/count` request: how many rows match, before spending a page on them."""
    matching = client.count(request.resource, request.filters())
    stats = client.stats()
    return LoadEstimate(request, matching, client.settings.threads, stats.limit, stats.remaining, stats.reserve,
                        stats.policy, stats.reserve_now)


# -- loading ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadProgress:
    rows: int
    target_rows: int
    requests: int  # spent by this load so far, the /count included
    remaining: int | None  # what the server says is left this window
    note: str = ""  # e.g. a wait for the rate window

    def describe(self) -> str:
        left = "?" if self.remaining is None else f"{self.remaining:,}"
        text = f"{self.rows:,} / {self.target_rows:,} rows · {self.requests:,} requests · budget left {left}"
        return f"{text} · {self.note}" if self.note else text


@dataclass
class LoadResult:
    request: LoadRequest
    frame: pd.DataFrame
    matching: int
    requests: int  # pages fetched (the /count that estimated them not included)
    seconds: float
    problems: str = ""  # values that could not be converted (set to null), one line
    policy: str = "adaptive"  # budget_policy
    paced_s: float = 0.0  # held back to spread the load over the window
    yielded_s: float = 0.0  # held back to leave the other integrations their need
    others: str = ""  # what was seen of the other integrations, one phrase

    def budget_note(self) -> str:
        """What the load left to the other integrations, for the status line."""
        if self.policy == "fixed":
            return f"Budget policy fixed; {self.others}."
        return (f"Budget policy adaptive: {self.paced_s:.1f} s paced, {self.yielded_s:.1f} s yielded; "
                f"{self.others}.")

    @property
    def capped(self) -> bool:
        return len(self.frame) < self.matching


ProgressListener = Callable[[LoadProgress], None]


def load_frame(client: AcceloClient, request: LoadRequest, estimate: LoadEstimate | None = None,
               on_progress: ProgressListener | None = None, poll_s: float = 0.25) -> LoadResult:
    """Fetch what `request` asks for as a typed DataFrame, calling `on_progress` on the caller's thread.

    A capped load stops the scan once it has enough rows; which rows it keeps are those whose pages arrived first
    (the scan walks id ranges in parallel), sorted by id.
    """
    started = time.monotonic()
    before = client.stats()
    spent_before = before.requests
    estimate = estimate or estimate_load(client, request)
    spec = entity(request.resource)
    notes: queue.SimpleQueue[str] = queue.SimpleQueue()
    convert = RowConverter(spec.name, spec.column_types())
    records: list[dict[str, Any]] = []
    present: set[str] = set()
    note, shown_at = "", 0.0
    notices = WaitNotices()

    def waiting(seconds: float, reason: str) -> None:  # called on a scan worker: only enqueue
        message = notices.message(seconds, reason)
        if message is not None:
            notes.put(message)

    def show(paged: bool) -> None:  # on the caller's thread, after a page or while none comes
        nonlocal note, shown_at
        fresh = False
        while not notes.empty():
            note, fresh = notes.get_nowait(), True
        now = time.monotonic()
        if on_progress is not None and (fresh or (paged and now - shown_at >= PROGRESS_EVERY_S)):
            shown_at = now
            on_progress(_progress(client, records, estimate, spent_before, note))

    # The scan's own pool fetches; this thread converts and reports, and gets control back while no page comes
    # (`on_idle`), so a wait for the rate window is shown when it starts, not when it ends.
    stop_waiting = client.add_hook("wait", waiting)
    client.expect_requests(estimate.requests)  # fits: full speed; more than the window leaves: paced (adaptive)
    pages = client.iter_pages(request.resource, request.filters(), request.fields,
                              on_idle=lambda: show(False), idle_s=poll_s)
    try:
        for page in pages:
            for row in page.rows:
                present.update(row)
            records.extend(convert(row) for row in page.rows)
            show(True)
            if len(records) >= request.row_cap:
                break
    finally:
        close = getattr(pages, "close", None)  # the scan is a generator: closing it stops its workers
        if close is not None:
            close()
        stop_waiting()
        client.expect_requests(None)  # what this load did not spend is not owed by the next one
    records.sort(key=lambda r: r["id"])
    del records[request.row_cap:]
    columns = [c for c in spec.field_names if c in present] if records else list(spec.field_names)
    frame = to_frame(spec.name, records, columns)
    if on_progress is not None:
        on_progress(_progress(client, records, estimate, spent_before, ""))
    after = client.stats()
    others = others_seen(after.others_this_window, after.others_rate_per_s, after.limit, after.window_s,
                         when="so far in this window")
    return LoadResult(request, frame, estimate.matching, after.requests - spent_before, time.monotonic() - started,
                      convert.summary(), after.policy, after.paced_s - before.paced_s,
                      after.yielded_s - before.yielded_s, others)


def _progress(client: AcceloClient, records: list[Any], estimate: LoadEstimate, spent_before: int,
              note: str) -> LoadProgress:
    stats = client.stats()
    return LoadProgress(min(len(records), estimate.rows), estimate.rows, stats.requests - spent_before,
                        stats.remaining, note)
