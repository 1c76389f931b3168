"""A good neighbour on a shared deployment (issue 13, items 3, 4 and 7): a sync against the real simulator beside
other integrations, in fixed and rolling windows, measured from the simulator's request log.

The deployment is compressed: 60 requests every 5 s, the kit's floor 6 (the default tenth). A neighbour at 40% of
the window is `steady:4.8` (24 requests a window). Neighbours that are there when the sync begins are started a
window before it, as on a real deployment. Each fixed/rolling pair runs side by side (tests/neighbourhood.py, `both`).
Figures are printed (`pytest -s`) for the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from accelo_kit.sim import Simulator
from tests.helpers import assert_matches_truth, duckdb_rows
from tests.neighbourhood import (
    ALLOWANCE,
    FLOOR,
    LIMIT,
    WINDOW_S,
    Measured,
    assert_nothing_lost,
    at_window_start,
    both,
    measure,
    simulator,
    sizes,
    synced,
)

STEADY = "steady:4.8"  # 40% of the window
BURSTY = "burst:18/3s/every7s"  # 30% of the window in a 3 s burst, every 7 s: bursts land at every phase of a window


def with_neighbour(sim: Simulator, spec: str) -> None:
    """The neighbour is already at work a window before the sync starts."""
    sim.start_neighbour(spec, "n")
    time.sleep(WINDOW_S)


def neighbour_uses(sim: Simulator, m: Measured, windows: list[int]) -> list[int]:
    return m.uses(windows, [e for e in sim.log.entries() if e.neighbour])


# -- 1, 2: a steady and a bursty neighbour ----------------------------------------------------------------
def beside(spec: str, rows: int) -> Callable[[str], Measured]:
    """A sync of `rows` companies beside the neighbour `spec`, for one window kind: measured, nothing lost."""
    def run(kind: str) -> Measured:
        with simulator(kind, rows=rows) as sim:
            with_neighbour(sim, spec)
            m, destination = synced(sim)
            assert_nothing_lost(destination, sim)
            print(m.describe(), "neighbour per window", neighbour_uses(sim, m, sorted(m.per_window())))
            return m
    return run


steady_run = beside(STEADY, rows=17000)


def test_a_steady_neighbour_at_40_percent_is_left_its_share() -> None:
    """Over four full windows or more: the kit gets no 429, loses nothing, and the neighbour is refused at most twice.
    (In a rolling window a steady neighbour reuses its own slots as they age out, so even the fixed policy leaves it
    alone: only the fixed window's case can fail here; test_the_fixed_policy_... shows the rolling one with bursts.)"""
    for kind, m in both(steady_run).items():
        assert m.refused() <= 2, f"{kind}: the neighbour was refused {m.refused()} times of {m.neighbour_sent()}"
        assert m.kit_429s == 0 and m.reports[0].complete, kind
        assert len(m.full_windows()) >= 4, f"{kind}: the sync must span at least four windows"


bursty_run = beside(BURSTY, rows=12000)


def test_a_bursty_neighbour_is_left_its_bursts() -> None:
    for kind, m in both(bursty_run).items():
        assert m.refused() <= 2, f"{kind}: the neighbour was refused {m.refused()} times of {m.neighbour_sent()}"
        assert m.kit_429s == 0, kind
        assert len(m.full_windows()) >= 2, kind


# -- 3: a neighbour that starts, then stops, during the sync --------------------------------------------------
ARRIVES, LEAVES = 1.5 * WINDOW_S, 3.5 * WINDOW_S  # after the sync starts


def coming_and_going_run(kind: str) -> tuple[Measured, list[int], float, float]:
    with simulator(kind, rows=32000) as sim:
        times: list[float] = []

        def schedule() -> None:
            now = sim.clock()
            sim.start_neighbour(STEADY, "n", delay_s=ARRIVES, stop_after_s=LEAVES)
            times.extend((now + ARRIVES, now + LEAVES))

        m, destination = synced(sim, before=schedule)
        assert_nothing_lost(destination, sim)
        arrived, left = times
        windows = sorted(m.per_window())
        neighbour = neighbour_uses(sim, m, windows)
        print(m.describe(), f"neighbour from {arrived - m.started:.1f} s to {left - m.started:.1f} s, per window",
              neighbour)
        return m, neighbour_uses(sim, m, m.full_windows(since=arrived)[:1]), arrived, left


def test_a_neighbour_that_comes_and_goes_is_followed_within_a_window() -> None:
    """It starts: the kit yields within a window (the neighbour refused at most twice, and in the first full window
    after it started the kit takes no more than the limit less the floor and the neighbour's use). It stops: from the
    first full window after (rolling: one window later, once its requests have aged out of the server's count) the kit
    spends at least 0.95 of its allowance in every full window."""
    for kind, (m, neighbour, arrived, left) in both(coming_and_going_run).items():
        assert m.kit_429s == 0 and m.reports[0].complete, kind
        assert m.refused() <= 2, f"{kind}: the neighbour was refused {m.refused()} times of {m.neighbour_sent()}"
        first = m.full_windows(since=arrived)[0]
        assert (first + 1) * WINDOW_S <= left, kind  # the neighbour was at work all that window
        kit_then = m.uses([first])[0]
        print(kind, f"first full window after it came: kit {kit_then}, neighbour {neighbour[0]}")
        # the kit keeps the larger of the floor and the neighbour's need until the reset (issue 13, item 2), so in
        # a fixed window's last second, when that need is under the floor, the neighbour's last requests come out
        # of the floor: the kit then leaves it its use and the floor less those (at most half the floor)
        slack = FLOOR // 2 if kind == "fixed" else 0
        assert kit_then <= LIMIT - FLOOR - neighbour[0] + slack, kind
        after = m.full_windows(since=left if kind == "fixed" else left + WINDOW_S)
        uses = m.uses(after)
        print(kind, "after it left:", uses, "of", ALLOWANCE)
        assert len(after) >= 2, f"{kind}: too few full windows after the neighbour left: {after}"
        assert min(uses) >= 0.95 * ALLOWANCE, f"{kind}: {uses}"


# -- 4: two kit processes at once ---------------------------------------------------------------------------
def two_processes_run(kind: str, tmp: Path) -> tuple[Measured, list[tuple[float, float]]]:
    with simulator(kind, rows=12000) as sim:
        config = tmp / f"{kind}.json"
        config.write_text(json.dumps({**sim.configuration(), "threads": "8"}))
        commands = [[sys.executable, "-m", "accelo_kit.cli", "sync", "--config", str(config), "--quiet",
                     "--db", str(tmp / f"{kind}-{name}.duckdb")] for name in "ab"]
        started = at_window_start(sim)
        runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for command in commands]
        outputs = [run.communicate(timeout=120)[0] for run in runs]
        ended = sim.clock()
        for run, output in zip(runs, outputs, strict=True):
            assert run.returncode == 0, output
        for name in "ab":
            for entity in sizes(0):
                assert_matches_truth(duckdb_rows(tmp / f"{kind}-{name}.duckdb", entity), sim, entity)
        m = measure(sim, started, ended)
        tokens = sorted({e.token for e in m.kit})
        assert len(tokens) == 2, "each process has its own token"
        spans = [(min(e.started for e in m.kit if e.token == t), max(e.started for e in m.kit if e.token == t))
                 for t in tokens]
        print(m.describe(), "per process", [m.per_window([e for e in m.kit if e.token == t]) for t in tokens])
        return m, spans


