"""`accelo-kit check` (issue 9): probes each UNCONFIRMED behaviour in a handful of requests, round-trips through
`sim serve --variants`, and fails in a friendly way."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accelo_kit.check import REPORT_KEYS, CheckFailed, run_check, simulator_settings
from accelo_kit.cli import main
from accelo_kit.config import Settings
from accelo_kit.errors import AuthenticationError
from accelo_kit.sim import Simulator

SIZES = {"companies": 150, "jobs": 60, "invoices": 5, "payments": 3, "prospects": 3, "staff": 4}
VARIANTS = list(itertools.product(["string", "number"], ["string", "number"], ["cap", "reject"], ["ignore", "reject"],
                                  ["null", "zero", "mixed"], ["json400", "html404"]))
EXPECTED_UNSET = {"null": ["null"], "zero": ["0"], "mixed": ["0", "null"]}


def settings_for(sim: Simulator, **extra: str) -> Settings:
    return Settings.load(None, environ={}, **{**sim.configuration(), **extra})


@pytest.mark.parametrize(("count", "expires", "over", "field", "unset", "path"), VARIANTS)
def test_the_report_names_the_variant_the_simulator_was_started_with(count: str, expires: str, over: str,
                                                                      field: str, unset: str, path: str) -> None:
    with Simulator(sizes=SIZES, count_type=count, expires_in_type=expires, over_limit=over, unknown_field=field,
                   unset_date=unset, unknown_path=path, rate_limit=777) as sim:
        report, _ = run_check(settings_for(sim))
        served = len(sim.log.entries("/api/"))
    assert tuple(report) == REPORT_KEYS
    assert report == {"count_type": count, "expires_in_type": expires,
                      "limit_over_100": {"cap": "capped", "reject": "rejected"}[over],
                      "unknown_field": {"ignore": "ignored", "reject": "rejected"}[field],
                      "unset_dates": EXPECTED_UNSET[unset],
                      "unknown_path": {"json400": "json", "html404": "html"}[path],
                      "rate_limit": 777, "window_kind": "fixed", "others_this_window": 0,
                      "others_rate_per_s": 0.0, "requests_used": served}
    assert served <= 10


def test_sim_serve_variants_round_trips_a_report(tmp_path: Path) -> None:
    with Simulator(sizes=SIZES, count_type="number", expires_in_type="number", over_limit="reject",
                   unknown_field="reject", unset_date="mixed", unknown_path="html404", rate_limit=321) as sim:
        original, _ = run_check(settings_for(sim))
        secret = sim.client_secret
    path = tmp_path / "report.json"
    path.write_text(json.dumps(original))
    assert secret not in path.read_text()
    server = subprocess.Popen([sys.executable, "-m", "accelo_kit.cli", "sim", "serve", "--variants", str(path),
                               "--set", "sizes=companies:150,jobs:60,invoices:5,payments:3,prospects:3,staff:4"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        banner = dict(server.stdout.readline().strip().split(": ", 1) for _ in range(3))
        settings = Settings.load(None, environ={}, **banner)
        replayed, _ = run_check(settings)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert {k: v for k, v in replayed.items() if k != "requests_used"} == \
        {k: v for k, v in original.items() if k != "requests_used"}


def test_simulator_settings_refuses_what_is_not_a_report() -> None:
    with pytest.raises(ValueError, match="not a check report"):
        simulator_settings({"count_type": "string", "client_secret": "x"})


def test_bad_credentials_fail_once_without_retry() -> None:
    with Simulator(sizes=SIZES) as sim:
        with pytest.raises(AuthenticationError, match="client_id and client_secret"):
            run_check(settings_for(sim, client_secret="wrong-secret"))
        assert len(sim.log.entries("/oauth2")) == 1


def test_scope_too_narrow_names_what_is_missing() -> None:
    with Simulator(sizes=SIZES) as sim, pytest.raises(CheckFailed, match=r"does not allow jobs"):
        run_check(settings_for(sim, scope="read(companies)"))


def test_budget_already_spent_is_reported_not_waited_out() -> None:
    with Simulator(sizes=SIZES, rate_limit=2, rate_window_s=3600) as sim:
        sim.set(rate_limit=2)
        started = time.monotonic()
        with pytest.raises(CheckFailed, match="budget"):
            run_check(settings_for(sim))
        assert time.monotonic() - started < 30


def test_a_deployment_that_does_not_resolve_gets_a_friendly_error() -> None:
    settings = Settings.load(None, environ={}, deployment="accelo-kit-no-such-deployment", client_id="x",
                             client_secret="y")
    with pytest.raises(CheckFailed, match="is the deployment name right"):
        run_check(settings)


def test_check_reports_the_others_use_and_the_window_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """issue 13, item 5: another integration spends the window; `accelo-kit check` says how much, in its text and its
    JSON, with the window's kind, and `sim serve --variants` takes the kind back."""
    with Simulator(sizes=SIZES, rate_limit=600, rate_window_s=60, neighbours="acct=steady:5") as sim:
        time.sleep(1.5)
        config = tmp_path / "configuration.json"
        config.write_text(json.dumps(sim.configuration()))
        assert main(["check", "--config", str(config), "--json", str(tmp_path / "report.json")]) == 0
        sent = sim.neighbour_summary()["acct"]["sent"]
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert tuple(report) == REPORT_KEYS
    assert report["window_kind"] == "fixed" and 5 <= report["others_this_window"] <= sent
    assert report["others_rate_per_s"] > 0
    assert "rate window: fixed as far as the headers showed, 60 s long" in out, out
    assert re.search(rf"^the other integrations: {report['others_this_window']} requests so far in this window "
                     r"\([\d.]+/s: about \d+ a 60-s window, \d+% of the limit\); the adaptive budget policy keeps "
                     r"\d+ for them now \(budget_reserve 60\)$", out, re.MULTILINE), out
    assert re.search(rf"^  others_this_window +{report['others_this_window']}$", out, re.MULTILINE), out
    assert simulator_settings(report)["rate_window"] == "fixed"
    assert simulator_settings({**report, "window_kind": "rolling"})["rate_window"] == "rolling"
