"""What a sync tells the code that shows it: the progress hooks and the report it returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..budget import BudgetStats
from ..neighbours import HOUR_S


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
    budget_remaining: int | None = None  # what the server last said is left of the window (None: not yet known)
    budget_policy: str = "adaptive"
    expected_requests: int | None = None  # what the run told the budget it would take (adaptive policy)
    paced_s: float = 0.0  # of waited_s: spreading the run over the window
    yielded_s: float = 0.0  # of waited_s: leaving the other integrations their need
    # the other integrations as the budget saw them at the end of the run (None: the headers never told)
    others_seen: int | None = None  # their requests in the last window seen (the current one, or the one before)
    others_rate_per_s: float | None = None
    rate_limit: int | None = None  # requests a window, as the server said
    window_s: float = HOUR_S

    @property
    def complete(self) -> bool:
        return self.deferred_until is None and all(e.complete for e in self.entities.values())

    def note_others(self, stats: BudgetStats) -> None:
        """What the budget saw of the other integrations by the end of the run, for `budget_line`."""
        self.others_seen = stats.others_previous_window if stats.others_this_window is None \
            else stats.others_this_window
        self.others_rate_per_s, self.rate_limit, self.window_s = stats.others_rate_per_s, stats.limit, stats.window_s

    def budget_line(self) -> str:
        """What the run left to the other integrations, in one line (the CLI's summary, the notebooks, Fivetran's
        log): the policy, the time it spent pacing and yielding, and what it saw of the others."""
        if self.budget_policy == "fixed":
            text = "budget policy fixed: only budget_reserve was kept for the other integrations, no pacing"
        else:
            expected = "" if self.expected_requests is None else f"; {self.expected_requests:,} requests expected"
            text = (f"budget policy adaptive{expected}; {self.paced_s:.1f} s paced (spreading the run over the "
                    f"window), {self.yielded_s:.1f} s yielded to the other integrations")
        return f"{text}; {others_seen(self.others_seen, self.others_rate_per_s, self.rate_limit, self.window_s)}"

    def totals(self) -> str:
        """The run in one line, as the CLI's summary and the Fivetran log both say it."""
        rows = sum(e.rows for e in self.entities.values())
        return (f"{rows} rows, {self.requests} requests ({self.retries} retries, {self.throttled} rate-limited, "
                f"{self.waited_s:.1f} s waiting for the budget) in {self.seconds:.1f} s")


class SyncProgress:
    """Hooks for progress display; the defaults do nothing. Called on the syncing thread, except `waiting`, which
    comes from whichever thread is about to wait for the rate window."""

    def started(self, report: SyncReport) -> None: ...

    def page(self, name: str, rows: int, report: SyncReport) -> None: ...

    def waiting(self, seconds: float, reason: str) -> None:
        """The run waits `seconds` for `reason` (e.g. "rate window"): say so, so that a wait is never silent."""

    def finished(self, report: SyncReport) -> None: ...



def window_name(window_s: float) -> str:
    """"hour" for Accelo's window, "60-s window" for a simulator's compressed one."""
    return "hour" if window_s == HOUR_S else f"{window_s:g}-s window"


def others_seen(requests: int | None, rate_per_s: float | None, limit: int | None,
                window_s: float = HOUR_S, when: str = "in the last window seen") -> str:
    """The other integrations' use as one phrase: their requests in a window (`when`), their rate, and what a
    whole window at that rate is of the limit."""
    if requests is None:
        return "the other integrations: not known yet (no rate-limit headers seen)"
    text = f"the other integrations: {requests:,} requests {when}"
    if rate_per_s:
        per_window = rate_per_s * window_s
        share = f", {per_window / limit:.0%} of the limit" if limit else ""
        text += f" ({rate_per_s:.2f}/s: about {per_window:,.0f} a {window_name(window_s)}{share})"
    return text


NOTICE_EVERY_S = 60.0  # pacing and yielding are told at most this often (per reason), a spent window every time


class WaitNotices:
    """What to tell a person about a budget wait, by reason ("rate limit window", "pacing", "others' share";
    docs/reliability.md, A good neighbour). A paced run holds nearly every request a little, so pacing and yielding
    are told once per reason every NOTICE_EVERY_S; a wait for a spent window is told every time."""

    def __init__(self, every_s: float = NOTICE_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s, self._clock = every_s, clock
        self._told: dict[str, float] = {}
        self._lock = threading.Lock()  # waits are told from the scan's workers

    def message(self, seconds: float, reason: str) -> str | None:
        """The line to show for this wait, or None when the same kind of wait was told a moment ago."""
        if reason in ("pacing", "others' share"):
            with self._lock:
                now = self._clock()
                if reason in self._told and now - self._told[reason] < self.every_s:
                    return None
                self._told[reason] = now
        return wait_message(seconds, reason)


def wait_message(seconds: float, reason: str) -> str:
    if reason == "pacing":
        return ("pacing: the work left does not fit in this rate window, so its requests are spread over the window "
                "instead of sent in a burst, leaving the other integrations their share")
    if reason == "others' share":
        return f"waiting {seconds:.0f} s to leave the other integrations their share of the rate window"
    return f"waiting {seconds:.0f} s for the {reason}"
