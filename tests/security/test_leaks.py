"""Security pass (issue 8): nothing leaked. Whole syncs run against a simulator that injects 429s, 5xx, dropped
connections, truncated bodies and a token revocation per run, at DEBUG level (root logger and urllib3), through
every shell the kit has: the library (two runs, the second incremental, and failing runs for their exception texts),
the CLI (`-vv sync` and `check --json`), the papermill notebook (its kernel logging at DEBUG too) and `fivetran debug`.

Then everything they produced is scanned for the client secret, every token the simulator issued (recorded as it
issued them, revoked ones included) and the Basic `Authorization` value, each raw, base64 (standard, URL-safe,
padded or not), URL- and form-encoded and JSON-escaped: captured logs, stdout and stderr, exception texts with
their chained tracebacks, the saved sync states, every byte of the DuckDB files, the executed notebook, and the
`fivetran debug` output and its files/ folder. The secret is distinctive and holds characters that encoding
changes, so each encoded form is a different string to look for.

Everything runs once, in a module fixture (about 15 s, most of it the notebook kernel and the SDK); the tests below
each scan one kind of output, so a leak is reported by where it is.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import nbformat
import papermill
import pytest

from accelo_kit import AcceloClient, Settings
from accelo_kit.cli import main
from accelo_kit.destinations.duckdb import STATE_TABLE, DuckDBDestination
from accelo_kit.destinations.fivetran import settings_from_configuration
from accelo_kit.errors import AcceloError
from accelo_kit.sim import Simulator
from accelo_kit.sync import SyncReport, sync
from tests.connector.sdk import fivetran_debug, make_home, make_project, write_configuration
from tests.helpers import assert_matches_truth, duckdb_rows
from tests.security.support import leaks, needles

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "sync.ipynb"
CLIENT_ID = "security-pass-client"
SECRET = "S3cr3t-Zx9/q+w=e&r%t~Yk"  # distinctive, and every encoding of it differs from the raw text
WRONG_SECRET = "Wr0ng-S3cr3t/+=&%"  # what a failed login sends: no more printable than the right one
SIZES = {"companies": 500, "invoices": 600, "payments": 300, "prospects": 200, "jobs": 300, "staff": 120}
FAULTS = {"429": 0.04, "500": 0.02, "502": 0.02, "503": 0.02, "drop": 0.04, "truncate": 0.04}
DEBUG_STARTUP = """\
import logging
logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("urllib3").setLevel(logging.DEBUG)
logging.getLogger("matplotlib").setLevel(logging.INFO)  # its font scan at DEBUG is thousands of lines of noise
"""


@dataclass
class Produced:
    """Everything the runs produced, by kind, and what is needed to judge it."""

    sim: Simulator
    work: Path
    deleted: set[int] = field(default_factory=set)  # jobs hard-deleted between the library's two runs
    tokens: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)  # formatted records, tracebacks included
    streams: dict[str, str] = field(default_factory=dict)  # stdout/stderr of in-process shells
    exceptions: dict[str, str] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # DuckDB files and the CLI's check report
    notebook: str = ""
    fivetran_output: str = ""
    fivetran_files: dict[str, bytes] = field(default_factory=dict)
    reports: list[SyncReport] = field(default_factory=list)
    requests: int = 0  # API requests the simulator answered (faulted ones included)

    def secrets(self) -> dict[str, bytes]:
        basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        wrong = base64.b64encode(f"{CLIENT_ID}:{WRONG_SECRET}".encode()).decode()
        named = {"client secret": SECRET, "wrong secret": WRONG_SECRET, "Basic value": basic,
                 "Basic header": f"Basic {basic}", "wrong Basic value": wrong}
        named.update({f"token {i}": token for i, token in enumerate(self.tokens)})
        return needles(named)


class Collect(logging.Handler):
    """Every record at any level, formatted as a log file would hold it (with its traceback, if any)."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(self.format(record))


def record_tokens(sim: Simulator, into: list[str]) -> None:
    """Every access token the simulator issues, as it issues it (revocations empty its table)."""
    issue = sim.tokens.issue

    def recording(*args: Any, **kwargs: Any) -> dict[str, object]:
        payload = issue(*args, **kwargs)
        into.append(str(payload["access_token"]))
        return payload

    sim.tokens.issue = recording  # type: ignore[method-assign]


