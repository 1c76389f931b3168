"""The client core against the simulator over real HTTP (issue 3): completeness, cost, tokens, retries, budget."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from accelo_kit import (
    AcceloClient,
    AuthenticationError,
    PermissionDenied,
    RequestError,
    RetriesExhausted,
    Settings,
)
from accelo_kit.sim import Simulator
from tests.conftest import SMALL_SIZES


def client_for(sim: Simulator, **overrides: Any) -> AcceloClient:
    values: dict[str, Any] = {**sim.configuration(), "threads": "8", "request_timeout": "5", **overrides}
    return AcceloClient(Settings.from_mapping({k: str(v) for k, v in values.items()}))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(sizes=SMALL_SIZES, seed=5) as simulator:
        yield simulator


def scan_ids(client: AcceloClient, name: str, filters: tuple[str, ...] = ()) -> collections.Counter[int]:
    ids: collections.Counter[int] = collections.Counter()
    for page in client.iter_pages(name, filters):
        ids.update(int(row["id"]) for row in page.rows)
    return ids


def truth_ids(sim: Simulator, name: str) -> set[int]:
    return {int(row["id"]) for row in sim.truth(name)}


def api_requests(sim: Simulator, name: str) -> list[Any]:
    return [e for e in sim.log.entries(f"/api/v0/{name}")]


# -- completeness and cost -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["companies", "invoices", "payments", "prospects", "jobs", "staff"])
def test_scan_delivers_every_row_exactly_once(sim: Simulator, name: str) -> None:
    with client_for(sim) as client:
        ids = scan_ids(client, name)
    assert set(ids) == truth_ids(sim, name)
    assert max(ids.values()) == 1


@pytest.mark.parametrize("layout", ["gappy", "dense", "skewed"])
@pytest.mark.parametrize("rows", [0, 1, 99, 100, 101, 250, 2000])
def test_scan_costs_about_one_request_per_hundred_rows(layout: str, rows: int) -> None:
    """docs/accelo-api.md, Listing and paging: a full scan of N rows costs at most ⌈N/100⌉ + 1 requests per id
    range it used."""
    with Simulator(sizes={**SMALL_SIZES, "invoices": rows}, id_layout=layout, seed=3) as sim, \
            client_for(sim, threads=8) as client:
        ids = scan_ids(client, "invoices")
        assert set(ids) == truth_ids(sim, "invoices") and sum(ids.values()) == rows
        served = api_requests(sim, "invoices")
        # every split leaves two ranges with different upper bounds, so distinct bounds count the ranges
        bounds = {_bound(e.params["_filters"], "id_less_than_or_equal") for e in served
                  if "id_less_than_or_equal" in e.params["_filters"]}
        ranges = max(1, len(bounds))
        pages = -(-rows // 100)
        assert len(served) <= pages + ranges + 1, (len(served), pages, ranges)
        assert ranges <= 2 * 8
        if rows < 100:
            assert len(served) == 1  # a short first page ends the scan: no probe, nothing past the end
        assert all(e.params["_limit"] == "100" for e in served)
        assert not any("_page" in e.params or "_offset" in e.params for e in served)  # keyset, never offsets


def test_filters_are_applied_and_combined_with_the_scan_bounds(sim: Simulator) -> None:
    with client_for(sim) as client:
        ids = scan_ids(client, "companies", ("standing(active)",))
    expected = {int(r["id"]) for r in sim.truth("companies") if r["standing"] == "active"}
    assert set(ids) == expected


def test_iter_records_converts_rows(sim: Simulator) -> None:
    from datetime import datetime
    from decimal import Decimal

    with client_for(sim) as client:
        records = list(client.iter_records("invoices"))
    assert len(records) == len(sim.truth("invoices"))
    first = records[0]
    assert isinstance(first["id"], int) and isinstance(first["amount"], Decimal)
    assert isinstance(first["date_modified"], datetime) and first["date_modified"].tzinfo is not None
    assert isinstance(first["contact"], int)


def test_count_parses_string_and_number(sim: Simulator) -> None:
    with client_for(sim) as client:
        as_string = client.count("companies", ["standing(active)"])
        sim.set(count_type="number")
        as_number = client.count("companies", ["standing(active)"])
    expected = sum(1 for r in sim.truth("companies") if r["standing"] == "active")
    assert as_string == as_number == expected


def test_skewed_ids_spread_the_dense_range_over_several_threads() -> None:
    """Work stealing: 90% of rows in 10% of the id span still end up fetched by many ranges at once."""
    with Simulator(sizes={**SMALL_SIZES, "jobs": 5000}, id_layout="skewed", seed=9) as sim, \
            client_for(sim, threads=8) as client:
        truth = sorted(truth_ids(sim, "jobs"))
        dense_lo, dense_hi = truth[len(truth) // 10], truth[-len(truth) // 10]  # inside the dense block
        ids = scan_ids(client, "jobs")
        assert set(ids) == set(truth) and max(ids.values()) == 1
        bounded = [e for e in api_requests(sim, "jobs") if "id_less_than_or_equal" in e.params["_filters"]]
        starts = {_bound(e.params["_filters"], "id_greater_than") for e in bounded}
        in_dense = [s for s in starts if dense_lo <= s <= dense_hi]
        assert len(in_dense) >= 4, f"only {len(in_dense)} ranges started inside the dense block"
        assert len(api_requests(sim, "jobs")) <= 50 + 2 * 8 + 2


def _bound(filters: str, name: str) -> int:
    start = filters.index(name + "(") + len(name) + 1
    return int(filters[start:filters.index(")", start)])


def test_several_entities_share_one_pool(sim: Simulator) -> None:
    with client_for(sim) as client:
        seen: dict[str, set[int]] = collections.defaultdict(set)
        complete = []
        for page in client.scan([client.scan_request(n) for n in ("companies", "jobs", "staff")]):
            seen[page.key].update(int(r["id"]) for r in page.rows)
            if page.complete:
                complete.append(page.key)
    assert sorted(complete) == ["companies", "jobs", "staff"]
    for name in ("companies", "jobs", "staff"):
        assert seen[name] == truth_ids(sim, name)


def test_rows_changing_mid_scan_never_hide_a_row_that_existed_throughout() -> None:
    with Simulator(sizes={**SMALL_SIZES, "companies": 3000}, seed=21, latency_ms=3) as sim, \
            client_for(sim, threads=4) as client:
        before = truth_ids(sim, "companies")
        deleted: set[int] = set()
        seen: set[int] = set()
        for n, page in enumerate(client.iter_pages("companies")):
            seen.update(int(r["id"]) for r in page.rows)
            if n % 3 == 0:
                sim.insert("companies", count=5)
                sim.modify("companies", count=5)
                deleted.update(sim.delete("companies", count=2))
        assert before - deleted <= seen


# -- tokens --------------------------------------------------------------------------------------------------
def test_sixteen_threads_hitting_a_revoked_token_make_one_token_request() -> None:
    with Simulator(sizes={**SMALL_SIZES, "invoices": 3000}, seed=2, latency_ms=5, workers=16) as sim, \
            client_for(sim, threads=16) as client:
        client.count("invoices")
        assert client.stats().tokens_fetched == 1
        sim.faults.script("revoke", count=1)
        ids = scan_ids(client, "invoices")
        assert set(ids) == truth_ids(sim, "invoices")
        assert client.stats().tokens_fetched == 2


def test_tokens_revoked_twice_in_one_scan_still_complete() -> None:
    with Simulator(sizes={**SMALL_SIZES, "invoices": 3000}, seed=2, latency_ms=2) as sim, \
            client_for(sim, threads=8) as client:
        revoker = _revoke_after(sim, [5, 20])
        ids = scan_ids(client, "invoices")
        revoker.join()
        assert set(ids) == truth_ids(sim, "invoices") and max(ids.values()) == 1
        assert client.stats().tokens_fetched == 3


def _revoke_after(sim: Simulator, counts: list[int]) -> threading.Thread:
    def run() -> None:
        import time

        for count in counts:  # counted in answered pages, so each request meets at most one revocation
            while sum(e.status == 200 for e in sim.log.entries("/api/v0/invoices")) < count:
                time.sleep(0.001)
            sim.revoke_tokens()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_bad_credentials_fail_at_once_without_a_retry_loop(sim: Simulator) -> None:
    with client_for(sim, client_secret="wrong-secret-value") as client, pytest.raises(AuthenticationError) as err:
        client.count("companies")
    assert len(sim.log.entries("/oauth2")) == 1
    assert "wrong-secret-value" not in str(err.value)
    assert "client_id and client_secret" in str(err.value)


def test_a_fresh_token_refused_again_is_fatal(sim: Simulator) -> None:
    with client_for(sim) as client:
        client.count("companies")
        sim.faults.script("revoke", count=2)
        with pytest.raises(AuthenticationError, match="freshly issued token"):
            client.count("companies")
        assert client.stats().tokens_fetched == 2


def test_token_is_renewed_before_it_expires() -> None:
    with Simulator(sizes=SMALL_SIZES, token_ttl_s=2) as sim, client_for(sim) as client:
        import time

        client.count("staff")
        time.sleep(2.2)
        client.count("staff")
        assert client.stats().tokens_fetched == 2
        assert not [e for e in sim.log.entries("/api/v0") if e.status == 401]  # renewed, not refused


# -- retries and errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["500", "502", "503", "504", "drop", "truncate", "garbage", "stall"])
def test_retriable_faults_are_retried_and_nothing_is_lost(fault: str) -> None:
    with Simulator(sizes=SMALL_SIZES, seed=4, stall_s=1.0) as sim, \
            client_for(sim, request_timeout="0.5") as client:
        sim.faults.script(fault, count=3)
        ids = scan_ids(client, "invoices")
        assert set(ids) == truth_ids(sim, "invoices") and max(ids.values()) == 1
        assert client.stats().retries >= 3


def test_random_faults_storm_delivers_every_row_exactly_once() -> None:
    with Simulator(sizes={**SMALL_SIZES, "invoices": 2500}, seed=4, fault_seed=7, stall_s=0.6) as sim, \
            client_for(sim, request_timeout="0.3", threads="8") as client:
        for kind, p in (("500", 0.05), ("503", 0.05), ("drop", 0.03), ("truncate", 0.03), ("garbage", 0.02),
                        ("stall", 0.02), ("429", 0.03)):
            sim.faults.set_probability(kind, p)
        sim.set(rate_limit=40, rate_window_s=1.0)
        ids = scan_ids(client, "invoices")
        assert set(ids) == truth_ids(sim, "invoices") and max(ids.values()) == 1
        assert sum(sim.faults.injected.values()) >= 5
        spent = collections.Counter(int(e.started) for e in sim.log.entries("/api/v0") if e.counted)
        assert max(spent.values()) <= 40 - 4  # the limit less the default reserve, in every window


@pytest.mark.parametrize("variant", [
    {"count_type": "number"}, {"expires_in_type": "number"}, {"unset_date": "zero"}, {"unset_date": "mixed"},
    {"over_limit": "reject"}, {"unknown_field": "reject"}, {"rate_window": "rolling"},
])
def test_every_unconfirmed_variant_is_handled(variant: dict[str, str]) -> None:
    """docs/accelo-api.md, Unconfirmed behaviours: the client copes with each UNCONFIRMED variant the simulator can
    produce. With unknown_field=reject this also proves the kit asks for no field the reference lacks."""
    with Simulator(sizes=SMALL_SIZES, seed=6, **variant) as sim, client_for(sim) as client:
        for name in ("companies", "invoices", "payments", "prospects", "jobs", "staff"):
            records = list(client.iter_records(name))
            assert {r["id"] for r in records} == truth_ids(sim, name)
            assert not client.converter(name).problems, client.converter(name).summary()
            assert client.count(name) == len(records)
        unset = [r for r in client.iter_records("jobs") if r["date_completed"] is None]
        assert unset  # "0" and null both read as unset, never as 1970


def test_permanent_failure_gives_up_within_the_caps() -> None:
    with Simulator(sizes=SMALL_SIZES) as sim, client_for(sim, max_attempts="4") as client:
        sim.faults.set_probability("503", 1.0)
        with pytest.raises(RetriesExhausted) as err:
            client.count("companies")
        assert "gave up after 4 attempts" in str(err.value)
        assert "HTTP 503" in str(err.value) and "/companies/count" in str(err.value)
        assert len(sim.log.entries("/api/v0/companies")) == 4


def test_400_is_fatal_at_once(sim: Simulator) -> None:
    with client_for(sim) as client, pytest.raises(RequestError) as err:
        client.get("companies", {"_filters": "no_such_field(1)"})
    assert "invalid_request" in str(err.value) and "HTTP 400" in str(err.value)
    assert len(sim.log.entries("/api/v0/companies")) == 1


def test_403_is_fatal_at_once(sim: Simulator) -> None:
    with client_for(sim, scope="read(companies)") as client:
        assert client.count("companies") > 0
        with pytest.raises(PermissionDenied) as err:
            client.count("jobs")
    assert "invalid_permission" in str(err.value) and "HTTP 403" in str(err.value)
    assert len(sim.log.entries("/api/v0/jobs")) == 1


def test_meta_status_not_ok_on_200_is_fatal(sim: Simulator) -> None:
    with client_for(sim) as client:
        sim.faults.script("not_ok", count=1)
        with pytest.raises(RequestError, match=r"meta\.status 'server_error' on HTTP 200"):
            client.count("companies")
    assert len(sim.log.entries("/api/v0/companies")) == 1


def test_html_404_from_a_wrong_base_url_is_a_clear_fatal_error() -> None:
    with Simulator(sizes=SMALL_SIZES, unknown_path="html404") as sim, client_for(sim) as client, \
            pytest.raises(RequestError) as err:
        client.get("widgets")
    assert "text/html" in str(err.value) and "base_url" in str(err.value) and "HTTP 404" in str(err.value)


def test_no_secret_in_debug_logs_errors_or_reprs(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    issued: list[str] = []
    issue = sim.tokens.issue

    def recording(*args: Any, **kwargs: Any) -> dict[str, object]:  # every token the client was given
        payload = issue(*args, **kwargs)
        issued.append(str(payload["access_token"]))
        return payload

    sim.tokens.issue = recording  # type: ignore[method-assign]
    with client_for(sim) as client:
        list(client.iter_pages("staff"))
        sim.faults.script("revoke", count=2)
        with pytest.raises(AuthenticationError) as err:
            client.count("staff")
        parts = "".join(repr(part) for part in vars(client).values())  # the token provider, transport... too
        text = caplog.text + str(err.value) + repr(client) + parts + repr(client.settings)
    assert sim.client_secret not in text
    assert issued and not [token for token in issued if token in text]
    assert "Authorization" not in caplog.text and "Bearer" not in caplog.text
