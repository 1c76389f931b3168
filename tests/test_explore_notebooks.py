"""The explorer's callbacks without a browser, and explore.ipynb / tune_threads.ipynb executed headless by papermill
against the simulator (issue 6, "notebooks/explore.ipynb", "Notebook hygiene" and "Tests")."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import papermill
import pytest

from accelo_kit.entities import AGAINST_TYPES, ENTITIES, JOIN_HINTS, MONEY, STANDINGS, entity
from accelo_kit.notebook.explore import Explorer, LoadRequest, join_frames
from accelo_kit.notebook.explore import load as explore_load
from accelo_kit.sim import Simulator

from .conftest import SMALL_SIZES

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MINE = ("explore", "tune_threads")
SIM_SECRET = Simulator(seed=1).client_secret


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ACCELO_* of whoever runs the tests, and no saved tuning from the checkout's out/."""
    for name in ("ACCELO_DEPLOYMENT", "ACCELO_CLIENT_ID", "ACCELO_CLIENT_SECRET", "ACCELO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("accelo_kit.tuned.default_tuning_path", lambda: tmp_path / "no-tuning.json")


@pytest.fixture
def ex() -> Iterator[Explorer]:
    with Explorer.connect("", simulator_settings={"sizes": SMALL_SIZES, "seed": 11}) as explorer:
        yield explorer


def truth(name: str) -> list[dict[str, Any]]:
    """The explorer's simulator's rows: the same seed and sizes generate the same data (never started)."""
    return Simulator(seed=11, sizes=SMALL_SIZES).truth(name)


# -- callbacks, without a browser ----------------------------------------------------------------------------
def test_clicking_load_gives_the_typed_frame_progress_and_cost(ex: Explorer) -> None:
    updates: list[tuple[int, str]] = []
    ex.progress.observe(lambda change: updates.append((change["new"], threading.current_thread().name)), "value")
    ex.resource.value = "invoices"
    ex.load_button.click()
    frame = ex.frames["invoices"]
    assert frame.shape == (SMALL_SIZES["invoices"], 20)
    assert str(frame["amount"].dtype) == "object" and str(frame["date_modified"].dtype) == "datetime64[us, UTC]"
    assert str(frame["against_id"].dtype) == "Int64" and frame["id"].is_monotonic_increasing
    assert ex.progress.value == ex.progress.max == SMALL_SIZES["invoices"]
    result = ex.results["invoices"]
    assert result.requests <= math.ceil(SMALL_SIZES["invoices"] / 100) + ex.client.settings.threads
    assert "costs about 4 requests" in ex.status.value and "left in this window" in ex.status.value
    # worker threads only fetch: every widget update happened on the clicking thread
    assert updates and {name for _, name in updates} == {threading.current_thread().name}


def test_filters_fields_and_row_cap(ex: Explorer) -> None:
    rows = truth("companies")
    ex.resource.value = "companies"
    ex.standing.value = "inactive"
    ex.date_from.value, ex.date_to.value = date(2026, 6, 1), date(2026, 9, 30)
    start, end = (int(datetime(*d, tzinfo=timezone.utc).timestamp()) for d in ((2026, 6, 1), (2026, 10, 1)))
    expected = sorted(int(r["id"]) for r in rows if r["standing"] == "inactive"
                      and start <= int(r["date_modified"]) < end)
    ex.load_button.click()
    assert expected and ex.frames["companies"]["id"].tolist() == expected
    assert ex.request().filters() == [f"date_modified_after({start - 1})", f"date_modified_before({end})",
                                      "standing(inactive)"]

    ex.standing.value, ex.date_from.value, ex.date_to.value = "", None, None
    ex.fields.value = "defaults"
    ex.load_button.click()
    assert list(ex.frames["companies"].columns) == ["id", "name"]  # what Accelo sends without _fields

    ex.resource.value, ex.fields.value, ex.row_cap.value = "invoices", "all", 150
    result = ex.click_load()
    assert len(result.frame) == 150 and result.capped and result.matching == len(truth("invoices"))
    assert result.requests <= 2 + ex.client.settings.threads  # stops once it has enough


def test_staff_have_no_date_range_and_invoices_no_standing(ex: Explorer) -> None:
    ex.resource.value = "staff"
    assert ex.date_from.disabled and not ex.standing.disabled and "lockout" in ex.standing.options
    ex.resource.value = "invoices"
    assert ex.standing.disabled and not ex.date_from.disabled
    assert LoadRequest("payments", date_from=date(2026, 1, 1)).filters()[0].startswith("date_created_after(")
    with pytest.raises(ValueError, match="empty"):
        LoadRequest("jobs", date_from=date(2026, 2, 1), date_to=date(2026, 1, 1))


def test_a_large_load_waits_for_a_second_click(ex: Explorer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(explore_load, "LARGE_LOAD_REQUESTS", 5)
    ex.resource.value = "companies"
    spent = ex.client.stats().requests
    ex.load_button.click()
    assert "companies" not in ex.frames and ex.pending is not None
    assert ex.client.stats().requests == spent + 1  # only the /count
    assert "large load" in ex.status.value and "Load anyway" in ex.load_button.description
    ex.load_button.click()
    assert len(ex.frames["companies"]) == SMALL_SIZES["companies"] and ex.pending is None


def test_joining_invoices_with_companies_by_id(ex: Explorer) -> None:
    for name in ("invoices", "companies"):
        ex.resource.value = name
        ex.load_button.click()
    ex.join_left.value, ex.join_right.value = "invoices", "companies"
    assert ex.join_on.value == "against_id"  # the known link is suggested
    ex.join_button.click()
    joined = ex.joined
    invoices = truth("invoices")
    on_companies = sum(1 for r in invoices if r["against_type"] == "company")
    assert joined.matched == on_companies and len(joined.frame) == len(invoices)
    matched = joined.frame[joined.frame["companies.id"].notna()]
    assert (matched["against_id"] == matched["companies.id"]).all()
    assert matched["companies.name"].notna().all()
    with pytest.raises(KeyError):
        join_frames("invoices", ex.frames["invoices"], "nope", "companies", ex.frames["companies"])


def test_waits_for_the_rate_window_are_announced_on_the_clicking_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """A compressed window of 3 requests per 2 s: the pages of 300 invoices must wait for it, the scan's worker
    that waits only enqueues the notice, and the status line shows it from the clicking thread."""
    monkeypatch.setattr(explore_load, "LARGE_LOAD_SHARE", 1000.0)  # no second click for a tiny window
    shown: list[tuple[str, str]] = []  # every status line, and the thread that set it
    with Explorer.connect("", simulator_settings={"sizes": SMALL_SIZES, "seed": 11, "rate_limit": 3,
                                                  "rate_window_s": 2.0}) as ex:
        ex.status.observe(lambda change: shown.append((change["new"], threading.current_thread().name)), "value")
        ex.resource.value = "invoices"
        ex.load_button.click()
        assert ex.error is None and len(ex.frames["invoices"]) == SMALL_SIZES["invoices"]
    progress = [text for text, _ in shown if " rows · " in text]  # the load's progress lines (LoadProgress)
    assert [t for t in progress if " · waiting " in t and "rate limit window" in t], shown
    assert {thread for _, thread in shown} == {threading.current_thread().name}


def test_a_load_that_fits_is_not_paced_and_a_bigger_one_is_from_its_first_page() -> None:
    """issue 13: a load tells the client its cost. 25 staff (1 request) fit in a window of 12 requests and go at
    full speed; 1,200 companies (13 requests) do not, and are spread over the window from the first page on, not
    only after meeting a spent window. The status line says which, and what was left to the other integrations."""
    settings = {"sizes": {**SMALL_SIZES, "companies": 1200}, "seed": 11, "rate_limit": 12, "rate_window_s": 4.0}
    with Explorer.connect("", threads=2, simulator_settings=settings) as ex:
        paced: list[bool] = []

        def watch(_progress: object) -> None:
            paced.append(ex.client.stats().paced)

        small = explore_load.load_frame(ex.client, LoadRequest("staff"), on_progress=watch)
        assert len(small.frame) == SMALL_SIZES["staff"] and paced and not any(paced) and small.paced_s == 0
        big = LoadRequest("companies")
        estimate = explore_load.estimate_load(ex.client, big)
        assert estimate.paced and "does not fit in the window: its requests are spread over it" in \
            estimate.describe()
        paced.clear()
        result = explore_load.load_frame(ex.client, big, estimate, on_progress=watch)
        assert len(result.frame) == 1200 and paced[0] and result.paced_s > 0, (paced, result.paced_s)
        assert result.budget_note().startswith(f"Budget policy adaptive: {result.paced_s:.1f} s paced")
        assert not ex.client.stats().paced  # what the load did not spend is not owed by the next one
        assert ex.client.stats().throttled == 0
        ex.load("staff")  # the widget's path: the status line names the policy
        assert "the load fits, not paced" in ex.status.value and "Budget policy adaptive: 0.0 s paced" in \
            ex.status.value, ex.status.value


def test_the_fixed_policy_never_paces_a_load() -> None:
    settings = {"sizes": {**SMALL_SIZES, "companies": 1200}, "seed": 11, "rate_limit": 12, "rate_window_s": 4.0}
    with Explorer.connect("", threads=2, budget_policy="fixed", simulator_settings=settings) as ex:
        estimate = explore_load.estimate_load(ex.client, LoadRequest("companies"))
        assert not estimate.paced and "Budget policy fixed: only budget_reserve (1) is kept" in estimate.describe()


def test_the_accelo_facts_the_explorer_shows_name_real_resources_and_columns() -> None:
    """Standings, money columns, join hints and against_types sit with the entity declarations: each names a
    declared resource and, where it names a column, one of that resource's columns of the right type."""
    assert set(STANDINGS) <= set(ENTITIES) and all("standing" in entity(r).field_names for r in STANDINGS)
    for name, (amount, when) in MONEY.items():
        kinds = dict(entity(name).column_types())
        assert (kinds[amount], kinds[when]) == ("decimal", "timestamp"), name
    for (left, right), column in JOIN_HINTS.items():
        assert right in ENTITIES and dict(entity(left).column_types())[column] in ("int", "link"), (left, right)
    assert set(AGAINST_TYPES) <= set(ENTITIES)


# -- notebooks headless ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kernel_env(notebook_env: None) -> None:
    """The shared notebook environment (tests/conftest.py)."""


def run(name: str, output: Path, **parameters: Any) -> nbformat.NotebookNode:
    return papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(output), parameters=parameters,
                                      kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False,
                                      log_output=False)


def outputs(nb: nbformat.NotebookNode, kind: str) -> list[str]:
    """Every output of a MIME type ("stream" for printed text)."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if kind == "stream" and out.get("output_type") == "stream":
                found.append(out["text"])
            elif kind in out.get("data", {}):
                found.append(out["data"][kind])
    return found


def test_explore_notebook_autoloads_a_typed_frame_headless(kernel_env, tmp_path: Path) -> None:
    out = tmp_path / "explore-run.ipynb"
    nb = run("explore", out, autoload="invoices", join_with="companies")
    printed = "".join(outputs(nb, "stream"))
    assert "SIMULATED data" in printed
    sim = Simulator(seed=1)  # the embedded default
    invoices, companies = len(sim.truth("invoices")), sim.truth("companies")
    assert f"loaded invoices: {invoices} rows x 20 columns" in printed
    assert "threads, budget policy adaptive" in printed
    on_companies = sum(1 for r in sim.truth("invoices") if r["against_type"] == "company")
    assert f"{on_companies:,} of {invoices:,} invoices rows matched" in printed and companies
    plain = "\n".join(outputs(nb, "text/plain"))
    for line in ("amount                       object", "date_modified   datetime64[us, UTC]",
                 "against_id                    Int64", "subject                      string"):
        assert line in plain, line  # the profile's dtype table
    assert any('class="dataframe"' in h for h in outputs(nb, "text/html"))
    assert len(outputs(nb, "image/png")) == 1  # rows per month and amounts per month
    assert outputs(nb, "application/vnd.jupyter.widget-view+json")  # the widgets were displayed
    assert SIM_SECRET not in out.read_text()


def test_tune_notebook_recommends_the_workers_and_saves_it(kernel_env, tmp_path: Path) -> None:
    saved = tmp_path / "tuning.json"
    nb = run("tune_threads", tmp_path / "tune-run.ipynb", sim_latency_ms=50, sim_workers=3,
             thread_counts="1,2,3,4,5,6", pages_per_trial=24, tuning_path=str(saved))
    printed = "".join(outputs(nb, "stream"))
    assert "6 trials (1, 2, 3, 4, 5, 6 threads) × 24 pages of invoices + 1 count = 145 requests, 2.9%" in printed
    assert "budget policy adaptive" in printed  # the key flows through the settings (issue 13)
    tuning = json.loads(saved.read_text())
    assert abs(tuning["threads"] - 3) <= 1 and tuning["target"] == "simulator"
    assert f"Recommended: {tuning['threads']} threads." in printed
    assert len(outputs(nb, "image/png")) == 1
    table = next(c for c in nb.cells if "table" in c.metadata.get("tags", []))
    assert "p95 ms" in table.outputs[0]["data"]["text/html"]


def test_tune_notebook_refuses_a_sweep_over_the_budget_share(kernel_env, tmp_path: Path) -> None:
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        run("tune_threads", tmp_path / "refused.ipynb", pages_per_trial=100, max_budget_share=0.05,
            tuning_path=str(tmp_path / "tuning.json"))
    assert raised.value.ename == "SweepRefused" and "refusing to run" in raised.value.evalue
    assert not (tmp_path / "tuning.json").exists()


@pytest.mark.parametrize("name", MINE)
def test_notebook_is_paired_parametrised_and_clean(name: str) -> None:
    path = NOTEBOOKS / f"{name}.ipynb"
    notebook = jupytext.read(path)
    assert "py:percent" in notebook.metadata["jupytext"]["formats"]
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert jupytext.writes(notebook, fmt="py:percent") == path.with_suffix(".py").read_text()
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    inferred = papermill.inspect_notebook(str(path))
    assert inferred and not [p for p in inferred if any(w in p for w in ("secret", "token", "password"))]
    raw = nbformat.read(path, as_version=4)
    assert all(c.outputs == [] and c.execution_count is None for c in raw.cells if c.cell_type == "code")
