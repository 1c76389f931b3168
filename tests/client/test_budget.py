"""The shared rate budget against the simulator's compressed windows (issue 3; docs/accelo-api.md, Rate limit)."""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import Any

import pytest
import requests

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
