"""The other integrations seen through the rate-limit headers (issue 13, item 1): the estimator alone, on a fake
clock, then against the simulator with a second integration spending a known number of requests."""

from __future__ import annotations

import math
import threading
import time

import pytest

from accelo_kit.neighbours import HOUR_S, Neighbours
from accelo_kit.sim import Simulator
from tests.client.test_client import client_for, scan_ids, truth_ids
from tests.conftest import SMALL_SIZES, RawApi


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_nothing_is_known_before_an_answer_with_headers() -> None:
    clock = Clock()
    seen = Neighbours(clock, window_s=60)
    assert seen.estimate().this_window is None and seen.estimate().previous_window is None
    ticket = seen.sent()
    seen.answered(ticket, None, None, None, None)  # dropped: no answer
    seen.answered(seen.sent(), None, None, None, 502)  # a proxy's page without headers
    assert seen.estimate().this_window is None and seen.estimate().rate_per_s is None


def test_others_are_what_the_server_counted_minus_ours_in_flight_included() -> None:
    clock = Clock(1030.0)  # 30 s into a fixed 60 s window ending at 1060
    seen = Neighbours(clock, window_s=60)
    a, b, c = seen.sent(), seen.sent(), seen.sent()  # three of ours in flight
    # the server counted a, b and c and 10 of the others: c's answer overtakes a's and b's
    seen.answered(c, 100, 100 - 13, 1060, 200)
    assert seen.estimate().this_window == 10
    assert seen.estimate().rate_per_s == pytest.approx(10 / 30)
    # b's answer is older news (remaining was higher when it was counted): the estimate stays
    seen.answered(b, 100, 100 - 12, 1060, 200)
    assert seen.estimate().this_window == 10
    d = seen.sent()
    seen.answered(a, 100, 100 - 11, 1060, 200)
    clock.now = 1031.0
    seen.answered(d, 100, 100 - 16, 1060, 200)  # two more of the others meanwhile
    assert seen.estimate().this_window == 12


def test_a_request_sent_after_an_answer_is_not_counted_in_it() -> None:
    """An answer counts only our requests sent before it: the ones that leave later are not in its remaining."""
    clock = Clock(1010.0)
    seen = Neighbours(clock, window_s=60)
    first = seen.sent()
    later = [seen.sent() for _ in range(5)]
    seen.answered(first, 100, 100 - 1 - 4, 1060, 200)  # first, then 4 of the others; ours after it not yet counted
    assert seen.estimate().this_window == 4
    for n, ticket in enumerate(later, start=1):
        seen.answered(ticket, 100, 100 - 5 - n, 1060, 200)
    assert seen.estimate().this_window == 4


def test_a_429_is_neither_ours_nor_news_of_the_others() -> None:
    clock = Clock(1010.0)
    seen = Neighbours(clock, window_s=60)
    refused = seen.sent()
    seen.answered(refused, 100, 0, 1060, 429)
    assert seen.estimate().this_window is None  # remaining 0 on a 429 says nothing of who spent it
    ok = seen.sent()
    seen.answered(ok, 100, 100 - 6, 1060, 200)  # the refused request was not counted: 5 are the others'
    assert seen.estimate().this_window == 5


def test_a_request_without_an_answer_is_still_counted_as_ours() -> None:
    clock = Clock(1010.0)
    seen = Neighbours(clock, window_s=60)
    dropped = seen.sent()
    seen.answered(dropped, None, None, None, None)
    ok = seen.sent()
    seen.answered(ok, 100, 100 - 2, 1060, 200)  # dropped and ok were both counted: nobody else
    assert seen.estimate().this_window == 0


def test_a_fixed_window_turning_keeps_the_last_one_as_previous() -> None:
    clock = Clock(1050.0)
    seen = Neighbours(clock, window_s=60)
    for n in range(1, 4):  # 3 of ours, the others at 20 by the end of the window
        seen.answered(seen.sent(), 100, 100 - 20 - n, 1060, 200)
    assert seen.estimate().this_window == 20
    clock.now = 1060.5  # the reset passed: the window we knew is now the previous one
    assert seen.estimate().this_window is None and seen.estimate().previous_window == 20
    early = seen.sent()  # sent in the new window, answered after another of ours
    late = seen.sent()
    clock.now = 1062.0
    seen.answered(late, 100, 100 - 2 - 3, 1120, 200)  # both ours counted, 3 of the others
    seen.answered(early, 100, 100 - 1 - 3, 1120, 200)
    estimate = seen.estimate()
    assert (estimate.this_window, estimate.previous_window) == (3, 20)
    # the rate over the last window: this one's 3 in 2 s, plus the previous one's 20 taken as even over the 58 s
    # of it still within the last 60 (the recent rate needs readings spanning 3 s, half a tenth of the window)
    assert estimate.rate_per_s == pytest.approx((3 + 20 * 58 / 60) / 60)


