"""A sync resumes from what the code before issue 12's redesign wrote (issue 12, "Behaviour unchanged, and shown
so"): a DuckDB file and a Fivetran state.json, each once completed and once interrupted, committed under
tests/fixtures/legacy/ (make_fixtures.py there says how they were made; they are never regenerated).

Each test serves the fixture's data again (same seed and sizes: the simulator's data does not depend on the day)
with the server's clock an hour after the fixture's, and checks that the sync (a) accepts the old state, (b) fetches
only what changed after its cursors or what its interrupted windows still had pending, never the rows the fixture
holds again (each row's synced-at time shows whether it was written again), and (c) leaves exactly the simulator's
truth. Only stable entry points are used: `run_sync`, the simulator, `fivetran debug`, and plain SQL.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from accelo_kit.runner import run_sync
from accelo_kit.sim import Simulator
from tests.connector.sdk import (
    SCHEMA,
    api_requests,
    assert_warehouse_matches,
    fivetran_debug,
    make_home,
    make_project,
    write_configuration,
)
from tests.helpers import assert_matches_truth, duckdb_rows

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "legacy"
MANIFEST: dict[str, Any] = json.loads((FIXTURES / "manifest.json").read_text())
SEED: int = MANIFEST["seed"]
SIZES: dict[str, int] = MANIFEST["sizes"]
LATER = MANIFEST["server_now"] + 3600  # the next scheduled sync: payments' full pass and reconciliations not due
DATED = ("companies", "invoices", "prospects", "jobs")  # date_modified windows
# a run with nothing new: one request per dated entity and one for payments' new ids (each an empty page), staff
# in full
NO_CHANGE_REQUESTS = len(DATED) + 1 + math.ceil(SIZES["staff"] / 100)


def pages(rows: int) -> int:
    """Requests a keyset scan of `rows` rows takes at one thread: it ends at a short page."""
    return rows // 100 + 1


# -- the fixtures ---------------------------------------------------------------------------------------------
def unpack(name: str, to: Path) -> Path:
    """A fixture file as the old code wrote it, copied to `to` (DuckDB files are committed gzipped)."""
    packed = FIXTURES / (name if name.endswith(".json") else name + ".gz")
    data = packed.read_bytes() if name.endswith(".json") else gzip.decompress(packed.read_bytes())
    assert hashlib.sha256(data).hexdigest() == MANIFEST["sha256"][name], f"{name} is not the fixture as written"
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_bytes(data)
    return to


def test_the_fixtures_are_still_those_the_old_code_wrote(tmp_path: Path) -> None:
    for name in MANIFEST["sha256"]:
        unpack(name, tmp_path / name)  # checks the hash


def pinned(**extra: Any) -> dict[str, Any]:
    """The fixture's simulator, its clock at LATER whatever the host's clock says."""
    return {"seed": SEED, "sizes": dict(SIZES), "clock_offset_s": LATER - time.time(), **extra}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(**pinned()) as simulator:
        yield simulator


def truth_sim() -> Simulator:
    """The fixture's data, not served (truth only)."""
    return Simulator(seed=SEED, sizes=dict(SIZES))


# -- DuckDB ---------------------------------------------------------------------------------------------------
def db_state(db: Path) -> dict[str, Any]:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("SELECT state FROM _accelo_kit_state WHERE id = 1").fetchone()
    assert row is not None
    state: dict[str, Any] = json.loads(row[0])
    return state


def synced_at(db: Path, table_prefix: str = "", column: str = "_synced_at") -> dict[str, dict[int, Any]]:
    """When each row was last written, per entity (an entity not yet created: nothing)."""
    found: dict[str, dict[int, Any]] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for name in SIZES:
            try:
                rows = con.execute(f'SELECT id, {column} FROM {table_prefix}"{name}"').fetchall()
            except duckdb.CatalogException:
                rows = []
            found[name] = dict(rows)
    return found


def rewritten(before: dict[str, dict[int, Any]], after: dict[str, dict[int, Any]]) -> dict[str, set[int]]:
    """Ids written by the run: new ones, and held ones whose synced-at time moved."""
    return {name: {i for i, at in after[name].items() if before[name].get(i) != at} for name in after}