def chaos(sim: Simulator) -> None:
    """Random faults on every API request, plus a revocation of every token on the run's first invoices request.
    One per run: two close together would refuse a request's fresh token too, which the contract makes fatal."""
    sim.faults.clear()
    for kind, probability in FAULTS.items():
        sim.faults.set_probability(kind, probability)
    sim.faults.script("revoke", 1, path=r"^/api/v0/invoices")


def library_sync(settings: Settings, db: Path) -> SyncReport:
    """One sync as a fresh process does it: a new client (and token) and a new destination."""
    with AcceloClient(settings) as client, DuckDBDestination(db) as destination:
        return sync(client, destination, settings.entities)


def failure_text(err: BaseException) -> str:
    """What a person or a log could ever see of an exception: str, repr, attributes, the chained traceback."""
    return "\n".join([str(err), repr(err), repr(vars(err)), "".join(traceback.format_exception(err))])


def expect_failure(action: Callable[[], object]) -> str:
    """The text of the error `action` must end in (a run that succeeded would have nothing to scan)."""
    try:
        action()
    except (AcceloError, ValueError) as err:
        return failure_text(err)
    pytest.fail("the run was expected to fail")


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Produced]:
    """Runs everything once against one simulator with a distinctive secret, and gathers what it produced. The
    in-process runs log at DEBUG into a collecting handler on the root logger; the notebook and `fivetran debug`
    are separate processes whose outputs are gathered whole."""
    work = tmp_path_factory.mktemp("leaks")
    with Simulator(sizes=SIZES, seed=41, client_id=CLIENT_ID, client_secret=SECRET, rate_limit=100_000,
                   rate_window_s=1.0, fault_seed=5) as sim, pytest.MonkeyPatch.context() as patch:
        out = Produced(sim, work)
        record_tokens(sim, out.tokens)
        for name in ("ACCELO_DEPLOYMENT", "ACCELO_CLIENT_ID", "ACCELO_CLIENT_SECRET", "ACCELO_BASE_URL"):
            patch.delenv(name, raising=False)
        config = work / "configuration.json"
        config.write_text(json.dumps({**sim.configuration(), "threads": "4"}))
        settings = Settings.load(config, environ={})

        handler, root, urllib3 = Collect(out.logs), logging.getLogger(), logging.getLogger("urllib3")
        levels = root.level, urllib3.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        urllib3.setLevel(logging.DEBUG)
        try:
            _library_runs(out, sim, settings, work)
            _cli_runs(out, sim, config, work)
        finally:
            root.removeHandler(handler)
            root.setLevel(levels[0])
            urllib3.setLevel(levels[1])
        _notebook_run(out, sim, config, work, patch)
        _fivetran_run(out, sim, work)
        out.requests = len(sim.log.entries("/api/"))
        for db in work.rglob("*.duckdb*"):
            out.files[str(db.relative_to(work))] = db.read_bytes()
        for db in work.glob("*.duckdb"):
            with duckdb.connect(str(db), read_only=True) as con:
                row = con.execute(f"SELECT state FROM {STATE_TABLE}").fetchone()
            out.states[db.name] = row[0] if row else ""
        yield out


def _library_runs(out: Produced, sim: Simulator, settings: Settings, work: Path) -> None:
    """Two chaos syncs (the second incremental, after inserts, edits and hard deletes), then runs that fail in each
    way an exception could carry a credential: a wrong secret, a fresh token refused, retries exhausted, and a
    secret typed into the wrong keys."""
    db = work / "library.duckdb"
    chaos(sim)
    out.reports.append(library_sync(settings, db))
    sim.set(clock_offset_s=60)
    sim.insert("companies", count=40)
    sim.modify("invoices", count=30)
    out.deleted.update(sim.delete("jobs", count=3))
    sim.set(clock_offset_s=120)
    chaos(sim)
    out.reports.append(library_sync(settings, db))

    # failing runs, for what their exceptions say
    quick = Settings.load(work / "configuration.json", environ={}, max_attempts="2", max_retry_wait="1")
    out.exceptions["wrong secret"] = expect_failure(
        lambda: library_sync(Settings.load(None, environ={}, **{**sim.configuration(), "client_secret": WRONG_SECRET}),
                             work / "wrong-secret.duckdb"))
    sim.faults.clear()
    sim.faults.set_probability("revoke", 1.0, path=r"^/api/v0/staff")  # a fresh token is refused too
    out.exceptions["revoked again"] = expect_failure(lambda: library_sync(quick, work / "revoked.duckdb"))
    sim.faults.clear()
    sim.faults.set_probability("503", 1.0, path=r"^/api/v0/jobs")
    out.exceptions["retries exhausted"] = expect_failure(lambda: library_sync(quick, work / "outage.duckdb"))
    sim.faults.clear()
    out.exceptions["secret in the wrong key"] = expect_failure(
        lambda: settings_from_configuration({**sim.configuration(), "threads": SECRET, "scope": SECRET}))