def test_two_kit_processes_share_the_window_without_refusing_each_other(tmp_path: Path) -> None:
    results = both(lambda kind: two_processes_run(kind, tmp_path))
    for kind, (m, spans) in results.items():
        assert m.kit_429s == 0, kind
        together = m.full_windows(since=max(s for s, _ in spans), until=min(e for _, e in spans))
        assert len(together) >= 2, f"{kind}: the two syncs overlapped in too few full windows: {together}"
        uses = m.uses(together)
        print(kind, "both running:", uses, "of", ALLOWANCE)
        assert min(uses) >= 0.9 * ALLOWANCE, f"{kind}: {uses}"


# -- 5, 6: pacing only when it matters ----------------------------------------------------------------------
BIG_LIMIT = 200  # a tenth of a window then holds about 18 of the kit's requests: rounding does not dominate


def paced_run(kind: str) -> Measured:
    with simulator(kind, rows=60000, limit=BIG_LIMIT) as sim:
        m, destination = synced(sim, max_rate_wait="1")
        assert m.reports[0].deferred_until is None, f"{kind}: the run stopped for the budget (BudgetExhausted)"
        assert_nothing_lost(destination, sim)
        print(m.describe(), f"paced {m.reports[0].paced_s:.1f} s (summed over threads)",
              [m.tenths(w) for w in m.full_windows()])
        return m