def test_a_rolling_window_forgets_our_requests_that_aged_out() -> None:
    """Rolling: the reset is when the oldest counted request ages out, so ours sent before reset − W are no longer
    in the server's count."""
    clock = Clock(1000.0)
    seen = Neighbours(clock, window_s=60)
    for _ in range(5):
        seen.answered(seen.sent(), 100, 95, 1060, 200)  # (the remaining of each is irrelevant here)
    clock.now = 1070.0  # those five aged out at 1060
    last = seen.sent()
    seen.answered(last, 100, 100 - 8, 1105, 200)  # oldest counted request at 1045 (not ours): 7 of the others
    assert seen.estimate().this_window == 7


def test_a_fixed_window_is_learned_from_two_resets_a_window_apart() -> None:
    clock = Clock(1000.5)
    seen = Neighbours(clock)
    assert seen.window_s == HOUR_S and seen.kind == "fixed"
    seen.answered(seen.sent(), 40, 39, 1002, 200)  # a compressed window: nothing tells its length yet
    assert seen.window_s == HOUR_S
    clock.now = 1003.0
    seen.answered(seen.sent(), 40, 40 - 1 - 6, 1004, 200)  # the next window: the earlier request is not in it
    assert seen.window_s == pytest.approx(2.0) and seen.kind == "fixed"
    assert seen.estimate().this_window == 6 and seen.estimate().previous_window == 0


def test_a_reset_further_ahead_than_the_configured_window_lengthens_it() -> None:
    clock = Clock(1000.0)
    seen = Neighbours(clock, window_s=10)
    seen.answered(seen.sent(), 40, 39, 1030, 200)
    assert seen.window_s == pytest.approx(30.0)


def test_resets_creeping_forward_show_a_rolling_window() -> None:
    """Rolling: each answer's reset is when the oldest counted request ages out, so it moves by less than the time it
    is ahead of now; ours count while sent within W before the answer's request."""
    clock = Clock(1000.0)
    seen = Neighbours(clock, window_s=10)
    for n in range(5):  # five of ours, one a second, with nobody else: the reset stays at the first one's + 10
        clock.now = 1000.0 + n
        seen.answered(seen.sent(), 50, 50 - 1 - n, 1010, 200)
    assert seen.kind == "fixed"  # nothing to tell them apart yet
    clock.now = 1010.5  # the first aged out; the second (sent at 1001) is now the oldest: the reset creeps to 1011
    seen.answered(seen.sent(), 50, 50 - 5 - 3, 1011, 200)  # ours 1001..1004 and this one, and 3 of the others
    assert seen.kind == "rolling"
    estimate = seen.estimate()
    assert estimate.this_window == 3 and estimate.rate_per_s == pytest.approx(3 / 10)
    assert estimate.window_kind == "rolling"


@pytest.mark.parametrize("kind", ["fixed", "rolling"])
def test_another_integration_is_measured_while_the_kit_scans(kind: str) -> None:
    """A second integration (plain requests, its own token) spends a known number of requests in each window while
    the kit scans; the kit's estimate of the others, read on every answer, is within ±2 requests (or ±10%) of what
    the simulator's log says the others had spent in that window at that moment."""
    limit, window = 200, 2.0  # the kit, slowed by latency, spends about 100 a window: readings span each window
    sizes = {**SMALL_SIZES, "invoices": 16000}
    with Simulator(sizes=sizes, seed=8, rate_limit=limit, rate_window_s=window, rate_window=kind,
                   latency_ms=30) as sim, client_for(sim, threads=2) as client:
        other = RawApi(sim)
        other.login()
        readings: list[tuple[float, int | None]] = []
        client.add_hook("request", lambda *a: readings.append((sim.clock(), client.stats().others_this_window)))
        while sim.clock() % window > 0.3:  # start both at a fresh window so the spend is easy to state
            time.sleep(0.02)
        done = threading.Event()

        def spend() -> None:
            while not done.wait(0.1):  # about 20 a window, a third of it
                other.get("staff", _limit="1")

        spender = threading.Thread(target=spend, daemon=True)
        spender.start()
        try:
            ids = scan_ids(client, "invoices")
        finally:
            done.set()
            spender.join()
        assert set(ids) == truth_ids(sim, "invoices")
        entries = sim.log.entries("/api/v0")
        theirs = sorted(e.started for e in entries if e.path == "/api/v0/staff" and e.counted)
        assert len(theirs) >= 20, "the other integration spent too little to measure"

        def truth(at: float) -> int:
            start = math.floor(at / window) * window if kind == "fixed" else at - window
            return sum(1 for t in theirs if start <= t <= at)

        checked = [(estimate, truth(at)) for at, estimate in readings if estimate is not None]
        assert len(checked) >= len(readings) // 2 and max(true for _, true in checked) >= 10
        worst = max(abs(estimate - true) - max(2, 0.1 * true) for estimate, true in checked)
        misses = [(e, t) for e, t in checked if abs(e - t) > max(2, 0.1 * t)]
        print(f"{kind}: {len(checked)} readings, worst excess {worst:.1f}, misses {len(misses)}",
              checked[::max(1, len(checked) // 8)])
        assert len(misses) <= len(checked) // 20, misses[:10]
