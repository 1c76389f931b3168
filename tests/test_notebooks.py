"""notebooks/sync.ipynb, executed by papermill as a scheduler would run it (issue 4, "The papermill notebook").

The kernel is the `python3` kernelspec with this venv's jupyter data first on JUPYTER_PATH (as `make demo` does), so
the kernel is this interpreter whatever the machine's user-level kernelspecs say.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import jupytext
import nbformat
import papermill
import pytest
from papermill.exceptions import PapermillExecutionError

from accelo_kit.config import ConfigSource, config_source
from accelo_kit.sim import Simulator

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SYNC = NOTEBOOKS / "sync.ipynb"
SIM_SECRET = Simulator(seed=1).client_secret  # "accelo-sim-secret": what the embedded simulator accepts
ENTITIES = ("companies", "staff")
PARAMETERS = {"config_path": "str", "db_path": "str", "entities": "str", "threads": "int", "full_refresh": "bool",
              "overlap_seconds": "int", "budget_policy": "str"}


@pytest.fixture(scope="module")
def jupyter_path(notebook_env: None) -> None:
    """The shared notebook environment (tests/conftest.py)."""


def execute(output: Path, **parameters: Any) -> nbformat.NotebookNode:
    return papermill.execute_notebook(str(SYNC), str(output), parameters=parameters, kernel_name="python3",
                                      cwd=str(NOTEBOOKS), progress_bar=False, log_output=False)


def text_of(nb: nbformat.NotebookNode) -> str:
    """Everything the executed notebook shows: stream text and the text/plain and text/html of displays."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts.extend(data.get(kind, "") for kind in ("text/plain", "text/html"))
            parts.append("\n".join(output.get("traceback", [])))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed(jupyter_path, tmp_path_factory) -> tuple[nbformat.NotebookNode, Path, Path]:
    where = tmp_path_factory.mktemp("notebook")
    db = where / "accelo.duckdb"
    nb = execute(where / "sync-run.ipynb", db_path=str(db), entities=",".join(ENTITIES))
    return nb, db, where / "sync-run.ipynb"


def test_the_notebook_writes_the_simulators_rows_into_duckdb(executed) -> None:
    _, db, _ = executed
    sim = Simulator(seed=1)  # the embedded default: generated, never started
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert tables == {*ENTITIES, "_accelo_kit_state"}
        for name in ENTITIES:
            ids = sorted(i for (i,) in con.execute(f'SELECT id FROM "{name}"').fetchall())
            assert ids == [int(row["id"]) for row in sim.truth(name)], name
        state = json.loads(con.execute("SELECT state FROM _accelo_kit_state").fetchone()[0])
    assert state["simulated"] is True and state["target"] == "simulator:seed=1"


def test_the_executed_notebook_shows_the_summary_and_plot_and_no_secret(executed) -> None:
    nb, _, path = executed
    shown = text_of(nb)
    assert "SIMULATED" in shown
    kernel_python = re.search(r"^accelo-kit \S+, Python \S+ at (.+)$", shown, re.MULTILINE).group(1)
    assert Path(kernel_python).parent == Path(sys.executable).parent  # the kernel runs in this venv
    sim = Simulator(seed=1)
    for name in ENTITIES:  # the summary DataFrame, one row per entity with its rows
        assert any(line.split()[:3] == [name, "modified" if name == "companies" else "full",
                                        str(len(sim.truth(name)))] for line in shown.splitlines()), name
    frames = [o.data["text/html"] for c in nb.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any("<table" in html and all(f"<th>{name}</th>" in html for name in ENTITIES) for html in frames), \
        "no summary DataFrame"
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])), "no plot"
    # what was left to the other integrations (issue 13): the policy above the bars, and the summary's last line
    assert "budget policy adaptive: keeping for the other integrations" in shown
    assert re.search(r"^budget policy adaptive; \d+ requests expected; [\d.]+ s paced .*; the other integrations: "
                     r"\d+ requests in the last window seen", shown, re.MULTILINE), shown
    assert nb.metadata.papermill.exception is None
    assert SIM_SECRET not in path.read_text()


