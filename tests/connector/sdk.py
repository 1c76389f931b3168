"""Running connector.py the way Fivetran's SDK runs it, offline (docs/fivetran.md): the environment
`fivetran debug` needs, temporary project folders, and reading what a run left in files/warehouse.db and
files/state.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

from accelo_kit.entities import ENTITIES
from accelo_kit.sim import Simulator
from tests.helpers import assert_matches_truth

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
LEAN_BIN = ROOT / ".venv-connector" / "bin"
BUNDLE = ROOT / "build" / "fivetran"
SCHEMA = "tester"  # where `fivetran debug` puts the tables in files/warehouse.db


def make_home(home: Path) -> Path:
    """A HOME whose SDK and core believe they checked PyPI for a newer release just now (offline, a failed check
    costs seconds a run) and have shown the licence notice."""
    now = str(int(time.time()))
    sdk = home / ".fivetran" / "connector_sdk"
    sdk.mkdir(parents=True, exist_ok=True)
    (sdk / "_last_version_check").write_text(now)
    core = home / ".fivetran" / "connector_sdk_core"
    core.mkdir(parents=True, exist_ok=True)
    (core / "_config.json").write_text(json.dumps({"lastVersionCheck": int(now), "licenseNoticeShown": True}))
    return home


def runner_env(home: Path, bin_dir: Path = VENV_BIN) -> dict[str, str]:
    """The environment `fivetran debug` needs: a fresh HOME, no telemetry, the venv's bin (pipreqs) on PATH, and
    nothing from the caller that the SDK or the kit would read instead of the files we give them."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FIVETRAN_", "ACCELO_")) and k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env.update(HOME=str(home), DO_NOT_TRACK="1", PYTHONUNBUFFERED="1",
               PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    if bin_dir == VENV_BIN:  # the kit comes from this checkout (the editable install may be another worktree's)
        env["PYTHONPATH"] = str(ROOT)
    return env


def make_project(directory: Path, source: Path = ROOT) -> Path:
    """A project folder as a user has it: connector.py and requirements.txt (the kit is imported from the venv)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("connector.py", "requirements.txt"):
        shutil.copy(source / name, directory / name)
    return directory


def write_configuration(project: Path, configuration: dict[str, Any]) -> Path:
    path = project / "configuration.json"
    path.write_text(json.dumps(configuration))
    return path


def fivetran_debug(project: Path, home: Path, bin_dir: Path = VENV_BIN,
                   timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`fivetran debug <project> --configuration <project>/configuration.json`, state from files/state.json."""
    return subprocess.run([str(bin_dir / "fivetran"), "debug", str(project), "--configuration",
                           str(project / "configuration.json")], cwd=project, env=runner_env(home, bin_dir),
                          capture_output=True, text=True, timeout=timeout)


def saved_state(project: Path) -> dict[str, Any] | None:
    path = project / "files" / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


def warehouse_rows(project: Path, name: str) -> dict[int, dict[str, Any]]:
    columns = ENTITIES[name].field_names
    with duckdb.connect(str(project / "files" / "warehouse.db"), read_only=True) as con:
        fetched = con.execute(f'SELECT {", ".join(columns)} FROM {SCHEMA}."{name}"').fetchall()
    return {row[0]: dict(zip(columns, row, strict=True)) for row in fetched}


def warehouse_tables(project: Path) -> set[str]:
    with duckdb.connect(str(project / "files" / "warehouse.db"), read_only=True) as con:
        return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                                          [SCHEMA]).fetchall()}


def assert_warehouse_matches(project: Path, sim: Simulator, entities: tuple[str, ...] = tuple(ENTITIES),
                             deleted: dict[str, set[int]] | None = None) -> None:
    for name in entities:
        assert_matches_truth(warehouse_rows(project, name), sim, name, (deleted or {}).get(name, set()))


def api_requests(sim: Simulator) -> int:
    return len(sim.log.entries("/api/v0"))


def advance_server_clock(sim: Simulator, seconds: float) -> None:
    """Runs in a test follow each other within a second; the server's clock jumps so they are distinct."""
    sim.set(clock_offset_s=sim.settings.clock_offset_s + seconds)
