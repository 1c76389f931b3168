"""Neighbours: other integrations on the same deployment spending the client's rate window (issue 13, item 6).

Windows are compressed to seconds; a fixed window is aligned by skewing the simulator's clock so that a test starts
just after a window boundary.
"""

from __future__ import annotations

import math
import threading
import time

import pytest
import requests

from accelo_kit.sim import LogEntry, SimSettings, Simulator
from accelo_kit.sim.neighbours import NeighbourSpec, parse_neighbour, parse_neighbours
from accelo_kit.sim.settings import coerce_setting
from tests.conftest import RawApi, make_sim


def _align(sim: Simulator, window_s: float) -> float:
    """Skew the simulator's clock so that it stands 0.05 s into a fixed window; that clock time."""
    sim.set(clock_offset_s=(-time.time()) % window_s + 0.05)
    return sim.clock()


def _sleep_until(sim: Simulator, at: float) -> None:
    time.sleep(max(0.0, at - sim.clock()))


def _of(sim: Simulator, name: str) -> list[LogEntry]:
    return [e for e in sim.log.entries() if e.neighbour == name]


@pytest.mark.parametrize("kind", ["fixed", "rolling"])
def test_steady_neighbour_spends_the_clients_window_and_is_refused_once_it_is_spent(kind: str) -> None:
    with make_sim(rate_limit=30, rate_window_s=3, rate_window=kind) as sim:
        api = RawApi(sim)
        api.login()
        t0 = _align(sim, 3)
        assert sim.start_neighbour("steady:4", name="acct") == "acct"  # 12 a window: 40%
        _sleep_until(sim, t0 + 1.0)
        first = api.get("companies", _limit=1)
        assert first.status_code == 200
        seen = sim.neighbour_summary()["acct"]["counted"]
        assert 4 <= seen <= 6  # due at 0, 0.25, 0.5, 0.75, 1.0 s
        remaining = int(first.headers["X-RateLimit-Remaining"])
        assert 30 - 1 - seen <= remaining <= 30 - 1 - seen + 1  # the neighbour's requests are gone from the window
        # one window, one counter: every counted request (client's or neighbour's) took the next remaining value
        counted = sorted((e.remaining for e in sim.log.entries() if e.counted), reverse=True)
        assert counted == list(range(29, 29 - len(counted), -1))

        spent = 1
        while api.get("companies", _limit=1).status_code != 429:
            spent += 1
        _sleep_until(sim, t0 + 1.9)
        summary = sim.neighbour_summary()["acct"]
        refusals = [e for e in _of(sim, "acct") if e.status == 429]
        assert summary["refused"] == len(refusals) >= 2  # due at ~1.5, 1.75 s: the window is spent
        assert all(not e.counted and e.remaining == 0 for e in refusals)
        assert spent + summary["counted"] == 30  # both spent the same 30
        assert [e.status for e in sim.log.entries("/api/") if not e.neighbour].count(429) == 1
        window = summary["windows"][0]
        assert window["start"] == math.floor(t0 / 3) * 3 and window["refused"] == summary["refused"]
        over_http = requests.get(sim.base_url + "/_sim/neighbours", timeout=5).json()["neighbours"]["acct"]
        assert over_http["refused"] == summary["refused"] and over_http["spec"] == "acct=steady:4"

        _sleep_until(sim, t0 + 3.4)  # fixed: a new window; rolling: the neighbour's first requests aged out
        assert _of(sim, "acct")[-1].counted
        if kind == "fixed":
            assert len(sim.neighbour_summary()["acct"]["windows"]) == 2


def test_burst_shape_every_period_and_once() -> None:
    with make_sim(neighbours="once=burst:4/0.2s") as sim:
        before = sim.clock()
        sim.start_neighbour("burst:6/0.5s/every1.5s", name="bursty")
        after = sim.clock()
        _sleep_until(sim, before + 2.4)
        sim.stop_neighbour()
        stamps = [e.started for e in _of(sim, "bursty")]
        assert len(stamps) == 12  # two bursts of six, the third is due at 3 s
        spec = parse_neighbour("burst:6/0.5s/every1.5s")
        for k, stamp in enumerate(stamps):  # each goes out when due (never before), a thread wake-up late at most
            due = spec.due(k)
            assert due is not None and before + due <= stamp <= after + due + 0.2, (k, stamp - before)
        assert len(_of(sim, "once")) == 4
        assert sim.neighbour_summary()["once"]["active"] is False


def test_schedules_are_deterministic() -> None:
    burst = parse_neighbour("burst:4/2s/every10s/from1s/until12s")
    assert [burst.due(k) for k in range(9)] == [1.0, 1.5, 2.0, 2.5, 11.0, 11.5, None, None, None]
    steady = NeighbourSpec("steady", rate=2.5, until_s=1.0)
    assert [steady.due(k) for k in range(4)] == [0.0, 0.4, 0.8, None]
    assert NeighbourSpec("burst", count=3, within_s=0).due(3) is None  # once