def test_a_failing_run_makes_papermill_raise(jupyter_path, tmp_path) -> None:
    output = tmp_path / "failed.ipynb"
    with pytest.raises(PapermillExecutionError) as raised:
        execute(output, db_path=str(tmp_path / "a.duckdb"), entities="widgets")
    assert raised.value.ename == "ConfigError"
    assert "unknown entity widgets" in raised.value.evalue
    record = output.read_text()
    assert "unknown entity widgets" in record  # the run's record says why
    assert SIM_SECRET not in record


def test_a_run_that_stops_early_makes_papermill_raise(jupyter_path, tmp_path) -> None:
    """A real deployment's path (config_path): the hourly budget runs out, the sync stops at a checkpoint, the
    notebook fails so the scheduler notices, and the secret in configuration.json stays out of the record."""
    with Simulator(seed=2, sizes={"companies": 3000}, rate_limit=12, rate_window_s=3600) as sim:
        config = tmp_path / "configuration.json"
        config.write_text(json.dumps({**sim.configuration(), "max_rate_wait": "2"}))
        output = tmp_path / "deferred.ipynb"
        with pytest.raises(PapermillExecutionError) as raised:
            execute(output, config_path=str(config), db_path=str(tmp_path / "a.duckdb"), entities="companies",
                    budget_policy="fixed")
        secret = sim.client_secret
    assert raised.value.ename == "RuntimeError" and "stopped early" in raised.value.evalue
    shown = text_of(nbformat.read(output, as_version=4))
    assert "STOPPED EARLY" in shown and "SIMULATED" not in shown
    assert "budget policy fixed: only budget_reserve was kept" in shown  # the parameter overrides the key
    assert secret not in output.read_text()
    with duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True) as con:  # what was fetched is kept
        assert 0 < con.execute("SELECT count(*) FROM companies").fetchone()[0] < 3000


def test_help_notebook_lists_every_parameter_and_no_secret() -> None:
    help_text = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", str(SYNC)], capture_output=True,
                               text=True, timeout=60, check=True).stdout
    for name, kind in PARAMETERS.items():
        assert f"{name}: {kind}" in help_text, help_text
    inferred = papermill.inspect_notebook(str(SYNC))
    assert list(inferred) == list(PARAMETERS)
    assert not [name for name in inferred if "secret" in name or "token" in name or "password" in name]


def test_the_paired_py_file_is_in_sync_with_the_notebook() -> None:
    notebook = jupytext.read(SYNC)
    assert "py:percent" in notebook.metadata["jupytext"]["formats"]
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert jupytext.writes(notebook, fmt="py:percent") == SYNC.with_suffix(".py").read_text()


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_have_no_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert "papermill" not in nb.metadata and "widgets" not in nb.metadata



def test_config_path_is_parsed_in_one_place_for_every_notebook(tmp_path: Path) -> None:
    """"": the embedded simulator; "env": ACCELO_* only; anything else: a configuration file, `~` expanded. Each
    notebook reads its `config_path` parameter through this one function, none on its own."""
    assert config_source("") == config_source("  ") == ConfigSource(None, True)
    assert config_source("env") == config_source(" env ") == ConfigSource(None, False)
    assert config_source(f" {tmp_path}/c.json ") == ConfigSource(tmp_path / "c.json", False)
    assert config_source("~/c.json").path == Path.home() / "c.json"
    for name in ("sync", "explore", "tune_threads"):
        script = (NOTEBOOKS / f"{name}.py").read_text()
        after_parameters = script.split('# %% tags=["parameters"]', 1)[1].split("\n# %%", 1)[1]
        assert '"env"' not in after_parameters and "config_path.strip()" not in after_parameters, name
    assert "config_source(config_path)" in (ROOT / "accelo_kit/notebook/explore/widgets.py").read_text()