def _cli_runs(out: Produced, sim: Simulator, config: Path, work: Path) -> None:
    """`accelo-kit -vv sync` under the chaos, and `-vv check` (which gives up after two tries, by design) with one
    revocation only; stdout and stderr are swapped by hand (a module fixture has no capsys)."""
    for name, argv in {"cli sync": ["-vv", "sync", "--config", str(config), "--db", str(work / "cli.duckdb")],
                       "cli check": ["-vv", "check", "--config", str(config), "--json", str(work / "check.json")]
                       }.items():
        chaos(sim)
        if name == "cli check":
            sim.faults.clear()
            sim.faults.script("revoke", 1)
        stdout, stderr = io.StringIO(), io.StringIO()
        root = logging.getLogger()
        handlers = root.handlers[:]
        root.handlers.clear()  # so the CLI's logging.basicConfig installs its own handler, on this stderr
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = main(argv)
        finally:
            root.handlers[:] = handlers
        out.streams[name] = f"exit {code}\n{stdout.getvalue()}\n{stderr.getvalue()}"
        assert code == 0, out.streams[name][-3000:]
    out.files["check.json"] = (work / "check.json").read_bytes()
    sim.faults.clear()


def _notebook_run(out: Produced, sim: Simulator, config: Path, work: Path, patch: pytest.MonkeyPatch) -> None:
    """papermill, as a scheduler runs it, with config_path (secrets are never parameters); an IPython startup file
    puts the kernel's root logger and urllib3 at DEBUG, so their records land in the executed notebook."""
    startup = work / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-debug.py").write_text(DEBUG_STARTUP)
    patch.setenv("IPYTHONDIR", str(work / "ipython"))
    patch.setenv("JUPYTER_PATH", str(Path(sys.prefix) / "share" / "jupyter"))
    executed = work / "sync-run.ipynb"
    chaos(sim)
    papermill.execute_notebook(str(NOTEBOOK), str(executed), kernel_name="python3", cwd=str(NOTEBOOK.parent),
                               progress_bar=False, log_output=False,
                               parameters={"config_path": str(config), "db_path": str(work / "notebook.duckdb"),
                                           "threads": 4})
    sim.faults.clear()
    out.notebook = executed.read_text()


def _fivetran_run(out: Produced, sim: Simulator, work: Path) -> None:
    """One `fivetran debug` in a subprocess (the SDK's own runner and logging), under the same faults."""
    project = make_project(work / "project")
    write_configuration(project, {**sim.configuration(), "threads": "4"})
    chaos(sim)
    run = fivetran_debug(project, make_home(work / "home"), timeout=150)
    sim.faults.clear()
    out.fivetran_output = f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    assert run.returncode == 0, out.fivetran_output[-3000:]
    for path in sorted((project / "files").rglob("*")):
        if path.is_file():
            out.fivetran_files[str(path.relative_to(project))] = path.read_bytes()


def assert_clean(what: str, haystack: str | bytes, produced: Produced) -> None:
    found = leaks(haystack, produced.secrets())
    assert not found, f"{what} holds {', '.join(found)}"


