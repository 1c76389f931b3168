"""A sync that SIGKILLs itself at a chosen point, for tests/chaos/test_crash_anywhere.py (run as a subprocess:
`python -m tests.chaos.killer CONFIG DB MODE N CHECKPOINT_EVERY`).

A real SIGKILL, not an exception: nothing is cleaned up, no `finally` runs, the DuckDB file is left as the kernel
leaves it. Points are counted in checkpoints that carry rows (a resumed run also checkpoints entities that have
nothing left to fetch, which moves nothing), so that N checkpoints into a run is about N × CHECKPOINT_EVERY pages
of progress wherever the run resumed. MODE says where:
- `page`: on the syncing thread after the N-th page with rows (between checkpoints, or on one);
- `before`: at the N-th checkpoint, before its rows and state are handed to the writer thread;
- `handed`: just after the N-th checkpoint is handed over, racing the writer's commit (either outcome is legal);
- `mid-commit`: in the writer thread, inside the N-th checkpoint's transaction: rows upserted, state written
  (unless the broken variant state_before_rows wrote it already), COMMIT not yet run;
- `after`: in the writer thread, just after the N-th checkpoint's COMMIT.
Exit status 5 means the run finished before the kill point (the caller asked for too late a point).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from accelo_kit.destinations.duckdb import DuckDBDestination
from accelo_kit.runner import run_sync
from accelo_kit.sync import SyncProgress, SyncReport
from tests.broken_variants import apply_from_env

MODES = ("page", "before", "handed", "mid-commit", "after")
NEVER_KILLED = 5


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _KillBeforeCommit:
    """Stands in for the connection during one `_commit`: every statement runs, except that COMMIT kills."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.strip().upper() == "COMMIT":
            die()
        return self._connection.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class CheckpointCounter:
    """Counts the destination's checkpoints, and which of them carry rows (numbers from 1, in the order the
    writer thread commits them: one writer, first in first out)."""

    def __init__(self) -> None:
        self.checkpoints = 0
        self.with_rows: list[int] = []
        self._rows_since = False

    def install(self, on_checkpoint: Any = None, on_handed: Any = None, on_commit: Any = None,
                on_committed: Any = None) -> None:
        """Wrap DuckDBDestination's write, checkpoint and _commit; each `on_*(row_checkpoint_number)` runs at its
        point for a checkpoint that carries rows."""
        write, checkpoint, commit = DuckDBDestination.write, DuckDBDestination.checkpoint, DuckDBDestination._commit
        counter = self
        commits = 0

        def counting_write(self: DuckDBDestination, entity: Any, rows: list[Any]) -> None:
            counter._rows_since = counter._rows_since or bool(rows)
            write(self, entity, rows)

        def counting_checkpoint(self: DuckDBDestination, state: Any) -> None:
            counter.checkpoints += 1
            carries = counter._rows_since
            counter._rows_since = False
            if carries:
                counter.with_rows.append(counter.checkpoints)
                if on_checkpoint:
                    on_checkpoint(len(counter.with_rows))
            checkpoint(self, state)
            if carries and on_handed:
                on_handed(len(counter.with_rows))

        def counting_commit(self: DuckDBDestination, *args: Any) -> None:
            nonlocal commits
            commits += 1
            number = counter.with_rows.index(commits) + 1 if commits in counter.with_rows else None
            if number and on_commit:
                on_commit(self, number)
            commit(self, *args)
            if number and on_committed:
                on_committed(number)

        DuckDBDestination.write = counting_write  # type: ignore[method-assign]
        DuckDBDestination.checkpoint = counting_checkpoint  # type: ignore[method-assign]
        DuckDBDestination._commit = counting_commit  # type: ignore[method-assign]


def arm(mode: str, n: int) -> SyncProgress:
    """Install the kill point; returns the progress hook to run the sync with."""

    def at(point: str) -> Any:
        return (lambda number: die() if mode == point and number == n else None)

    def in_transaction(destination: DuckDBDestination, number: int) -> None:
        if mode == "mid-commit" and number == n:
            destination.con = _KillBeforeCommit(destination.con)  # type: ignore[assignment]

    CheckpointCounter().install(on_checkpoint=at("before"), on_handed=at("handed"), on_commit=in_transaction,
                                on_committed=at("after"))

    class KillAtPage(SyncProgress):
        pages = 0

        def page(self, name: str, rows: int, report: SyncReport) -> None:
            self.pages += bool(rows)
            if mode == "page" and self.pages == n:
                die()

    return KillAtPage()


def main(argv: list[str]) -> int:
    apply_from_env()  # a broken variant the test process runs with breaks this process too
    config, db, mode, n, checkpoint_every = argv[1], argv[2], argv[3], int(argv[4]), int(argv[5])
    if mode not in MODES:
        raise SystemExit(f"mode must be one of {', '.join(MODES)}")
    progress = arm(mode, n)
    run_sync(config, db, threads=2, checkpoint_every=checkpoint_every, progress=progress)
    return NEVER_KILLED


if __name__ == "__main__":
    sys.exit(main(sys.argv))
