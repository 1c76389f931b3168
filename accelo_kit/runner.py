"""One call that runs a sync the way the CLI and the papermill notebook both do: settings, an optional embedded
simulator, the DuckDB destination, the client, the report. Neither shell holds any logic of its own."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .client import AcceloClient
from .config import Settings
from .paths import default_db, resolve
from .sync import SyncOptions, SyncProgress, SyncReport, sync
from .tuned import with_saved_threads

log = logging.getLogger(__name__)
SIMULATOR_SEED = 1


@dataclass
class Target:
    settings: Settings
    simulated: bool
    label: str  # what a person reads: the deployment, or that this is the simulator
    state_target: str | None  # what the sync state records (None: the settings' own)


@contextlib.contextmanager
def open_target(config_path: str | Path | None = None, simulate: bool = False,
                overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
                simulator_settings: Mapping[str, Any] | None = None) -> Iterator[Target]:
    """Settings for a real deployment (configuration file + ACCELO_* environment), or an embedded simulator.

    Simulated syncs record `simulator:seed=N` as their target, so a database filled from the simulator is never
    mistaken for, or mixed with, a real deployment's data.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v not in (None, "")}
    overrides = with_saved_threads(overrides, config_path, simulate, environ)  # out/tuning.json, unless explicit
    if not simulate:
        settings = Settings.load(config_path or None, environ=os.environ if environ is None else environ,
                                 **overrides)
        yield Target(settings, False, settings.deployment or settings.base_url or "", None)
        return
    from .sim import Simulator

    sim_options = {"seed": SIMULATOR_SEED, **(simulator_settings or {})}
    with Simulator(**sim_options) as sim:
        settings = Settings.load(None, environ={}, **sim.configuration(), **overrides)
        seed = sim.settings.seed
        yield Target(settings, True, f"SIMULATED Accelo deployment (accelo-kit simulator, seed {seed}) at "
                                     f"{sim.base_url}", f"simulator:seed={seed}")


def run_sync(config_path: str | Path | None = None, db_path: str | Path | None = None, *,
             simulate: bool = False, entities: Sequence[str] | str | None = None, threads: int | None = None,
             full_refresh: bool = False, overlap_seconds: int | None = None,
             checkpoint_every: int | None = None, payments_full_pass_hours: float | None = None,
             reconcile_deletes: bool | None = None, reconcile_every_days: float | None = None,
             progress: SyncProgress | None = None, budget_policy: str | None = None,
             simulator_settings: Mapping[str, Any] | None = None) -> tuple[SyncReport, Path, Target]:
    """Sync into DuckDB. Raises ConfigError, DatabaseBusy, StateError or SyncError with a clear message.
    `threads`, `overlap_seconds` and `budget_policy` override the configuration's keys when given."""
    from .destinations.duckdb import DuckDBDestination  # duckdb and pandas come with the notebooks extra

    if isinstance(entities, str):
        entities = [e for e in (x.strip() for x in entities.split(",")) if e]
    overrides = {"entities": ",".join(entities) if entities else None,
                 "threads": str(threads) if threads else None,
                 "overlap_seconds": None if overlap_seconds is None else str(overlap_seconds),
                 "budget_policy": budget_policy}
    options = SyncOptions(full_refresh=full_refresh, reconcile_deletes=reconcile_deletes)
    if reconcile_every_days is not None:
        options.reconcile_every_s = int(reconcile_every_days * 86_400)
    if checkpoint_every:
        options.checkpoint_every = checkpoint_every
    if payments_full_pass_hours is not None:
        options.payments_full_pass_s = int(payments_full_pass_hours * 3600)
    db = resolve(db_path, default_db())
    with open_target(config_path, simulate, overrides, simulator_settings=simulator_settings) as target:
        options.target, options.simulated = target.state_target, target.simulated
        log.info("syncing %s into %s (budget policy %s)", target.label, db, target.settings.budget_policy)
        with DuckDBDestination(db) as destination, AcceloClient(target.settings) as client:
            report = sync(client, destination, target.settings.entities, options, progress)
    return report, db, target
