"""`accelo-kit sync | plan | status`: exit codes, the summary and what a person reads (issue 4, "The CLI").

The first sync runs as a real subprocess (`python -m accelo_kit.cli`, as cron would run it); the rest call
`accelo_kit.cli.main` in-process, which is the same code without the interpreter's start-up.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from accelo_kit.cli import main
from accelo_kit.sim import Simulator

from .conftest import make_sim

SECRET = "s3cr3t-do-not-print"
ENTITIES = "staff,companies"


@pytest.fixture(scope="module")
def truth() -> dict[str, int]:
    """Row counts of the seed-1 simulator `--simulate` serves (generated, never started)."""
    sim = Simulator(seed=1)
    return {name: len(sim.truth(name)) for name in ("companies", "staff")}


@pytest.fixture(autouse=True)
def no_accelo_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """ACCELO_* variables of whoever runs the tests must not fill in a test's configuration."""
    for name in ("ACCELO_DEPLOYMENT", "ACCELO_CLIENT_ID", "ACCELO_CLIENT_SECRET", "ACCELO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "accelo_kit.cli", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def summary_table(stdout: str) -> dict[str, dict[str, str]]:
    """The per-entity lines of the summary: entity -> {window, rows, requests, seconds, complete}."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["entity", "window", "rows"])
    columns = lines[header].split()
    table = {}
    for line in lines[header + 2:]:
        cells = line.split()
        if len(cells) != len(columns):
            break
        table[cells[0]] = dict(zip(columns[1:], cells[1:], strict=True))
    return table


def total_requests(stdout: str) -> int:
    match = re.search(r"^(\d+) rows, (\d+) requests", stdout, re.MULTILINE)
    assert match, stdout
    return int(match.group(2))


def saved_state(db: Path) -> tuple[str, dict[str, int]]:
    with duckdb.connect(str(db), read_only=True) as con:
        state = con.execute("SELECT state FROM _accelo_kit_state WHERE id = 1").fetchone()[0]
        tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    return state, counts


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[subprocess.CompletedProcess]]]:
    """A first sync of the simulator, then a second one with nothing changed, as subprocesses."""
    db = tmp_path_factory.mktemp("cli") / "accelo.duckdb"
    runs = []
    for _ in range(2):
        runs.append(cli("sync", "--simulate", "--db", str(db), "--entities", ENTITIES))
    yield db, runs


def test_sync_simulate_exits_0_and_prints_rows_per_entity(two_runs, truth) -> None:
    db, (first, _) = two_runs
    assert first.returncode == 0, first.stderr
    assert "SIMULATOR" in first.stderr
    table = summary_table(first.stdout)
    assert set(table) == {"companies", "staff"}
    for name, rows in truth.items():
        assert int(table[name]["rows"]) == rows
        assert table[name]["complete"] == "True"
    # the requests column counts what was really sent (the pager's cost per range is the sync tests' business)
    for name, rows in truth.items():
        assert int(table[name]["requests"]) >= math.ceil(rows / 100)
    # plus the /count that sized the companies' first window for the budget (docs/reliability.md, A good neighbour)
    assert total_requests(first.stdout) == sum(int(entry["requests"]) for entry in table.values()) + 1
    assert f"into {db}" in first.stdout


def test_a_second_run_is_incremental_and_costs_the_contract_formula(two_runs, truth) -> None:
    """docs/sync.md: 1 request per date-windowed entity + ⌈staff/100⌉ for staff (the clock comes with the token)."""
    _, (_, second) = two_runs
    assert second.returncode == 0, second.stderr
    table = summary_table(second.stdout)
    assert table["companies"] == {**table["companies"], "window": "modified", "rows": "0", "requests": "1"}
    assert int(table["staff"]["rows"]) == truth["staff"]
    assert int(table["staff"]["requests"]) == math.ceil(truth["staff"] / 100)
    assert total_requests(second.stdout) == 1 + math.ceil(truth["staff"] / 100)


def test_status_after_a_sync_shows_simulated_data_and_rows(two_runs, truth, capsys) -> None:
    db, _ = two_runs
    assert main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out and "simulator:seed=1" in out
    assert re.search(rf"companies\s+{truth['companies']} rows\s+changes written up to", out), out
    assert re.search(rf"staff\s+{truth['staff']} rows\s+refreshed in full", out), out


def test_status_on_a_missing_database_exits_1(tmp_path, capsys) -> None:
    assert main(["status", "--db", str(tmp_path / "none.duckdb")]) == 1
    assert "does not exist yet" in capsys.readouterr().err
    assert not (tmp_path / "none.duckdb").exists()


def test_plan_prints_rows_requests_and_its_own_cost(tmp_path, truth, capsys) -> None:
    assert main(["plan", "--simulate", "--db", str(tmp_path / "a.duckdb"), "--entities", ENTITIES]) == 0
    out = capsys.readouterr().out
    assert out.startswith("plan for SIMULATED")
    for name, rows in truth.items():
        line = next(x for x in out.splitlines() if x.split()[:1] == [name])
        assert int(line.split()[2]) == rows, line
        assert int(line.split()[3]) >= math.ceil(rows / 100), line
        assert line.endswith("%"), line
    assert re.search(r"^this plan cost \d+ requests", out, re.MULTILINE), out
    assert not (tmp_path / "a.duckdb").exists()  # a plan writes nothing


@pytest.mark.parametrize(("configuration", "problems"), [
    # a pasted address that carries the secret: the problem is named, the secret is not
    ({"deployment": f"https://acme.accelo.com/?client_secret={SECRET}", "client_id": "id", "client_secret": SECRET,
      "threads": "99"},
     ["deployment: 'https://acme.accelo.com/?client_secret=***' is not a deployment", "threads: 99 is outside"]),
    ({"client_id": "id"}, ["client_secret is required", "deployment is required"]),
], ids=["bad-deployment-and-threads", "missing-secret-and-deployment"])
def test_a_bad_configuration_exits_2_listing_every_problem_and_no_secret(tmp_path, capsys, configuration,
                                                                         problems) -> None:
    config = tmp_path / "configuration.json"
    config.write_text(json.dumps(configuration))
    assert main(["sync", "--config", str(config), "--db", str(tmp_path / "a.duckdb")]) == 2
    captured = capsys.readouterr()
    for problem in problems:
        assert problem in captured.err
    assert SECRET not in captured.out + captured.err
    assert not (tmp_path / "a.duckdb").exists()


def test_simulate_and_config_together_exit_2(tmp_path, capsys) -> None:
    assert main(["sync", "--simulate", "--config", "x", "--db", str(tmp_path / "a.duckdb")]) == 2
    assert "not both" in capsys.readouterr().err


def write_config(path: Path, sim: Simulator, **extra: str) -> Path:
    path.write_text(json.dumps({**sim.configuration(), "entities": ENTITIES, **extra}))
    return path


def test_a_database_filled_from_another_target_is_refused(tmp_path, capsys) -> None:
    db = tmp_path / "a.duckdb"
    assert main(["sync", "--simulate", "--quiet", "--db", str(db), "--entities", "staff"]) == 0
    before = saved_state(db)
    capsys.readouterr()
    with make_sim(seed=1) as sim:
        config = write_config(tmp_path / "configuration.json", sim)
        assert main(["sync", "--quiet", "--config", str(config), "--db", str(db)]) == 1
        requests, base_url = len(sim.log.entries("/api/v0/")), sim.base_url
    err = capsys.readouterr().err
    assert "holds data from simulator:seed=1" in err and f"not {base_url}" in err, err
    assert "refused" in err
    assert requests == 0  # refused before any API request
    assert saved_state(db) == before


def test_an_outage_exits_1_naming_the_entity_and_leaves_the_state_untouched(tmp_path, capsys) -> None:
    db = tmp_path / "a.duckdb"
    with make_sim(seed=3) as sim:
        config = write_config(tmp_path / "configuration.json", sim, max_attempts="2")
        assert main(["sync", "--quiet", "--config", str(config), "--db", str(db)]) == 0
        before = saved_state(db)
        sim.modify("companies", count=5)
        capsys.readouterr()
        sim.faults.set_probability("503", 1.0)
        assert main(["sync", "--quiet", "--config", str(config), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"^accelo-kit: (companies|staff): .*503", err, re.MULTILINE), err
    assert sim.client_secret not in err
    assert saved_state(db) == before


# -- a good neighbour (issue 13, item 5: visible) -------------------------------------------------------------
NEIGHBOUR_WINDOW_S, NEIGHBOUR_LIMIT = 10.0, 100  # the neighbour spends 40% of each window: 4 requests a second


def with_a_neighbour(sim: Simulator, rate: float = 4.0, settle_s: float = 2.0) -> None:
    """Start a steady neighbour at the start of a window (so the estimate sees its rate from the window's start), and
    let it run for `settle_s` seconds."""
    while sim.clock() % NEIGHBOUR_WINDOW_S > 0.3:
        time.sleep(0.05)
    sim.start_neighbour(f"steady:{rate}", "acct")
    time.sleep(settle_s)


def test_plan_shows_the_others_use_and_the_windows_a_sync_takes_given_it(tmp_path, capsys) -> None:
    """Another integration spends 40% of each window: the plan sees it, keeps its use × 1.1 for it (more than the
    floor), and prices a sync bigger than a window in windows of what is left; `--budget-policy fixed` keeps the
    floor only."""
    sizes = {"companies": 15_000, "invoices": 1, "payments": 1, "prospects": 1, "jobs": 1, "staff": 1}
    with make_sim(sizes=sizes, rate_limit=NEIGHBOUR_LIMIT, rate_window_s=NEIGHBOUR_WINDOW_S) as sim:
        config = write_config(tmp_path / "configuration.json", sim, entities="companies")
        with_a_neighbour(sim)
        assert main(["plan", "--config", str(config), "--db", str(tmp_path / "a.duckdb")]) == 0
        adaptive = capsys.readouterr().out
        assert main(["plan", "--config", str(config), "--db", str(tmp_path / "a.duckdb"),
                     "--budget-policy", "fixed"]) == 0
        fixed = capsys.readouterr().out
    seen = re.search(r"^The other integrations: (\d+) requests so far in this 10-s window \(([\d.]+)/s: about (\d+) "
                     r"a 10-s window, (\d+)% of the limit\)", adaptive, re.MULTILINE)
    assert seen, adaptive
    assert int(seen[1]) >= 4 and 2.0 <= float(seen[2]) <= 8.0, seen[0]  # 4/s, give or take the estimate's start
    kept = re.search(r"^budget policy adaptive: (\d+) kept for them a window \(the larger of budget_reserve 10 and "
                     r"their (\d+) × 1.1\); a sync may use (\d+) of each 100$", adaptive, re.MULTILINE)
    assert kept, adaptive
    assert int(kept[1]) == math.ceil(int(kept[2]) * 1.1) > 10 and int(kept[1]) + int(kept[3]) == 100
    total = int(re.search(r"^total: (\d+) requests", adaptive, re.MULTILINE)[1])
    assert total > 100
    assert f"this sync does not fit in the window: about {total / int(kept[3]):.1f} windows" in adaptive, adaptive
    assert "paced (spread over each window)" in adaptive
    assert "budget policy fixed: 10 kept for them (budget_reserve); a sync may use 90 of each 100" in fixed, fixed
    assert f"about {total / 90:.1f} windows" in fixed and "then waiting for each window to reset" in fixed, fixed


def test_plan_without_neighbours_fits_and_is_not_paced(tmp_path, capsys) -> None:
    assert main(["plan", "--simulate", "--db", str(tmp_path / "a.duckdb"), "--entities", ENTITIES]) == 0
    out = capsys.readouterr().out
    assert "The other integrations: 0 requests so far in this hour" in out, out
    assert "budget policy adaptive: 500 kept for them a window (the larger of budget_reserve 500 and their 0 × 1.1)" \
        in out, out
    assert re.search(r"^this sync fits in what the window has left: not paced", out, re.MULTILINE), out


def test_the_sync_summary_says_what_was_left_to_the_others(tmp_path, capsys) -> None:
    """A sync that fits in the window beside a neighbour: not paced, and the summary's last line names the policy
    and the others' requests seen; the bars' first line names the policy too."""
    with make_sim(rate_limit=NEIGHBOUR_LIMIT, rate_window_s=NEIGHBOUR_WINDOW_S) as sim:
        config = write_config(tmp_path / "configuration.json", sim, entities="staff")
        with_a_neighbour(sim, settle_s=1.0)
        assert main(["sync", "--config", str(config), "--db", str(tmp_path / "a.duckdb")]) == 0
        captured = capsys.readouterr()
        assert main(["sync", "--quiet", "--config", str(config), "--db", str(tmp_path / "b.duckdb"),
                     "--budget-policy", "fixed"]) == 0
        fixed = capsys.readouterr()
    assert captured.err.count("budget policy adaptive: keeping for the other integrations") == 1, captured.err
    line = captured.out.splitlines()[-1]
    assert re.fullmatch(r"budget policy adaptive; \d+ requests expected; 0\.0 s paced \(spreading the run over the "
                        r"window\), 0\.0 s yielded to the other integrations; the other integrations: [1-9]\d* "
                        r"requests in the last window seen \([\d.]+/s: about \d+ a 10-s window, \d+% of the limit\)",
                        line), line
    assert "budget policy" not in fixed.err  # --quiet: no bars, no intro
    assert re.search(r"^budget policy fixed: only budget_reserve was kept for the other integrations, no pacing; the "
                     r"other integrations: [1-9]\d* requests", fixed.out, re.MULTILINE), fixed.out


def test_a_sync_that_does_not_fit_is_paced_and_says_so_once(tmp_path, capsys) -> None:
    """About 10 requests against 5 a 4-s window: the sync is paced (its requests about a second apart), which the
    bars announce once, not once per held request, and the summary counts in seconds; no 429."""
    sizes = {"companies": 700, "invoices": 1, "payments": 1, "prospects": 1, "jobs": 1, "staff": 1}
    with make_sim(sizes=sizes, rate_limit=5, rate_window_s=4.0) as sim:
        config = write_config(tmp_path / "configuration.json", sim, entities="companies", threads="2")
        assert main(["sync", "--config", str(config), "--db", str(tmp_path / "a.duckdb")]) == 0
        refused = [e for e in sim.log.entries("/api/v0/") if e.status == 429]
    captured = capsys.readouterr()
    assert captured.err.count("pacing: the work left does not fit in this rate window") == 1, captured.err
    paced = re.search(r"budget policy adaptive; (\d+) requests expected; ([\d.]+) s paced", captured.out)
    assert paced and int(paced[1]) > 5 and float(paced[2]) > 1, captured.out
    assert not refused