def test_neighbour_starts_and_stops_mid_way_through_control_and_methods(sim: Simulator) -> None:
    assert sim.neighbour_summary() == {}
    control = sim.base_url + "/_sim/neighbours"
    started = requests.post(control, json={"action": "start", "spec": "steady:20", "name": "late"}, timeout=5)
    assert started.json()["changed"] == ["late"]
    time.sleep(0.5)
    requests.post(control, json={"action": "stop", "name": "late"}, timeout=5).raise_for_status()
    stopped_at = sim.neighbour_summary()["late"]["sent"]
    assert 6 <= stopped_at <= 12  # 20 a second for 0.5 s
    time.sleep(0.3)
    late = sim.neighbour_summary()["late"]
    assert late["sent"] == stopped_at and late["active"] is False

    # from Python, with start and stop times relative to now: due 0.3, 0.4, ... until 0.8 s from now
    sim.start_neighbour("steady:10", name="window", delay_s=0.3, stop_after_s=0.8)
    time.sleep(0.15)
    assert sim.neighbour_summary()["window"]["sent"] == 0
    time.sleep(1.0)
    assert sim.neighbour_summary()["window"]["sent"] == 5
    sim.start_neighbour("steady:10", name="window", stop_after_s=0.25)  # a restart keeps the counts
    time.sleep(0.5)
    assert sim.neighbour_summary()["window"]["sent"] == 5 + 3
    sim.stop_neighbour("window", after_s=0.0)

    bad = requests.post(control, json={"action": "start", "spec": "steady:0"}, timeout=5)
    assert bad.status_code == 400 and "positive rate" in bad.json()["meta"]["message"]
    assert requests.post(control, json={"action": "stop", "name": "nobody"}, timeout=5).status_code == 400


def test_a_neighbour_mid_sync_changes_what_the_client_is_left() -> None:
    with make_sim(rate_limit=200, rate_window_s=4, rate_window="rolling") as sim:
        api = RawApi(sim)
        api.login()
        time.sleep(0.5)
        before = int(api.get("companies", _limit=1).headers["X-RateLimit-Remaining"])
        assert before == 199  # nobody else
        sim.start_neighbour("steady:40")
        time.sleep(0.5)
        during = int(api.get("companies", _limit=1).headers["X-RateLimit-Remaining"])
        assert 200 - 2 - 26 <= during <= 200 - 2 - 16  # about 20 taken by the neighbour
        sim.stop_neighbour()
        taken = sim.neighbour_summary()["steady-1"]["counted"]
        time.sleep(0.5)
        after = int(api.get("companies", _limit=1).headers["X-RateLimit-Remaining"])
        assert after == 200 - 3 - taken  # stopped: nothing more went


def test_neighbours_from_the_settings_start_with_the_simulator_and_stop_with_it() -> None:
    sim = make_sim(neighbours="w=steady:10/from0.2s/until0.7s")
    with sim:
        time.sleep(1.0)
        assert sim.neighbour_summary()["w"]["sent"] == 5
        sim.set(neighbours="steady:50")  # replaces the configured ones
        time.sleep(0.2)
        assert sim.neighbour_summary()["steady-1"]["sent"] >= 3
    entries = len(sim.log)
    time.sleep(0.2)
    assert len(sim.log) == entries
    assert not any(t.name == "accelo-sim-neighbours" for t in threading.enumerate())


def test_no_neighbour_costs_nothing(sim: Simulator, api: RawApi) -> None:
    api.ok("companies")
    assert not any(t.name == "accelo-sim-neighbours" for t in threading.enumerate())
    assert [e.neighbour for e in sim.log.entries()] == [""] * len(sim.log) and sim.neighbour_summary() == {}
    assert requests.get(sim.base_url + "/_sim/neighbours", timeout=5).json() == {"neighbours": {}}
    assert int(api.get("companies").headers["X-RateLimit-Remaining"]) == sim.settings.rate_limit - 2


def test_the_setting_text_form() -> None:
    assert coerce_setting("neighbours", "steady:2.5,burst:30/3s/every60s") == "steady:2.5,burst:30/3s/every60s"
    specs = parse_neighbours("steady:2.5,acct=burst:30/3s/every60s/from10s/until70s")
    assert [s.text() for s in specs] == ["steady-1=steady:2.5", "acct=burst:30/3s/every60s/from10s/until70s"]
    assert specs[1] == NeighbourSpec("burst", count=30, within_s=3, every_s=60, from_s=10, until_s=70, name="acct")
    for bad in ("steady", "steady:0", "steady:2/every5s", "burst:0/3s", "gust:3", "a=steady:1,a=steady:2",
                "steady:1/from5s/until2s", "burst:3/1s/soon"):
        with pytest.raises(ValueError, match="neighbours"):
            SimSettings(neighbours=bad)
