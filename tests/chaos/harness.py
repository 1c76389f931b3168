"""What the chaos tests share: the issue's fault mix, a meddler that changes the source while a sync pages, and the
checks a chaos run ends with (the destination equals the truth, the budget was kept, faults cost no more than about
one request each). The figures each test measures go to `FIGURES`, which tests/chaos/conftest.py prints at the end
of the run, so a `make chaos` log carries them."""

from __future__ import annotations

import collections
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from accelo_kit.sim import DEFAULT_SIZES, LogEntry, Simulator
from accelo_kit.sync import SyncProgress, SyncReport
from tests.helpers import assert_matches_truth

# `make chaos` sets ACCELO_KIT_CHAOS=full: the full-size runs and many more stateful examples
FULL = os.environ.get("ACCELO_KIT_CHAOS", "") == "full"
full_only = pytest.mark.skipif(not FULL, reason="full size: run by `make chaos` (ACCELO_KIT_CHAOS=full)")

# issue 8's mix: the share of API requests answered with each fault, all at once
FAULT_MIX: dict[str, float] = {
    "429": 0.20,
    "500": 0.05 / 3, "502": 0.05 / 3, "503": 0.05 / 3,
    "drop": 0.02,
    "stall": 0.01,
    "truncate": 0.01,
}
# one of each is also scripted early in a run, so even a scaled run (a hundred requests) meets every kind
SCRIPTED_ONCE = ("500", "502", "503", "drop", "stall", "truncate")
DATE_WINDOWED = ("companies", "invoices", "prospects", "jobs")

# what the tests measured, one dict per run, printed in the terminal summary
FIGURES: list[dict[str, Any]] = []


def sizes_for(total_rows: int) -> dict[str, int]:
    """`total_rows` spread over the six entities in the simulator's default proportions."""
    scale = total_rows / sum(DEFAULT_SIZES.values())
    return {name: max(5, round(count * scale)) for name, count in DEFAULT_SIZES.items()}


def inject_fault_mix(sim: Simulator, mix: Mapping[str, float] = FAULT_MIX) -> None:
    """Random faults whose shares of all API requests are `mix`. The simulator draws the kinds one after another
    and the first that hits wins, so each kind's probability is its share of what the earlier kinds left."""
    left = 1.0
    for kind, share in mix.items():
        sim.faults.set_probability(kind, share / left)
        left -= share


class Meddler(SyncProgress):
    """Changes the source while a sync pages (on the syncing thread, after each page): inserts, edits and deletes
    in every entity, tokens revoked at the pages `revoke_at`, and one scripted fault of each kind at page
    `script_at`. Payment edits are seen only by a payments full pass: `edit_payments=False` leaves them out for a
    next run that does not do one."""

    def __init__(self, sim: Simulator, revoke_at: Iterable[int] = (), script_at: int | None = 3,
                 edit_payments: bool = True) -> None:
        self.sim = sim
        self.revoke_at = set(revoke_at)
        self.script_at = script_at
        self.edit_payments = edit_payments
        self.pages = 0
        self.deleted: dict[str, set[int]] = collections.defaultdict(set)
        self.mutations = 0
        self.revoked = 0

    def page(self, name: str, rows: int, report: SyncReport) -> None:
        self.pages += 1
        sim, n = self.sim, self.pages
        for target in DATE_WINDOWED:
            sim.insert(target, count=1)
            sim.modify(target, count=2)
            self.mutations += 3
        if n % 2 == 0:
            sim.insert("payments", count=1)  # also re-settles an invoice: a modification there
            self.mutations += 1
            if self.edit_payments:
                sim.modify("payments", count=1)
                self.mutations += 1
        if n % 3 == 0:
            for target in (*DATE_WINDOWED, "payments"):
                self.deleted[target].update(sim.delete(target, count=1))
                self.mutations += 1
        if n % 5 == 0:
            sim.modify("staff", count=1)
            self.mutations += 1
        if n % 20 == 0:
            self.deleted["staff"].update(sim.delete("staff", count=1))
            sim.insert("staff", count=1)
            self.mutations += 2
        if self.revoke_at and n >= min(self.revoke_at) and revocations_settled(sim, self.revoked):
            self.revoke_at.discard(min(self.revoke_at))
            sim.faults.script("revoke")  # every token revoked just before the next API request is authenticated
            self.revoked += 1
        if n == self.script_at:
            for kind in SCRIPTED_ONCE:
                sim.faults.script(kind)


def revocations_settled(sim: Simulator, scripted: int) -> bool:
    """Whether another revocation may come: every one scripted so far has happened, and every request it refused
    has been answered since. The kit re-authenticates a refused request once, and a request refused again with the
    fresh token is fatal (docs/accelo-api.md, Authentication), so a second revocation must not reach a request that
    is still waiting (behind a 429's window) to retry after the first."""
    entries = sim.log.entries("/api/v0")
    if sum(1 for e in entries if e.fault == "revoke") < scripted:
        return False  # not happened yet, or its 401 not logged yet
    waiting: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for entry in entries:  # in the order the server saw them
        key = (entry.path, tuple(sorted(entry.params.items())))
        if entry.status == 401:
            waiting.add(key)
        elif entry.status == 200 and entry.fault is None:
            waiting.discard(key)
    return not waiting


