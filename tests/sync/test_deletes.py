"""Hard-delete reconciliation (issue 9): exact, guarded, cheap, and never from an incremental run alone."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from accelo_kit import AcceloClient, Settings
from accelo_kit.destinations.duckdb import DuckDBDestination
from accelo_kit.entities import ENTITIES
from accelo_kit.sim import Simulator
from accelo_kit.sync import SyncError, SyncOptions, SyncProgress, SyncReport, sync
from tests.helpers import assert_matches_truth, duckdb_rows

SIZES = {"companies": 600, "invoices": 800, "payments": 300, "prospects": 250, "jobs": 350, "staff": 120}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(sizes=SIZES, seed=31) as simulator:
        yield simulator


def run(sim: Simulator, db: Path, progress: SyncProgress | None = None, entities: list[str] | None = None,
        **options: Any) -> SyncReport:
    settings = Settings.load(None, environ={}, **sim.configuration(), threads="4", max_attempts="2")
    with AcceloClient(settings) as client, DuckDBDestination(db) as destination:
        return sync(client, destination, entities, SyncOptions(**options), progress)


def flagged(db: Path, name: str) -> set[int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {r[0] for r in con.execute(f'SELECT id FROM "{name}" WHERE _deleted').fetchall()}


def delete_two_percent(sim: Simulator) -> dict[str, set[int]]:
    rng = random.Random(5)
    gone = {}
    for name in ENTITIES:
        ids = [int(r["id"]) for r in sim.truth(name)]
        gone[name] = set(sim.delete(name, rng.sample(ids, max(1, len(ids) // 50))))
    return gone


def test_reconciliation_marks_exactly_the_deleted_ids_within_the_request_bound(sim: Simulator,
                                                                                tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    run(sim, db)
    gone = delete_two_percent(sim)
    sim.set(clock_offset_s=60)
    sim.log.clear()
    report = run(sim, db, reconcile_deletes=True)
    for name in ENTITIES:
        assert flagged(db, name) == gone[name], name  # precision and recall both 100%
        assert report.entities[name].deleted == len(gone[name])
        assert_matches_truth({i: r for i, r in duckdb_rows(db, name).items() if i not in gone[name]}, sim, name)
    # cost: the incremental windows (7) + per reconciled entity a count and ⌈rows/100⌉ + 1 id pages at most
    reconciled = [n for n in ENTITIES if n != "staff" and n != "payments"]  # staff and payments: a full window
    bound = 7 + sum(1 + math.ceil(len(sim.truth(n)) / 100) + 2 for n in reconciled)
    assert report.requests <= bound, (report.requests, bound)
    assert sum(e.id_pages for e in report.entities.values()) <= sum(
        math.ceil(len(sim.truth(n)) / 100) + 2 for n in reconciled)


def test_incremental_runs_never_mark_deletes(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    run(sim, db)
    gone = delete_two_percent(sim)
    sim.set(clock_offset_s=60)
    report = run(sim, db, reconcile_deletes=False)
    assert all(not flagged(db, n) for n in ENTITIES)
    assert all(e.deleted is None for e in report.entities.values())
    assert all(gone[n] <= set(duckdb_rows(db, n)) for n in ENTITIES)  # kept, as Accelo has no delete feed


def test_a_reconciliation_that_fails_part_way_marks_nothing(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    run(sim, db, entities=["companies"])
    sim.delete("companies", count=20)
    sim.set(clock_offset_s=60)

    class BreakAfterFirstIdPage(SyncProgress):
        def page(self, name: str, rows: int, report: SyncReport) -> None:
            if report.entities["companies"].id_pages == 1:
                sim.faults.set_probability("503", 1.0)

    with pytest.raises(SyncError, match="companies"):
        run(sim, db, BreakAfterFirstIdPage(), entities=["companies"], reconcile_deletes=True)
    assert not flagged(db, "companies")


def test_a_row_that_reappears_is_undeleted(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    run(sim, db, entities=["jobs"])
    victims = sim.delete("jobs", count=3)
    sim.set(clock_offset_s=60)
    run(sim, db, entities=["jobs"], reconcile_deletes=True)
    assert flagged(db, "jobs") == set(victims)
    sim.undelete("jobs", victims[:2])
    sim.set(clock_offset_s=120)
    run(sim, db, entities=["jobs"])
    assert flagged(db, "jobs") == {victims[2]}
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM jobs WHERE _deleted_at IS NOT NULL").fetchone()[0] == 1


def test_staff_is_reconciled_by_its_own_full_refresh_every_run(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    run(sim, db, entities=["staff"])
    victims = set(sim.delete("staff", count=4))
    sim.log.clear()
    report = run(sim, db, entities=["staff"])
    assert flagged(db, "staff") == victims
    assert report.requests == math.ceil(len(sim.truth("staff")) / 100)  # nothing more than the refresh itself


def test_reconciliation_runs_on_schedule(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    run(sim, db, entities=["companies"])
    victims = set(sim.delete("companies", count=5))
    sim.set(clock_offset_s=60)
    run(sim, db, entities=["companies"], reconcile_every_s=3600)
    assert not flagged(db, "companies")  # not due yet
    sim.set(clock_offset_s=3700)
    run(sim, db, entities=["companies"], reconcile_every_s=3600)
    assert flagged(db, "companies") == victims


def test_a_reconciliation_the_budget_cannot_afford_is_skipped_with_a_note(tmp_path: Path) -> None:
    with Simulator(sizes=SIZES, seed=31, rate_limit=40, rate_window_s=3600) as sim:
        db = tmp_path / "a.duckdb"
        sim.set(rate_limit=5000)
        run(sim, db, entities=["invoices"])
        sim.delete("invoices", count=5)
        sim.set(clock_offset_s=60, rate_limit=8)  # 2 requests for window and count leave 6 < the 9 needed
        report = run(sim, db, entities=["invoices"], reconcile_deletes=True)
        assert not flagged(db, "invoices")
        assert any("invoices: delete reconciliation skipped" in note for note in report.notes)