def assert_db_is_truth(db: Path, sim: Simulator, deleted: dict[str, set[int]] | None = None) -> None:
    for name in SIZES:
        assert_matches_truth(duckdb_rows(db, name), sim, name, (deleted or {}).get(name, set()))


def test_a_completed_duckdb_resumes_with_the_no_change_cost(tmp_path: Path) -> None:
    """The untouched file, as `accelo-kit sync --simulate --db` would meet it."""
    db = unpack("duckdb/complete.duckdb", tmp_path / "complete.duckdb")
    before = synced_at(db)
    report, _, _ = run_sync(None, db, simulate=True, threads=2, simulator_settings=pinned())
    assert db_state(db)["target"] == f"simulator:seed={SEED}"  # the state as the old code wrote it, accepted
    assert report.complete, report
    assert {n: e.rows for n, e in report.entities.items()} == {**{n: 0 for n in SIZES}, "staff": SIZES["staff"]}
    assert {n: e.window for n, e in report.entities.items()} == {
        **{n: "modified" for n in DATED}, "payments": "new", "staff": "full"}
    assert report.requests == NO_CHANGE_REQUESTS
    assert rewritten(before, synced_at(db)) == {**{n: set() for n in SIZES}, "staff": set(before["staff"])}
    state = db_state(db)["entities"]
    assert all(state[n]["cursor"] >= LATER for n in DATED) and all(e["window"] is None for e in state.values())
    assert_db_is_truth(db, truth_sim())


def test_a_completed_duckdb_fetches_exactly_what_changed_after_its_cursors(tmp_path: Path, sim: Simulator) -> None:
    """Against a simulator the test can change. The file's state names the simulator by seed; a configuration
    names it by base_url, so only that field is pointed at this simulator (plain SQL), the rest read as written."""
    db = unpack("duckdb/complete.duckdb", tmp_path / "complete.duckdb")
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE _accelo_kit_state SET state = replace(state, ?, ?) WHERE id = 1",
                    [f'"target":"simulator:seed={SEED}"', f'"target":"{sim.base_url}"'])
    config = tmp_path / "configuration.json"
    config.write_text(json.dumps(sim.configuration()))
    changed, deleted = change(sim)
    before = synced_at(db)
    report, _, _ = run_sync(config, db, threads=2)
    assert report.complete, report
    assert rewritten(before, synced_at(db)) == {**changed, "staff": set(truth_ids(sim, "staff"))}
    assert report.requests == api_requests(sim) == NO_CHANGE_REQUESTS  # every change fits the one page
    with duckdb.connect(str(db), read_only=True) as con:
        assert {r[0] for r in con.execute('SELECT id FROM staff WHERE _deleted').fetchall()} == deleted
    assert_db_is_truth(db, sim, {"staff": deleted})


def test_an_interrupted_duckdb_finishes_its_windows_without_refetching_what_it_holds(tmp_path: Path) -> None:
    db = unpack("duckdb/interrupted.duckdb", tmp_path / "interrupted.duckdb")
    before = synced_at(db)
    windows = {n: e["window"] for n, e in db_state(db)["entities"].items()}
    half_done = {n for n, w in windows.items() if w and w["progress"]}
    assert half_done and all(windows.values()), windows  # the fixture is what its name says
    report, _, _ = run_sync(None, db, simulate=True, threads=2, simulator_settings=pinned())
    assert report.complete, report
    assert all(e.window.endswith("(resumed)") for e in report.entities.values()), report.entities
    written = rewritten(before, synced_at(db))
    for name in SIZES:
        assert not written[name] & set(before[name]), f"{name}: rows the fixture holds were fetched again"
        assert report.entities[name].rows == SIZES[name] - len(before[name])
    assert report.requests <= sum(pages(SIZES[n] - len(before[n])) for n in SIZES)
    assert all(e["window"] is None for e in db_state(db)["entities"].values())
    assert_db_is_truth(db, truth_sim())