# -- the checks -------------------------------------------------------------------------------------------
def duckdb_flagged(db: Path | str, name: str) -> set[int]:
    """Ids the destination holds flagged deleted; also checks each primary key is held once."""
    with duckdb.connect(str(db), read_only=True) as con:
        total, distinct = con.execute(f'SELECT count(*), count(DISTINCT id) FROM "{name}"').fetchone()
        assert total == distinct, f"{name}: {total - distinct} ids held more than once"
        return {r[0] for r in con.execute(f'SELECT id FROM "{name}" WHERE _deleted').fetchall()}


def assert_equals_truth(held: dict[int, dict[str, Any]], flagged: set[int], sim: Simulator, name: str,
                        deleted: set[int], reconciled: bool) -> int:
    """The rows held and not flagged deleted are exactly the truth, column for column. Only ids deleted upstream
    may be flagged; after a reconciliation every deleted id held is flagged, except ids above the highest live id
    (a reconciliation judges ids up to the highest its scan saw: anything above may be newer than the scan).
    Without one, deleted rows may linger (Accelo has no delete feed). Returns the rows checked."""
    wrongly = flagged - deleted
    assert not wrongly, f"{name}: live rows flagged deleted: {sorted(wrongly)[:5]}"
    lingering = (deleted & set(held)) - flagged
    if reconciled:
        top = max((int(r["id"]) for r in sim.truth(name)), default=0)
        unflagged = sorted(i for i in lingering if i <= top)
        assert not unflagged, f"{name}: deleted upstream, held, and not flagged by the reconciliation: {unflagged[:5]}"
    active = {i: row for i, row in held.items() if i not in flagged and i not in lingering}
    assert_matches_truth(active, sim, name)
    return len(active)


@dataclass
class Accounting:
    """Requests a run made, the faults it met, and what the faults cost."""

    requests: int  # API requests the server saw
    useful: int  # answers the sync used: every page it consumed, every count or tokeninfo answer
    faults: int
    injected: dict[str, int] = field(default_factory=dict)
    unauthorized: int = 0

    @property
    def extra(self) -> int:
        return self.requests - self.useful


def account(sim: Simulator, reports: Iterable[SyncReport]) -> Accounting:
    """"Extra" requests are counted against pages + probes, not against a second fault-free run (which would
    differ anyway, as thread timing splits ranges differently): every API request the server saw, less every
    answer the sync used (each page it consumed, data or id scan, top probes included, plus each count and
    tokeninfo answer). What is left is what the faults cost: retries, requests sent into a revoked token, and any
    request a confused client made for nothing, which is what the bound is there to catch.
    A fault is each injected fault plus each 401 answer a revocation caused (the revoking request's own 401 is
    that answer, so a `revoke` is counted once, as its 401s)."""
    entries = sim.log.entries("/api/v0")
    pages = sum(e.pages + e.id_pages for report in reports for e in report.entities.values())
    answers = sum(1 for e in entries if e.status == 200 and e.fault is None
                  and e.path.rstrip("/").endswith(("/count", "/tokeninfo")))
    injected = {k: v for k, v in sorted(sim.faults.injected.items())}
    unauthorized = sum(1 for e in entries if e.status == 401)
    faults = sum(v for k, v in injected.items() if k != "revoke") + unauthorized
    return Accounting(len(entries), pages + answers, faults, injected, unauthorized)


def counted_per_window(entries: Iterable[LogEntry], window_s: float) -> collections.Counter[int]:
    """Requests the server counted against the budget, per fixed window (as the simulator's limiter windows)."""
    return collections.Counter(math.floor(e.started / window_s) for e in entries if e.counted)


def assert_budget_kept(entries: list[LogEntry], limit: int, reserve: int, window_s: float) -> int:
    """No window shows more counted requests than the limit less the reserve, and no 429 came from the kit's own
    spending (only injected ones). Returns the number of windows checked."""
    per_window = counted_per_window(entries, window_s)
    over = {w: n for w, n in per_window.items() if n > limit - reserve}
    assert not over, f"{len(over)} windows spent into the reserve: {sorted(over.items())[:5]} (allowed " \
                     f"{limit - reserve} a window)"
    own = [e for e in entries if e.status == 429 and e.fault != "429"]
    assert not own, f"{len(own)} 429s the kit caused by spending too much"
    return len(per_window)


def reconciliation_limit(sim: Simulator, reserve: int) -> int:
    """A window's limit under which every entity's delete reconciliation is affordable: the kit starts an id scan
    (⌈rows/100⌉ + 1 requests) only if the window's budget left above the reserve covers it, which a compressed
    window of a dozen requests never does (with an hour's 5,000 it does)."""
    biggest = max(math.ceil(len(sim.truth(name)) / 100) + 1 for name in ("companies", "invoices", "prospects", "jobs"))
    return 2 * biggest + reserve