def test_a_paced_sync_spreads_its_requests_and_never_gives_up_for_it() -> None:
    """Once paced (from the first full window), no tenth of a window carries more than 1.5 times an even share of
    the kit's requests in it; with max_rate_wait (1 s) shorter than a window, the paced sync still completes."""
    for kind, m in both(paced_run).items():
        report = m.reports[0]
        assert report.complete and report.deferred_until is None, kind
        assert report.paced_s > 0 and m.kit_429s == 0, kind
        windows = m.full_windows()
        assert len(windows) >= 2, kind
        for w in windows:
            tenths = m.tenths(w)
            worst = max(tenths) / (sum(tenths) / 10)
            print(kind, w, tenths, f"worst tenth {worst:.2f} × even")
            assert worst <= 1.5, f"{kind}: window {w}: {tenths}"


def fitting_run(kind: str) -> dict[str, Measured]:
    results = {}
    with simulator(kind, rows=6000, limit=BIG_LIMIT) as sim:
        for policy in ("fixed", "adaptive"):
            if results:
                time.sleep(WINDOW_S)  # the run before is out of the (rolling) window: it is nobody's neighbour
            m, destination = synced(sim, budget_policy=policy)
            assert_nothing_lost(destination, sim)
            results[policy] = m
            print(kind, policy, f"{m.reports[0].requests} requests in {m.reports[0].seconds:.2f} s, "
                  f"expected {m.reports[0].expected_requests}, paced {m.reports[0].paced_s}")
    return results


def test_work_that_fits_in_the_window_is_not_paced() -> None:
    for kind, runs in both(fitting_run).items():
        adaptive, fixed = runs["adaptive"].reports[0], runs["fixed"].reports[0]
        assert adaptive.expected_requests is not None and adaptive.expected_requests <= BIG_LIMIT * 0.9
        assert adaptive.paced_s == 0 and adaptive.yielded_s == 0, kind
        # the same pages, plus the counts the adaptive run makes to know its size (one per entity)
        assert adaptive.requests <= fixed.requests + len(sizes(0)), kind


# -- 7: the fixed policy leaves the neighbour only the floor --------------------------------------------------
def fixed_policy_run(kind: str) -> Measured:
    """A steady neighbour in a fixed window; in a rolling one a bursty neighbour, since a steady one reuses its own
    slots as they age out and gets by on the floor even beside a kit that spends everything else."""
    with simulator(kind, rows=12000) as sim:
        with_neighbour(sim, STEADY if kind == "fixed" else BURSTY)
        m, destination = synced(sim, budget_policy="fixed")
        assert_nothing_lost(destination, sim)
        print("policy fixed:", m.describe())
        return m


def test_the_fixed_policy_still_leaves_the_neighbour_only_the_floor() -> None:
    """Today's behaviour under `budget_policy=fixed`: the kit spends down to the floor and the neighbour is refused.
    This is also the evidence that the tests above can fail: a neighbour like theirs, beside a sync like theirs, is
    refused here well beyond the 2 refusals they allow."""
    for kind, m in both(fixed_policy_run).items():
        assert m.refused() > 2, f"{kind}: refused {m.refused()}"
        assert m.reports[0].paced_s == 0  # (and its own 429s are possible: the floor is all it keeps)