# -- the runs were what the scan needs -------------------------------------------------------------------------
def test_the_runs_met_every_fault_and_logged_at_debug(produced: Produced) -> None:
    """The scan means something only if the runs went through the fault paths, renewed tokens after revocations,
    succeeded (so their logs and files are complete) and logged at DEBUG, urllib3 included."""
    injected = produced.sim.faults.injected
    groups = {"429": ["429"], "5xx": ["500", "502", "503"], "drop": ["drop"], "truncate": ["truncate"],
              "revoke": ["revoke"]}
    missed = [group for group, kinds in groups.items() if not sum(injected[k] for k in kinds)]
    assert not missed, f"no {missed} among {sorted(injected.items())}"
    assert produced.requests >= 120, produced.requests
    assert len(produced.tokens) >= 8, "every revocation and every run costs a new token"
    assert all(report.complete for report in produced.reports)
    logs = "\n".join(produced.logs)
    assert " DEBUG accelo_kit." in logs and " DEBUG urllib3.connectionpool:" in logs
    assert "DEBUG urllib3.connectionpool" in produced.notebook, "the notebook's kernel did not log at DEBUG"
    assert "DEBUG" in produced.streams["cli sync"]
    assert "SYNC SUCCEEDED" in produced.fivetran_output
    assert {"files/warehouse.db", "files/state.json"} <= set(produced.fivetran_files)


def test_the_scan_finds_each_encoding_where_it_is(produced: Produced) -> None:
    """The control: each encoded form is found where it is planted, so a clean result is not a blind scanner."""
    secrets = produced.secrets()
    for name, needle in secrets.items():
        assert leaks(b"<<" + needle + b">>", secrets) and name in leaks(needle, secrets)
    config = json.dumps({**produced.sim.configuration()})
    assert "client secret (raw)" in leaks(config, secrets)


# -- the scans -------------------------------------------------------------------------------------------------
def test_logs_at_debug_hold_no_secret_or_token(produced: Produced) -> None:
    assert produced.logs
    assert_clean("the captured log", "\n".join(produced.logs), produced)


def test_cli_output_holds_no_secret_or_token(produced: Produced) -> None:
    for name, text in produced.streams.items():
        assert_clean(f"the output of {name}", text, produced)


def test_exception_texts_hold_no_secret_or_token(produced: Produced) -> None:
    assert set(produced.exceptions) == {"wrong secret", "revoked again", "retries exhausted",
                                        "secret in the wrong key"}
    assert "authentication failed" in produced.exceptions["wrong secret"]
    assert "refused too" in produced.exceptions["revoked again"]
    for name, text in produced.exceptions.items():
        assert_clean(f"the exception of the {name!r} run", text, produced)


def test_saved_sync_states_hold_no_secret_or_token(produced: Produced) -> None:
    assert {"library.duckdb", "cli.duckdb", "notebook.duckdb"} <= set(produced.states)
    for name, state in produced.states.items():
        assert_clean(f"the sync state in {name}", state, produced)
    assert_clean("the Fivetran state", produced.fivetran_files["files/state.json"], produced)


def test_duckdb_files_hold_no_secret_or_token_in_any_byte(produced: Produced) -> None:
    assert any(name.endswith(".duckdb") for name in produced.files)
    for name, data in produced.files.items():
        assert_clean(name, data, produced)


def test_the_executed_notebook_holds_no_secret_or_token(produced: Produced) -> None:
    nb = nbformat.reads(produced.notebook, as_version=4)
    assert nb.metadata.papermill.exception is None
    assert nb.metadata.papermill.parameters == {"config_path": nb.metadata.papermill.parameters["config_path"],
                                                "db_path": nb.metadata.papermill.parameters["db_path"],
                                                "threads": 4}
    assert_clean("the executed notebook", produced.notebook, produced)


def test_fivetran_debug_output_and_files_hold_no_secret_or_token(produced: Produced) -> None:
    assert_clean("the output of fivetran debug", produced.fivetran_output, produced)
    for name, data in produced.fivetran_files.items():
        assert_clean(f"fivetran debug's {name}", data, produced)


def test_the_library_database_is_right_after_the_chaos(produced: Produced) -> None:
    """Not a leak check: the proof that the chaos runs really synced. Every row and column is as the truth has it
    (the jobs hard-deleted between the runs may linger: no reconciliation was due)."""
    for name in SIZES:
        assert_matches_truth(duckdb_rows(produced.work / "library.duckdb", name), produced.sim, name,
                             produced.deleted if name == "jobs" else set())
