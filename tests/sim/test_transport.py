"""The simulator's transport: OAuth, rate limit, faults, UNCONFIRMED switches, latency, request log, CLI.

Every test talks to a running simulator over real HTTP (plain `requests`, or a raw socket where the wire
itself is the point). The Simulator's Python API is used only to set things up and to read the request log.
Each docstring names the rule it checks, with its section of docs/accelo-api.md where there is one:
§1 Authentication, §2 Envelope and errors, §3 Listing and paging (and Filters), §4 Values, §5 Rate limit,
§6 Resources; the simulator's CLI is in docs/simulator.md.

Rate windows, token lifetimes and lockouts are compressed to a second or two so the file stays fast.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import requests

from accelo_kit.sim import FAULT_KINDS, SimSettings, Simulator
from accelo_kit.sim.server import WRONG_VALUES
from tests.conftest import SMALL_SIZES, RawApi, make_sim

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


# -- helpers -------------------------------------------------------------------------------------------------
def token_url(sim: Simulator) -> str:
    return f"{sim.base_url}/oauth2/v0/token"


def api_url(sim: Simulator, path: str) -> str:
    return f"{sim.base_url}/api/v0/{path.lstrip('/')}"


def post_token(sim: Simulator, auth: tuple[str, str] | None = None, headers: dict[str, str] | None = None,
               **form: str) -> requests.Response:
    """A token request with the form given as is (no default grant_type), Basic auth only if `auth` is
    given."""
    return requests.post(token_url(sim), data=form, auth=auth, headers=headers, timeout=10)


def good_token(sim: Simulator, **form: str) -> str:
    response = post_token(sim, (sim.client_id, sim.client_secret), grant_type="client_credentials", **form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def login(sim: Simulator) -> requests.Response:
    """A token request with the right credentials (which may still be refused, e.g. during a lockout)."""
    return post_token(sim, (sim.client_id, sim.client_secret), grant_type="client_credentials")


def bad_login(sim: Simulator) -> requests.Response:
    return post_token(sim, (sim.client_id, "not-the-secret"), grant_type="client_credentials")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(sim: Simulator, path: str, token: str | None = None, **params: str) -> requests.Response:
    """One GET on a fresh connection, with the bearer token if one is given."""
    return requests.get(api_url(sim, path), params=params, headers=bearer(token) if token else {}, timeout=10)


def assert_envelope_error(response: requests.Response, http_status: int, meta_status: str) -> dict[str, Any]:
    assert response.status_code == http_status, response.text
    body = response.json()
    assert set(body) == {"meta", "response"}, body
    assert body["meta"]["status"] == meta_status, body
    assert body["response"] is None
    return body


def assert_oauth_error(response: requests.Response, http_status: int, error: str) -> dict[str, Any]:
    assert response.status_code == http_status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert isinstance(body["error_description"], str) and body["error_description"]
    assert "meta" not in body
    return body


def remaining(response: requests.Response) -> int:
    return int(response.headers["X-RateLimit-Remaining"])


def sleep_until(wall_ts: float) -> None:
    delay = wall_ts - time.time()
    if delay > 0:
        time.sleep(delay)


def fresh_fixed_window(sim: Simulator, need_s: float) -> None:
    """Wait, if needed, so that at least `need_s` seconds are left in the current fixed window."""
    window = sim.settings.rate_window_s
    left = window - (sim.clock() % window)
    if left < need_s:
        time.sleep(left + 0.02)


# -- §1 OAuth: the token endpoint ----------------------------------------------------------------------------
def test_basic_auth_gives_bearer_token_with_deployment_fields(sim: Simulator) -> None:
    """§1 client credentials with HTTP Basic give access_token, token_type Bearer, expires_in (a JSON string
    by default, 30 days), deployment, deployment_name, deployment_uri and account_id."""
    response = login(sim)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 20
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == str(30 * 24 * 3600)
    assert body["deployment"] == sim.settings.deployment
    assert body["deployment_name"]
    assert body["deployment_uri"] == f"https://{sim.settings.deployment}.accelo.com"
    assert isinstance(body["account_id"], str) and body["account_id"]
    assert "refresh_token" not in body
    ok = call(sim, "companies", body["access_token"])
    assert ok.status_code == 200 and ok.json()["meta"]["status"] == "ok"


def test_credentials_in_basic_and_body_are_invalid_request(sim: Simulator) -> None:
    """§1 "multiple credentials": Basic auth plus client_id/client_secret in the body is 400
    invalid_request."""
    both = post_token(sim, (sim.client_id, sim.client_secret), grant_type="client_credentials",
                      client_id=sim.client_id, client_secret=sim.client_secret)
    assert_oauth_error(both, 400, "invalid_request")
    only_id_in_body = post_token(sim, (sim.client_id, sim.client_secret), grant_type="client_credentials",
                                 client_id=sim.client_id)
    assert_oauth_error(only_id_in_body, 400, "invalid_request")


def test_body_credentials_without_basic_are_refused(sim: Simulator) -> None:
    """§1 client authentication is HTTP Basic: credentials only in the body, or none at all, give 401
    invalid_client (OAuth style)."""
    body_only = post_token(sim, grant_type="client_credentials", client_id=sim.client_id,
                           client_secret=sim.client_secret)
    assert_oauth_error(body_only, 401, "invalid_client")
    assert_oauth_error(post_token(sim, grant_type="client_credentials"), 401, "invalid_client")
    garbled = post_token(sim, headers={"Authorization": "Basic %%%not-base64"},
                         grant_type="client_credentials")
    assert_oauth_error(garbled, 401, "invalid_client")


@pytest.mark.parametrize("which", ["secret", "client_id"])
def test_wrong_client_credentials_are_401_invalid_client_oauth_style(sim: Simulator, which: str) -> None:
    """§1 bad client credentials give HTTP 401 with an OAuth-style body {error: invalid_client,
    error_description}."""
    auth = (sim.client_id, "wrong") if which == "secret" else ("someone-else", sim.client_secret)
    assert_oauth_error(post_token(sim, auth, grant_type="client_credentials"), 401, "invalid_client")


@pytest.mark.parametrize(("form", "error"), [
    ({}, "invalid_request"),
    ({"grant_type": ""}, "invalid_request"),
    ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
    ({"grant_type": "password"}, "unsupported_grant_type"),
])
def test_missing_or_unsupported_grant_type(sim: Simulator, form: dict[str, str], error: str) -> None:
    """§1 service apps use grant_type=client_credentials: a missing one is 400 invalid_request, another one
    400 unsupported_grant_type."""
    assert_oauth_error(post_token(sim, (sim.client_id, sim.client_secret), **form), 400, error)


@pytest.mark.parametrize("scope", ["everything", "read", "read()", "read(all", "delete(all)", "read(all),"])
def test_bad_scope_is_invalid_scope(sim: Simulator, scope: str) -> None:
    """§1 scope takes forms like read(all) or read(companies,jobs); anything else is 400 invalid_scope."""
    response = post_token(sim, (sim.client_id, sim.client_secret), grant_type="client_credentials",
                          scope=scope)
    assert_oauth_error(response, 400, "invalid_scope")


@pytest.mark.parametrize("scope", ["read(all)", "read(companies,jobs)", "read(all),write(all)"])
def test_documented_scopes_are_accepted(sim: Simulator, scope: str) -> None:
    """§1 scope read(all) (the default) and forms like read(companies,jobs) are accepted."""
    response = post_token(sim, (sim.client_id, sim.client_secret), grant_type="client_credentials",
                          scope=scope)
    assert response.status_code == 200, response.text


def test_scope_limits_what_a_token_may_read(sim: Simulator) -> None:
    """§2 invalid_permission 403: authenticated, but the token's scope does not allow the resource."""
    response = post_token(sim, (sim.client_id, sim.client_secret), grant_type="client_credentials",
                          scope="read(companies,staff)")
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    for path, status in (("companies", 200), ("staff/count", 200), ("jobs", 403), ("invoices/count", 403),
                         ("tokeninfo", 200)):
        answer = requests.get(f"{sim.base_url}/api/v0/{path}", headers=headers, timeout=10)
        assert answer.status_code == status, (path, answer.text)
        if status == 403:
            assert answer.json()["meta"]["status"] == "invalid_permission"
            assert answer.json()["response"] is None


