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
# # Explore Accelo as DataFrames
#
# Pick a resource, narrow it down, click **Load**: you get a typed pandas DataFrame (nullable integers with linked
# ids as integers, exact `Decimal` money, timezone-aware UTC datetimes, booleans, strings), a short profile and a
# plot. Load a second resource to join the two by id (e.g. invoices with their companies).
#
# - **No configuration** (`config_path` empty): the embedded accelo-kit **simulator** starts in this kernel and
#   serves SIMULATED data. Give a `configuration.json` path (or `"env"` for the `ACCELO_*` variables) to talk to a
#   real deployment. Secrets are never parameters.
# - Every Load costs requests from the deployment's shared hourly budget (5,000 on Accelo): the cost is counted
#   first (one `/count` request) and stated before loading; a large load waits for a second click. The budget
#   policy (`budget_policy` in the configuration, `adaptive` by default) leaves the deployment's other integrations
#   what they are seen to need, and spreads a load that does not fit in the window over it.
# - `threads` 0 uses the configuration's value, or the count `tune_threads.ipynb` saved in `out/tuning.json`.
#
# All the logic lives in `accelo_kit.notebook.explore` and `accelo_kit.notebook.frames`; this notebook only lays
# it out.

# %% tags=["parameters"]
config_path: str = ""  # configuration.json of a real deployment; "env": ACCELO_* variables only; "": the simulator
autoload: str = ""  # a resource to load without clicking (headless runs), e.g. "invoices"; "": none
join_with: str = ""  # with autoload: a second resource to load and join to it, e.g. "companies"
row_cap: int = 10000  # at most this many rows per load
threads: int = 0  # requests in flight; 0: the configuration's, or the saved tuning

# %%
import sys

from IPython.display import display

import accelo_kit
from accelo_kit.notebook.explore import Explorer, suggest_join

explorer = Explorer.connect(config_path, threads, row_cap=row_cap, resource=autoload or "companies")
print(f"accelo-kit {accelo_kit.__version__}, Python {sys.version.split()[0]}")
print(f"Source: {explorer.label}, {explorer.client.settings.threads} threads, "
      f"budget policy {explorer.client.settings.budget_policy}")
if explorer.simulated:
    print("SIMULATED data from the embedded accelo-kit simulator, not a real Accelo deployment.")

# %% [markdown]
# ## Load
#
# Choose the resource, all fields or Accelo's defaults, a date range (on `date_modified`; payments:
# `date_created`; staff have no dates), a standing and a row cap, then click **Load**. The bar shows rows, requests
# spent and the budget left; waits for the rate window are announced in the status line.

# %%
display(explorer.widget)

# %% [markdown]
# ## Loaded without clicking (`autoload`)
#
# The same path as the Load button, shown here so that a headless run (papermill) keeps the DataFrame, its profile
# and the plot in the executed notebook. In JupyterLab, use the widgets above instead.

# %%
if autoload:
    result = explorer.load(autoload)
    if result is None:
        raise RuntimeError(f"loading {autoload} failed: {explorer.error}")
    explorer.show(result)
    frame = result.frame
    print(f"loaded {autoload}: {frame.shape[0]} rows x {frame.shape[1]} columns in {result.seconds:.1f} s, "
          f"{result.requests} requests")

# %%
if autoload and join_with:
    if explorer.load(join_with) is None:
        raise RuntimeError(f"loading {join_with} failed: {explorer.error}")
    on = suggest_join(autoload, join_with, explorer.frames[autoload])
    if on is None:
        raise ValueError(f"no known link from {autoload} to {join_with}; pick one with the Join widgets")
    joined = explorer.join(autoload, on, join_with, show=True)
    print(joined.describe())
