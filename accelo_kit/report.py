"""Showing a sync to a person: tqdm bars while it runs (rows, requests, budget left, waits), a table at the end."""

from __future__ import annotations

import time
from typing import Any

from .sync.progress import SyncProgress, SyncReport
from .texttable import format_table


class TqdmProgress(SyncProgress):
    """One bar per entity. Waits for the rate window are announced above the bars, never silent."""

    def __init__(self, file: Any = None, disable: bool = False) -> None:
        self.file, self.disable = file, disable
        self.bars: dict[str, Any] = {}

    def waiting(self, seconds: float, reason: str) -> None:
        from tqdm.auto import tqdm

        until = _local_clock(time.time() + seconds)
        tqdm.write(f"waiting {seconds:.0f} s for the {reason} (until about {until})", file=self.file)

    def started(self, report: SyncReport) -> None:
        from tqdm.auto import tqdm

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
    if report.deferred_until is not None:
        when = _local_clock(report.deferred_until)
        out.append(f"STOPPED EARLY: the hourly budget is spent until about {when}; the next run carries on")
    out.extend(report.problems)
    out.extend(report.notes)
    return "\n".join(out)


def _local_clock(timestamp: float) -> str:
    """A time of day on this machine's clock: when a person at the terminal can expect a wait to end."""
    return time.strftime("%H:%M:%S", time.localtime(timestamp))