def test_token_endpoint_takes_post_only(sim: Simulator) -> None:
    """§1 the token request is a POST: a GET on the token endpoint is 400 invalid_request (OAuth style)."""
    response = requests.get(token_url(sim), auth=(sim.client_id, sim.client_secret),
                            params={"grant_type": "client_credentials"}, timeout=10)
    assert_oauth_error(response, 400, "invalid_request")


def test_expires_in_request_param_shortens_the_lifetime(sim: Simulator) -> None:
    """§1 an optional expires_in (seconds) asks for a shorter token: the response and /tokeninfo agree; it
    never lengthens past the default, and a non-number is 400 invalid_request."""
    before = time.time()
    response = post_token(sim, (sim.client_id, sim.client_secret), grant_type="client_credentials",
                          expires_in="60")
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == "60"
    info = call(sim, "tokeninfo", response.json()["access_token"])
    expiry = int(info.json()["response"]["expiry_date"])
    assert before + 60 - 2 <= expiry <= time.time() + 60 + 1

    longer = post_token(sim, (sim.client_id, sim.client_secret), grant_type="client_credentials",
                        expires_in=str(10 * 365 * 24 * 3600))
    assert longer.json()["expires_in"] == str(sim.settings.token_ttl_s)
    junk = post_token(sim, (sim.client_id, sim.client_secret), grant_type="client_credentials",
                      expires_in="soon")
    assert_oauth_error(junk, 400, "invalid_request")


def test_expired_token_is_401_invalid_client_envelope() -> None:
    """§1 an expired token (token_ttl_s=1, or expires_in=1 on the request) gives HTTP 401 with the Accelo
    envelope meta.status invalid_client; there is no refresh: a new token request works."""
    with make_sim(token_ttl_s=1) as short, make_sim() as normal:
        by_ttl = good_token(short)
        by_param = good_token(normal, expires_in="1")
        long_lived = good_token(normal)
        for s, token in ((short, by_ttl), (normal, by_param)):
            assert call(s, "companies", token).status_code == 200
        time.sleep(1.15)
        for s, token in ((short, by_ttl), (normal, by_param)):
            expired = call(s, "companies", token)
            body = assert_envelope_error(expired, 401, "invalid_client")
            assert "expired" in body["meta"]["message"]
            fresh = good_token(s)
            assert call(s, "companies", fresh).status_code == 200
        assert call(normal, "companies", long_lived).status_code == 200


def test_revoked_tokens_are_refused(sim: Simulator) -> None:
    """§1 an invalid (here: revoked) token gives 401 invalid_client, for every token issued before the
    revocation."""
    first, second = good_token(sim), good_token(sim)
    assert sim.revoke_tokens() >= 2
    for token in (first, second):
        refused = call(sim, "companies", token)
        assert_envelope_error(refused, 401, "invalid_client")
    assert call(sim, "companies", good_token(sim)).status_code == 200


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer not-a-token"},
    {"Authorization": "Basic " + base64.b64encode(b"accelo-sim-client:accelo-sim-secret").decode()},
], ids=["none", "empty-bearer", "unknown-token", "basic-instead-of-bearer"])
def test_missing_or_invalid_token_is_401(sim: Simulator, headers: dict[str, str]) -> None:
    """§1 a missing or invalid token gives HTTP 401 with meta.status invalid_client (the Accelo envelope)."""
    for path in ("companies", "tokeninfo", "companies/count"):
        response = requests.get(api_url(sim, path), headers=headers, timeout=10)
        assert_envelope_error(response, 401, "invalid_client")


# -- §1 lockout ----------------------------------------------------------------------------------------------
def test_lockout_after_threshold_failures_refuses_even_good_credentials() -> None:
    """§1 N failed logins lock the caller out: then even correct credentials are refused (401 invalid_client)
    with a Retry-After header, and API calls with a valid token are refused too. N-1 failures do not lock."""
    with make_sim(lockout_threshold=3, lockout_s=1.0) as s:
        token = good_token(s)
        for _ in range(2):
            assert_oauth_error(bad_login(s), 401, "invalid_client")
        still_open = login(s)
        assert still_open.status_code == 200, "two failures must not lock out yet"
        assert_oauth_error(bad_login(s), 401, "invalid_client")  # the third failure
        locked = login(s)
        body = assert_oauth_error(locked, 401, "invalid_client")
        assert "lock" in body["error_description"].lower()
        assert int(locked.headers["Retry-After"]) >= 1
        api_call = call(s, "companies", token)
        assert_envelope_error(api_call, 401, "invalid_client")


def test_lockout_attempt_during_lockout_restarts_the_timer() -> None:
    """§1 each attempt during the lockout restarts the timer; left alone, the lockout ends after its
    duration."""
    with make_sim(lockout_threshold=3, lockout_s=1.0) as s:
        for _ in range(3):
            bad_login(s)
        locked_at = time.monotonic()
        time.sleep(0.6)
        assert login(s).status_code == 401
        sleep_left = locked_at + 1.25 - time.monotonic()  # past the first lockout's end, in the restarted one
        time.sleep(max(0.0, sleep_left))
        again = login(s)
        assert again.status_code == 401, "the attempt at +0.6 s should have restarted the 1 s lockout"
        assert "Retry-After" in again.headers
        time.sleep(1.15)
        assert login(s).status_code == 200


