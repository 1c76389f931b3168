"""How many threads to use: a measured sweep (`sweep`), its recommendation (`recommend`) and its figure (`plot`),
for notebooks/tune_threads.ipynb. Saving and reading the answer, and when it applies, is `accelo_kit.tuned`."""

from .plot import plot_sweep
from .recommend import NEAR_BEST, Recommendation, SweepResult, recommend, run_sweep
from .sweep import (
    DEFAULT_MAX_SHARE,
    DEFAULT_PAGES_PER_TRIAL,
    DEFAULT_THREAD_COUNTS,
    BudgetView,
    SweepPlan,
    SweepRefused,
    Trial,
    TrialListener,
    budget_view,
    measure,
    percentile,
)

__all__ = [
    "DEFAULT_MAX_SHARE",
    "DEFAULT_PAGES_PER_TRIAL",
    "DEFAULT_THREAD_COUNTS",
    "NEAR_BEST",
    "BudgetView",
    "Recommendation",
    "SweepPlan",
    "SweepRefused",
    "SweepResult",
    "Trial",
    "TrialListener",
    "budget_view",
    "measure",
    "percentile",
    "plot_sweep",
    "recommend",
    "run_sweep",
]
