"""The tests can fail (issue 8): with each deliberately broken variant of the kit switched on
(`ACCELO_KIT_BROKEN=<variant>`, tests/broken_variants.py), a selection of the suite goes red, and the named tests
that failed are recorded for the closing note. A suite that passes a broken implementation is itself broken.
The variants live in the tests only: the kit holds no switch for them (checked below).

The selections are a few test ids per variant (the whole suite would take minutes each), run in subprocesses all
at once; `make chaos` adds the slower chaos tests that catch each variant too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import accelo_kit
from tests.broken_variants import ENV, VARIANTS
from tests.chaos.harness import FIGURES, FULL
from tests.connector.sdk import ROOT

SYNC = "tests/sync/test_sync.py::"
STATEFUL = "tests/chaos/test_stateful.py::TestSyncMachine"
MID_TRANSACTION_KILL = "tests/chaos/test_crash_anywhere.py::test_a_kill_inside_a_duckdb_transaction_commits_none_of_it"
CHAOS_SYNC = "tests/chaos/test_chaos_sync.py::test_a_chaos_sync_and_one_more_run_equal_the_truth_within_budget[scaled]"
CRASH_ANYWHERE = ("tests/chaos/test_crash_anywhere.py::"
                  "test_twenty_sigkills_anywhere_resume_to_exactly_the_uninterrupted_result")

# per variant: tests that catch it (each one alone would do), cheap ones in `make test`
SELECTIONS: dict[str, list[str]] = {
    "offset_paging": [SYNC + "test_rows_changed_during_a_run_are_right_after_one_more_run",
                      SYNC + "test_changes_between_runs_are_all_picked_up_once", STATEFUL],
    "cursor_from_max_seen": [SYNC + "test_window_edges_are_exact",
                             SYNC + "test_changes_between_runs_are_all_picked_up_once", STATEFUL],
    "no_overlap": [SYNC + "test_window_edges_are_exact", SYNC + "test_nothing_is_lost_without_any_overlap",
                   STATEFUL],
    "state_before_rows": [MID_TRANSACTION_KILL],
}
FULL_EXTRA: dict[str, list[str]] = {
    "offset_paging": [CHAOS_SYNC],
    "no_overlap": [CHAOS_SYNC],
    "state_before_rows": [CRASH_ANYWHERE],
}


@dataclass
class Outcome:
    variant: str
    selected: list[str]
    returncode: int
    failed: list[str]
    output: str


def _command(variant: str) -> list[str]:
    selected = SELECTIONS[variant] + (FULL_EXTRA.get(variant, []) if FULL else [])
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", "--no-header", *selected]


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[str, Outcome]]:
    """Every variant's selection, in subprocesses started together (they spend most of their time waiting)."""
    env = {k: v for k, v in os.environ.items() if k not in {"ACCELO_KIT_CHAOS", "PYTEST_ADDOPTS"}}
    processes = {}
    for variant in VARIANTS:
        processes[variant] = subprocess.Popen(_command(variant), cwd=ROOT, env={**env, ENV: variant},
                                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = {}
    try:
        for variant, process in processes.items():
            output, _ = process.communicate(timeout=900 if FULL else 240)
            failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.MULTILINE)
            selected = SELECTIONS[variant] + (FULL_EXTRA.get(variant, []) if FULL else [])
            results[variant] = Outcome(variant, selected, process.returncode, sorted(set(failed)), output)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    FIGURES.append({"test": "broken variants: the tests that went red",
                    **{variant: outcome.failed for variant, outcome in results.items()}})
    yield results


def test_the_kit_holds_no_switch_for_a_broken_variant() -> None:
    """A stray ACCELO_KIT_BROKEN in a scheduler's environment must change nothing in a real sync."""
    package = Path(accelo_kit.__file__).parent
    switched = [str(p.relative_to(package)) for p in package.rglob("*.py") if ENV in p.read_text()]
    assert not switched, f"accelo_kit reads {ENV}: {switched}"


def test_every_variant_has_a_selection() -> None:
    assert set(SELECTIONS) == set(VARIANTS), "a broken variant without tests that should catch it"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_suite_goes_red_with_the_broken_variant(variant: str, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[variant]
    print(f"{variant}: {len(outcome.failed)} of the selected tests failed: {outcome.failed}")
    # 1: tests ran and some failed (not 2-5: interrupted, internal error, usage error, nothing collected)
    assert outcome.returncode == 1, f"{variant} passed or did not run: exit {outcome.returncode}\n" \
                                    f"{outcome.output[-3000:]}"
    assert outcome.failed, outcome.output[-3000:]
    stray = [f for f in outcome.failed if not any(f.startswith(s.split("[")[0]) for s in outcome.selected)]
    assert not stray, f"failures outside the selection: {stray}"
