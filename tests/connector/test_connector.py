"""The Fivetran connector (issue 5) under the SDK's own runner, against the simulator: the warehouse equals the truth
row for row and column for column, re-runs are incremental, a spent budget defers, a killed run resumes, bad
configurations and outages fail loudly, and the bundle runs in a venv holding only the SDK and requirements.txt.

`fivetran debug` runs in a subprocess five times here (each costs seconds: it scans the project for imports); every
other case drives `connector.debug(...)` in-process.
"""

from __future__ import annotations

import calendar
import json
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest

from accelo_kit import AcceloClient, ConfigError, Settings
from accelo_kit.destinations.fivetran import (
    DEFAULT_MAX_RATE_WAIT_S,
    FivetranDestination,
    LogProgress,
    settings_from_configuration,
)
from accelo_kit.entities import ENTITIES
from accelo_kit.errors import AcceloError
from accelo_kit.sim import Simulator
from accelo_kit.sync import EntityReport, SyncReport, sync
from tests.connector.sdk import (
    BUNDLE,
    LEAN_BIN,
    ROOT,
    SCHEMA,
    VENV_BIN,
    advance_server_clock,
    api_requests,
    assert_warehouse_matches,
    fivetran_debug,
    make_home,
    make_project,
    runner_env,
    saved_state,
    warehouse_rows,
    warehouse_tables,
    write_configuration,
)

SIZES = {"companies": 700, "invoices": 900, "payments": 400, "prospects": 200, "jobs": 300, "staff": 130}
ALL = tuple(ENTITIES)
DUCKDB_TYPES = {"int": "BIGINT", "link": "BIGINT", "decimal": "DECIMAL(18,4)",
                "timestamp": "TIMESTAMP WITH TIME ZONE", "bool": "BOOLEAN", "str": "VARCHAR"}
FIVETRAN_COLUMNS = {"_fivetran_deleted": "BOOLEAN", "_fivetran_synced": "TIMESTAMP WITH TIME ZONE"}
# docs/sync.md: a no-change re-run costs 1 per date-windowed entity + 1 for payments' new rows + ⌈staff/100⌉
NO_CHANGE_REQUESTS = 4 + 1 + math.ceil(SIZES["staff"] / 100)


@pytest.fixture
def sim() -> Any:
    with Simulator(sizes=SIZES, seed=17) as simulator:
        yield simulator


def config(sim: Simulator, **extra: str) -> dict[str, str]:
    return {**sim.configuration(), "threads": "4", **extra}


def checkpoints_in(output: str) -> list[dict[str, Any]]:
    """The states the runner logged as committed, in order."""
    return [json.loads(m) for m in re.findall(r"checkpoint recorded: (\{.*\})", output)]


def assert_no_secret(sim: Simulator, *outputs: str) -> None:
    for output in outputs:
        assert sim.client_secret not in output