# -- changes between runs -------------------------------------------------------------------------------------
def change(sim: Simulator) -> tuple[dict[str, set[int]], set[int]]:
    """Edits after the fixture's cursors and before the next run starts: the ids each entity must write again
    (a payment also changes its invoice), and the staff deleted (found by the staff reconciliation, which needs
    the ids the fixture holds)."""
    at = int(sim.clock()) - 600
    changed: dict[str, set[int]] = {name: set() for name in SIZES}
    changed["companies"] |= set(sim.modify("companies", count=5, at=at)) | set(sim.insert("companies", 2, at=at))
    changed["invoices"] |= set(sim.insert("invoices", count=3, at=at))
    changed["jobs"] |= set(sim.modify("jobs", count=4, at=at))
    changed["payments"] |= set(sim.insert("payments", count=2, at=at))
    changed["invoices"] |= {int(r["against_id"]) for r in sim.truth("payments") if int(r["id"]) in changed["payments"]}
    deleted = set(sim.delete("staff", count=2))
    sim.log.clear()
    return changed, deleted


def truth_ids(sim: Simulator, name: str) -> list[int]:
    return [int(r["id"]) for r in sim.truth(name)]


# -- Fivetran -------------------------------------------------------------------------------------------------
def fivetran_project(tmp_path: Path, fixture: str, sim: Simulator) -> Path:
    """A project folder holding the fixture's files/state.json and files/warehouse.db, where `fivetran debug`
    reads them. The state names the simulator that made it by base_url (a random port): only that field is
    pointed at this simulator, the rest is passed in as written."""
    project = make_project(tmp_path / "project")
    state_file = unpack(f"fivetran/{fixture}/state.json", project / "files" / "state.json")
    unpack(f"fivetran/{fixture}/warehouse.db", project / "files" / "warehouse.db")
    state = json.loads(state_file.read_text())
    assert state["target"].startswith("http://127.0.0.1:")
    state_file.write_text(json.dumps({**state, "target": sim.base_url}))
    write_configuration(project, {**sim.configuration(), "threads": "2"})
    return project


def run_debug(project: Path, tmp_path: Path) -> None:
    run = fivetran_debug(project, make_home(tmp_path / "home"))
    assert run.returncode == 0 and "SYNC SUCCEEDED" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    assert "StateError" not in run.stdout and "saved sync state" not in run.stdout


def test_a_completed_fivetran_state_fetches_exactly_what_changed(tmp_path: Path, sim: Simulator) -> None:
    project = fivetran_project(tmp_path, "complete", sim)
    warehouse = project / "files" / "warehouse.db"
    before = synced_at(warehouse, f"{SCHEMA}.", "_fivetran_synced")
    changed, deleted = change(sim)
    run_debug(project, tmp_path)
    after = synced_at(warehouse, f"{SCHEMA}.", "_fivetran_synced")
    written = {name: ids - deleted if name == "staff" else ids for name, ids in rewritten(before, after).items()}
    assert written == {**changed, "staff": set(truth_ids(sim, "staff"))}
    assert api_requests(sim) == NO_CHANGE_REQUESTS
    with duckdb.connect(str(warehouse), read_only=True) as con:
        flagged = {r[0] for r in con.execute(f'SELECT id FROM {SCHEMA}."staff" WHERE _fivetran_deleted').fetchall()}
    assert flagged == deleted  # the reconciliation knew the ids from the old state's id codec
    assert_warehouse_matches(project, sim, tuple(SIZES), {"staff": deleted})


def test_a_deferred_fivetran_state_finishes_its_windows_without_refetching_what_it_holds(
        tmp_path: Path, sim: Simulator) -> None:
    project = fivetran_project(tmp_path, "deferred", sim)
    state = json.loads((project / "files" / "state.json").read_text())
    windows = {n: e["window"] for n, e in state["entities"].items()}
    assert any(w and w["progress"] for w in windows.values()), windows  # the fixture is what its name says
    warehouse = project / "files" / "warehouse.db"
    before = synced_at(warehouse, f"{SCHEMA}.", "_fivetran_synced")
    run_debug(project, tmp_path)
    written = rewritten(before, synced_at(warehouse, f"{SCHEMA}.", "_fivetran_synced"))
    for name in SIZES:
        again = written[name] & set(before[name])
        assert (again == set(before[name])) if name == "staff" else not again, f"{name}: {sorted(again)[:5]}"
        assert len(written[name]) == SIZES[name] - (0 if name == "staff" else len(before[name]))
    assert all(e["window"] is None
               for e in json.loads((project / "files" / "state.json").read_text())["entities"].values())
    assert_warehouse_matches(project, sim, tuple(SIZES))
