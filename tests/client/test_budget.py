"""The shared rate budget against the simulator's compressed windows (issue 3; docs/accelo-api.md, Rate limit), and the
adaptive policy's decisions on a fake clock (issue 13)."""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import Any

import pytest
import requests

from accelo_kit.budget import MARGIN, BudgetExhausted, RateBudget
from accelo_kit.neighbours import Neighbours
from accelo_kit.servertime import ServerClock
from accelo_kit.sim import Simulator
from tests.client.test_client import client_for, scan_ids, truth_ids
from tests.conftest import SMALL_SIZES


def per_fixed_window(entries: list[Any], window_s: float) -> collections.Counter[int]:
    return collections.Counter(math.floor(e.started / window_s) for e in entries if e.counted)


def max_in_rolling_window(entries: list[Any], window_s: float) -> int:
    stamps = sorted(e.started for e in entries if e.counted)
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamps[start] <= stamp - window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize("kind", ["fixed", "rolling"])
def test_scan_never_spends_into_the_reserve_and_causes_no_429(kind: str) -> None:
    limit, window, reserve = 40, 1.5, 8
    with Simulator(sizes={**SMALL_SIZES, "invoices": 9000}, seed=8, rate_limit=limit, rate_window_s=window,
                   rate_window=kind) as sim, client_for(sim, budget_reserve=reserve, threads=8) as client:
        waits: list[float] = []
        client.add_hook("wait", lambda seconds, reason: waits.append(seconds))
        ids = scan_ids(client, "invoices")
        assert set(ids) == truth_ids(sim, "invoices") and max(ids.values()) == 1
        entries = sim.log.entries("/api/v0")
        assert not [e for e in entries if e.status == 429]
        if kind == "fixed":
            assert max(per_fixed_window(entries, window).values()) <= limit - reserve
        else:
            assert max_in_rolling_window(entries, window) <= limit - reserve
        assert min(e.remaining for e in entries if e.counted) >= reserve
        stats = client.stats()
        assert stats.throttled == 0 and stats.waited_s > 0 and waits  # the waits were announced, not silent
        assert stats.requests == len(entries)


def test_default_reserve_is_a_tenth_of_the_advertised_limit() -> None:
    with Simulator(sizes={**SMALL_SIZES, "invoices": 3000}, rate_limit=20, rate_window_s=1.0) as sim, \
            client_for(sim) as client:
        scan_ids(client, "invoices")
        assert client.stats().reserve == 2
        assert min(e.remaining for e in sim.log.entries("/api/v0") if e.counted) >= 2


def test_429_storm_is_waited_out_and_every_row_arrives_once() -> None:
    """A 429 is waited out until the window resets (all threads pause), never retried in a tight loop."""
    with Simulator(sizes={**SMALL_SIZES, "invoices": 2000}, seed=8, rate_limit=1000, rate_window_s=0.5,
                   fault_seed=3) as sim, client_for(sim, threads=8) as client:
        sim.faults.set_probability("429", 0.3)
        ids = scan_ids(client, "invoices")
        assert set(ids) == truth_ids(sim, "invoices") and max(ids.values()) == 1
        entries = sim.log.entries("/api/v0")
        throttled = [e for e in entries if e.status == 429]
        assert throttled and client.stats().throttled == len(throttled)
        # after a 429 nothing new is sent until the reset the 429 named (whole seconds, on the server's clock);
        # requests already in flight when the 429 was served arrive within a few milliseconds and are let be
        for hit in throttled:
            reset = math.ceil((math.floor(hit.started / 0.5) + 1) * 0.5)
            too_soon = [e for e in entries if hit.started + 0.05 < e.started < reset - 0.01]
            assert not too_soon, f"{len(too_soon)} requests sent before the window reset"


def test_a_second_client_spending_the_deployment_is_left_its_reserve() -> None:
    """The budget follows the server's headers, not only its own count: another integration's spending is seen,
    and ours never takes the reserve that integration relies on."""
    limit, window, reserve = 50, 2.0, 12
    with Simulator(sizes={**SMALL_SIZES, "invoices": 6000}, seed=8, rate_limit=limit, rate_window_s=window) as sim, \
            client_for(sim, budget_reserve=reserve, threads=8) as client:
        other = _Spender(sim, every_s=0.25)  # 8 requests a window: less than the reserve we leave
        other.start()
        try:
            ids = scan_ids(client, "invoices")
        finally:
            other.stop()
        assert set(ids) == truth_ids(sim, "invoices")
        assert other.statuses and 429 not in other.statuses, "our scan starved the other integration"
        ours = [e for e in sim.log.entries("/api/v0/invoices")]
        assert not [e for e in ours if e.status == 429]
        below = [e for e in ours if e.counted and e.remaining < reserve]
        assert len(below) <= 2, f"{len(below)} of our requests took the reserve"  # only a race with the other


