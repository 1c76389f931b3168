"""The simulator's /_sim/ control endpoints: steering it from another process, never counted or faulted."""

from __future__ import annotations

import requests

from accelo_kit.sim import Simulator
from tests.conftest import RawApi


def test_control_endpoints_steer_faults_mutations_settings_and_read_log_and_truth(sim: Simulator,
                                                                                 api: RawApi) -> None:
    url = sim.base_url + "/_sim/"
    assert requests.post(url + "faults", json={"kind": "503", "count": 1}, timeout=5).json()["pending"] == 1
    assert api.get("companies").status_code == 503
    assert api.get("companies").status_code == 200
    inserted = requests.post(url + "mutate", json={"action": "insert", "resource": "companies", "count": 2},
                             timeout=5).json()["ids"]
    truth = requests.get(url + "truth/companies", timeout=5).json()["rows"]
    assert {int(r["id"]) for r in truth} >= set(inserted) and len(truth) == len(sim.truth("companies"))
    assert requests.post(url + "settings", json={"count_type": "number"}, timeout=5).json()["settings"][
        "client_secret"] == "***"
    assert isinstance(api.ok("companies/count")["count"], int)
    refused = requests.post(url + "settings", json={"seed": 2}, timeout=5)
    assert refused.status_code == 400 and "start a new Simulator" in refused.json()["meta"]["message"]
    log = requests.get(url + "log", timeout=5).json()["entries"]
    assert [e["path"] for e in log if e["path"].startswith("/api")] == ["/api/v0/companies"] * 2 + [
        "/api/v0/companies/count"]
    assert all("token" not in e for e in log)
    requests.post(url + "log/clear", timeout=5)
    assert requests.get(url + "log", timeout=5).json()["entries"] == []


def test_control_requests_are_not_rate_limited_nor_faulted(sim: Simulator, api: RawApi) -> None:
    sim.set(rate_limit=1)
    sim.faults.set_probability("500", 1.0, path=".*")
    for _ in range(5):
        assert requests.get(sim.base_url + "/_sim/log", timeout=5).status_code == 200
    assert len(sim.log) == 0


def test_bad_control_requests_are_400(sim: Simulator) -> None:
    for method, path, body in (("GET", "nothing", None), ("POST", "mutate", {"action": "explode"}),
                               ("POST", "faults", {"kind": "meteor"}), ("GET", "truth/widgets", None)):
        answer = requests.request(method, sim.base_url + "/_sim/" + path, json=body, timeout=5)
        assert answer.status_code == 400, (path, answer.text)