# -- fivetran debug, first and second run -------------------------------------------------------------------
def test_fivetran_debug_lands_the_truth_with_the_declared_types_and_reruns_incrementally(
        sim: Simulator, tmp_path: Path, sdk_home: Path, debug_in_process: Any) -> None:
    project = make_project(tmp_path / "project")
    write_configuration(project, config(sim, budget_policy="adaptive"))  # the key, through `fivetran debug`

    first = fivetran_debug(project, sdk_home)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "SYNC SUCCEEDED" in first.stdout
    assert "threads, budget policy adaptive" in first.stdout and "the other integrations: 0 requests" in first.stdout
    first_requests = api_requests(sim)
    assert_warehouse_matches(project, sim)
    assert {n: len(warehouse_rows(project, n)) for n in ALL} == SIZES
    with duckdb.connect(str(project / "files" / "warehouse.db"), read_only=True) as con:
        for entity in ENTITIES.values():
            described = {r[0]: r[1] for r in con.execute(f'DESCRIBE {SCHEMA}."{entity.name}"').fetchall()}
            assert described == {**{c.name: DUCKDB_TYPES[c.type] for c in entity.columns}, **FIVETRAN_COLUMNS}
            keys = con.execute("SELECT constraint_column_names FROM duckdb_constraints() WHERE schema_name = ? "
                               "AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
                               [SCHEMA, entity.name]).fetchone()
            assert keys[0] == ["id"]
    state = saved_state(project)
    assert state == checkpoints_in(first.stdout)[-1]  # the last checkpoint is what the next run starts from
    assert all(state["entities"][n]["window"] is None for n in ALL)
    assert first_requests <= sum(math.ceil(n / 100) for n in SIZES.values()) + 3 * len(SIZES)

    # nothing changed: the re-run costs what docs/sync.md says
    advance_server_clock(sim, 60)
    sim.log.clear()
    second = fivetran_debug(project, sdk_home)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    second_requests = api_requests(sim)
    assert second_requests <= NO_CHANGE_REQUESTS, second_requests
    assert "staff: complete, 130 rows" in second.stdout and "companies: complete, 0 rows" in second.stdout
    assert_warehouse_matches(project, sim)
    print(f"\nfirst fivetran debug run: {SIZES} in {first_requests} requests; "
          f"second (no change): {second_requests} requests (contract: at most {NO_CHANGE_REQUESTS})")

    # changes between runs, 250 of them sharing one date_modified second, are all picked up (in-process this time)
    advance_server_clock(sim, 100)
    tie = int(sim.clock()) - 5
    changed = set(sim.insert("companies", count=250, at=tie)) | set(sim.modify("companies", count=20, at=tie))
    sim.modify("jobs", count=7)
    sim.insert("invoices", count=12)
    sim.insert("payments", count=4)  # each also changes its invoice
    sim.modify("staff", count=3)
    advance_server_clock(sim, 10)
    debug_in_process(project, config(sim))
    assert_warehouse_matches(project, sim)
    assert len(warehouse_rows(project, "companies")) == SIZES["companies"] + 250
    assert changed <= set(warehouse_rows(project, "companies"))
    assert_no_secret(sim, first.stdout, first.stderr, second.stdout, second.stderr)