class _Spender(threading.Thread):
    def __init__(self, sim: Simulator, every_s: float) -> None:
        super().__init__(daemon=True)
        self.sim, self.every_s = sim, every_s
        self.statuses: list[int] = []
        self._stop_event = threading.Event()
        self.session = requests.Session()
        token = self.session.post(f"{sim.base_url}/oauth2/v0/token", data={"grant_type": "client_credentials"},
                                  auth=(sim.client_id, sim.client_secret), timeout=5).json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def run(self) -> None:
        while not self._stop_event.wait(self.every_s):
            self.statuses.append(self.session.get(f"{self.sim.base_url}/api/v0/staff", timeout=5).status_code)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def test_budget_is_shared_by_every_thread_of_the_process() -> None:
    with Simulator(sizes=SMALL_SIZES, rate_limit=30, rate_window_s=1.0) as sim, \
            client_for(sim, budget_reserve=5, threads=16) as client:
        started = time.monotonic()
        ids = scan_ids(client, "invoices")
        assert set(ids) == truth_ids(sim, "invoices")
        workers = [threading.Thread(target=client.count, args=("companies",)) for _ in range(40)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert time.monotonic() - started >= 1.0  # 45 requests at 25 a window need a second window
        assert max(per_fixed_window(sim.log.entries("/api/v0"), 1.0).values()) <= 25


def test_requests_in_flight_are_bounded_by_threads() -> None:
    """However many caller threads share one client, at most `threads` requests are in flight."""
    with Simulator(sizes=SMALL_SIZES, latency_ms=30, workers=32) as sim, client_for(sim, threads=3) as client:
        callers = [threading.Thread(target=client.count, args=("staff",)) for _ in range(12)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        spans = [(e.started, e.started + e.service_s) for e in sim.log.entries("/api/v0")]
        overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
        assert overlap <= 3


# -- the adaptive policy alone, on a fake clock (issue 13, items 2-4) ----------------------------------------------
class FakeClock(ServerClock):
    """The server's clock, moved by hand; also the elapsed clock of the budget's estimator when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        super().__init__()
        self.at = now

    def now(self) -> float:
        return self.at


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(reset))}


def answer(budget: RateBudget, limit: int, remaining: int, reset: float, status: int = 200) -> None:
    """One request of ours through the gate (which must let it go at once) and its answer, on one thread (the budget
    pairs a thread's answers with its requests)."""
    went = threading.Thread(target=lambda: (budget.acquire(), budget.release(headers(limit, remaining, reset), status)),
                            daemon=True)
    went.start()
    went.join(timeout=2)
    assert not went.is_alive(), "the budget held a request that should have gone"


def held(budget: RateBudget, timeout_s: float = 0.3) -> tuple[threading.Thread, list[BaseException]]:
    """A request that the budget should hold: its thread (still waiting after `timeout_s`) and what it raised."""
    raised: list[BaseException] = []

    def go() -> None:
        try:
            budget.acquire()
        except BaseException as err:
            raised.append(err)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(timeout=timeout_s)
    return thread, raised


def budget_with(clock: FakeClock, window_s: float = 60.0, **options: Any) -> RateBudget:
    budget = RateBudget(clock, window_s=window_s, **options)
    budget.neighbours = Neighbours(clock.now, window_s, elapsed=clock.now)  # ages out on the fake clock too
    return budget


def test_the_reserve_is_the_others_need_until_the_reset_or_the_floor() -> None:
    clock = FakeClock(1030.0)  # 30 s into a fixed 60 s window ending at 1060
    adaptive, fixed = budget_with(clock, reserve=10), budget_with(clock, reserve=10, policy="fixed")
    for budget in (adaptive, fixed):
        answer(budget, 100, 100 - 1 - 30, 1060)  # ours, and 30 of the others' in the 30 s so far: 1 a second
        assert budget.neighbours.estimate().this_window == 30
    # their need until the reset: 1/s × 30 s × MARGIN, plus one; at the last second, the floor is larger
    assert adaptive.reserve_at(1030.0) == math.ceil(30 * MARGIN) + 1
    assert adaptive.reserve_at(1059.0) == 10
    assert fixed.reserve_at(1030.0) == fixed.reserve_at(1059.0) == 10
    assert adaptive.stats().left_to_others == math.ceil(30 * MARGIN) + 1 - 10


def test_pacing_is_not_waiting_for_a_spent_window_and_never_raises() -> None:
    """Expected work that does not fit is spread over the window: the next request waits its turn ("pacing"),
    which max_wait_s does not cap; work that fits goes at once."""
    clock = FakeClock(1000.0)
    waits: list[tuple[float, str]] = []
    budget = budget_with(clock, reserve=10, max_wait_s=0.01, on_wait=lambda s, why: waits.append((s, why)))
    budget.expect(500)  # more than the 89 the window allows
    answer(budget, 100, 99, 1060)
    answer(budget, 100, 98, 1060)  # the first paced request goes; the next waits an even share of the window
    thread, raised = held(budget)
    assert thread.is_alive() and not raised
    assert waits and waits[-1][1] == "pacing"
    assert waits[-1][0] == pytest.approx(0.95 * 60 / (98 - 1 - 10 + 1), rel=0.05)
    budget.expect(20)  # the work now fits: it is not paced, and the held request goes
    thread.join(timeout=2)
    assert not thread.is_alive() and not raised
    assert budget.stats().paced_s > 0 and not budget.stats().paced


def test_a_window_spent_to_the_floor_still_raises_budget_exhausted() -> None:
    """Only the wait for a spent window is capped by max_wait_s: the same budget, at its floor, stops the run."""
    clock = FakeClock(1000.0)
    budget = budget_with(clock, reserve=10, max_wait_s=5)
    budget.expect(500)
    answer(budget, 100, 10, 1060)  # at the floor
    thread, raised = held(budget)
    assert not thread.is_alive() and len(raised) == 1 and isinstance(raised[0], BudgetExhausted)


def test_holding_for_the_others_share_never_raises() -> None:
    clock = FakeClock(1030.0)
    waits: list[tuple[float, str]] = []
    budget = budget_with(clock, reserve=5, max_wait_s=0.01, on_wait=lambda s, why: waits.append((s, why)))
    answer(budget, 100, 100 - 1 - 30, 1060)  # the others: 30 in 30 s, so they need about 34 until the reset
    answer(budget, 100, 30, 1060)  # we spent down to 30: above the floor, below their need
    thread, raised = held(budget, timeout_s=1.5)
    assert thread.is_alive() and not raised and waits[-1][1] == "others' share"
    clock.at = 1058.0  # near the reset their need is under the floor: the request goes
    thread.join(timeout=3)
    assert not thread.is_alive() and not raised


def test_more_remaining_in_the_same_window_shows_a_rolling_window() -> None:
    """A request sent after an answer was counted after it: if more remains in the same window, requests aged out
    of it, which happens only in a rolling window."""
    clock = FakeClock(1000.0)
    budget = budget_with(clock, window_s=10)
    answer(budget, 60, 40, 1005)
    assert budget.stats().window_kind == "fixed"
    clock.at = 1001.0
    answer(budget, 60, 43, 1005)
    assert budget.stats().window_kind == "rolling"


def test_a_busy_rolling_window_is_not_taken_for_a_one_second_fixed_window() -> None:
    """Other integrations busy before we came: every reset is under a second ahead and creeps by a second, as a fixed
    window of one second would; but the count never starts again. Rolling, and the window keeps its length."""
    clock = FakeClock(1000.2)
    budget = budget_with(clock, window_s=10)
    for step in range(4):
        clock.at = 1000.2 + step
        answer(budget, 60, 30, 1001 + step)  # 30 counted all along (ours come and go as theirs do)
    stats = budget.stats()
    assert stats.window_kind == "rolling" and stats.window_s == 10


def test_in_a_rolling_window_our_aged_out_requests_come_back_before_the_whole_second_reset() -> None:
    """The reset names a whole second, up to a second after the oldest request ages out (a fifth of a compressed
    5 s window); our own requests age out a window after their answers at the latest, and count back in then."""
    clock = FakeClock(1000.2)
    budget = budget_with(clock, window_s=10, reserve=5)
    budget.neighbours.kind = "rolling"  # (as the headers would show it, by the rules tested above)
    for n in range(5):  # nobody else: ours spend the window down to the floor; the oldest ages out at 1010.2
        clock.at = 1000.2 + 0.1 * n
        answer(budget, 10, 10 - 1 - n, 1011)
    thread, raised = held(budget)
    assert thread.is_alive() and not raised  # at the floor, until 1010.2 (the reset says 1011)
    clock.at = 1010.3
    budget.expect(None)  # (wakes the held request to look again; its own timeout would, later)
    thread.join(timeout=2)
    assert not thread.is_alive() and not raised
