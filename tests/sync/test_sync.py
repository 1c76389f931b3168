"""The incremental sync into DuckDB against the simulator (issue 4): nothing lost, nothing misread, cheap re-runs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from accelo_kit import AcceloClient, Settings
from accelo_kit.destinations.duckdb import STATE_TABLE, DatabaseBusy, DuckDBDestination
from accelo_kit.entities import ENTITIES
from accelo_kit.sim import Simulator
from accelo_kit.sync import SyncError, SyncOptions, SyncProgress, SyncReport, sync
from accelo_kit.sync.state import StateError
from tests.helpers import assert_matches_truth, duckdb_rows

SIZES = {"companies": 700, "invoices": 900, "payments": 400, "prospects": 200, "jobs": 300, "staff": 130}
ALL = tuple(ENTITIES)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(sizes=SIZES, seed=13) as simulator:
        yield simulator


def run(sim: Simulator, db: Path, progress: SyncProgress | None = None, **options: Any) -> SyncReport:
    """One sync as a fresh process would do it: a new client (and token) and a new destination."""
    settings = Settings.load(None, environ={}, **sim.configuration(), threads="4")
    with AcceloClient(settings) as client, DuckDBDestination(db) as destination:
        return sync(client, destination, options=SyncOptions(**options), progress=progress)


def advance_server_clock(sim: Simulator, seconds: float) -> None:
    """Runs in a test follow each other within a second; the server's clock jumps so they are distinct."""
    sim.set(clock_offset_s=sim.settings.clock_offset_s + seconds)


def saved_state(db: Path) -> dict[str, Any] | None:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(f"SELECT state FROM {STATE_TABLE}").fetchone()
    return json.loads(row[0]) if row else None


def assert_db_matches(db: Path, sim: Simulator, deleted: dict[str, set[int]] | None = None) -> None:
    for name in ALL:
        assert_matches_truth(duckdb_rows(db, name), sim, name, (deleted or {}).get(name, set()))