def test_lockout_ends_after_its_duration_and_counting_starts_afresh() -> None:
    """§1 the lockout lasts its duration (here 1 s): afterwards correct credentials work again, and failures
    before the lockout no longer count towards the next one."""
    with make_sim(lockout_threshold=3, lockout_s=1.0) as s:
        for _ in range(3):
            bad_login(s)
        assert login(s).status_code == 401
        time.sleep(1.15)
        assert login(s).status_code == 200
        bad_login(s)
        bad_login(s)
        assert login(s).status_code == 200


def test_lockout_counts_failures_within_its_window_only() -> None:
    """§1 it takes N failed logins *within the window* (5 minutes; here 0.5 s): older failures do not
    count."""
    with make_sim(lockout_threshold=3, lockout_window_s=0.5, lockout_s=5.0) as s:
        bad_login(s)
        bad_login(s)
        time.sleep(0.6)
        bad_login(s)
        assert login(s).status_code == 200


def test_lockout_settings_changed_while_serving_apply(sim: Simulator) -> None:
    """Simulator.set changes settings while serving: a lowered lockout_threshold takes effect at once."""
    sim.set(lockout_threshold=2, lockout_s=1.0)
    bad_login(sim)
    bad_login(sim)
    locked = login(sim)
    assert locked.status_code == 401 and "Retry-After" in locked.headers


# -- §1 tokeninfo and what counts ----------------------------------------------------------------------------
def test_tokeninfo_returns_expiry_deployment_staff_and_counts(sim: Simulator) -> None:
    """§1 GET /api/v0/tokeninfo returns expiry_date, deployment and staff_id (strings) and counts against the
    rate limit."""
    token = good_token(sim)
    first = call(sim, "tokeninfo", token)
    second = call(sim, "tokeninfo", token)
    assert first.status_code == 200
    info = first.json()["response"]
    assert first.json()["meta"]["status"] == "ok"
    assert info["deployment"] == sim.settings.deployment
    assert info["staff_id"].isdigit()
    assert abs(int(info["expiry_date"]) - (time.time() + sim.settings.token_ttl_s)) < 5
    assert remaining(first) == sim.settings.rate_limit - 1
    assert remaining(second) == remaining(first) - 1
    entries = sim.log.entries("/api/v0/tokeninfo")
    assert [e.counted for e in entries] == [True, True]


