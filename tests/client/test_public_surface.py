"""The client's public surface (issue 12): callers use methods and hooks, never the budget, transport, tokens or
clock behind them. The names are pinned, so hiding an internal cannot pass for renaming it, and adding a public name
is a decision made here. The hooks are checked against the simulator: waits, requests and retries all reach them."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from accelo_kit import AcceloClient, Settings
from accelo_kit.client import EVENTS, ClientStats, Probe
from accelo_kit.sim import Simulator
from tests.conftest import SMALL_SIZES

PUBLIC_METHODS = {"add_hook", "close", "converter", "count", "expect_requests", "get", "iter_pages", "iter_records",
                  "probe", "scan", "scan_request", "server_now", "server_time", "stats", "token_details"}
PUBLIC_ATTRIBUTES = {"settings"}


def client_for(sim: Simulator, event_hooks: dict[str, list[Any]] | None = None, **overrides: Any) -> AcceloClient:
    values: dict[str, Any] = {**sim.configuration(), "threads": "4", "request_timeout": "5", **overrides}
    return AcceloClient(Settings.from_mapping({k: str(v) for k, v in values.items()}), event_hooks=event_hooks)


def public(names: list[str]) -> set[str]:
    return {name for name in names if not name.startswith("_")}


def test_the_public_names_are_exactly_these() -> None:
    assert public(dir(AcceloClient)) == PUBLIC_METHODS
    settings = Settings.from_mapping({"deployment": "acme", "client_id": "id", "client_secret": "secret"})
    with AcceloClient(settings) as client:
        assert public(dir(client)) == PUBLIC_METHODS | PUBLIC_ATTRIBUTES
        for hidden in ("budget", "transport", "tokens", "clock", "policy", "scanner"):
            assert not hasattr(client, hidden), hidden


def test_an_unknown_event_is_refused() -> None:
    settings = Settings.from_mapping({"deployment": "acme", "client_id": "id", "client_secret": "secret"})
    with AcceloClient(settings) as client, pytest.raises(ValueError, match="unknown event"):
        client.add_hook("response", print)
    with pytest.raises(ValueError, match="unknown event"):
        AcceloClient(settings, event_hooks={"wait": [], "sent": [print]})
    assert EVENTS == ("wait", "request", "retry")


def test_hooks_see_every_request_and_retry_and_stop_when_removed() -> None:
    """One hook per event from construction, one added later: each request (token POST and API GETs, with their
    status; None for a dropped connection) and each retry (a 503, a drop, a revoked token) is seen once."""
    seen: list[tuple[str, str, int | None]] = []
    retries: list[tuple[str, int, str]] = []
    with Simulator(sizes=SMALL_SIZES, seed=5) as sim, \
            client_for(sim, event_hooks={"request": [lambda *a: seen.append(a)]}) as client:
        remove = client.add_hook("retry", lambda *a: retries.append(a))
        assert client.count("staff") == SMALL_SIZES["staff"]
        assert seen[0] == ("POST", "/oauth2/v0/token", 200) and seen[1:] == [("GET", "/staff/count", 200)]
        sim.faults.script("503", count=1)
        sim.faults.script("drop", count=1)
        client.count("staff")
        assert seen[2:] == [("GET", "/staff/count", 503), ("GET", "/staff/count", None),
                            ("GET", "/staff/count", 200)]
        assert [(path, attempt) for path, attempt, _ in retries] == [("/staff/count", 1), ("/staff/count", 2)]
        assert "503" in retries[0][2] or "server error" in retries[0][2]
        sim.revoke_tokens()
        client.count("staff")
        assert [method for method, _, _ in seen[5:]] == ["GET", "POST", "GET"] and seen[5][2] == 401
        assert retries[2][:2] == ("/staff/count", 1) and "token refused" in retries[2][2]
        remove()
        remove()  # twice is harmless
        sim.faults.script("503", count=1)
        client.count("staff")
        assert len(retries) == 3
        stats = client.stats()
        assert isinstance(stats, ClientStats) and stats.tokens_fetched == 2
        assert stats.requests == len([s for s in seen if s[0] == "GET"]) == len(sim.log.entries("/api/v0"))
        assert stats.retries == 4


def test_a_wait_for_the_rate_window_reaches_the_hook_before_it_starts() -> None:
    """A compressed window of 3 requests per 2 s: counting 6 times must wait at least once, and the hook hears of
    it (seconds, reason) on the waiting thread, before the wait. (The fixed policy: under the adaptive one the
    work, unsaid, is paced once it meets the spent window, and those waits say "pacing".)"""
    waits: list[tuple[float, str, float]] = []
    with Simulator(sizes=SMALL_SIZES, seed=11, rate_limit=3, rate_window_s=2.0) as sim, \
            client_for(sim, budget_reserve=0, budget_policy="fixed") as client:
        client.add_hook("wait", lambda seconds, reason: waits.append((seconds, reason, client.stats().waited_s)))
        for _ in range(6):
            client.count("staff")
        assert waits and all(0 < seconds <= 2.5 and reason == "rate limit window" for seconds, reason, _ in waits)
        assert waits[0][2] == 0.0  # told before any time was spent waiting
        assert client.stats().waited_s > 0
        assert not [e for e in sim.log.entries("/api/v0") if e.status == 429]


def test_probe_server_clock_and_token_details_need_no_private_parts() -> None:
    with Simulator(sizes=SMALL_SIZES, seed=5, expires_in_type="string") as sim, client_for(sim) as client:
        details = client.token_details()
        assert details.deployment and details.expires_in_type == "string"
        assert client.stats().requests == 0 and client.stats().tokens_fetched == 1
        answer = client.probe("companies", {"_limit": "1", "_fields": "id"})
        assert isinstance(answer, Probe) and answer.status == 200 and b'"meta"' in answer.body
        assert answer.content_type.startswith("application/json")
        assert client.probe("accelo_kit_no_such_resource").status in (400, 404)
        assert client.stats().requests == 2 and client.stats().retries == 0
        assert abs(client.server_now() - sim.clock()) < 2.0


def test_hooks_may_be_added_and_removed_while_threads_send() -> None:
    with Simulator(sizes={**SMALL_SIZES, "invoices": 1500}, seed=2) as sim, client_for(sim, threads="8") as client:
        counted: list[int] = []
        stop = threading.Event()

        def churn() -> None:
            while not stop.is_set():
                client.add_hook("request", lambda *a: counted.append(1))()

        churner = threading.Thread(target=churn, daemon=True)
        churner.start()
        try:
            ids = [row["id"] for page in client.iter_pages("invoices") for row in page.rows]
        finally:
            stop.set()
            churner.join(timeout=5)
        assert len(ids) == len(set(ids)) == 1500


def test_the_stats_fields_are_exactly_these() -> None:
    """stats() is public: its fields are pinned too (issue 13 added the other integrations' use, None while unknown)."""
    import dataclasses
    assert [f.name for f in dataclasses.fields(ClientStats)] == [
        "requests", "retries", "throttled", "waited_s", "limit", "remaining", "reset", "reserve",
        "others_this_window", "others_rate_per_s", "others_previous_window", "policy", "reserve_now", "window_kind",
        "window_s", "paced", "paced_s", "yielded_s", "expected", "tokens_fetched"]
