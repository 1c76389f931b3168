"""Showing a sync to a person: tqdm bars while it runs (rows, requests, budget left, waits, what was left to the
other integrations), a table at the end."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

from .sync.progress import SyncProgress, SyncReport, WaitNotices
from .texttable import format_table

HELD_FOR = {"pacing": "paced", "others' share": "yielded"}  # a wait's reason → its name on the bars


class TqdmProgress(SyncProgress):
    """One bar per entity. Waits for the rate window are announced above the bars, never silent; pacing and
    yielding to the other integrations are announced once in a while and their seconds shown on the bars."""

    def __init__(self, file: Any = None, disable: bool = False) -> None:
        self.file, self.disable = file, disable
        self.bars: dict[str, Any] = {}
        self.notices = WaitNotices()
        self.held: defaultdict[str, float] = defaultdict(float)  # seconds announced: paced, yielded
        self._lock = threading.Lock()  # waits come from the scan's workers

    def waiting(self, seconds: float, reason: str) -> None:
        from tqdm.auto import tqdm

        with self._lock:
            if reason in HELD_FOR:
                self.held[HELD_FOR[reason]] += seconds
            message = self.notices.message(seconds, reason)
        if message is None:
            return
        if reason not in HELD_FOR:
            message += f" (until about {_local_clock(time.time() + seconds)})"
        tqdm.write(message, file=self.file)

    def started(self, report: SyncReport) -> None:
        from tqdm.auto import tqdm

        if not self.disable:
            tqdm.write(_policy_intro(report), file=self.file)
        width = max(len(name) for name in report.entities)
        for position, (name, entry) in enumerate(report.entities.items()):
            self.bars[name] = tqdm(desc=f"{name:<{width}} {entry.window:<14}", unit=" rows", position=position,
                                   file=self.file, disable=self.disable, leave=True, dynamic_ncols=True)

    def page(self, name: str, rows: int, report: SyncReport) -> None:
        bar = self.bars.get(name)
        if bar is None:
            return
        bar.update(rows)
        entry = report.entities[name]
        postfix: dict[str, Any] = {"pages": entry.pages}
        postfix["budget left"] = "?" if report.budget_remaining is None else report.budget_remaining
        with self._lock:
            postfix.update({name: f"{seconds:.0f}s" for name, seconds in self.held.items() if seconds >= 1})
        bar.set_postfix(postfix, refresh=False)
        if entry.complete:
            bar.set_postfix({**postfix, "done": f"{entry.seconds:.1f}s"})

    def finished(self, report: SyncReport) -> None:
        for bar in self.bars.values():
            bar.close()


def summary_rows(report: SyncReport) -> list[dict[str, Any]]:
    rows = [{"entity": e.name, "window": e.window, "rows": e.rows, "requests": e.pages + e.id_pages,
             "seconds": round(e.seconds, 2), "complete": e.complete} for e in report.entities.values()]
    if any(e.deleted is not None for e in report.entities.values()):
        for row, entry in zip(rows, report.entities.values(), strict=True):
            row["deleted"] = "-" if entry.deleted is None else entry.deleted
    return rows


def format_summary(report: SyncReport, where: str = "") -> str:
    """The table a person reads after a sync: a line per entity, the totals, and what stopped or was skipped."""
    rows = summary_rows(report)
    out = [format_table(rows, list(rows[0]) if rows else ["entity"], left_headers=True, strip=False)]
    out.append(report.totals() + (f" into {where}" if where else ""))
    out.append(report.budget_line())
    if report.deferred_until is not None:
        when = _local_clock(report.deferred_until)
        out.append(f"STOPPED EARLY: the hourly budget is spent until about {when}; the next run carries on")
    out.extend(report.problems)
    out.extend(report.notes)
    return "\n".join(out)


def _policy_intro(report: SyncReport) -> str:
    """The line above the bars: which budget policy the run follows (docs/reliability.md, A good neighbour)."""
    if report.budget_policy == "fixed":
        return "budget policy fixed: keeping only budget_reserve for the other integrations"
    expected = "" if report.expected_requests is None else f"; this run expects about {report.expected_requests:,} " \
        "requests"
    return (f"budget policy adaptive: keeping for the other integrations what they are seen to need, and pacing only "
            f"if the run does not fit in the rate window{expected}")


def _local_clock(timestamp: float) -> str:
    """A time of day on this machine's clock: when a person at the terminal can expect a wait to end."""
    return time.strftime("%H:%M:%S", time.localtime(timestamp))
