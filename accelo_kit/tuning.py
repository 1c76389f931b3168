"""How many threads to use: a measured sweep against the deployment, the budget arithmetic around it, a
recommendation, and `out/tuning.json`, which the CLI, the sync notebook and the explorer read when `threads` is not
given explicitly (explicit values always win, contract.md).

The sweep sees only what goes over HTTP: it fetches the same pages with 1, 2, 4 ... threads through the kit's own
client and times them. Nothing here knows whether the server is the simulator; against its latency model (at most
W requests served at once) the curve rises until W threads and is flat after, and the knee is found at W.

No pandas here: the runner imports this module for `with_saved_threads`, and the runner is on the CLI's path.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .client import AcceloClient
from .config import MAX_THREADS, Settings, read_configuration
from .entities import entity
from .errors import AcceloError, ConfigError
from .paths import out_dir

log = logging.getLogger(__name__)

TUNING_VERSION = 1
SIMULATOR_TARGET = "simulator"  # every simulated run shares one tuning, whatever its port
ACCELO_HOURLY_LIMIT = 5000  # accelo-api.md §5; the server's X-RateLimit-Limit replaces it once known
PAGE_SIZE = 100
NEAR_BEST = 0.9  # "within ~90% of the best": more threads past this buy little and spend the shared budget faster
DEFAULT_THREAD_COUNTS = (1, 2, 3, 4, 6, 8, 12, 16)
# 48 pages divide evenly among every default thread count; 8 × 48 + 1 = 385 requests, 7.7% of Accelo's 5,000/h,
# and about 30 s at 250 ms a request
DEFAULT_PAGES_PER_TRIAL = 48
DEFAULT_MAX_SHARE = 0.10


class SweepRefused(AcceloError):
    """The sweep would spend more of the hourly budget than allowed, or more than is left above the reserve."""


def default_tuning_path() -> Path:
    """out/tuning.json under the project root, or where ACCELO_KIT_TUNING points (tests keep theirs apart)."""
    override = os.environ.get("ACCELO_KIT_TUNING")
    return Path(override) if override else out_dir() / "tuning.json"


# -- the plan and its cost --------------------------------------------------------------------------------------
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
        return self.requests / (limit or ACCELO_HOURLY_LIMIT)

    def describe(self, limit: int | None = None) -> str:
        limit = limit or ACCELO_HOURLY_LIMIT
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


# -- measurements ------------------------------------------------------------------------------------------------
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


@dataclass(frozen=True)
class Recommendation:
    threads: int
    knee: int  # smallest thread count within NEAR_BEST of the best throughput, before any budget argument
    best: int  # the thread count with the highest throughput
    reason: str


@dataclass
class SweepResult:
    plan: SweepPlan
    trials: list[Trial]
    budget: BudgetView
    recommendation: Recommendation
    target: str
    label: str
    measured_at: str

    def table(self) -> list[dict[str, Any]]:
        """One row per thread count, for a DataFrame or a printed table."""
        return [{"threads": t.threads, "pages/s": round(t.pages_per_s, 2), "rows/s": round(t.rows_per_s),
                 "p50 ms": round(t.p50_ms), "p95 ms": round(t.p95_ms), "retries": t.retries, "429s": t.throttled,
                 "waited s": round(t.waited_s, 1), "seconds": round(t.seconds, 2),
                 "budget lasts s": _round_or_inf(self.budget.lasts_s(t.pages_per_s))}
                for t in self.trials]

    def format_table(self) -> str:
        rows = self.table()
        headers = list(rows[0])
        cells = [[str(r[h]) for h in headers] for r in rows]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": TUNING_VERSION,
            "threads": self.recommendation.threads,
            "target": self.target,
            "label": self.label,
            "measured_at": self.measured_at,
            "reason": self.recommendation.reason,
            "knee": self.recommendation.knee,
            "plan": {"thread_counts": list(self.plan.thread_counts), "pages_per_trial": self.plan.pages_per_trial,
                     "resource": self.plan.resource, "requests": self.plan.requests},
            "budget": dataclasses.asdict(self.budget),
            "trials": self.table(),
        }


def _round_or_inf(seconds: float) -> float | None:
    return None if math.isinf(seconds) else round(seconds)


# -- the recommendation ------------------------------------------------------------------------------------------
def recommend(trials: Sequence[Trial], budget: BudgetView | None = None) -> Recommendation:
    """The smallest thread count within ~90% of the best throughput, unless the budget argues lower.

    The budget argues lower when a thread count drew 429s or retries: the server's rate window or its own
    concurrency limit pushed back, so those threads only spend the shared budget on refused requests; the
    recommendation stays below the first thread count that was pushed back. Trials held back by the window
    (waits) are measured as they are: slower, so they never look best.
    """
    if not trials:
        raise ValueError("no trials to recommend from")
    ordered = sorted(trials, key=lambda t: t.threads)
    best_trial = max(ordered, key=lambda t: t.pages_per_s)
    knee_trial = next(t for t in ordered if t.pages_per_s >= NEAR_BEST * best_trial.pages_per_s)
    first_pushed = next((t for t in ordered if t.pushed_back), None)
    chosen, why = knee_trial, ""
    if first_pushed is not None and first_pushed.threads <= knee_trial.threads:
        calm = [t for t in ordered if t.threads < first_pushed.threads]
        if calm:
            calm_best = max(calm, key=lambda t: t.pages_per_s)
            chosen = next(t for t in calm if t.pages_per_s >= NEAR_BEST * calm_best.pages_per_s)
            why = (f"; {first_pushed.threads} threads already drew {first_pushed.throttled} 429s and "
                   f"{first_pushed.retries} retries, so the server pushed back and more threads would only spend "
                   f"the shared budget on refused requests")
    gain = (best_trial.pages_per_s / chosen.pages_per_s - 1) if chosen.pages_per_s else 0.0
    lasting = ""
    if budget is not None and chosen.pages_per_s > 0:
        lasting = (f"; at that rate the {budget.usable:,} requests usable this window last "
                   f"{_duration(budget.lasts_s(chosen.pages_per_s))}")
    if why:
        reason = f"{chosen.threads} threads ({chosen.pages_per_s:.1f} pages/s){why}{lasting}."
    elif chosen is best_trial:
        reason = (f"{chosen.threads} threads: the best throughput measured ({chosen.pages_per_s:.1f} pages/s), and "
                  f"fewer threads fell below {NEAR_BEST:.0%} of it{lasting}.")
    else:
        reason = (f"{chosen.threads} threads reach {chosen.pages_per_s:.1f} pages/s, within {gain:.0%} of the best "
                  f"({best_trial.pages_per_s:.1f} pages/s at {best_trial.threads}); more threads buy little and "
                  f"spend the shared hourly budget faster{lasting}.")
    return Recommendation(chosen.threads, knee_trial.threads, best_trial.threads, reason)


def _duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "indefinitely"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


# -- the sweep ---------------------------------------------------------------------------------------------------
TrialListener = Callable[[Trial], None]


def run_sweep(settings: Settings, plan: SweepPlan, *, target: str, label: str = "",
              on_trial: TrialListener | None = None) -> SweepResult:
    """Measure every thread count of `plan` on the same pages, through one client (one token, one budget).

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
        plan.check(stats.limit, stats.remaining, stats.reserve)
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
        budget = budget_view(client)
    return SweepResult(plan, trials, budget, recommend(trials, budget), target, label,
                       datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"))


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
    limit = stats.limit or ACCELO_HOURLY_LIMIT
    remaining = stats.remaining if stats.remaining is not None else limit
    reset_in = max(0.0, stats.reset - client.server_now()) if stats.reset is not None else 3600.0
    return BudgetView(limit, remaining, stats.reserve or 0, reset_in)


# -- plotting (matplotlib is imported only when asked) -----------------------------------------------------------
def plot_sweep(result: SweepResult) -> Any:
    """Throughput against threads with the knee and the recommendation marked and the budget's rates as reference
    lines; beside it, how long the usable budget lasts at each thread count. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    threads = [t.threads for t in result.trials]
    rates = [t.pages_per_s for t in result.trials]
    budget, rec = result.budget, result.recommendation
    fig, (ax, right) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    ax.plot(threads, rates, "o-", color="tab:blue", label="measured throughput")
    knee_rate = rates[threads.index(rec.knee)]
    ax.axvline(rec.knee, color="tab:orange", linestyle="--", label=f"knee: {rec.knee} threads")
    ax.plot([rec.threads], [rates[threads.index(rec.threads)]], marker="*", markersize=16, color="tab:red",
            linestyle="none", label=f"recommended: {rec.threads}")
    ax.axhline(NEAR_BEST * max(rates), color="grey", linestyle=":", linewidth=1,
               label=f"{NEAR_BEST:.0%} of the best")
    ax.axhline(budget.spend_rate, color="tab:purple", linestyle="-.", linewidth=1,
               label=f"spends the {budget.usable:,} usable requests by the reset ({budget.spend_rate:.1f}/s)")
    ax.axhline(budget.hourly_rate, color="tab:green", linestyle="-.", linewidth=1,
               label=f"sustainable: {budget.limit:,}/h = {budget.hourly_rate:.1f}/s")
    ax.annotate(f"{knee_rate:.1f} pages/s", (rec.knee, knee_rate), textcoords="offset points", xytext=(6, -14))
    ax.set_xlabel("threads")
    ax.set_ylabel("pages/s (× 100 = rows/s)")
    ax.set_xticks(threads)
    ax.set_ylim(bottom=0)
    ax.set_title("Throughput against threads", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    lasts_min = [budget.lasts_s(r) / 60 for r in rates]
    right.bar([str(t) for t in threads], lasts_min, color=["tab:red" if t == rec.threads else "tab:blue"
                                                           for t in threads])
    right.axhline(budget.reset_in_s / 60, color="tab:purple", linestyle="-.", linewidth=1,
                  label=f"window resets in {budget.reset_in_s / 60:.0f} min")
    right.set_xlabel("threads")
    right.set_ylabel("minutes the usable budget lasts")
    right.set_title(f"How long the {budget.usable:,} usable requests last\n(remaining {budget.remaining:,} − "
                    f"reserve {budget.reserve:,})", fontsize=10)
    right.legend(fontsize=8)
    fig.suptitle(result.label or result.target, fontsize=9)
    fig.tight_layout()
    return fig


# -- out/tuning.json ---------------------------------------------------------------------------------------------
def save_tuning(result: SweepResult, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the recommendation (and the table behind it) atomically: a reader never sees half a file."""
    file = Path(path) if path not in (None, "") else default_tuning_path()
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    partial.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    partial.replace(file)
    return file


def load_tuning(path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The saved tuning, or None if there is none or it is unusable (a broken file must not stop a sync)."""
    file = Path(path) if path not in (None, "") else default_tuning_path()
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        log.warning("ignoring %s: %s", file, err)
        return None
    threads = data.get("threads") if isinstance(data, dict) else None
    if not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= MAX_THREADS:
        log.warning("ignoring %s: no thread count from 1 to %d in it", file, MAX_THREADS)
        return None
    return data


def saved_threads(target: str | None = None, path: str | os.PathLike[str] | None = None) -> int | None:
    """The saved recommendation; with `target`, only if it was measured against that target (a count measured on
    the simulator says nothing about a real deployment, nor one deployment about another)."""
    data = load_tuning(path)
    if data is None or (target is not None and data.get("target") != target):
        return None
    return int(data["threads"])


def tuning_target(settings: Settings, simulated: bool) -> str:
    return SIMULATOR_TARGET if simulated else settings.target


def with_saved_threads(overrides: Mapping[str, Any], config_path: str | os.PathLike[str] | None = None,
                       simulate: bool = False, environ: Mapping[str, str] | None = None,
                       path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """`overrides` plus `threads` from the saved tuning for this target, unless threads were given explicitly (as
    an override or in the configuration file): explicit values always win."""
    result = dict(overrides)
    if result.get("threads") not in (None, ""):
        return result
    try:
        if not simulate and config_path not in (None, "") and \
                read_configuration(config_path).get("threads") not in (None, ""):
            return result
        target = SIMULATOR_TARGET if simulate else Settings.load(
            config_path or None, environ=os.environ if environ is None else environ, **result).target
    except ConfigError:
        return result  # the caller loads the settings again and reports the problem
    saved = saved_threads(target, path)
    if saved is not None:
        log.info("threads: %d, as tuned for %s (%s)", saved, target, path or default_tuning_path())
        result["threads"] = str(saved)
    return result
