"""Chaos sync (issue 8): every fault at once while the source changes under the sync, then one more run; the
destination equals the truth, the budget is never overspent, and faults cost about one request each.

An injected 429 holds every thread until the window resets (whole seconds on the server's clock), so a run meets
about five requests a second whatever the thread count: the window is 1 s and the scaled size small so that
`make test` spends about forty seconds here (both tests); `make chaos` adds the full size (50,000 rows over the six
entities).
"""

from __future__ import annotations

import math
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from accelo_kit import AcceloClient, Settings
from accelo_kit.destinations.duckdb import DuckDBDestination
from accelo_kit.entities import ENTITIES
from accelo_kit.sim import Simulator
from accelo_kit.sync import SyncOptions, SyncProgress, SyncReport, sync
from tests.chaos.harness import (
    FIGURES,
    SCRIPTED_ONCE,
    Meddler,
    account,
    assert_budget_kept,
    assert_equals_truth,
    duckdb_flagged,
    full_only,
    inject_fault_mix,
    reconciliation_limit,
    revocations_settled,
    sizes_for,
)
from tests.connector.sdk import VENV_BIN, make_project, runner_env, saved_state, write_configuration
from tests.helpers import duckdb_rows

SCALED_ROWS = 3_000
FULL_ROWS = 50_000
# the compressed budget: 15 requests a 1 s window, 4 of them the reserve left to other integrations
LIMIT, WINDOW_S, RESERVE = 15, 1.0, 4
# a stalled answer comes after 1.5 s, the client gives up after 0.75 s: a read timeout
STALL_S, REQUEST_TIMEOUT = 1.5, "0.75"
EXTRA_PER_FAULT = 1.3


def chaos_settings(sim: Simulator, **extra: str) -> dict[str, str]:
    return {**sim.configuration(), "threads": "4", "request_timeout": REQUEST_TIMEOUT,
            "budget_reserve": str(RESERVE), **extra}


def run(sim: Simulator, db: Path, progress: SyncProgress | None = None, **options: Any) -> SyncReport:
    """One sync as a fresh process would do it: a new client (and token) and a new destination."""
    settings = Settings.load(None, environ={}, **chaos_settings(sim))
    with AcceloClient(settings) as client, DuckDBDestination(db) as destination:
        return sync(client, destination, options=SyncOptions(**options), progress=progress)


