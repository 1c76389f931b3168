"""Security pass (issue 8): bad configuration files and hostile API bodies end in clear errors or counted bad values,
never a hang, a bare traceback, or data loss.

A configuration file is the user's own, but it is often hand-edited or generated: whatever it holds, the answer is
one `ConfigError` listing what is wrong (the CLI prints it and exits 2), before any request. An API body is the
server's: a broken proxy or a hostile server may send anything with a 200, and the sync must stop with an error that
names the problem, leave the destination exactly at its last checkpoint, and lose nothing once the server behaves.
Every hostile sync runs under a time bound, so a hang fails the test by name.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from accelo_kit import AcceloClient, ConfigError, Settings
from accelo_kit.auth import TokenProvider
from accelo_kit.cli import EXIT_FAILED, EXIT_USAGE, main
from accelo_kit.convert import RowConverter
from accelo_kit.destinations.duckdb import STATE_TABLE, DuckDBDestination
from accelo_kit.destinations.fivetran import settings_from_configuration
from accelo_kit.entities import ENTITIES
from accelo_kit.errors import AuthenticationError
from accelo_kit.sim import Simulator
from accelo_kit.sim.server import WRONG_VALUES
from accelo_kit.sync import SyncReport, sync
from tests.helpers import assert_matches_truth, duckdb_rows
from tests.security.support import run_bounded

GOOD = {"deployment": "acme", "client_id": "id-1", "client_secret": "S3cr3t-config-Xq7"}
SIZES = {"companies": 250, "invoices": 0, "payments": 0, "prospects": 0, "jobs": 0, "staff": 30}
SYNCED = ("companies", "staff")
HANG_S = 30.0  # far above any of these runs (each well under 2 s); only a hang reaches it


# -- bad configuration files ----------------------------------------------------------------------------------
BAD_FILES: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "empty object": (b"{}", ("client_id is required", "client_secret is required", "deployment is required")),
    "missing secret": (json.dumps({"deployment": "acme", "client_id": "x"}).encode(), ("client_secret is required",)),
    "null secret": (json.dumps({**GOOD, "client_secret": None}).encode(), ("client_secret is required",)),
    "list value": (json.dumps({**GOOD, "deployment": ["acme"]}).encode(), ("deployment must be a string, got list",)),
    "object value": (json.dumps({**GOOD, "client_secret": {"value": "x"}}).encode(),
                     ("client_secret must be a string, got dict",)),
    "boolean value": (json.dumps({**GOOD, "threads": True}).encode(), ("threads must be a string, got bool",)),
    "unknown key": (json.dumps({**GOOD, "colour": "blue"}).encode(), ("unknown key(s): colour",)),
    "malformed": (b'{"deployment": "acme", ', ("not valid JSON",)),
    "single quotes": (b"{'deployment': 'acme'}", ("not valid JSON",)),
    "trailing comma": (b'{"deployment": "acme",}', ("not valid JSON",)),
    "empty file": (b"", ("not valid JSON",)),
    "top-level list": (b"[]", ("must hold a JSON object",)),
    "top-level string": (b'"acme"', ("must hold a JSON object",)),
    "top-level number": (b"42", ("must hold a JSON object",)),
    "top-level null": (b"null", ("must hold a JSON object",)),
    "top-level NaN": (b"NaN", ("must hold a JSON object",)),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, ("not valid JSON",)),
    "not UTF-8": (b'{"deployment": "caf\xe9", "client_id": "x", "client_secret": "y"}', ("not valid JSON",)),
    "huge": (json.dumps({**GOOD, "client_id": "x" * (48 * 2**20)}).encode(), ("too large",)),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_configuration_file_is_one_clear_config_error(case: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Settings.load and the CLI refuse each bad file with a ConfigError naming the problem: short (a person reads
    it), never echoing the secret, and the CLI exits 2 with no traceback."""
    content, expected = BAD_FILES[case]
    path = tmp_path / "configuration.json"
    path.write_bytes(content)
    for name in ("ACCELO_DEPLOYMENT", "ACCELO_CLIENT_ID", "ACCELO_CLIENT_SECRET", "ACCELO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    started = time.monotonic()
    with pytest.raises(ConfigError) as raised:
        Settings.load(path, environ={})
    message = str(raised.value)
    for fragment in expected:
        assert fragment in message, message[:500]
    assert len(message) < 1000, f"a {len(message)}-character message is not one a person can read"
    assert GOOD["client_secret"] not in message
    assert time.monotonic() - started < 5

    code = main(["sync", "--config", str(path), "--db", str(tmp_path / "a.duckdb"), "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err[-2000:]
    assert "Traceback" not in err and expected[0] in err
    assert not (tmp_path / "a.duckdb").exists()  # refused before the database was touched


def test_a_configuration_path_that_is_a_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        Settings.load(tmp_path, environ={})


@pytest.mark.parametrize("value", [8, 8.5, True, None, ["8"], {"n": "8"}])
def test_fivetran_configuration_values_must_be_strings(value: Any) -> None:
    """Fivetran's rule: every configuration value a string. Anything else is named, secret unechoed."""
    with pytest.raises(ConfigError) as raised:
        settings_from_configuration({**GOOD, "threads": value, "request_timeout": value})
    message = str(raised.value)
    if value is None:  # an unset value is "not given": fine for optional keys, so make a required one unset
        with pytest.raises(ConfigError, match="client_secret is required"):
            settings_from_configuration({**GOOD, "client_secret": value})
        return
    assert "threads must be a string" in message and "request_timeout must be a string" in message, message
    assert GOOD["client_secret"] not in message


# -- hostile API bodies ---------------------------------------------------------------------------------------
def configuration(sim: Simulator, tmp_path: Path) -> Path:
    """A configuration.json for the simulator: quick to give up (3 attempts, 2 s of backoff), 4 threads."""
    path = tmp_path / "configuration.json"
    path.write_text(json.dumps({**sim.configuration(), "threads": "4", "max_attempts": "3",
                                "max_retry_wait": "2", "entities": ",".join(SYNCED)}))
    return path


def one_sync(config: Path, db: Path) -> SyncReport:
    """One sync as a fresh process would do it (a new client, token and destination)."""
    settings = Settings.load(config, environ={})
    with AcceloClient(settings) as client, DuckDBDestination(db) as destination:
        return sync(client, destination, settings.entities)


def snapshot(db: Path) -> dict[str, Any]:
    """Everything the destination holds: the state and every row of every synced table."""
    with duckdb.connect(str(db), read_only=True) as con:
        state = con.execute(f"SELECT state FROM {STATE_TABLE}").fetchone()[0]
    return {"state": json.loads(state), **{name: duckdb_rows(db, name) for name in SYNCED}}


def advance_server_clock(sim: Simulator, seconds: float) -> None:
    sim.set(clock_offset_s=sim.settings.clock_offset_s + seconds)


# kind -> (simulator settings, what the error must say)
HOSTILE: dict[str, tuple[dict[str, Any], str]] = {
    "huge": ({}, "larger than"),  # 40 MiB, above the kit's cap on one answer
    "huge under the cap": ({"huge_bytes": 2 * 2**20}, "rows where at most 100 were asked for"),
    "nested": ({}, "not JSON"),  # 100,000 levels: json.loads raises RecursionError
    "nested shallow": ({"nested_depth": 50}, "without a usable id"),  # parses, but rows are lists, not objects
    "wrong_types": ({}, "without a usable id"),
    "non_utf8": ({}, "not JSON"),
    "not_list": ({}, "expected a list"),
}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_body_stops_the_sync_with_a_clear_error_and_loses_nothing(case: str, tmp_path: Path,
                                                                            capsys) -> None:
    """Every API answer of a run is hostile (a 200 with meta.status ok): the CLI exits 1 within seconds, its message
    names the problem and holds no traceback; the database is exactly as its last checkpoint left it (no row, no
    null, no cursor moved); once the server behaves, the next run brings every change made meanwhile."""
    settings, says = HOSTILE[case]
    kind = case.split()[0]
    with Simulator(sizes=SIZES, seed=23, **settings) as sim:
        config, db = configuration(sim, tmp_path), tmp_path / "a.duckdb"
        assert one_sync(config, db).complete
        before = snapshot(db)
        advance_server_clock(sim, 60)
        sim.modify("companies", count=30)
        sim.modify("staff", count=5)
        advance_server_clock(sim, 60)  # the changes fall inside the next window: every entity has rows to fetch

        sim.faults.set_probability(kind, 1.0)
        code, error = run_bounded(lambda: main(["sync", "--config", str(config), "--db", str(db), "--quiet"]),
                                  HANG_S, f"a sync fed {case} bodies")
        assert error is None, f"the CLI raised {type(error).__name__}: {error}"
        err = capsys.readouterr().err
        assert code == EXIT_FAILED, err[-2000:]
        assert says in err, err[-2000:]
        assert "Traceback" not in err, err[-3000:]
        assert sim.faults.injected[kind] >= 1
        assert snapshot(db) == before, "a failed run changed the destination"

        sim.faults.clear()
        advance_server_clock(sim, 60)  # the changes are now before the next run's start, which bounds its window
        assert one_sync(config, db).complete
        for name in SYNCED:
            assert_matches_truth(duckdb_rows(db, name), sim, name)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["huge", "nested", "wrong_types", "non_utf8", "not_list"])
def test_check_fails_clearly_on_hostile_bodies(kind: str, tmp_path: Path, capsys) -> None:
    """`accelo-kit check` reads raw answers to probe the deployment's behaviour: a hostile body on every request
    makes it exit 1 with one line saying what it met, never a traceback."""
    with Simulator(sizes=SIZES, seed=37) as sim:
        sim.faults.set_probability(kind, 1.0)
        code, error = run_bounded(lambda: main(["check", "--config", str(configuration(sim, tmp_path))]), HANG_S,
                                  f"check fed {kind} bodies")
    err = capsys.readouterr().err
    assert error is None, f"check raised {type(error).__name__}: {error}"
    assert code == EXIT_FAILED and err.startswith("accelo-kit: "), err[-2000:]
    assert "Traceback" not in err and len(err) < 500, err[-2000:]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["nested", "non_utf8"])
def test_an_unreadable_body_now_and_then_is_retried_and_the_sync_completes(kind: str, tmp_path: Path) -> None:
    """Contract (Errors): invalid JSON on a 200 is retriable. A few such answers among good ones cost retries,
    never data."""
    with Simulator(sizes=SIZES, seed=29) as sim:
        config, db = configuration(sim, tmp_path), tmp_path / "a.duckdb"
        sim.faults.script(kind, 2)
        report, error = run_bounded(lambda: one_sync(config, db), HANG_S, f"a sync with two {kind} answers")
        assert error is None, f"{type(error).__name__}: {error}"
        assert report is not None and report.complete and report.retries >= 2
        assert sim.faults.injected[kind] == 2
        for name in SYNCED:
            assert_matches_truth(duckdb_rows(db, name), sim, name)


def test_wrong_types_in_fields_become_counted_nulls_and_the_rest_lands(tmp_path: Path, capsys) -> None:
    """A row whose id is good but whose other fields carry wrong types (lists, objects, floats, booleans, numbers
    beyond 64 bits, digits of other scripts) is written with those fields null, each counted and reported; every
    other row and field lands exactly, and nothing overflows the destination's typed columns."""
    with Simulator(sizes=SIZES, seed=31) as sim:
        config, db = configuration(sim, tmp_path), tmp_path / "a.duckdb"
        bad_company = {"name": ["x"], "website": {"a": 1}, "custom_id": True, "date_last_interacted": 10**30,
                       "status": {"id": ["17"]}, "postal_address": 1.5, "staff_bookmarked": 1.5,
                       "default_affiliation": 10**30}
        also_bad = {"default_affiliation": "9" * 40, "date_last_interacted": "\uff11\uff12\uff13",
                    "staff_bookmarked": float("nan"), "status": -(10**25)}
        bad_staff = {"staff_rate": 1.5, "staff_cost_rate": "9" * 40}
        companies = sorted(int(r["id"]) for r in sim.truth("companies"))
        staff = sorted(int(r["id"]) for r in sim.truth("staff"))
        sim.modify("companies", ids=companies[:3], **bad_company)
        sim.modify("companies", ids=companies[3:5], **also_bad)
        sim.modify("staff", ids=staff[:2], **bad_staff)

        code, error = run_bounded(lambda: main(["sync", "--config", str(config), "--db", str(db), "--quiet"]),
                                  HANG_S, "a sync with wrong-typed fields")
        out = capsys.readouterr()
        assert error is None and code == 0, out.err[-2000:]
        assert "values could not be converted" in out.out, out.out
        assert "Traceback" not in out.err
        rows = duckdb_rows(db, "companies")
        for i in companies[:3]:
            assert all(rows[i][name] is None for name in bad_company), rows[i]
        for i in companies[3:5]:
            assert all(rows[i][name] is None for name in also_bad), rows[i]
        held = duckdb_rows(db, "staff")
        assert all(held[i][name] is None for i in staff[:2] for name in bad_staff)
        clean = {i for i in companies if i not in companies[:5]}
        expected = {r["id"]: r for r in _converted(sim, "companies") if r["id"] in clean}
        assert {i: rows[i] for i in clean} == expected


def _converted(sim: Simulator, name: str) -> list[dict[str, Any]]:
    convert = RowConverter(name, ENTITIES[name].column_types())
    return [convert(row) for row in sim.truth(name)]


@pytest.mark.parametrize("kind", ["int", "link", "decimal", "timestamp", "bool"])
def test_every_wrong_value_of_the_simulator_is_refused_by_typed_converters(kind: str) -> None:
    """Each value the `wrong_types` fault sends becomes None and is counted by every non-text converter; a number
    is never guessed from a float, a boolean, a foreign digit or a value beyond 64 bits."""
    # JSON booleans are right for a bool; an object without an id is an expanded link with other fields chosen
    wrong = [v for v in WRONG_VALUES if not (kind == "bool" and isinstance(v, bool)) and not (kind == "link"
                                                                                            and v == {})]
    convert = RowConverter("t", [("v", kind)])
    accepted = {f"{v!r:.40}": convert({"v": v})["v"] for v in wrong}
    accepted = {k: v for k, v in accepted.items() if v is not None}
    assert not accepted, f"{kind} accepted wrong values: {accepted}"
    assert convert.problems["v"] == len(wrong)


def test_integers_beyond_64_bits_are_refused_not_overflowed() -> None:
    """DuckDB's BIGINT and Fivetran's LONG hold 64 bits: a larger integer is a bad value, counted, never a crash
    at commit time (which would fail the whole run) or a wrapped number."""
    convert = RowConverter("t", [("i", "int"), ("l", "link")])
    edge = 2**63 - 1
    assert convert({"i": str(edge), "l": str(edge)}) == {"i": edge, "l": edge}
    assert convert({"i": str(-(2**63)), "l": {"id": str(edge)}}) == {"i": -(2**63), "l": edge}
    assert convert({"i": str(edge + 1), "l": edge + 1}) == {"i": None, "l": None}
    assert convert.problems == {"i": 1, "l": 1}


TOKEN_ANSWERS: dict[str, tuple[int, bytes, str]] = {
    "nested": (200, b"[" * 100_000 + b"]" * 100_000, "unexpected answer"),
    "error is an object": (400, b'{"error": {"code": [1]}, "error_description": "no"}', "refused"),
    "empty token": (200, b'{"access_token": ""}', "unexpected answer"),
    "a list": (200, b"[1, 2]", "unexpected answer"),
    "redirect": (302, b"", "redirect"),
}


@pytest.mark.parametrize("case", list(TOKEN_ANSWERS))
def test_a_hostile_token_answer_is_a_clear_authentication_error(case: str) -> None:
    """The token endpoint's answer is parsed apart from the API's: whatever it sends (JSON nested past the parser,
    an `error` that is not a string, no token, a list, a redirect) ends in one
    AuthenticationError naming the problem, never RecursionError or a TypeError from rendering the message. (Bytes
    that are not UTF-8 are decoded by requests' charset guess here: a token is whatever text the server sent.)"""
    status, body, says = TOKEN_ANSWERS[case]

    def post(url: str, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code, response.raw, response.url = status, io.BytesIO(body), url
        response.headers["Content-Type"] = "application/json"
        if 300 <= status < 400:
            response.headers["Location"] = "https://evil.example/oauth2/v0/token"
        return response

    tokens = TokenProvider("http://127.0.0.1:1/oauth2/v0/token", "id-1", GOOD["client_secret"], "read(all)", post=post,
                           timeout=5, retry=lambda fetch: fetch())
    with pytest.raises(AuthenticationError) as raised:
        tokens.token()
    message = str(raised.value)
    assert says in message and raised.value.status == status, message
    assert len(message) < 400 and GOOD["client_secret"] not in message
