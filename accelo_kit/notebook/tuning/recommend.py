"""The recommendation: the smallest thread count within ~90% of the best throughput, unless the server's pushback
argues lower, and the sweep's result that carries it (the table and what `out/tuning.json` holds, saved through
`accelo_kit.tuned`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ...config import Settings
from ...texttable import format_table
from ...tuned import TUNING_VERSION
from .sweep import BudgetView, SweepPlan, Trial, TrialListener, measure

NEAR_BEST = 0.9  # "within ~90% of the best": more threads past this buy little and spend the shared budget faster


@dataclass(frozen=True)
class Recommendation:
    threads: int
    knee: int  # smallest thread count within NEAR_BEST of the best throughput, before any budget argument
    best: int  # the thread count with the highest throughput
    reason: str


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
        return format_table(self.table())

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


# -- the sweep, measured and recommended ---------------------------------------------------------------------
def run_sweep(settings: Settings, plan: SweepPlan, *, target: str, label: str = "",
              on_trial: TrialListener | None = None) -> SweepResult:
    """Measure every thread count of `plan` (`sweep.measure`), then recommend one; `target` is what the result is
    saved for (`accelo_kit.tuned.tuning_target`)."""
    trials, budget = measure(settings, plan, on_trial)
    return SweepResult(plan, trials, budget, recommend(trials, budget), target, label,
                       datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"))