@pytest.mark.parametrize("rows", [
    pytest.param(SCALED_ROWS, id="scaled"),
    pytest.param(FULL_ROWS, id="full", marks=[full_only, pytest.mark.timeout(3600)]),
])
def test_a_chaos_sync_and_one_more_run_equal_the_truth_within_budget(rows: int, tmp_path: Path) -> None:
    """Run 1 meets the whole fault mix, two revocations and a stream of inserts, edits and deletes; run 2 (faults
    still on) is incremental, with the payments full pass and a forced reconciliation so that edited payments and
    hard deletes are decided too. Then: every live row once with every column equal, exactly the deleted ids held
    flagged, no window over the budget less the reserve, extra requests at most 1.3× the faults."""
    sizes = sizes_for(rows)
    started = time.monotonic()
    with Simulator(sizes=sizes, seed=8, rate_limit=LIMIT, rate_window_s=WINDOW_S, stall_s=STALL_S,
                   fault_seed=8) as sim:
        inject_fault_mix(sim)
        expected_pages = sum(math.ceil(n / 100) for n in sizes.values())
        meddler = Meddler(sim, revoke_at=(expected_pages // 3, 2 * expected_pages // 3))
        db = tmp_path / "chaos.duckdb"

        first = run(sim, db, meddler)
        first_requests = len(sim.log.entries("/api/v0"))
        # the next scheduled run, on a later second than every change above, with a window that affords the id
        # scans of the reconciliation
        second_limit = reconciliation_limit(sim, RESERVE)
        sim.set(clock_offset_s=5, rate_limit=second_limit)
        second = run(sim, db, payments_full_pass_s=0, reconcile_deletes=True)

        assert first.complete and second.complete
        checked = 0
        for name in ENTITIES:
            assert second.entities[name].deleted is not None, f"{name} was not reconciled"
            checked += assert_equals_truth(duckdb_rows(db, name), duckdb_flagged(db, name), sim, name,
                                           meddler.deleted.get(name, set()), reconciled=True)
        entries = sim.log.entries("/api/v0")
        windows = assert_budget_kept(entries[:first_requests], LIMIT, RESERVE, WINDOW_S)
        windows += assert_budget_kept(entries[first_requests:], second_limit, RESERVE, WINDOW_S)
        spent = account(sim, [first, second])
        for kind in (*SCRIPTED_ONCE, "429", "revoke"):
            assert spent.injected.get(kind), f"no {kind} fault was injected: the run did not meet the whole mix"
        assert spent.injected["revoke"] == 2 and spent.unauthorized >= 2, "tokens were not revoked twice"
        assert spent.extra <= EXTRA_PER_FAULT * spent.faults, \
            f"{spent.extra} extra requests for {spent.faults} faults ({spent.injected}, {spent.unauthorized} × 401)"
    figures = {"test": f"chaos sync ({rows:,} rows)", "rows checked": checked, "faults": spent.faults,
               "injected": spent.injected, "401s": spent.unauthorized, "requests": spent.requests,
               "extra requests": spent.extra, "extra per fault": round(spent.extra / spent.faults, 3),
               "windows checked": windows, "mutations": meddler.mutations,
               "deleted": sum(len(v) for v in meddler.deleted.values()),
               "seconds": round(time.monotonic() - started, 1)}
    FIGURES.append(figures)
    print(figures)


# -- the same through connector.py under `fivetran debug` ---------------------------------------------------
CONNECTOR_ROWS = 1_500


class BackgroundMeddler(threading.Thread):
    """The Meddler's changes for a sync running in another process: a round every 100 ms while it runs, one scripted
    fault of each kind and the two revocations once the log shows given numbers of API requests."""

    def __init__(self, sim: Simulator, revoke_after: tuple[int, int], script_after: int = 5) -> None:
        super().__init__(daemon=True, name="chaos-meddler")
        self.sim = sim
        self.meddler = Meddler(sim, script_at=None, edit_payments=False)  # the connector's payments pass is daily
        self.revoke_after = list(revoke_after)
        self.script_after = script_after
        self.stop = threading.Event()

    def run(self) -> None:
        scripted, revoked = False, 0
        while not self.stop.wait(0.1):
            seen = len(self.sim.log.entries("/api/v0"))
            if seen < 2:
                continue  # the changes are for the run to meet while it pages
            if not scripted and seen >= self.script_after:
                for kind in SCRIPTED_ONCE:
                    self.sim.faults.script(kind)
                scripted = True
            if self.revoke_after and seen >= self.revoke_after[0] and revocations_settled(self.sim, revoked):
                self.sim.faults.script("revoke")
                self.revoke_after.pop(0)
                revoked += 1
            self.meddler.page("", 0, SyncReport(run_start=0))


def warehouse_rows_and_flagged(project: Path, name: str) -> tuple[dict[int, dict[str, Any]], set[int]]:
    """The warehouse's rows of `name` (Accelo's columns) and the ids `_fivetran_deleted` flags."""
    columns = ENTITIES[name].field_names
    with duckdb.connect(str(project / "files" / "warehouse.db"), read_only=True) as con:
        fetched = con.execute(f'SELECT {", ".join(columns)}, _fivetran_deleted FROM tester."{name}"').fetchall()
    rows = {row[0]: dict(zip(columns, row[:-1], strict=True)) for row in fetched}
    assert len(rows) == len(fetched), f"{name}: an id held twice"
    return rows, {row[0] for row in fetched if row[-1]}


@pytest.mark.timeout(300)
def test_chaos_through_connector_py_under_fivetran_debug(tmp_path: Path, sdk_home: Path,
                                                        debug_in_process: Any) -> None:
    """One `fivetran debug` run in a subprocess meets the fault mix, two revocations and changes made from this
    process while it pages; one more run in-process (faults on, hard deletes reconciled). The warehouse equals the
    truth and the budget is kept. Payments are not edited here: the connector's payments full pass is daily."""
    sizes = sizes_for(CONNECTOR_ROWS)
    with Simulator(sizes=sizes, seed=9, rate_limit=LIMIT, rate_window_s=WINDOW_S, stall_s=STALL_S,
                   fault_seed=9) as sim:
        inject_fault_mix(sim)
        project = make_project(tmp_path / "project")
        write_configuration(project, chaos_settings(sim))
        expected = sum(math.ceil(n / 100) for n in sizes.values())
        meddler = BackgroundMeddler(sim, revoke_after=(expected // 3, 2 * expected // 3))
        meddler.start()
        try:
            first = subprocess.run([str(VENV_BIN / "fivetran"), "debug", str(project), "--configuration",
                                    str(project / "configuration.json")], cwd=project, env=runner_env(sdk_home),
                                   capture_output=True, text=True, timeout=240)
        finally:
            meddler.stop.set()
            meddler.join()
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert "SYNC SUCCEEDED" in first.stdout
        assert all(e["window"] is None for e in saved_state(project)["entities"].values())

        first_requests = len(sim.log.entries("/api/v0"))
        second_limit = reconciliation_limit(sim, RESERVE)
        sim.set(clock_offset_s=5, rate_limit=second_limit)
        debug_in_process(project, {**chaos_settings(sim), "reconcile_every_days": "0"})
        checked = 0
        for name in ENTITIES:
            held, flagged = warehouse_rows_and_flagged(project, name)
            checked += assert_equals_truth(held, flagged, sim, name, meddler.meddler.deleted.get(name, set()),
                                           reconciled=True)
        entries = sim.log.entries("/api/v0")
        windows = assert_budget_kept(entries[:first_requests], LIMIT, RESERVE, WINDOW_S)
        windows += assert_budget_kept(entries[first_requests:], second_limit, RESERVE, WINDOW_S)
        injected = dict(sim.faults.injected)
        for kind in (*SCRIPTED_ONCE, "429"):
            assert injected.get(kind), f"no {kind} fault was injected"
        assert injected.get("revoke") == 2, "tokens were not revoked twice"
        assert sim.client_secret not in first.stdout + first.stderr
    figures = {"test": f"chaos through fivetran debug ({CONNECTOR_ROWS:,} rows)", "rows checked": checked,
               "injected": injected, "windows checked": windows, "mutations": meddler.meddler.mutations}
    FIGURES.append(figures)
    print(figures)
