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
# # Sync Accelo into DuckDB
#
# The scheduled job of accelo-kit: an incremental sync of an Accelo deployment into a local DuckDB file. Run it by
# hand, or schedule it with papermill (cron, Airflow's `PapermillOperator`); the executed notebook is the run's record,
# and papermill marks the run failed when the sync fails or stops early.
#
# ```sh
# papermill notebooks/sync.ipynb out/sync-$(date +%F).ipynb -k python3 -p config_path /etc/accelo/configuration.json
# ```
#
# This notebook holds no sync logic: it calls `accelo_kit.runner.run_sync`, the same call `accelo-kit sync` makes.
# **Secrets are never parameters** (papermill writes parameters into the executed notebook): give a
# `configuration.json` path, or put the credentials in `ACCELO_*` environment variables.

# %% tags=["parameters"]
config_path: str = ""  # configuration.json of a real deployment; "env": ACCELO_* variables only; "": the simulator
db_path: str = ""  # DuckDB file to sync into; "": out/accelo.duckdb in the project
entities: str = ""  # comma list, e.g. "companies,jobs"; "": all six
threads: int = 0  # requests in flight; 0: the configuration's (default 8)
full_refresh: bool = False  # ignore the saved cursors and fetch everything again
overlap_seconds: int = -1  # how far each window reaches back before the cursor; -1: the configuration's (300)
budget_policy: str = ""  # "adaptive" or "fixed" (docs/reliability.md, A good neighbour); "": the configuration's

# %%
import sys

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

import accelo_kit
from accelo_kit.config import config_source
from accelo_kit.report import TqdmProgress, format_summary, summary_rows
from accelo_kit.runner import run_sync

source = config_source(config_path)
simulate = source.simulate
print(f"accelo-kit {accelo_kit.__version__}, Python {sys.version.split()[0]} at {sys.executable}")
if simulate:
    print("Source: the embedded accelo-kit SIMULATOR. SIMULATED data, not a real Accelo deployment.")

# %% [markdown]
# ## Sync
#
# One bar per entity (rows, requests, budget left, seconds paced or yielded to the other integrations); the budget
# policy and waits for the hourly rate window are announced above the bars.
# A failure raises here, with the entity and the reason; nothing after the last checkpoint is committed, and the
# next run resumes from it.

# %%
report, db, target = run_sync(
    source.path,
    db_path.strip() or None,
    simulate=simulate,
    entities=entities,
    threads=threads or None,
    full_refresh=full_refresh,
    overlap_seconds=None if overlap_seconds < 0 else overlap_seconds,
    budget_policy=budget_policy.strip() or None,
    progress=TqdmProgress(),
)

# %% [markdown]
# ## Summary

# %% tags=["summary"]
print(f"Source:   {target.label}")
print(f"Database: {db}")
print(format_summary(report))
summary = pd.DataFrame(summary_rows(report)).set_index("entity")
display(summary)

# %%
ax = summary["rows"].plot.barh(figsize=(6, 0.4 * len(summary) + 1), color="tab:blue")
ax.invert_yaxis()
ax.set_xlabel("rows upserted this run")
ax.set_ylabel("")
ax.set_title("Rows per entity" + (" (SIMULATED data)" if target.simulated else ""))
for bar, rows in zip(ax.patches, summary["rows"], strict=True):
    ax.annotate(f" {rows:,}", (bar.get_width(), bar.get_y() + bar.get_height() / 2), va="center")
plt.show()

# %% [markdown]
# A run that stopped early (the hourly budget is spent) fails here, so the scheduler notices; the next run carries
# on from its checkpoint.

# %%
if not report.complete:
    raise RuntimeError("the sync stopped early; the next run carries on from its checkpoint\n" + format_summary(report))
