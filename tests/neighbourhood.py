"""A sync beside the simulator's neighbours (issue 13), measured from the simulator's request log: the kit's 429s,
its counted requests per window and per tenth of a window, the neighbours' refusals, and the rows against the truth.

Shared by tests/sync/test_good_neighbour.py. Windows are counted on the simulator's clock, on the fixed grid of
`rate_window_s` (the grid the fixed limiter uses; in a rolling window it is one way to cut time into windows).
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from accelo_kit import AcceloClient, Settings
from accelo_kit.client import ClientStats
from accelo_kit.destinations.memory import MemoryDestination
from accelo_kit.sim import Simulator
from accelo_kit.sim.log import LogEntry
from accelo_kit.sync import SyncOptions, SyncReport, sync
from tests.helpers import assert_matches_truth

LIMIT, WINDOW_S = 60, 5.0  # a compressed deployment: 60 requests every 5 s
FLOOR = 6  # budget_reserve's default: a tenth of the limit
ALLOWANCE = LIMIT - FLOOR  # what the kit may spend in a window with nobody else
T = TypeVar("T")


def sizes(rows: int) -> dict[str, int]:
    """One big entity, the others a row each: the request count follows `rows` (one page per 100)."""
    return {"companies": rows, "invoices": 1, "payments": 1, "prospects": 1, "jobs": 1, "staff": 1}


def simulator(kind: str, rows: int, limit: int = LIMIT, window_s: float = WINDOW_S, **settings: Any) -> Simulator:
    return Simulator(sizes=sizes(rows), seed=3, rate_limit=limit, rate_window_s=window_s, rate_window=kind,
                     latency_ms=5, **settings)


def client_for(sim: Simulator, **overrides: Any) -> AcceloClient:
    values: dict[str, Any] = {**sim.configuration(), "threads": "8", "request_timeout": "5", **overrides}
    return AcceloClient(Settings.from_mapping({k: str(v) for k, v in values.items()}))


def at_window_start(sim: Simulator, within_s: float = 0.3) -> float:
    """Wait for the next window of the grid to begin (a run then starts at a known phase); the clock then."""
    window = sim.settings.rate_window_s
    while not 0.05 < sim.clock() % window < within_s:
        time.sleep(0.01)
    return sim.clock()


@dataclass
class Measured:
    """One run's figures, from the simulator's log (the truth) rather than from what the kit believes."""

    kind: str
    window_s: float
    started: float  # simulator clock
    ended: float
    kit: list[LogEntry]  # the kit's API requests, every status
    neighbours: dict[str, dict[str, Any]]
    reports: list[SyncReport] = field(default_factory=list)
    stats: list[ClientStats] = field(default_factory=list)

    @property
    def kit_429s(self) -> int:
        return sum(1 for e in self.kit if e.status == 429)

    def refused(self, name: str | None = None) -> int:
        """The neighbours' 429s (one neighbour's, or all)."""
        return sum(n["refused"] for key, n in self.neighbours.items() if name in (None, key))

    def neighbour_sent(self, name: str | None = None) -> int:
        return sum(n["sent"] for key, n in self.neighbours.items() if name in (None, key))

    def full_windows(self, since: float | None = None, until: float | None = None) -> list[int]:
        """The grid windows wholly inside the run (and inside [since, until] when given)."""
        lo, hi = max(self.started, since or -math.inf), min(self.ended, until or math.inf)
        first, last = math.ceil(lo / self.window_s), math.floor(hi / self.window_s) - 1
        return list(range(first, last + 1))

    def per_window(self, entries: Sequence[LogEntry] | None = None) -> collections.Counter[int]:
        """Counted requests per grid window."""
        return collections.Counter(math.floor(e.started / self.window_s)
                                   for e in (self.kit if entries is None else entries) if e.counted)

    def uses(self, windows: Sequence[int], entries: Sequence[LogEntry] | None = None) -> list[int]:
        counts = self.per_window(entries)
        return [counts[w] for w in windows]

    def tenths(self, window: int) -> list[int]:
        """The kit's counted requests in each tenth of one grid window."""
        counts = collections.Counter(math.floor(e.started / self.window_s * 10) for e in self.kit if e.counted)
        return [counts[window * 10 + i] for i in range(10)]

    def describe(self) -> str:
        windows = sorted(self.per_window())
        return (f"{self.kind}: {self.ended - self.started:.1f} s, kit 429s {self.kit_429s}, neighbours sent "
                f"{self.neighbour_sent()} refused {self.refused()}, kit per window "
                f"{[self.per_window()[w] for w in windows]}, full windows {self.full_windows()}")


def measure(sim: Simulator, started: float, ended: float, reports: Sequence[SyncReport] = (),
            stats: Sequence[ClientStats] = ()) -> Measured:
    kit = [e for e in sim.log.entries("/api/v0", neighbours=False) if started - 1 <= e.started]
    return Measured(sim.settings.rate_window, sim.settings.rate_window_s, started, ended, kit,
                    sim.neighbour_summary(), list(reports), list(stats))


def synced(sim: Simulator, before: Callable[[], None] | None = None, options: SyncOptions | None = None,
           **overrides: Any) -> tuple[Measured, MemoryDestination]:
    """One sync from a window's start (after `before`, which starts the neighbours), into memory."""
    destination = MemoryDestination()
    with client_for(sim, **overrides) as client:
        started = at_window_start(sim)
        if before is not None:
            before()
        report = sync(client, destination, options=options)
        ended = sim.clock()
        return measure(sim, started, ended, [report], [client.stats()]), destination


def assert_nothing_lost(destination: MemoryDestination, sim: Simulator) -> None:
    for name in sizes(0):
        assert_matches_truth(destination.tables.get(name, {}), sim, name)


def both(run: Callable[[str], T]) -> dict[str, T]:
    """The fixed and the rolling case at once, each against its own simulator: they mostly wait, so running them
    side by side halves the time without changing either (the machine has cores to spare for two)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {kind: pool.submit(run, kind) for kind in ("fixed", "rolling")}
        return {kind: future.result() for kind, future in futures.items()}