# -- a spent budget with a far reset ----------------------------------------------------------------------
def test_a_spent_budget_checkpoints_returns_with_a_warning_and_the_next_run_completes(
        tmp_path: Path, debug_in_process: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """An hour-long window nearly spent by the first run: update() does not sleep for up to an hour inside
    Fivetran's run, it commits what it has and says when the budget resets; the next sync finishes the data.
    (`fixed`: under the adaptive policy a first sync bigger than the window is paced over the hour instead.)"""
    with Simulator(sizes=SIZES, seed=17, rate_limit=22, rate_window_s=3600) as sim:
        project = make_project(tmp_path / "project")
        started = time.monotonic()
        debug_in_process(project, config(sim, max_rate_wait="2", budget_policy="fixed"))
        elapsed = time.monotonic() - started
        out = capsys.readouterr().out
        assert "SYNC SUCCEEDED" in out and elapsed < 30
        reset = re.search(r"WARNING .*request budget is spent and resets at (\S+ \S+ UTC)", out)
        assert reset, out[-3000:]
        window_end = math.ceil(sim.clock() / 3600) * 3600  # the fixed hour the simulator counts in
        assert abs(calendar.timegm(time.strptime(reset.group(1), "%Y-%m-%d %H:%M:%S UTC")) - window_end) <= 1
        state = saved_state(project)
        assert state == checkpoints_in(out)[-1]
        unfinished = [n for n in ALL if state["entities"][n]["window"] is not None]
        assert unfinished, "the budget should have run out before the end"
        assert sum(len(warehouse_rows(project, n)) for n in ALL) < sum(SIZES.values())

        advance_server_clock(sim, 3600)  # the next scheduled sync, in the next window
        debug_in_process(project, config(sim, max_rate_wait="2", budget_policy="fixed"))
        out = capsys.readouterr().out
        assert "SYNC SUCCEEDED" in out and "request budget is spent" not in out
        assert all(e["window"] is None for e in saved_state(project)["entities"].values())
        assert_warehouse_matches(project, sim)


# -- killed mid-way ---------------------------------------------------------------------------------------
def test_a_fivetran_debug_killed_mid_way_and_run_again_equals_the_truth(
        tmp_path: Path, sdk_home: Path, debug_in_process: Any) -> None:
    with Simulator(sizes=SIZES, seed=17, latency_ms=40) as sim:
        project = make_project(tmp_path / "project")
        write_configuration(project, config(sim, threads="2"))
        process = subprocess.Popen([str(VENV_BIN / "fivetran"), "debug", str(project), "--configuration",
                                    str(project / "configuration.json")], cwd=project,
                                   env=runner_env(sdk_home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        seen: list[str] = []
        checkpoints = 0
        try:
            assert process.stdout is not None
            for line in process.stdout:  # the runner logs each checkpoint once it is committed
                seen.append(line)
                checkpoints += "checkpoint recorded" in line
                if checkpoints == 2:
                    process.send_signal(signal.SIGKILL)
                    break
        finally:
            process.kill()
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL, "".join(seen)[-3000:]
        state = saved_state(project)
        assert state is not None and any(e["window"] is not None for e in state["entities"].values()), state
        before = {n: len(warehouse_rows(project, n)) for n in ALL}
        assert sum(before.values()) < sum(SIZES.values())

        debug_in_process(project, config(sim, threads="2"))
        assert_warehouse_matches(project, sim)


# -- bad configurations -----------------------------------------------------------------------------------
BAD = {
    "missing secret": ({"client_secret": ""}, r"client_secret is required"),
    "bad deployment": ({"base_url": None, "deployment": "acme.evil.com/x"}, r"deployment: 'acme.evil.com/x' is not"),
    "non-string value": ({"threads": 4}, r"all values must be strings"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_configuration_fails_clearly_before_any_request(
        sim: Simulator, tmp_path: Path, case: str, debug_in_process: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    change, message = BAD[case]
    configuration = {k: v for k, v in {**config(sim), **change}.items() if v is not None}
    project = make_project(tmp_path / "project")
    with pytest.raises(SystemExit) as exited:
        debug_in_process(project, configuration, {})
    out = capsys.readouterr().out
    assert exited.value.code == 1
    assert re.search(message, out), out[-3000:]
    assert len(sim.log) == 0, "no request may reach Accelo with a bad configuration"
    assert_no_secret(sim, out)


def test_the_connector_itself_refuses_non_strings_and_names_each_problem(sim: Simulator) -> None:
    """Fivetran's runtime hands strings; the connector checks anyway (the local runner checks before it does)."""
    with pytest.raises(ConfigError) as err:
        settings_from_configuration({**config(sim), "threads": 4, "overlap_seconds": True, "client_secret": None})
    text = str(err.value)
    assert "threads must be a string" in text and "overlap_seconds must be a string" in text
    assert "client_secret must be a string" in text and "client_secret is required" in text
    assert sim.client_secret not in text
    assert len(sim.log) == 0


def test_max_rate_wait_defaults_to_a_few_minutes_in_the_connector_only(sim: Simulator) -> None:
    assert settings_from_configuration(config(sim)).max_rate_wait == DEFAULT_MAX_RATE_WAIT_S
    assert settings_from_configuration(config(sim, max_rate_wait="")).max_rate_wait == DEFAULT_MAX_RATE_WAIT_S
    assert settings_from_configuration(config(sim, max_rate_wait="45")).max_rate_wait == 45
    assert Settings.from_mapping(config(sim)).max_rate_wait is None  # the CLI waits for the window as before
    with pytest.raises(ConfigError, match="max_rate_wait"):
        settings_from_configuration(config(sim, max_rate_wait="soon"))


def test_the_example_configuration_is_all_strings_and_valid() -> None:
    example = json.loads((ROOT / "configuration.example.json").read_text())
    assert all(isinstance(v, str) for v in example.values())
    settings = settings_from_configuration(example)
    assert settings.deployment and settings.entities == ALL


# -- an outage --------------------------------------------------------------------------------------------
def test_an_outage_fails_the_sync_and_the_state_stays_at_the_last_checkpoint(
        sim: Simulator, tmp_path: Path, sdk_home: Path, debug_in_process: Any) -> None:
    project = make_project(tmp_path / "project")
    debug_in_process(project, config(sim))
    before = saved_state(project)
    advance_server_clock(sim, 60)
    sim.modify("companies", count=30)
    sim.modify("invoices", count=5)
    advance_server_clock(sim, 5)
    sim.faults.set_probability("503", 1.0, path="^/api/v0/invoices")  # invoices are down for good
    write_configuration(project, config(sim, max_attempts="2"))
    failed = fivetran_debug(project, sdk_home)
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert "SYNC FAILED" in failed.stdout
    assert re.search(r"error: invoices: gave up after 2 attempts.*HTTP 503", failed.stdout), failed.stdout[-3000:]
    after = saved_state(project)
    committed = checkpoints_in(failed.stdout)
    assert after == (committed[-1] if committed else before)
    assert after["entities"]["invoices"]["cursor"] == before["entities"]["invoices"]["cursor"]
    assert_no_secret(sim, failed.stdout, failed.stderr)

    sim.faults.clear()
    debug_in_process(project, config(sim))
    assert_warehouse_matches(project, sim)


# -- schema, threads, logging -----------------------------------------------------------------------------
def test_schema_declares_one_typed_table_per_selected_entity(connector_module: ModuleType, sim: Simulator) -> None:
    tables = connector_module.schema(config(sim, entities="jobs,staff"))
    assert [t["table"] for t in tables] == ["jobs", "staff"]
    jobs = tables[0]
    assert jobs["primary_key"] == ["id"]
    assert jobs["columns"]["id"] == "LONG" and jobs["columns"]["company"] == "LONG"
    assert jobs["columns"]["rate_charged"] == {"type": "DECIMAL", "precision": 18, "scale": 4}
    assert jobs["columns"]["date_modified"] == "UTC_DATETIME"
    assert jobs["columns"]["staff_bookmarked"] == "BOOLEAN" and jobs["columns"]["title"] == "STRING"
    assert set(jobs["columns"]) == set(ENTITIES["jobs"].field_names)
    assert len(sim.log) == 0


class RecordingOps:
    """The SDK's Operations as the adapter sees them, recording which thread each call came from."""

    def __init__(self) -> None:
        self.upserts: list[tuple[str, dict[str, Any], str]] = []
        self.checkpoints: list[dict[str, Any]] = []

    def upsert(self, table: str, data: dict[str, Any]) -> None:
        self.upserts.append((table, data, threading.current_thread().name))

    def checkpoint(self, state: dict[str, Any]) -> None:
        json.dumps(state)  # Fivetran keeps it as JSON
        self.checkpoints.append(state)


def test_upserts_come_only_from_the_calling_thread_with_sdk_ready_values(sim: Simulator) -> None:
    """Eight fetching threads; every op.upsert and op.checkpoint comes from the thread that called update(), and
    money goes over as exact text (the SDK's DECIMAL takes str or int, never Decimal or float)."""
    ops = RecordingOps()
    destination = FivetranDestination(ops, {})
    with AcceloClient(settings_from_configuration(config(sim, threads="8"))) as client:
        sync(client, destination, ["invoices", "staff"])
    assert {thread for _, _, thread in ops.upserts} == {threading.current_thread().name}
    assert len(ops.upserts) == SIZES["invoices"] + SIZES["staff"]
    amounts = [row["amount"] for table, row, _ in ops.upserts if table == "invoices"]
    assert all(isinstance(a, str) and re.fullmatch(r"-?\d+(\.\d+)?", a) for a in amounts if a is not None)
    assert ops.checkpoints and ops.checkpoints[-1]["entities"]["invoices"]["window"] is None

    worker_error: list[BaseException] = []

    def write_from_a_worker() -> None:
        try:
            destination.write(ENTITIES["staff"], [])
        except AcceloError as err:
            worker_error.append(err)

    worker = threading.Thread(target=write_from_a_worker)
    worker.start()
    worker.join()
    assert worker_error and "thread that runs update()" in str(worker_error[0])


def test_the_log_has_a_summary_and_the_converters_bad_values_as_warnings() -> None:
    lines: list[tuple[str, str]] = []

    class Log:
        @staticmethod
        def info(message: str) -> None:
            lines.append(("info", message))

        @staticmethod
        def warning(message: str) -> None:
            lines.append(("warning", message))

    report = SyncReport(run_start=0, requests=7, problems=["jobs: 2 values could not be converted and were set "
                                                           "to null (date_due ×2)"])
    report.entities["jobs"] = EntityReport("jobs", "modified", rows=5, pages=1, complete=True)
    LogProgress(Log).finished(report)
    assert lines[0][0] == "info" and "5 rows, 7 requests" in lines[0][1]
    assert ("warning", report.problems[0]) in lines


def test_the_log_names_the_budget_policy_and_what_was_left_to_the_others(tmp_path: Path, debug_in_process: Any,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """issue 13, item 5: the policy at the start (from configuration.json), and at the end what the run left to the
    other integrations, with their requests seen: a neighbour spends the same window here."""
    with Simulator(sizes=SIZES, seed=29, rate_limit=600, rate_window_s=60, neighbours="acct=steady:4") as sim:
        project = make_project(tmp_path / "project")
        time.sleep(1.0)
        debug_in_process(project, config(sim, entities="staff,companies"))
        adaptive = capsys.readouterr().out
        advance_server_clock(sim, 30)
        debug_in_process(project, config(sim, entities="staff,companies", budget_policy="fixed"))
        fixed = capsys.readouterr().out
    assert re.search(r"syncing staff, companies from \S+ with 4 threads, budget policy adaptive", adaptive), adaptive
    seen = re.search(r"budget policy adaptive; \d+ requests expected; [\d.]+ s paced \(spreading the run over the "
                     r"window\), [\d.]+ s yielded to the other integrations; the other integrations: (\d+) requests "
                     r"in the last window seen", adaptive)
    assert seen and int(seen[1]) >= 1, adaptive
    assert "with 4 threads, budget policy fixed" in fixed
    assert re.search(r"budget policy fixed: only budget_reserve was kept for the other integrations, no pacing; the "
                     r"other integrations: [1-9]\d* requests", fixed), fixed


# -- the bundle, in the lean venv -------------------------------------------------------------------------
def _require_bundle() -> None:
    missing = [str(p) for p in (BUNDLE / "connector.py", LEAN_BIN / "fivetran") if not p.exists()]
    if missing:
        message = f"{', '.join(missing)} missing: `make fivetran-bundle connector-venv` builds them"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_the_bundle_holds_exactly_what_the_connector_imports_and_is_current() -> None:
    _require_bundle()
    files = {p.relative_to(BUNDLE).as_posix() for p in BUNDLE.rglob("*") if p.is_file()}
    assert {"connector.py", "requirements.txt", "accelo_kit/__init__.py", "accelo_kit/sync/engine.py",
            "accelo_kit/destinations/fivetran/adapter.py", "accelo_kit/destinations/fivetran/schema.py",
            "accelo_kit/destinations/fivetran/idcodec.py"} <= files
    assert not {f for f in files if f.startswith(("accelo_kit/sim/", "tests/", "notebooks/", "bench/"))
                or f in {"accelo_kit/destinations/duckdb.py", "accelo_kit/destinations/memory.py",
                         "accelo_kit/cli.py", "accelo_kit/runner.py", "accelo_kit/report.py", "accelo_kit/paths.py",
                         "pyproject.toml"}}
    stale = [f for f in files if (BUNDLE / f).read_bytes() != (ROOT / f).read_bytes()]
    assert not stale, f"build/fivetran is older than the sources ({stale}): run `make fivetran-bundle`"
    # the SDK's import scan (pipreqs) over the bundle, matched against this venv, where pandas, duckdb, tqdm and
    # ipywidgets are installed: it finds nothing to add (requests, pre-installed on Fivetran, it cannot match
    # locally: its wheel has no top_level.txt)
    scan = subprocess.run([str(VENV_BIN / "pipreqs"), "--use-local", "--print", str(BUNDLE)], capture_output=True,
                          text=True, timeout=60)
    assert scan.returncode == 0, scan.stderr
    assert {line.split("==")[0] for line in scan.stdout.split()} == {"fivetran_connector_sdk"}, scan.stdout


def test_the_bundle_runs_clean_under_fivetran_debug_in_the_lean_venv(
        sim: Simulator, tmp_path: Path) -> None:
    """Only the SDK and requirements.txt installed (accelo_kit is not: the bundle's copy is imported), no
    dependency flagged by the import scan, the warehouse equal to the truth, and what `fivetran deploy` would
    upload after the run (`fivetran package`, offline) is the bundle and nothing of what the run left behind."""
    _require_bundle()
    home = make_home(tmp_path / "home")
    project = tmp_path / "bundle"
    shutil.copytree(BUNDLE, project)
    write_configuration(project, config(sim))
    run = fivetran_debug(project, home, bin_dir=LEAN_BIN)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "SYNC SUCCEEDED" in run.stdout
    assert "Include the following dependency" not in run.stdout and "not needed" not in run.stdout
    assert "ModuleNotFoundError" not in run.stdout + run.stderr
    assert_warehouse_matches(project, sim)
    assert warehouse_tables(project) == set(ALL)
    assert_no_secret(sim, run.stdout, run.stderr)

    # --force: the dependency check was just done by the run (offline it costs seconds of PyPI retries)
    packaged = subprocess.run([str(LEAN_BIN / "fivetran"), "package", str(project), "--force"],
                              cwd=project, env=runner_env(home, LEAN_BIN), capture_output=True, text=True,
                              timeout=120)
    assert packaged.returncode == 0, packaged.stdout[-3000:] + packaged.stderr[-3000:]
    archive = next((project / "files").glob("*.zip"))
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
    bundled = {p.relative_to(BUNDLE).as_posix() for p in BUNDLE.rglob("*") if p.is_file()}
    if not (project / "requirements.txt").exists():
        bundled.discard("requirements.txt")  # the SDK deletes a requirements.txt that lists nothing
    assert names - {"configuration_form.pb"} == bundled


@pytest.mark.parametrize("venv", ["main", "lean"])
def test_importing_the_connector_pulls_no_pandas_ipywidgets_or_jupyter(venv: str, tmp_path: Path) -> None:
    """In the main venv pandas, ipywidgets and jupyter are installed, so an accidental import would succeed."""
    if venv == "lean":
        _require_bundle()
    python, where = (VENV_BIN / "python", ROOT) if venv == "main" else (LEAN_BIN / "python", BUNDLE)
    probe = ("import sys, connector; "
             "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'ipywidgets') "
             "or m.startswith('jupyter')); print(bad); sys.exit(1 if bad else 0)")
    env = runner_env(make_home(tmp_path / "home"), python.parent)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave the bundle as it was built
    done = subprocess.run([str(python), "-c", probe], cwd=where, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


# -- hard deletes -----------------------------------------------------------------------------------------
def test_hard_deletes_reach_fivetran_as_soft_deletes(tmp_path: Path, debug_in_process: Any,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """issue 9: a completed reconciliation marks exactly the ids gone from Accelo with `_fivetran_deleted`; the
    ids the connector holds travel compactly in its state, since it cannot read the warehouse."""
    with Simulator(sizes=SIZES, seed=23) as sim:
        project = make_project(tmp_path / "project")
        debug_in_process(project, config(sim))
        capsys.readouterr()
        gone = {"companies": set(sim.delete("companies", count=7)), "staff": set(sim.delete("staff", count=2))}
        advance_server_clock(sim, 120)
        debug_in_process(project, config(sim, reconcile_every_days="0"))
        assert "SYNC SUCCEEDED" in capsys.readouterr().out
        with duckdb.connect(str(project / "files" / "warehouse.db"), read_only=True) as con:
            for name, ids in gone.items():
                flagged = {r[0] for r in con.execute(f'SELECT id FROM tester."{name}" WHERE _fivetran_deleted')
                           .fetchall()}
                assert flagged == ids, name
        assert len(json.dumps(saved_state(project)["fivetran_ids"])) < 20_000
        assert_warehouse_matches(project, sim, deleted=gone)
