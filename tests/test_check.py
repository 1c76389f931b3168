"""`accelo-kit check` (issue 9): probes each UNCONFIRMED behaviour in a handful of requests, round-trips through
`sim serve --variants`, and fails in a friendly way."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accelo_kit.check import REPORT_KEYS, CheckFailed, run_check, simulator_settings
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
                      "rate_limit": 777, "requests_used": served}
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
