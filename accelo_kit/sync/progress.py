"""What a sync tells the code that shows it: the progress hooks and the report it returns."""

from __future__ import annotations

from dataclasses import dataclass, field


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

    @property
    def complete(self) -> bool:
        return self.deferred_until is None and all(e.complete for e in self.entities.values())

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

