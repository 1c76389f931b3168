"""accelo_kit.notebook.tuning: the sweep finds the server's concurrency limit from HTTP alone, the budget arithmetic,
the recommendation; accelo_kit.tuned: out/tuning.json and who reads it (issue 6, "tune_threads.ipynb (logic in
accelo_kit.tuning)"; issue 12 split the experiment from its storage)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from accelo_kit.cli import main
from accelo_kit.config import Settings
from accelo_kit.notebook.tuning import BudgetView, SweepPlan, SweepRefused, Trial, percentile, recommend, run_sweep
from accelo_kit.paths import project_root
from accelo_kit.runner import open_target
from accelo_kit.sim import Simulator
from accelo_kit.tuned import (
    SIMULATOR_TARGET,
    default_tuning_path,
    load_tuning,
    save_tuning,
    saved_threads,
    with_saved_threads,
)

SIZES = {"companies": 50, "invoices": 1200, "payments": 20, "prospects": 20, "jobs": 20, "staff": 10}
SWEEP = SweepPlan.parse("1,2,3,4,5,6,7,8", pages_per_trial=24)


def settings_for(sim: Simulator) -> Settings:
    """Only what a user would have: the URL and credentials. The tuner never sees `sim.settings`."""
    return Settings.load(None, environ={}, **sim.configuration())


@pytest.fixture
def tuning_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Redirect the default out/tuning.json, so no test reads or writes the checkout's."""
    path = tmp_path / "tuning.json"
    monkeypatch.setattr("accelo_kit.tuned.default_tuning_path", lambda: path)
    for name in ("ACCELO_DEPLOYMENT", "ACCELO_CLIENT_ID", "ACCELO_CLIENT_SECRET", "ACCELO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return path


# -- the sweep against the simulator's latency model ---------------------------------------------------------
@pytest.mark.parametrize("workers", [3, 6])
def test_the_sweep_finds_the_servers_concurrency_limit(workers: int) -> None:
    with Simulator(seed=5, sizes=SIZES, latency_ms=50, workers=workers) as sim:
        result = run_sweep(settings_for(sim), SWEEP, target=SIMULATOR_TARGET, label="test")
        api_requests = len(sim.log.entries("/api/v0/"))
    print(f"\nW={workers}, 50 ms:\n{result.format_table()}\n{result.recommendation.reason}")
    assert abs(result.recommendation.threads - workers) <= 1, result.format_table()
    assert api_requests == SWEEP.requests == 8 * 24 + 1  # it costs what the plan said, not a request more
    assert [t.threads for t in result.trials] == list(SWEEP.thread_counts)
    assert all(t.pages == 24 and t.rows == 2400 and not t.pushed_back for t in result.trials)
    rates = {t.threads: t.pages_per_s for t in result.trials}
    assert rates[workers] > 1.5 * rates[1]  # the curve rises to W ...
    assert rates[8] < 1.3 * rates[workers]  # ... and is flat after it
    latency = {t.threads: t.p50_ms for t in result.trials}
    assert 45 <= latency[1] < 100  # one at a time: the modelled 50 ms
    assert result.budget.limit == 5000 and result.budget.remaining == 5000 - SWEEP.requests


def test_the_same_pages_are_fetched_in_every_trial() -> None:
    plan = SweepPlan.parse("1,3", pages_per_trial=15, resource="invoices")
    with Simulator(seed=5, sizes=SIZES) as sim:
        run_sweep(settings_for(sim), plan, target=SIMULATOR_TARGET)
        pages = [e.params.get("_page") for e in sim.log.entries("/api/v0/invoices") if "_page" in e.params]
    first, second = pages[:15], pages[15:]
    assert sorted(first, key=int) == sorted(second, key=int) == sorted((str(k % 12) for k in range(15)), key=int)


# -- cost and refusal ------------------------------------------------------------------------------------------
def test_the_plan_states_its_cost_before_any_request() -> None:
    plan = SweepPlan.parse("8, 1,2,2,4", pages_per_trial=48)
    assert plan.thread_counts == (1, 2, 4, 8)
    assert plan.requests == 4 * 48 + 1
    assert plan.share() == pytest.approx(193 / 5000)
    assert "193 requests, 3.9% of the hourly 5,000" in plan.describe()
    default = SweepPlan()
    assert default.requests <= 0.1 * 5000 and default.share() <= default.max_budget_share
    with pytest.raises(SweepRefused, match="refusing to run"):
        SweepPlan.parse("1,2,4,8,16", pages_per_trial=200).check()
    with pytest.raises(SweepRefused, match="only 150 remain"):
        SweepPlan.parse("1,2", pages_per_trial=48).check(limit=5000, remaining=150, reserve=100)
    with pytest.raises(ValueError, match="thread counts"):
        SweepPlan.parse("0,4")


def test_a_sweep_the_server_budget_cannot_afford_is_refused_after_one_count() -> None:
    """39 left after the count, less the reserve (10% of 40) = 35 usable: 36 more requests would eat into it."""
    plan = SweepPlan.parse("1,2,4", pages_per_trial=12, max_budget_share=1.0)
    with Simulator(seed=5, sizes=SIZES, rate_limit=40) as sim:
        with pytest.raises(SweepRefused, match="36 more requests but only 39 remain"):
            run_sweep(settings_for(sim), plan, target=SIMULATOR_TARGET)
        assert len(sim.log.entries("/api/v0/")) == 1


# -- the recommendation --------------------------------------------------------------------------------------
def trial(threads: int, pages_per_s: float, retries: int = 0, throttled: int = 0) -> Trial:
    return Trial(threads, 48, 4800, 48 / pages_per_s, [0.1] * 48, retries, throttled)


def test_the_smallest_thread_count_within_90_percent_of_the_best_is_recommended() -> None:
    trials = [trial(1, 10), trial(2, 19), trial(4, 37), trial(8, 40), trial(16, 41)]
    rec = recommend(trials)
    assert (rec.threads, rec.knee, rec.best) == (4, 4, 16)
    assert "4 threads" in rec.reason and "41.0 pages/s at 16" in rec.reason
    assert recommend([trial(1, 10), trial(2, 10), trial(4, 10)]).threads == 1  # flat: one thread is enough
    assert recommend([trial(1, 10), trial(2, 20)]).threads == 2


def test_pushback_from_the_server_argues_for_fewer_threads() -> None:
    trials = [trial(1, 10), trial(2, 19), trial(4, 30), trial(8, 40, throttled=3), trial(16, 41, retries=2)]
    rec = recommend(trials)
    assert (rec.threads, rec.knee) == (4, 8)
    assert "429s" in rec.reason and "8 threads" in rec.reason
    budget = BudgetView(limit=5000, remaining=3000, reserve=500, reset_in_s=1800)
    assert "2,500 requests usable this window last 83 s" in recommend(trials, budget).reason


def test_budget_arithmetic() -> None:
    budget = BudgetView(limit=5000, remaining=2000, reserve=500, reset_in_s=600)
    assert budget.usable == 1500
    assert budget.spend_rate == pytest.approx(2.5)
    assert budget.hourly_rate == pytest.approx(5000 / 3600)
    assert budget.lasts_s(30) == pytest.approx(50)
    assert BudgetView(5000, 100, 500, 60).usable == 0
    assert percentile([0.3, 0.1, 0.2, 0.4], 50) == 0.2
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0


# -- out/tuning.json -----------------------------------------------------------------------------------------
def test_the_default_path_is_under_the_repository_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ACCELO_KIT_TUNING", raising=False)
    assert default_tuning_path() == project_root() / "out" / "tuning.json"
    monkeypatch.setenv("ACCELO_KIT_TUNING", str(tmp_path / "t.json"))
    assert default_tuning_path() == tmp_path / "t.json"


def test_saved_tuning_round_trips_and_is_per_target(tuning_file: Path) -> None:
    with Simulator(seed=5, sizes=SIZES) as sim:
        result = run_sweep(settings_for(sim), SweepPlan.parse("1,2", pages_per_trial=3), target=SIMULATOR_TARGET)
    assert save_tuning(result) == tuning_file
    saved = json.loads(tuning_file.read_text())
    assert saved["threads"] == result.recommendation.threads and saved["target"] == SIMULATOR_TARGET
    assert [row["threads"] for row in saved["trials"]] == [1, 2]
    assert saved_threads() == saved_threads(SIMULATOR_TARGET) == result.recommendation.threads
    assert saved_threads("deployment:acme") is None  # measured elsewhere: says nothing about acme


@pytest.mark.parametrize("content", ["{not json", '{"threads": 0}', '{"threads": "4"}', '{"threads": 99}', "[]"])
def test_a_broken_tuning_file_is_ignored_with_a_warning(tuning_file: Path, content: str, caplog) -> None:
    tuning_file.write_text(content)
    with caplog.at_level(logging.WARNING, logger="accelo_kit.tuned"):
        assert load_tuning() is None and saved_threads() is None
    assert "ignoring" in caplog.text


def save(path: Path, threads: int, target: str = SIMULATOR_TARGET) -> None:
    path.write_text(json.dumps({"version": 1, "threads": threads, "target": target}))


def test_explicit_threads_always_win_over_the_saved_ones(tuning_file: Path, tmp_path: Path) -> None:
    save(tuning_file, 5)
    assert with_saved_threads({}, simulate=True) == {"threads": "5"}
    assert with_saved_threads({"threads": "2"}, simulate=True) == {"threads": "2"}
    config = tmp_path / "configuration.json"
    config.write_text(json.dumps({"deployment": "acme", "client_id": "i", "client_secret": "s", "threads": "3"}))
    save(tuning_file, 5, "deployment:acme")
    assert with_saved_threads({}, config, environ={}) == {}  # the file says 3: Settings will read it
    config.write_text(json.dumps({"deployment": "acme", "client_id": "i", "client_secret": "s"}))
    assert with_saved_threads({}, config, environ={}) == {"threads": "5"}
    config.write_text(json.dumps({"deployment": "other", "client_id": "i", "client_secret": "s"}))
    assert with_saved_threads({}, config, environ={}) == {}  # tuned for acme, not for other
    assert with_saved_threads({}, tmp_path / "missing.json", environ={}) == {}  # Settings reports that one


def test_the_precedence_reads_the_configuration_file_once(tuning_file: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import accelo_kit.config
    import accelo_kit.tuned

    reads: list[Path] = []
    real = accelo_kit.config.read_configuration

    def counting(path: Path) -> dict[str, Any]:
        reads.append(Path(path))
        return real(path)

    monkeypatch.setattr(accelo_kit.config, "read_configuration", counting)
    monkeypatch.setattr(accelo_kit.tuned, "read_configuration", counting)
    save(tuning_file, 5, "deployment:acme")
    config = tmp_path / "configuration.json"
    config.write_text(json.dumps({"deployment": "acme", "client_id": "i", "client_secret": "s"}))
    assert with_saved_threads({}, config, environ={}) == {"threads": "5"}
    assert reads == [config]


def test_open_target_and_the_cli_use_the_saved_threads(tuning_file: Path, tmp_path: Path, capsys) -> None:
    """The one place it is wired: runner.open_target, which the CLI, sync.ipynb and explore.ipynb all go through."""
    save(tuning_file, 5)
    with open_target(simulate=True) as target:
        assert target.settings.threads == 5
    with open_target(simulate=True, overrides={"threads": "7"}) as target:
        assert target.settings.threads == 7
    tuning_file.unlink()
    with open_target(simulate=True) as target:
        assert target.settings.threads == Settings.threads  # the dataclass default, 8
    save(tuning_file, 3)
    assert main(["plan", "--simulate", "--entities", "staff", "--db", str(tmp_path / "none.duckdb")]) == 0
    assert "at 3 threads" in capsys.readouterr().out