# -- the first run and a re-run ---------------------------------------------------------------------------
def test_first_sync_equals_the_truth_row_for_row_and_column_for_column(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    report = run(sim, db)
    assert report.complete
    assert_db_matches(db, sim)
    total_rows = sum(SIZES.values())
    assert sum(e.rows for e in report.entities.values()) == total_rows
    # a full scan: about one request per 100 rows, a little more per entity for its ranges
    assert report.requests <= sum(math.ceil(n / 100) for n in SIZES.values()) + 3 * len(SIZES)


def test_duckdb_columns_have_the_declared_types(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    run(sim, db)
    expected_sql = {"int": "BIGINT", "link": "BIGINT", "decimal": "DECIMAL(18,4)",
                    "timestamp": "TIMESTAMP WITH TIME ZONE", "bool": "BOOLEAN", "str": "VARCHAR"}
    with duckdb.connect(str(db), read_only=True) as con:
        for entity in ENTITIES.values():
            described = {row[0]: row[1] for row in con.execute(f'DESCRIBE "{entity.name}"').fetchall()}
            assert described == {**{c.name: expected_sql[c.type] for c in entity.columns},
                                 "_synced_at": "TIMESTAMP WITH TIME ZONE", "_deleted": "BOOLEAN",
                                 "_deleted_at": "TIMESTAMP WITH TIME ZONE"}
            keys = con.execute("SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = ? "
                               "AND constraint_type = 'PRIMARY KEY'", [entity.name]).fetchone()
            assert keys[0] == ["id"]


def test_no_change_rerun_costs_what_the_contract_says(sim: Simulator, tmp_path: Path) -> None:
    """docs/sync.md: 1 request per date-windowed entity + 1 for payments + ⌈staff/100⌉, nothing else (the clock
    comes from the token answer's Date header)."""
    db = tmp_path / "a.duckdb"
    run(sim, db)
    advance_server_clock(sim, 60)
    sim.log.clear()
    report = run(sim, db)
    formula = 4 + 1 + math.ceil(SIZES["staff"] / 100)
    assert report.requests == len(sim.log.entries("/api/v0")) == formula
    assert {n: e.rows for n, e in report.entities.items()} == {
        "companies": 0, "invoices": 0, "payments": 0, "prospects": 0, "jobs": 0, "staff": SIZES["staff"]}
    assert_db_matches(db, sim)


def test_changes_between_runs_are_all_picked_up_once(sim: Simulator, tmp_path: Path) -> None:
    """Inserts, edits and 250 rows sharing one date_modified second (three pages of ties) between two runs."""
    db = tmp_path / "a.duckdb"
    run(sim, db)
    advance_server_clock(sim, 100)
    tie = int(sim.clock()) - 5
    tied = sim.insert("companies", count=250, at=tie)
    edited = sim.modify("companies", count=20, at=tie)
    sim.modify("jobs", count=7)
    sim.insert("invoices", count=12)
    new_payments = sim.insert("payments", count=4)  # each also changes its invoice
    sim.modify("staff", count=3)
    advance_server_clock(sim, 10)
    report = run(sim, db)
    assert report.entities["companies"].rows == len(set(tied) | set(edited))
    assert report.entities["jobs"].rows == 7
    assert report.entities["payments"].rows == len(new_payments)
    assert report.entities["invoices"].rows >= 12
    assert_db_matches(db, sim)


def test_rows_changed_during_a_run_are_right_after_one_more_run(sim: Simulator, tmp_path: Path) -> None:
    """Inserted, modified and deleted while the first run pages: after it and one more, the database equals the
    truth (deleted rows aside: Accelo has no delete feed)."""
    deleted: dict[str, set[int]] = {}

    class Meddler(SyncProgress):
        def page(self, name: str, rows: int, report: SyncReport) -> None:
            for target in ("companies", "invoices", "jobs", "payments"):
                sim.insert(target, count=2)
                sim.modify(target, count=3)
                deleted.setdefault(target, set()).update(sim.delete(target, count=1))

    db = tmp_path / "a.duckdb"
    run(sim, db, Meddler(), payments_full_pass_s=0)
    advance_server_clock(sim, 30)
    run(sim, db, payments_full_pass_s=0)
    assert_db_matches(db, sim, deleted)


# -- kills and resumes ------------------------------------------------------------------------------------
KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from accelo_kit.runner import run_sync
    from accelo_kit.sync import SyncProgress
    from tests.broken_variants import apply_from_env

    apply_from_env()  # a broken variant the test process runs with breaks this one too

    class KillAt(SyncProgress):
        seen = 0
        def page(self, name, rows, report):
            KillAt.seen += 1
            if KillAt.seen == int(sys.argv[3]):
                os.kill(os.getpid(), signal.SIGKILL)

    run_sync(sys.argv[1], sys.argv[2], threads=2, checkpoint_every=3, progress=KillAt())
    sys.exit(5)  # the kill never came
""")


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4, 8, 13, 21, 30])
def test_a_killed_run_resumes_to_exactly_the_uninterrupted_result(sim: Simulator, tmp_path: Path,
                                                                  kill_at: int) -> None:
    """A real SIGKILL after the N-th page (on a checkpoint and between them); the next run finishes with exactly
    the data an uninterrupted run has, and costs no more than what was not yet committed plus a checkpoint
    interval and one request per entity."""
    config = tmp_path / "configuration.json"
    config.write_text(json.dumps(sim.configuration()))
    db = tmp_path / "a.duckdb"
    killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(config), str(db), str(kill_at)],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr[-2000:]
    state = saved_state(db) if db.exists() else None
    committed_before = len(sim.log.entries("/api/v0"))
    resumed = _resume(sim, db)
    assert resumed.complete
    assert_db_matches(db, sim)
    pending_rows = _pending_rows(state, sim)
    resumed_requests = len(sim.log.entries("/api/v0")) - committed_before
    bound = math.ceil(pending_rows / 100) + 3 + 2 * len(ALL)  # a checkpoint interval, and a range or two each
    assert resumed_requests <= bound, (resumed_requests, bound, pending_rows)


def _resume(sim: Simulator, db: Path) -> SyncReport:
    settings = Settings.load(None, environ={}, **sim.configuration(), threads="2")
    with AcceloClient(settings) as client, DuckDBDestination(db) as destination:
        return sync(client, destination, options=SyncOptions(checkpoint_every=3))


def _pending_rows(state: dict[str, Any] | None, sim: Simulator) -> int:
    """Rows the killed run had not committed: whole tables it had not begun, the pending ranges of the rest."""
    total = 0
    for name in ALL:
        ids = [int(r["id"]) for r in sim.truth(name)]
        saved = (state or {}).get("entities", {}).get(name) or {}
        window = saved.get("window")
        if name == "staff" or (window is None and not (saved.get("cursor") or saved.get("full_pass_at"))):
            total += len(ids)
        elif window is not None and window.get("progress") is not None:
            total += sum(1 for i in ids for lo, hi in window["progress"] if i > lo and (hi is None or i <= hi))
        elif window is not None:
            total += len(ids)
    return total


# -- refusing what it must not do -------------------------------------------------------------------------
def _edit_state(db: Path, edit) -> None:
    with duckdb.connect(str(db)) as con:
        state = json.loads(con.execute(f"SELECT state FROM {STATE_TABLE}").fetchone()[0])
        edit(state)
        con.execute(f"UPDATE {STATE_TABLE} SET state = ?", [json.dumps(state)])


def test_a_cursor_ahead_of_the_server_clock_is_refused(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    run(sim, db)
    _edit_state(db, lambda s: s["entities"]["jobs"].update(cursor=int(sim.clock()) + 86_400))
    before = saved_state(db)
    with pytest.raises(StateError, match="--full-refresh") as err:
        run(sim, db)
    assert "jobs" in str(err.value) and "ahead of the server's clock" in str(err.value)
    assert saved_state(db) == before
    report = run(sim, db, full_refresh=True)
    assert report.complete and saved_state(db)["entities"]["jobs"]["cursor"] <= sim.clock()
    assert_db_matches(db, sim)


@pytest.mark.parametrize("version", [0, 2, None])
def test_a_state_from_another_version_is_refused_never_misread(sim: Simulator, tmp_path: Path, version) -> None:
    db = tmp_path / "a.duckdb"
    run(sim, db)
    _edit_state(db, lambda s: s.update(version=version))
    with pytest.raises(StateError, match=r"version .* --full-refresh"):
        run(sim, db)


def test_a_state_saved_before_the_redesign_with_max_modified_still_resumes(sim: Simulator, tmp_path: Path) -> None:
    """Windows saved before issue 12 carry `max_modified` (read only by a broken variant then): the key is
    ignored, the window resumes, and the state saved after it no longer holds the key."""
    db = tmp_path / "a.duckdb"
    run(sim, db)

    def old_window(state: dict[str, Any]) -> None:
        jobs = state["entities"]["jobs"]
        jobs["window"] = {"kind": "modified", "started": jobs["cursor"], "after": None, "before": jobs["cursor"],
                          "progress": [[0, None]], "max_id": None, "max_modified": jobs["cursor"] - 5}

    _edit_state(db, old_window)
    report = run(sim, db)
    assert report.entities["jobs"].window == "modified (resumed)" and report.complete
    assert "max_modified" not in json.dumps(saved_state(db))
    assert_db_matches(db, sim)


def test_a_database_from_another_deployment_is_refused(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    run(sim, db)
    with Simulator(sizes=SIZES, seed=14) as other, pytest.raises(StateError, match="holds data from"):
        run(other, db)
    with Simulator(sizes=SIZES, seed=14) as other, pytest.raises(StateError, match="holds data from"):
        run(other, db, full_refresh=True)


def test_a_failing_endpoint_fails_loudly_and_leaves_the_cursor(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    run(sim, db)
    advance_server_clock(sim, 60)
    sim.modify("invoices", count=5)
    advance_server_clock(sim, 5)
    before = saved_state(db)
    sim.faults.set_probability("503", 1.0, path="/api/v0/invoices")
    with pytest.raises(SyncError, match=r"^invoices: ") as err:
        settings = Settings.load(None, environ={}, **sim.configuration(), max_attempts="2")
        with AcceloClient(settings) as client, DuckDBDestination(db) as destination:
            sync(client, destination)
    assert "503" in str(err.value)
    after = saved_state(db)
    assert after["entities"]["invoices"]["cursor"] == before["entities"]["invoices"]["cursor"]
    window = after["entities"]["invoices"]["window"]  # recorded to be resumed, but nothing of it committed
    assert window is None or window["progress"] in (None, [[0, None]])
    sim.faults.clear()
    run(sim, db)
    assert_db_matches(db, sim)


def test_one_sync_at_a_time_per_database(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    with DuckDBDestination(db), pytest.raises(DatabaseBusy, match="another sync in this process"):
        DuckDBDestination(db)
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(30)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseBusy, match="in use by another process"):
            DuckDBDestination(db)
    finally:
        holder.kill()
        holder.wait()
    DuckDBDestination(db).close()  # free again


def test_a_table_gains_a_new_registry_column_without_being_recreated(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    run(sim, db)
    with duckdb.connect(str(db)) as con:
        con.execute('ALTER TABLE staff DROP COLUMN "timezone"')  # as if the registry gained it since
        con.execute("CREATE TABLE marker AS SELECT count(*) AS n FROM staff")
    run(sim, db)
    with duckdb.connect(str(db), read_only=True) as con:
        assert "timezone" in {r[0] for r in con.execute("DESCRIBE staff").fetchall()}
        assert con.execute("SELECT count(*) FROM staff WHERE timezone IS NOT NULL").fetchone()[0] == SIZES["staff"]
    assert_db_matches(db, sim)


def test_start_date_bounds_the_first_run(sim: Simulator, tmp_path: Path) -> None:
    from datetime import date, datetime, timezone

    day = date(2026, 6, 1)
    start = datetime(2026, 6, 1, tzinfo=timezone.utc)
    db = tmp_path / "a.duckdb"
    settings = Settings.load(None, environ={}, **sim.configuration(), start_date=day.isoformat())
    with AcceloClient(settings) as client, DuckDBDestination(db) as destination:
        sync(client, destination)
    jobs = duckdb_rows(db, "jobs")
    assert jobs and all(row["date_modified"] >= start for row in jobs.values())
    expected = {int(r["id"]) for r in sim.truth("jobs") if int(r["date_modified"]) >= start.timestamp()}
    assert set(jobs) == expected


def test_window_edges_are_exact(sim: Simulator, tmp_path: Path) -> None:
    """The next window takes rows stamped exactly `cursor - overlap` (Accelo's `_after` is strict, so the kit asks
    for one second earlier) and rows stamped exactly at the previous run's start (excluded from that run by its
    strict `_before`); rows one second before the overlap are not the window's business."""
    db = tmp_path / "a.duckdb"
    run(sim, db)
    cursor = saved_state(db)["entities"]["companies"]["cursor"]
    overlap = 300
    on_lower_edge = sim.insert("companies", count=3, at=cursor - overlap)
    on_cursor = sim.insert("companies", count=3, at=cursor)
    outside = sim.insert("companies", count=2, at=cursor - overlap - 1)
    advance_server_clock(sim, 20)
    report = run(sim, db)
    synced = duckdb_rows(db, "companies")
    assert set(on_lower_edge) | set(on_cursor) <= set(synced)
    assert not set(outside) & set(synced)
    assert report.entities["companies"].rows == 6


def test_nothing_is_lost_without_any_overlap(sim: Simulator, tmp_path: Path) -> None:
    """The overlap is a safety margin, not what makes the sync correct: with overlap 0, rows changed while a run
    pages are still all there after one more run (the window's upper bound is the run's start on the server's
    clock, and the next window begins exactly there)."""
    class Meddler(SyncProgress):
        def page(self, name: str, rows: int, report: SyncReport) -> None:
            sim.modify("companies", count=4)
            sim.modify("jobs", count=4)

    db = tmp_path / "a.duckdb"
    settings = Settings.load(None, environ={}, **sim.configuration(), threads="4", overlap_seconds="0")
    for meddle in (None, Meddler(), None):  # a first run; one with changes mid-run; one more
        with AcceloClient(settings) as client, DuckDBDestination(db) as destination:
            sync(client, destination, ["companies", "jobs"], progress=meddle)
        advance_server_clock(sim, 2)
    for name in ("companies", "jobs"):
        assert_matches_truth(duckdb_rows(db, name), sim, name)
