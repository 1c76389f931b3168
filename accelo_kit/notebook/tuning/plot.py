"""The sweep's figure: throughput against threads with the knee and the recommendation marked, the budget's rates
as reference lines, and how long the usable budget lasts at each thread count."""

from __future__ import annotations

from typing import Any

from .recommend import NEAR_BEST, SweepResult


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
