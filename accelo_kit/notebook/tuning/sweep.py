"""The sweep: what it will fetch and cost (`SweepPlan`, known before a single request), and the measurement — the
same pages fetched with 1, 2, 4 ... threads through the kit's own client, timed.

The sweep sees only what goes over HTTP. Nothing here knows whether the server is the simulator; against its latency
model (at most W requests served at once) the curve rises until W threads and is flat after, and the knee is found
at W (`recommend`). No pandas here; matplotlib only in `plot`.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ...budget import HOURLY_LIMIT, BudgetStats
from ...client import AcceloClient
from ...config import MAX_THREADS, Settings
from ...entities import entity
from ...errors import AcceloError
from ...paging import PAGE_SIZE

DEFAULT_THREAD_COUNTS = (1, 2, 3, 4, 6, 8, 12, 16)
# 48 pages divide evenly among every default thread count; 8 × 48 + 1 = 385 requests, 7.7% of Accelo's 5,000/h,
# and about 30 s at 250 ms a request
DEFAULT_PAGES_PER_TRIAL = 48
DEFAULT_MAX_SHARE = 0.10


# -- the plan and its cost --------------------------------------------------------------------------------------
class SweepRefused(AcceloError):
    """The sweep would spend more of the hourly budget than allowed, or more than is left above the reserve."""


@dataclass(frozen=True)
class SweepPlan:
    """What the experiment will fetch and what it costs, known before a single request is made."""

    thread_counts: tuple[int, ...] = DEFAULT_THREAD_COUNTS
    pages_per_trial: int = DEFAULT_PAGES_PER_TRIAL
    resource: str = "invoices"
    max_budget_share: float = DEFAULT_MAX_SHARE

    def __post_init__(self) -> None:
        entity(self.resource)  # KeyError naming the known ones
        counts = tuple(sorted(set(int(t) for t in self.thread_counts)))
        if not counts or counts[0] < 1 or counts[-1] > MAX_THREADS:
            raise ValueError(f"thread counts must be 1..{MAX_THREADS}, got {self.thread_counts!r}")
        if self.pages_per_trial < 1:
            raise ValueError("pages_per_trial must be at least 1")
        if not 0 < self.max_budget_share <= 1:
            raise ValueError("max_budget_share is a fraction of the hourly limit, e.g. 0.1")
        object.__setattr__(self, "thread_counts", counts)

    @classmethod
    def parse(cls, thread_counts: str | Iterable[int], **kwargs: Any) -> SweepPlan:
        """`"1,2,4,8"` (a papermill or CLI parameter) or any iterable of ints."""
        if isinstance(thread_counts, str):
            thread_counts = [int(t) for t in thread_counts.replace(" ", "").split(",") if t]
        return cls(tuple(thread_counts), **kwargs)

    @property
    def requests(self) -> int:
        """Every trial fetches `pages_per_trial` pages; one `/count` first finds which pages exist."""
        return len(self.thread_counts) * self.pages_per_trial + 1

    def share(self, limit: int | None = None) -> float:
        return self.requests / (limit or HOURLY_LIMIT)

    def describe(self, limit: int | None = None) -> str:
        limit = limit or HOURLY_LIMIT
        return (f"{len(self.thread_counts)} trials ({', '.join(map(str, self.thread_counts))} threads) × "
                f"{self.pages_per_trial} pages of {self.resource} + 1 count = {self.requests} requests, "
                f"{self.share(limit):.1%} of the hourly {limit:,} (allowed: {self.max_budget_share:.0%})")

    def check(self, limit: int | None = None, remaining: int | None = None, reserve: int | None = None) -> None:
        """Refuse, before spending, a sweep that costs more than the allowed share or than what is left."""
        if self.share(limit) > self.max_budget_share:
            raise SweepRefused(f"refusing to run: {self.describe(limit)}; use fewer thread counts or pages, or "
                               f"raise max_budget_share")
        if remaining is not None and self.requests - 1 > remaining - (reserve or 0):
            raise SweepRefused(f"refusing to run: the sweep needs {self.requests - 1} more requests but only "
                               f"{remaining} remain in this window (reserve {reserve or 0} kept for other "
                               f"integrations); try after the reset")


# -- measurements -----------------------------------------------------------------------------------------------
@dataclass
class Trial:
    threads: int
    pages: int
    rows: int
    seconds: float
    latencies_s: list[float] = field(repr=False)
    retries: int = 0
    throttled: int = 0  # 429s
    waited_s: float = 0.0  # held back by the budget (the window was spent)

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def p50_ms(self) -> float:
        return 1000 * percentile(self.latencies_s, 50)

    @property
    def p95_ms(self) -> float:
        return 1000 * percentile(self.latencies_s, 95)

    @property
    def pushed_back(self) -> bool:
        """The server refused or failed requests at this concurrency, or the budget held them back."""
        return bool(self.retries or self.throttled)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: no interpolation, so p95 of 48 latencies is a latency that happened."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class BudgetView:
    """What the server said about the window after the sweep."""

    limit: int
    remaining: int
    reserve: int
    reset_in_s: float  # until the window resets, on the server's clock

    @property
    def usable(self) -> int:
        return max(0, self.remaining - self.reserve)

    @property
    def spend_rate(self) -> float:
        """Pages/s that would spend exactly what is usable by the reset: faster than this, a long job waits."""
        return self.usable / self.reset_in_s if self.reset_in_s > 0 else float("inf")

    @property
    def hourly_rate(self) -> float:
        """The sustained rate the limit allows over a whole window (5,000/h ≈ 1.4 pages/s)."""
        return self.limit / 3600

    def lasts_s(self, pages_per_s: float) -> float:
        """How long the usable budget lasts at this rate."""
        return self.usable / pages_per_s if pages_per_s > 0 else float("inf")


# -- the measurement --------------------------------------------------------------------------------------------
TrialListener = Callable[[Trial], None]


def measure(settings: Settings, plan: SweepPlan,
            on_trial: TrialListener | None = None) -> tuple[list[Trial], BudgetView]:
    """Measure every thread count of `plan` on the same pages, through one client (one token, one budget); then
    what the server says is left of the window.

    The client allows as many requests in flight as the largest trial; each trial bounds its own concurrency.
    Raises SweepRefused before the sweep's pages if the budget does not allow it (one `/count` is spent).
    """
    plan.check()  # against Accelo's documented limit, before any request
    settings = dataclasses.replace(settings, threads=max(plan.thread_counts))
    with AcceloClient(settings) as client:
        rows = client.count(plan.resource)
        if rows == 0:
            raise SweepRefused(f"{plan.resource} has no rows to fetch; choose another resource")
        stats = client.stats()
        plan.check(stats.limit, stats.remaining, _kept(stats))
        client.expect_requests(plan.requests - 1)  # it fits (checked): the adaptive budget policy does not pace it
        # `_page` offsets, unlike the sync's keyset scan: the sweep measures speed, not completeness, and fixed page
        # numbers give every trial the same work. Only full pages, so every trial moves the same rows.
        full_pages = max(1, rows // PAGE_SIZE)
        pages = [k % full_pages for k in range(plan.pages_per_trial)]
        fields = entity(plan.resource).fields_param
        trials = []
        with ThreadPoolExecutor(max_workers=max(plan.thread_counts), thread_name_prefix="accelo-tune") as pool:
            for threads in plan.thread_counts:
                trial = _trial(client, pool, plan.resource, fields, pages, threads)
                trials.append(trial)
                if on_trial is not None:
                    on_trial(trial)
        return trials, budget_view(client)


def _trial(client: AcceloClient, pool: ThreadPoolExecutor, resource: str, fields: str, pages: list[int],
           threads: int) -> Trial:
    """`threads` drainers share one queue of page numbers; the pool's threads (and their connections) are reused
    from trial to trial, so no trial pays for connecting more than the first did."""
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for page in pages:
        todo.put(page)
    latencies: list[float] = []
    rows = [0]
    lock = threading.Lock()

    def drain() -> None:
        while True:
            try:
                page = todo.get_nowait()
            except queue.Empty:
                return
            started = time.perf_counter()
            got = client.get(resource, {"_limit": str(PAGE_SIZE), "_page": str(page), "_fields": fields})
            took = time.perf_counter() - started
            with lock:
                latencies.append(took)
                rows[0] += len(got) if isinstance(got, list) else 0

    before = client.stats()
    started = time.perf_counter()
    for future in [pool.submit(drain) for _ in range(threads)]:
        future.result()
    seconds = time.perf_counter() - started
    after = client.stats()
    return Trial(threads, len(pages), rows[0], seconds, latencies, after.retries - before.retries,
                 after.throttled - before.throttled, after.waited_s - before.waited_s)


def budget_view(client: AcceloClient) -> BudgetView:
    stats = client.stats()
    limit = stats.limit or HOURLY_LIMIT
    remaining = stats.remaining if stats.remaining is not None else limit
    reset_in = max(0.0, stats.reset - client.server_now()) if stats.reset is not None else 3600.0
    return BudgetView(limit, remaining, _kept(stats), reset_in)


def _kept(stats: BudgetStats) -> int:
    """What the budget keeps for the other integrations now: budget_reserve, or (adaptive policy) their observed
    need until the reset when that is more (docs/reliability.md, A good neighbour)."""
    return max(stats.reserve or 0, stats.reserve_now or 0)
