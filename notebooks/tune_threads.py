# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # How many threads?
#
# Too few threads waste your time; too many spend the deployment's hourly budget (5,000 requests on Accelo, shared
# with every other integration) in a shorter burst, or run into the server's own limit on concurrent requests, and
# buy nothing. This notebook measures it: the same pages fetched with each thread count, throughput against
# threads, the knee, and the budget beside it. The recommendation is saved to `out/tuning.json`; `accelo-kit sync`
# and `plan`, `sync.ipynb` and `explore.ipynb` use it for the same target whenever `threads` is not given
# explicitly (an explicit value, on the command line or in `configuration.json`, always wins).
#
# - **No configuration** (`config_path` empty): the embedded accelo-kit **simulator**, SIMULATED data, with a
#   latency model (`sim_latency_ms`, at most `sim_workers` requests served at once). The tuner never reads those
#   settings: it sees only what comes back over HTTP, and should find the knee at `sim_workers`.
# - The experiment's cost is shown before it runs; it refuses to spend more than `max_budget_share` of the hour.
#
# The logic lives in `accelo_kit.notebook.tuning` (the sweep) and `accelo_kit.tuned` (the saved count); this
# notebook only lays it out.

# %% tags=["parameters"]
config_path: str = ""  # configuration.json of a real deployment; "env": ACCELO_* variables only; "": the simulator
thread_counts: str = "1,2,3,4,6,8,12,16"  # the thread counts to try
pages_per_trial: int = 48  # the same pages for every trial, so they compare
resource: str = "invoices"  # what to fetch (full pages of it)
max_budget_share: float = 0.1  # refuse a sweep that costs more than this share of the hourly limit
tuning_path: str = ""  # where to save the recommendation; "": out/tuning.json in the project
save: bool = True  # save the recommendation
sim_latency_ms: int = 150  # simulator only: the modelled latency of a request
sim_workers: int = 4  # simulator only: how many requests it serves at once (the knee to find)

# %%
import contextlib
import sys

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

import accelo_kit
from accelo_kit.config import config_source
from accelo_kit.notebook.tuning import SweepPlan, plot_sweep, run_sweep
from accelo_kit.runner import open_target
from accelo_kit.tuned import save_tuning, tuning_target

source = config_source(config_path)
simulate = source.simulate
stack = contextlib.ExitStack()
target = stack.enter_context(open_target(
    source.path, simulate,
    simulator_settings={"latency_ms": sim_latency_ms, "workers": sim_workers} if simulate else None))
print(f"accelo-kit {accelo_kit.__version__}, Python {sys.version.split()[0]}")
print(f"Target: {target.label}, budget policy {target.settings.budget_policy}")
if simulate:
    print(f"SIMULATED data: the embedded simulator, {sim_latency_ms} ms a request, {sim_workers} served at once.")

# %% [markdown]
# ## The experiment and its cost

# %%
plan = SweepPlan.parse(thread_counts, pages_per_trial=pages_per_trial, resource=resource,
                       max_budget_share=max_budget_share)
print(plan.describe())
plan.check()  # refuses here, before a single request, if it costs more than the allowed share

# %% [markdown]
# ## The sweep
#
# One `/count` finds which pages exist (and what the server says is left of the window: the sweep is refused if it
# would eat into the reserve); then each thread count fetches the same pages.

# %%
def report(trial):
    print(f"{trial.threads:>3} threads: {trial.pages_per_s:7.1f} pages/s, p50 {trial.p50_ms:4.0f} ms, "
          f"p95 {trial.p95_ms:4.0f} ms, {trial.retries} retries, {trial.throttled} 429s", flush=True)


result = run_sweep(target.settings, plan, target=tuning_target(target.settings, target.simulated),
                   label=target.label, on_trial=report)
stack.close()  # the simulator, if any, is no longer needed

# %% [markdown]
# ## Throughput against threads
#
# `budget lasts s`: how long the requests usable this window (remaining less the reserve kept for other
# integrations) last at each thread's rate. In the plot, the dash-dotted lines are the rate that would spend the
# usable budget exactly by the window's reset, and the rate the hourly limit sustains.

# %% tags=["table"]
table = pd.DataFrame(result.table()).set_index("threads")
display(table)

# %%
figure = plot_sweep(result)
plt.show()

# %% [markdown]
# ## Recommendation

# %% tags=["recommendation"]
print(f"Recommended: {result.recommendation.threads} threads. {result.recommendation.reason}")
if save:
    saved = save_tuning(result, tuning_path or None)
    print(f"Saved to {saved} for {result.target}: used there whenever threads is not given explicitly.")