def test_oauth_calls_do_not_count_against_the_rate_limit() -> None:
    """§5 calls under /oauth2 do not count: any number of token requests leave the whole budget, and tokens
    can still be had when the budget is spent."""
    with make_sim(rate_limit=3, rate_window_s=3600) as s:
        tokens = [good_token(s) for _ in range(5)]
        bad_login(s)
        statuses = [call(s, "companies", tokens[0]) for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        assert [remaining(r) for r in statuses[:3]] == [2, 1, 0]
        assert good_token(s)
        oauth = s.log.entries("/oauth2")
        assert len(oauth) == 7 and not any(e.counted for e in oauth)
        assert all(e.remaining is None for e in oauth)


# -- §2 escape hatches ---------------------------------------------------------------------------------------
def test_suppress_http_status_turns_401_and_429_into_200_and_is_logged() -> None:
    """§2 _suppress_http_status turns 401/429 into HTTP 200 (the error stays in meta.status); the kit must
    never send it, and the request log shows its params so a client test can prove that."""
    with make_sim(rate_limit=1, rate_window_s=3600) as s:
        no_token = call(s, "companies", _suppress_http_status="1")
        assert no_token.status_code == 200
        assert no_token.json()["meta"]["status"] == "invalid_client"
        token = good_token(s)
        over = call(s, "companies", token, _suppress_http_status="1")
        assert over.json()["meta"]["status"] == "too_many_requests"
        assert over.status_code == 200
        plain = call(s, "companies", token)
        assert plain.status_code == 429
        entries = s.log.entries("/api/v0/")
        assert [("_suppress_http_status" in e.params) for e in entries] == [True, True, False]
        assert [e.status for e in entries] == [200, 200, 429]


def test_method_param_is_rejected_and_logged(sim: Simulator, api: RawApi) -> None:
    """§2 _method can turn a GET into a DELETE: the simulator (read-only) refuses it with 400 invalid_request,
    deletes nothing, and the request log shows the param. Other verbs than GET are refused too."""
    before = api.ok("companies/count")["count"]
    refused = api.get("companies/1", _method="DELETE")
    assert_envelope_error(refused, 400, "invalid_request")
    assert "_method" in refused.json()["meta"]["message"]
    deleted = requests.delete(api_url(sim, "companies/1"), headers=bearer(api.token or ""), timeout=10)
    assert_envelope_error(deleted, 400, "invalid_request")
    assert api.ok("companies/count")["count"] == before
    logged = sim.log.entries("/api/v0/companies/1")
    assert logged[0].params == {"_method": "DELETE"}
    assert logged[1].method == "DELETE"


# -- §5 rate limit -------------------------------------------------------------------------------------------
def test_every_api_response_carries_rate_headers_and_remaining_counts_down(sim: Simulator,
                                                                           api: RawApi) -> None:
    """§5 every API response (ok, 400, unknown path, 401, tokeninfo, count) carries
    X-RateLimit-Limit/Remaining/Reset, and Remaining goes down by one per request."""
    responses = [
        api.get("companies"),
        api.get("companies/count"),
        api.get("tokeninfo"),
        api.get("companies/999999999"),
        api.get("widgets"),
        call(sim, "companies"),
        api.get("companies", _limit=3, _page=1),
    ]
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 200, 200, 400, 400, 401, 200]
    for response in responses:
        for name in RATE_HEADERS:
            assert response.headers[name].isdigit(), (name, response.headers)
        assert int(response.headers["X-RateLimit-Limit"]) == sim.settings.rate_limit
    assert [remaining(r) for r in responses] == [sim.settings.rate_limit - n for n in range(1, 8)]
    reset = int(responses[0].headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + sim.settings.rate_window_s + 1


def test_429_follows_the_last_allowed_request_then_the_window_resets() -> None:
    """§5 with limit L, the request after the L-th gets HTTP 429, meta.status too_many_requests, a message
    naming {deployment}.api.accelo.com and Remaining 0; a 429 spends nothing; after X-RateLimit-Reset (the
    fixed window's end) the whole budget is back."""
    with make_sim(rate_limit=5, rate_window_s=2.0, deployment="acme") as s:
        api = RawApi(s)
        api.login()
        fresh_fixed_window(s, need_s=1.0)
        allowed = [api.get("companies", _limit=1) for _ in range(5)]
        assert [r.status_code for r in allowed] == [200] * 5
        assert [remaining(r) for r in allowed] == [4, 3, 2, 1, 0]
        resets = {int(r.headers["X-RateLimit-Reset"]) for r in allowed}
        assert len(resets) == 1
        reset = resets.pop()
        window_end = (math.floor(s.log.entries("/api/")[-1].started / 2.0) + 1) * 2.0
        assert reset == math.ceil(window_end)

        refused = [api.get("companies", _limit=1) for _ in range(3)]
        for response in refused:
            body = assert_envelope_error(response, 429, "too_many_requests")
            assert "acme.api.accelo.com" in body["meta"]["message"]
            assert remaining(response) == 0
            assert int(response.headers["X-RateLimit-Reset"]) == reset
        assert [e.counted for e in s.log.entries("/api/")[-8:]] == [True] * 5 + [False] * 3

        sleep_until(reset + 0.05)
        back = api.get("companies", _limit=1)
        assert back.status_code == 200
        assert remaining(back) == 4
        assert int(back.headers["X-RateLimit-Reset"]) == reset + 2


def test_rolling_window_frees_one_request_at_a_time() -> None:
    """§5 UNCONFIRMED rate_window=rolling: X-RateLimit-Reset is when the oldest request in the window ages
    out, and the budget comes back one request at a time as each ages out; refused requests do not take a
    slot."""
    with make_sim(rate_limit=3, rate_window_s=1.5, rate_window="rolling") as s:
        api = RawApi(s)
        api.login()
        first = [api.get("tokeninfo")]
        time.sleep(0.3)
        first.append(api.get("tokeninfo"))
        time.sleep(0.3)
        first.append(api.get("tokeninfo"))
        assert [remaining(r) for r in first] == [2, 1, 0]
        stamps = [e.started for e in s.log.entries("/api/")]
        assert {int(r.headers["X-RateLimit-Reset"]) for r in first} == {math.ceil(stamps[0] + 1.5)}
        assert api.get("tokeninfo").status_code == 429

        for oldest, next_oldest in ((stamps[0], stamps[1]), (stamps[1], stamps[2])):
            sleep_until(oldest + 1.5 + 0.05)
            freed = api.get("tokeninfo")
            assert freed.status_code == 200, "one request should have aged out of the rolling window"
            assert remaining(freed) == 0
            assert int(freed.headers["X-RateLimit-Reset"]) == math.ceil(next_oldest + 1.5)
            assert_envelope_error(api.get("tokeninfo"), 429, "too_many_requests")


def test_fixed_window_frees_the_whole_budget_at_once() -> None:
    """§5 UNCONFIRMED rate_window=fixed (the default): Reset is the same for every request of a window and the
    whole budget comes back at once when the window ends, however the requests were spread."""
    with make_sim(rate_limit=3, rate_window_s=1.0) as s:
        assert s.settings.rate_window == "fixed"
        api = RawApi(s)
        api.login()
        fresh_fixed_window(s, need_s=0.7)
        spread = [api.get("tokeninfo")]
        time.sleep(0.2)
        spread += [api.get("tokeninfo"), api.get("tokeninfo")]
        assert [remaining(r) for r in spread] == [2, 1, 0]
        reset = int(spread[0].headers["X-RateLimit-Reset"])
        assert {int(r.headers["X-RateLimit-Reset"]) for r in spread} == {reset}
        sleep_until(reset + 0.02)
        back = [api.get("tokeninfo") for _ in range(4)]
        assert [r.status_code for r in back] == [200, 200, 200, 429]


def test_two_clients_share_one_budget_per_deployment() -> None:
    """§5 the budget is per deployment, shared by every integration: two clients with two tokens spend one
    Remaining, and the second is refused once the first has spent it."""
    with make_sim(rate_limit=4, rate_window_s=3600) as s:
        one, two = RawApi(s), RawApi(s)
        one.login()
        two.login()
        assert one.token != two.token
        seen = [remaining(one.get("tokeninfo")), remaining(two.get("tokeninfo")),
                remaining(one.get("tokeninfo")), remaining(two.get("tokeninfo"))]
        assert seen == [3, 2, 1, 0]
        assert_envelope_error(two.get("tokeninfo"), 429, "too_many_requests")
        assert_envelope_error(one.get("tokeninfo"), 429, "too_many_requests")
        assert len({e.token for e in s.log.entries("/api/")}) == 2


# -- faults --------------------------------------------------------------------------------------------------
RESPONDING_FAULTS = ("429", "500", "502", "503", "504", "not_ok", "garbage")
CONNECTION_FAULTS = ("stall", "drop", "truncate", "revoke")
HOSTILE_FAULTS = ("huge", "nested", "wrong_types", "non_utf8", "not_list")


def test_every_fault_kind_has_a_test() -> None:
    """Each of FAULT_KINDS is exercised below (a new kind must come with its test)."""
    assert set(RESPONDING_FAULTS) | set(CONNECTION_FAULTS) | set(HOSTILE_FAULTS) == set(FAULT_KINDS)


@pytest.mark.parametrize("kind", RESPONDING_FAULTS)
def test_scripted_fault_hits_the_next_n_requests_then_normal(sim: Simulator, api: RawApi, kind: str) -> None:
    """Faults: a fault scripted for the next N API requests hits exactly those (429: too_many_requests with
    Remaining 0 and no budget spent; 500: JSON server_error; 502/503/504: an HTML proxy page; not_ok: HTTP 200
    with meta.status not ok; garbage: a complete non-JSON page on 200); then answers are normal again, and the
    request log records the fault."""
    api.login()
    sim.faults.script(kind, 2)
    api.fetch_token()  # /oauth2 is not an API path: it does not consume the scripted faults
    faulted = [api.get("companies", _limit=2) for _ in range(2)]
    normal = api.get("companies", _limit=2)
    assert normal.status_code == 200 and normal.json()["meta"]["status"] == "ok"
    assert len(normal.json()["response"]) == 2
    for response in faulted:
        if kind == "429":
            assert_envelope_error(response, 429, "too_many_requests")
            assert remaining(response) == 0
        elif kind == "500":
            assert_envelope_error(response, 500, "server_error")
        elif kind in {"502", "503", "504"}:
            assert response.status_code == int(kind)
            assert response.headers["Content-Type"].startswith("text/html")
            assert "X-RateLimit-Remaining" not in response.headers  # a proxy's page carries no Accelo headers
            assert kind in response.text and "<html" in response.text
            with pytest.raises(ValueError):
                response.json()
        elif kind == "not_ok":
            assert response.status_code == 200
            assert response.json()["meta"]["status"] not in {"ok", ""}
        elif kind == "garbage":
            assert response.status_code == 200
            assert response.headers["Content-Type"].startswith("text/html")
            assert len(response.content) == int(response.headers["Content-Length"])
            with pytest.raises(ValueError):
                response.json()
    entries = sim.log.entries("/api/")
    assert [e.fault for e in entries] == [kind, kind, None]
    assert [e.status for e in entries] == [r.status_code for r in [*faulted, normal]]
    if kind == "429":
        assert [e.counted for e in entries] == [False, False, True]
        assert remaining(normal) == sim.settings.rate_limit - 1
    assert sim.faults.pending() == 0


def test_scripted_fault_only_hits_matching_paths(sim: Simulator, api: RawApi) -> None:
    """Faults: a scripted fault with a path pattern waits for a request whose path matches it."""
    sim.faults.script("500", 1, path=r"/invoices")
    assert api.get("companies").status_code == 200
    assert api.get("tokeninfo").status_code == 200
    assert api.get("invoices").status_code == 500
    assert api.get("invoices").status_code == 200


def test_fault_stall_gives_a_read_timeout(sim: Simulator, api: RawApi) -> None:
    """Faults: stall says nothing for stall_s seconds (a client read timeout fires first), then closes; the
    next request is served normally."""
    sim.set(stall_s=1.5)
    api.login()
    sim.faults.script("stall", 1)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        api.get("companies", timeout=0.5)
    assert 0.45 < time.monotonic() - started < 1.4
    assert api.get("companies").status_code == 200
    stalled = sim.log.entries("/api/")[0]
    assert stalled.fault == "stall" and stalled.status == 0


def test_fault_drop_resets_the_connection(sim: Simulator, api: RawApi) -> None:
    """Faults: drop resets the connection before any answer (requests raises ConnectionError); then normal."""
    api.login()
    sim.faults.script("drop", 1)
    with pytest.raises(requests.ConnectionError):
        api.get("companies")
    assert api.get("companies").status_code == 200
    assert [e.fault for e in sim.log.entries("/api/")] == ["drop", None]


def test_fault_truncate_sends_less_than_content_length(sim: Simulator, api: RawApi) -> None:
    """Faults: truncate sends a 200 whose body stops short of its Content-Length, then closes the connection
    (requests raises ChunkedEncodingError); then normal."""
    token = api.login()
    sim.faults.script("truncate", 2)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.get("companies", _limit=50)

    port = int(sim.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(f"GET /api/v0/companies?_limit=50 HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {token}\r\n\r\n".encode())
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    declared = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")))
    assert 0 < len(body) < declared
    assert api.get("companies", _limit=50).status_code == 200
    assert [e.fault for e in sim.log.entries("/api/")] == ["truncate", "truncate", None]


def test_fault_revoke_refuses_old_tokens_until_a_new_one(sim: Simulator) -> None:
    """Faults: revoke revokes every token just before the request: it and every later request with an old
    token get 401 invalid_client, until a new token is fetched."""
    one, two = RawApi(sim), RawApi(sim)
    one.login()
    two.login()
    sim.faults.script("revoke", 1)
    assert_envelope_error(one.get("companies"), 401, "invalid_client")
    assert_envelope_error(one.get("companies"), 401, "invalid_client")
    assert_envelope_error(two.get("companies"), 401, "invalid_client")
    one.login()
    assert one.get("companies").status_code == 200
    assert [e.fault for e in sim.log.entries("/api/")] == ["revoke", None, None, None]


def hostile_then_normal(sim: Simulator, api: RawApi, kind: str, path: str = "companies",
                        **params: Any) -> tuple[requests.Response, requests.Response]:
    """One scripted hostile answer, then the normal answer to the same request; the log records the fault."""
    api.login()
    sim.faults.script(kind, 1)
    hostile, normal = api.get(path, **params), api.get(path, **params)
    assert hostile.status_code == 200 and normal.status_code == 200
    assert [e.fault for e in sim.log.entries("/api/")][-2:] == [kind, None]
    return hostile, normal


def test_fault_huge_repeats_the_page_far_past_the_limit(sim: Simulator, api: RawApi) -> None:
    """Faults (hostile bodies): huge is a 200 with meta ok whose page repeats the rows asked for until the body
    reaches huge_bytes: far more rows than `_limit`, every one a copy of a real row. Its default is above the kit's
    32 MiB cap on one answer."""
    assert SimSettings().huge_bytes > 32 * 2**20
    sim.set(huge_bytes=300_000)
    hostile, normal = hostile_then_normal(sim, api, "huge", _limit=5)
    assert len(hostile.content) >= 300_000
    body = hostile.json()
    assert body["meta"]["status"] == "ok"
    page = normal.json()["response"]
    assert len(page) == 5 and len(body["response"]) > 100
    assert all(row in page for row in body["response"])


def test_fault_nested_is_deeper_than_a_json_parser_recurses(sim: Simulator, api: RawApi) -> None:
    """Faults (hostile bodies): nested is a 200 whose `response` is nested_depth arrays deep: Python's json.loads
    raises RecursionError on it (not ValueError); a shallow depth parses, to rows that are lists, not objects."""
    hostile, _ = hostile_then_normal(sim, api, "nested")
    assert hostile.content.count(b"[") == sim.settings.nested_depth == 100_000
    assert hostile.content.startswith(b'{"meta":') and b'"status": "ok"' in hostile.content
    with pytest.raises(RecursionError):
        json.loads(hostile.content)
    sim.set(nested_depth=3)
    shallow, _ = hostile_then_normal(sim, RawApi(sim), "nested")
    assert shallow.json()["response"] == [[[]]]


def test_fault_wrong_types_puts_a_wrong_type_in_every_field(sim: Simulator, api: RawApi) -> None:
    """Faults (hostile bodies): wrong_types keeps the page's shape (rows, field names) but every field of every row,
    id included, holds a value of a wrong type: containers, floats (NaN too), booleans, numbers beyond 64 bits,
    digits of other scripts, 5,000 nines; over a page every field meets several kinds."""
    hostile, normal = hostile_then_normal(sim, api, "wrong_types", _limit=20)
    rows, page = hostile.json()["response"], normal.json()["response"]
    assert [list(r) for r in rows] == [list(r) for r in page]
    wrong = [json.loads(json.dumps(v)) for v in WRONG_VALUES]
    for row in rows:
        for value in row.values():
            assert any(value == w or (value != value and w != w) for w in wrong), value  # NaN != NaN
    for name in page[0]:
        assert len({json.dumps(row[name]) for row in rows}) >= 5, name


def test_fault_non_utf8_sends_latin1_bytes(sim: Simulator, api: RawApi) -> None:
    """Faults (hostile bodies): non_utf8 is the right envelope and page encoded in Latin-1 with a non-ASCII
    message: not valid UTF-8, so a UTF-8 JSON parser refuses it, and it is the normal page once decoded right."""
    hostile, normal = hostile_then_normal(sim, api, "non_utf8")
    with pytest.raises(UnicodeDecodeError):
        hostile.content.decode("utf-8")
    body = json.loads(hostile.content.decode("latin-1"))
    assert body["meta"]["status"] == "ok" and body["meta"]["message"] == "Café Zürich ©"
    assert body["response"] == normal.json()["response"]


def test_fault_not_list_sends_an_object_where_a_page_belongs(sim: Simulator, api: RawApi) -> None:
    """Faults (hostile bodies): not_list answers a list request with an object keyed by id (the same rows), and any
    other request with a string."""
    hostile, normal = hostile_then_normal(sim, api, "not_list", _limit=3)
    page = normal.json()["response"]
    assert hostile.json() == {"meta": hostile.json()["meta"], "response": {r["id"]: r for r in page}}
    sim.faults.script("not_list", 1)
    assert api.get("companies/count").json()["response"] == "not a list"


def faulted_requests(fault_seed: int, kind: str = "500", probability: float = 0.3, n: int = 40,
                     set_later: bool = False) -> list[int]:
    """Which of n requests got the fault, by the response and by the request log (they must agree)."""
    with (make_sim() if set_later else make_sim(fault_seed=fault_seed)) as s:
        api = RawApi(s)
        api.login()
        if set_later:
            s.set(fault_seed=fault_seed)
        s.faults.set_probability(kind, probability)
        hits = [i for i in range(n) if api.get("tokeninfo").status_code != 200]
        assert [i for i, e in enumerate(s.log.entries("/api/")) if e.fault == kind] == hits
        return hits


def test_probability_faults_are_seeded_and_reproducible() -> None:
    """Faults: by probability, each request is faulted at random from a generator seeded by fault_seed: the
    same seed gives the same faulted requests (also when set while serving), another seed others."""
    first, again, other = faulted_requests(7), faulted_requests(7), faulted_requests(8)
    assert first == again
    assert 3 <= len(first) <= 25
    assert other != first
    assert faulted_requests(7, set_later=True) == first


def test_probability_zero_turns_a_fault_off(sim: Simulator, api: RawApi) -> None:
    """Faults: set_probability(kind, 1) faults every API request, and probability 0 turns it off again."""
    api.login()
    sim.faults.set_probability("503", 1.0)
    assert [api.get("tokeninfo").status_code for _ in range(3)] == [503] * 3
    sim.faults.set_probability("503", 0.0)
    assert [api.get("tokeninfo").status_code for _ in range(3)] == [200] * 3
    with pytest.raises(ValueError):
        sim.faults.set_probability("503", 1.5)
    with pytest.raises(ValueError):
        sim.faults.script("teapot", 1)


# -- UNCONFIRMED variant switches ----------------------------------------------------------------------------
UNCONFIRMED = {
    "count_type": ("string", "number"),
    "expires_in_type": ("string", "number"),
    "unset_date": ("null", "zero", "mixed"),
    "over_limit": ("cap", "reject"),
    "unknown_field": ("ignore", "reject"),
    "rate_window": ("fixed", "rolling"),
    "unknown_path": ("json400", "html404"),
}


def test_every_unconfirmed_switch_is_listed_and_defaults_to_the_first_variant() -> None:
    """docs/accelo-api.md, Unconfirmed behaviours: each UNCONFIRMED item is a switch defaulting to the first variant
    named; this file tests each listed here (a new switch must be added, with its test)."""
    hints = typing.get_type_hints(SimSettings)
    switches = {name: typing.get_args(hint) for name, hint in hints.items()
                if typing.get_origin(hint) is Literal and name != "id_layout"}
    assert switches == UNCONFIRMED
    defaults = SimSettings()
    for name, variants in UNCONFIRMED.items():
        assert getattr(defaults, name) == variants[0], name


@pytest.mark.parametrize("variant", ["string", "number"])
def test_switch_count_type(sim: Simulator, api: RawApi, variant: str) -> None:
    """§3 UNCONFIRMED count_type: /count's count is a JSON string ("120") or a number (120)."""
    sim.set(count_type=variant)
    count = api.ok("companies/count")["count"]
    expected = SMALL_SIZES["companies"]
    assert count == (str(expected) if variant == "string" else expected)
    assert type(count) is (str if variant == "string" else int)


@pytest.mark.parametrize("variant", ["string", "number"])
def test_switch_expires_in_type(sim: Simulator, variant: str) -> None:
    """§1 UNCONFIRMED expires_in_type: the token's expires_in is a JSON string ("2592000") or a number."""
    sim.set(expires_in_type=variant)
    body = login(sim).json()
    assert body["expires_in"] == ("2592000" if variant == "string" else 2592000)
    short = post_token(sim, (sim.client_id, sim.client_secret), grant_type="client_credentials",
                       expires_in="90").json()
    assert short["expires_in"] == ("90" if variant == "string" else 90)


def test_switch_unset_date(sim: Simulator, api: RawApi) -> None:
    """§4 UNCONFIRMED unset_date: an unset date is null (null), "0" (zero), or "0" for some fields and null
    for others (mixed); set dates are unchanged strings."""
    fields = "date_completed,date_commenced,date_created"

    def jobs() -> list[dict[str, Any]]:
        return api.list_all("jobs", _fields=fields)

    base = jobs()
    unset_completed = {r["id"] for r in base if r["date_completed"] is None}
    unset_commenced = {r["id"] for r in base if r["date_commenced"] is None}
    assert unset_completed and unset_commenced, "the sample data should have unset dates"
    assert all(r["date_created"] not in (None, "0") for r in base)

    sim.set(unset_date="zero")
    for row in jobs():
        assert (row["date_completed"] == "0") == (row["id"] in unset_completed)
        assert (row["date_commenced"] == "0") == (row["id"] in unset_commenced)
        assert None not in row.values()

    sim.set(unset_date="mixed")
    mixed = {r["id"]: r for r in jobs()}
    assert all(mixed[i]["date_completed"] == "0" for i in unset_completed)
    assert all(mixed[i]["date_commenced"] is None for i in unset_commenced)

    sim.set(unset_date="null")
    assert jobs() == base


@pytest.mark.parametrize("variant", ["cap", "reject"])
def test_switch_over_limit(sim: Simulator, api: RawApi, variant: str) -> None:
    """§3 UNCONFIRMED over_limit: _limit above 100 is silently capped to 100 rows (cap) or refused with 400
    invalid_request (reject); _limit=100 works either way."""
    sim.set(over_limit=variant)
    assert len(api.ok("companies", _limit=100)) == 100
    response = api.get("companies", _limit=500)
    if variant == "cap":
        assert response.status_code == 200
        assert len(response.json()["response"]) == 100
        assert sim.log.entries("/api/")[-1].rows == 100
    else:
        assert_envelope_error(response, 400, "invalid_request")


@pytest.mark.parametrize("variant", ["ignore", "reject"])
def test_switch_unknown_field(sim: Simulator, api: RawApi, variant: str) -> None:
    """§3 UNCONFIRMED unknown_field: an unknown name in _fields is ignored (ignore) or refused with 400
    invalid_request (reject), on lists and single objects."""
    sim.set(unknown_field=variant)
    for path in ("companies", "companies/" + str(api.ok("companies", _limit=1)[0]["id"])):
        response = api.get(path, _fields="website,no_such_field")
        if variant == "ignore":
            assert response.status_code == 200
            body = response.json()["response"]
            row = body[0] if isinstance(body, list) else body
            assert "website" in row and "no_such_field" not in row
        else:
            assert_envelope_error(response, 400, "invalid_request")


@pytest.mark.parametrize("variant", ["json400", "html404"])
def test_switch_unknown_path(sim: Simulator, api: RawApi, variant: str) -> None:
    """§2 UNCONFIRMED unknown_path: an unknown path gives the JSON envelope with 400 invalid_request (json400)
    or an HTML 404 page (html404), under /api/v0 and outside it."""
    sim.set(unknown_path=variant)
    api.login()
    for url in (api_url(sim, "widgets"), api_url(sim, "companies/1/2/3"), f"{sim.base_url}/nowhere"):
        response = api.session.get(url, headers=bearer(api.token or ""), timeout=10)
        if variant == "json400":
            assert_envelope_error(response, 400, "invalid_request")
        else:
            assert response.status_code == 404
            assert response.headers["Content-Type"].startswith("text/html")
            assert response.text.lstrip().lower().startswith("<!doctype html")


# -- latency model -------------------------------------------------------------------------------------------
def concurrent_batch(apis: list[RawApi]) -> float:
    """Fire one request from each client at the same moment; the wall time until the last answer."""
    barrier = threading.Barrier(len(apis) + 1)
    finished: list[float] = []
    statuses: list[int] = []

    def one(api: RawApi) -> None:
        barrier.wait()
        statuses.append(api.get("companies", _limit=1).status_code)
        finished.append(time.perf_counter())

    threads = [threading.Thread(target=one, args=(a,)) for a in apis]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(10)
    assert statuses == [200] * len(apis)
    return max(finished) - started


def test_latency_model_serves_workers_at_a_time() -> None:
    """Latency model: at most `workers` requests are served at once, each for latency_ms; with workers=2 and
    40 ms, 6 concurrent requests take about ceil(6/2) x 40 ms = 120 ms (within 15 %), and the request log
    separates the wait for a worker (wait_s) from the service time (service_s)."""
    with make_sim() as s:
        apis = [RawApi(s) for _ in range(6)]
        for api in apis:  # warm: token and a kept-alive connection each, before latency is switched on
            api.ok("companies", _limit=1)
        s.set(latency_ms=40, workers=2)
        s.log.clear()
        batches = [concurrent_batch(apis) for _ in range(3)]
        ratio = statistics.median(batches) / 0.120
        print(f"latency model: batches {[round(b * 1000, 1) for b in batches]} ms, median/ideal {ratio:.3f}")
        assert 0.85 <= ratio <= 1.15, batches

        entries = s.log.entries("/api/")
        assert len(entries) == 18
        for entry in entries:
            assert 0.039 <= entry.service_s <= 0.07, entry
        for batch in range(3):
            waits = sorted(e.wait_s for e in entries[batch * 6:(batch + 1) * 6])
            assert waits[1] < 0.02, waits  # two start at once
            assert waits[-1] >= 0.07, waits  # the last two wait for two services before them
            assert 0.2 <= sum(waits) <= 0.33, waits  # ideal 2 x 0 + 2 x 40 + 2 x 80 ms


def test_latency_per_row_ms_adds_per_returned_row() -> None:
    """Latency model: per_row_ms adds that much service time per returned row
    (latency_ms + per_row_ms x rows)."""
    with make_sim(latency_ms=5, per_row_ms=1.0) as s:
        api = RawApi(s)
        api.login()
        started = time.perf_counter()
        assert len(api.ok("companies", _limit=80)) == 80
        assert time.perf_counter() - started >= 0.085
        api.ok("companies", _limit=1)
        api.ok("companies/count")
        big, small, count = s.log.entries("/api/")
        assert big.rows == 80 and small.rows == 1 and count.rows is None
        assert 0.085 <= big.service_s <= 0.12
        assert 0.006 <= small.service_s <= 0.03
        assert 0.005 <= count.service_s <= 0.03


def test_latency_jitter_spreads_service_times_within_bounds() -> None:
    """Latency model: jitter draws each service time uniformly within ±jitter of the base
    (here 20 ms ± 50 %)."""
    with make_sim(latency_ms=20, jitter=0.5) as s:
        api = RawApi(s)
        api.login()
        for _ in range(16):
            api.get("tokeninfo")
        times = [e.service_s for e in s.log.entries("/api/")]
        assert all(0.0099 <= t <= 0.045 for t in times), times  # a loaded host may wake late, never early
        assert min(times) < 0.018 and max(times) > 0.022, times


def test_zero_latency_keep_alive_round_trip_is_fast(sim: Simulator, api: RawApi) -> None:
    """Transport: with zero latency a keep-alive round trip takes well under 5 ms (median of 50): each
    response leaves in one write with TCP_NODELAY, so Nagle and delayed ACKs add nothing."""
    api.ok("companies", _limit=1)
    times = []
    for _ in range(50):
        started = time.perf_counter()
        response = api.get("companies", _limit=1)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    median = statistics.median(times)
    print(f"keep-alive round trip median {median * 1000:.2f} ms")
    assert median < 0.005, sorted(times)
    assert len({e.client for e in sim.log.entries("/api/")}) == 1


# -- the request log -----------------------------------------------------------------------------------------
def test_request_log_records_each_request(sim: Simulator, api: RawApi) -> None:
    """Request log: one entry per request with method, path, params, status, rows returned, whether it spent
    the budget (`counted`) and the Remaining sent back; token requests are logged but not counted."""
    api.login()
    api.get("companies", _limit=7, _fields="website")
    api.get("companies/count")
    api.get("companies/999999999")
    call(sim, "invoices")
    entries = sim.log.entries()
    assert len(sim.log) == len(entries) == 5
    token, listing, count, missing, unauthorised = entries
    assert (token.method, token.path, token.status, token.counted, token.remaining) == \
        ("POST", "/oauth2/v0/token", 200, False, None)
    assert (listing.method, listing.path, listing.params) == ("GET", "/api/v0/companies",
                                                              {"_limit": "7", "_fields": "website"})
    assert (listing.status, listing.rows, listing.counted, listing.remaining) == (200, 7, True, 4999)
    assert (count.path, count.status, count.rows) == ("/api/v0/companies/count", 200, None)
    assert count.remaining == 4998
    assert (missing.status, missing.rows, missing.remaining) == (400, None, 4997)
    assert (unauthorised.status, unauthorised.counted, unauthorised.token) == (401, True, "")
    assert listing.token and listing.token == count.token
    assert all(api.token not in repr(e) for e in entries)
    assert all(e.fault is None and e.client == "127.0.0.1" for e in entries)
    assert [e.started for e in entries] == sorted(e.started for e in entries)
    assert not any("_suppress_http_status" in e.params or "_method" in e.params for e in entries)
    assert [e.path for e in sim.log.entries("/api/v0/companies")] == ["/api/v0/companies",
                                                                      "/api/v0/companies/count",
                                                                      "/api/v0/companies/999999999"]
    sim.log.clear()
    assert len(sim.log) == 0


# -- stopping ------------------------------------------------------------------------------------------------
def test_stop_really_stops_even_kept_alive_connections() -> None:
    """Life cycle: after stop(), a request on a kept-alive session fails (no lingering keep-alive handler)."""
    s = make_sim()
    s.start()
    api = RawApi(s)
    api.ok("companies", _limit=1)
    base_url = s.base_url
    s.stop()
    with pytest.raises(requests.ConnectionError):
        api.session.get(f"{base_url}/api/v0/companies", headers=bearer(api.token or ""), timeout=3)
    with pytest.raises(RuntimeError):
        _ = s.base_url
    s.stop()  # stopping twice is harmless


def test_stop_ends_a_stalled_request_at_once() -> None:
    """Life cycle: stop() does not wait out a stall (stall_s=30): the stalled client sees the connection
    end."""
    s = make_sim(stall_s=30.0)
    s.start()
    api = RawApi(s)
    api.login()
    s.faults.script("stall", 1)
    outcome: list[BaseException] = []

    def stalled() -> None:
        try:
            api.get("companies", timeout=20)
        except requests.RequestException as err:
            outcome.append(err)

    thread = threading.Thread(target=stalled)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    s.stop()
    thread.join(10)
    assert time.monotonic() - started < 3
    assert not thread.is_alive()
    assert outcome and isinstance(outcome[0], requests.ConnectionError)


# -- the CLI -------------------------------------------------------------------------------------------------
def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("accelo-kit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "accelo_kit.cli"]


SERVE = [*cli_command(), "sim", "serve", "--port", "0", "--scale", "0.05"]


def _default_sigint() -> None:  # a child started from a shell that ignores SIGINT would inherit SIG_IGN
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class CliSim:
    """`accelo-kit sim serve` as a subprocess, its stdout read line by line on a thread."""

    def __init__(self, *extra: str) -> None:
        self.proc = subprocess.Popen([*SERVE, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, preexec_fn=_default_sigint)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def line(self, timeout: float = 20) -> str | None:
        return self.lines.get(timeout=timeout)

    def banner(self) -> dict[str, str]:
        lines = [self.line() for _ in range(3)]
        assert all(line is not None for line in lines), (lines, self.stderr_after_exit())
        keys = [line.split(": ", 1)[0] for line in lines if line]
        assert keys == ["base_url", "client_id", "client_secret"], lines
        return dict(line.rstrip("\n").split(": ", 1) for line in lines if line)

    def rest_of_stdout(self) -> list[str]:
        rest = []
        while (line := self.line(timeout=5)) is not None:
            rest.append(line)
        return rest

    def stderr_after_exit(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        return self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


@contextlib.contextmanager
def cli_sim(*extra: str) -> Iterator[CliSim]:
    cli = CliSim(*extra)
    try:
        yield cli
    finally:
        cli.close()


def cli_token(banner: dict[str, str], **form: str) -> requests.Response:
    return requests.post(f"{banner['base_url']}/oauth2/v0/token",
                         data={"grant_type": "client_credentials", **form},
                         auth=(banner["client_id"], banner["client_secret"]), timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_sim_serve_banner_then_serves_until_signal(signum: int) -> None:
    """docs/simulator.md, `accelo-kit sim serve`: the first three stdout lines, flushed before serving, are base_url,
    client_id and client_secret; a token request with them works against base_url; SIGTERM or SIGINT ends it
    with exit status 0 and nothing more on stdout."""
    with cli_sim() as cli:
        banner = cli.banner()
        assert banner["base_url"].startswith("http://127.0.0.1:")
        assert int(banner["base_url"].rsplit(":", 1)[1]) > 0
        assert banner["client_id"] and banner["client_secret"]
        token = cli_token(banner)
        assert token.status_code == 200, token.text
        listing = requests.get(f"{banner['base_url']}/api/v0/companies",
                               headers=bearer(token.json()["access_token"]), timeout=10)
        assert listing.status_code == 200 and listing.json()["meta"]["status"] == "ok"
        cli.proc.send_signal(signum)
        assert cli.proc.wait(10) == 0
        assert cli.rest_of_stdout() == []
        assert "SIMULATED" in cli.stderr_after_exit()


def test_cli_set_is_honoured() -> None:
    """CLI: --set NAME=VALUE sets any simulator setting, e.g. count_type=number gives numeric counts and
    expires_in_type=number a numeric expires_in."""
    with cli_sim("--set", "count_type=number", "--set", "expires_in_type=number") as cli:
        banner = cli.banner()
        token = cli_token(banner)
        assert isinstance(token.json()["expires_in"], int)
        count = requests.get(f"{banner['base_url']}/api/v0/companies/count",
                             headers=bearer(token.json()["access_token"]), timeout=10)
        assert isinstance(count.json()["response"]["count"], int)
        cli.proc.send_signal(signal.SIGTERM)
        assert cli.proc.wait(10) == 0


@pytest.mark.parametrize(("setting", "message"), [
    ("no_such_setting=1", "unknown simulator setting 'no_such_setting'"),
    ("count_type=sometimes", "count_type='sometimes'"),
    ("count_type", "NAME=VALUE"),
])
def test_cli_bad_set_exits_non_zero_with_a_clear_message(setting: str, message: str) -> None:
    """CLI: an unknown --set name, an invalid value or a malformed --set exits non-zero with a message
    naming it, before printing any banner."""
    done = subprocess.run([*SERVE, "--set", setting], capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""



def test_set_refuses_settings_that_shape_the_data(sim: Simulator) -> None:
    """Life cycle: seed, scale, sizes, id_layout and anchor shaped the tables once; set() refuses them."""
    for name, value in (("seed", 2), ("sizes", {"staff": 1}), ("id_layout", "dense")):
        with pytest.raises(ValueError, match="start a new Simulator"):
            sim.set(**{name: value})
    sim.set(count_type="number")  # behaviour switches are fine
    assert sim.settings.count_type == "number"
