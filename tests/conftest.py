"""Shared fixtures: a small simulator per test (fast to build) and a raw HTTP helper that speaks to it.

`RawApi` is deliberately not the kit's client: simulator tests check the wire, so they use plain requests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from accelo_kit.sim import Simulator

SMALL_SIZES = {"companies": 120, "invoices": 300, "payments": 200, "prospects": 80, "jobs": 150, "staff": 25}


class RawApi:
    """Plain requests against a simulator: get a token, call paths, return the parsed envelope."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.token: str | None = None

    def fetch_token(self, **form: str) -> requests.Response:
        data = {"grant_type": "client_credentials", **form}
        return self.session.post(f"{self.sim.base_url}/oauth2/v0/token", data=data,
                                 auth=(self.sim.client_id, self.sim.client_secret), timeout=10)

    def login(self) -> str:
        response = self.fetch_token()
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        return self.token

    def get(self, path: str, timeout: float = 10, **params: Any) -> requests.Response:
        if self.token is None:
            self.login()
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.session.get(f"{self.sim.base_url}/api/v0/{path.lstrip('/')}", params=params,
                                headers=headers, timeout=timeout)

    def ok(self, path: str, **params: Any) -> Any:
        """The `response` of a call that must succeed."""
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["meta"]["status"] == "ok", body
        return body["response"]

    def list_all(self, resource: str, **params: Any) -> list[dict[str, Any]]:
        """Every row by `_page` paging until a short page, as a naive client would."""
        rows: list[dict[str, Any]] = []
        page = 0
        while True:
            batch = self.ok(resource, _limit=100, _page=page, **params)
            rows.extend(batch)
            if len(batch) < 100:
                return rows
            page += 1


@pytest.fixture(autouse=True)
def _no_saved_tuning(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's out/tuning.json must not change the thread count tests (and their subprocesses) run with."""
    monkeypatch.setenv("ACCELO_KIT_TUNING", str(tmp_path_factory.getbasetemp() / "no-tuning.json"))


@pytest.fixture(scope="module")
def notebook_env() -> Iterator[None]:
    """Kernels started by papermill are this venv's python (its own kernelspec comes first on JUPYTER_PATH), and
    no ACCELO_* variable of the developer's leaks into a notebook run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(Path(sys.prefix) / "share" / "jupyter"))
        for name in ("ACCELO_DEPLOYMENT", "ACCELO_CLIENT_ID", "ACCELO_CLIENT_SECRET", "ACCELO_BASE_URL"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(sizes=SMALL_SIZES, seed=11) as simulator:
        yield simulator


@pytest.fixture
def api(sim: Simulator) -> RawApi:
    return RawApi(sim)


def make_sim(**settings: Any) -> Simulator:
    """A started simulator with small tables unless told otherwise; the caller stops it (use `with`)."""
    settings.setdefault("sizes", SMALL_SIZES)
    return Simulator(**settings)


def pytest_configure(config: pytest.Config) -> None:
    """`ACCELO_KIT_BROKEN=<variant>` in the environment breaks the kit on purpose in this test process
    (tests/broken_variants.py); tests/chaos/test_broken_variants.py uses it to prove the suite goes red."""
    from tests.broken_variants import apply_from_env

    apply_from_env()
