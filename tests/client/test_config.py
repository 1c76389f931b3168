"""Configuration (issue 3, docs/configuration.md): validated before any network call, secrets hidden."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pytest

from accelo_kit import AcceloClient, ConfigError, Settings
from accelo_kit.config import MAX_THREADS

SECRET = "s3cr3t-value-never-shown"
BASE = {"client_id": "abc", "client_secret": SECRET}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme", "acme"),
        ("ACME", "acme"),
        ("acme-legal", "acme-legal"),
        ("acme.accelo.com", "acme"),
        ("acme.api.accelo.com", "acme"),
        ("https://acme.api.accelo.com/", "acme"),
        ("https://acme.accelo.com", "acme"),
        ("acme.accelo.com/", "acme"),
        ("  acme  ", "acme"),
    ],
)
def test_deployment_is_reduced_to_its_label(raw: str, expected: str) -> None:
    settings = Settings.from_mapping({**BASE, "deployment": raw})
    assert settings.deployment == expected
    assert settings.api_root == f"https://{expected}.api.accelo.com/api/v0"
    assert settings.token_url == f"https://{expected}.api.accelo.com/oauth2/v0/token"


@pytest.mark.parametrize(
    "raw",
    ["a.b", "x@y", "x#", "evil.com/x", "10.0.0.1", "acme corp", "-acme", "acme-", "a" * 64,
     "https://acme.accelo.com.evil.com", "https://evil.com/acme.accelo.com", "https://user@acme.accelo.com",
     "acme.accelo.com:8080", "ftp://acme.accelo.com", "acme_1", "https://acme.api.accelo.com/api/v0"],
)
def test_deployment_that_could_steer_the_host_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_mapping({**BASE, "deployment": raw})
    assert "deployment" in str(err.value)
    assert "acme.accelo.com" in str(err.value)  # says what a deployment name looks like


def test_empty_deployment_without_base_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="deployment is required"):
        Settings.from_mapping({**BASE, "deployment": "  "})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/api/v0", "http://127.0.0.1:8080"),
        ("http://localhost:9", "http://localhost:9"),
        ("http://[::1]:9", "http://[::1]:9"),
        ("https://accelo.example.com", "https://accelo.example.com"),
    ],
)
def test_base_url_is_normalised(raw: str, expected: str) -> None:
    settings = Settings.from_mapping({**BASE, "base_url": raw})
    assert settings.base_url == expected
    assert settings.api_root == expected + "/api/v0"
    assert settings.token_url == expected + "/oauth2/v0/token"


@pytest.mark.parametrize(
    "raw",
    ["http://example.com", "http://10.1.2.3:80", "ftp://127.0.0.1", "127.0.0.1:8080", "https://h/x",
     "https://u:p@h", "https://h?x=1", "https://h:99999"],
)
def test_bad_base_url_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="base_url"):
        Settings.from_mapping({**BASE, "base_url": raw})


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_mapping({"deployment": "a.b", "threads": "many", "colour": "blue", "entities": "widgets",
                               "start_date": "yesterday", "request_timeout": "-1"})
    problems = err.value.problems
    text = "\n".join(problems)
    for fragment in ("unknown key(s): colour", "threads", "entities", "widgets", "start_date", "request_timeout",
                     "client_id is required", "client_secret is required", "deployment"):
        assert fragment in text
    assert len(problems) == 8


def test_values_must_be_strings_or_plain_numbers() -> None:
    with pytest.raises(ConfigError, match="threads must be a string"):
        Settings.from_mapping({**BASE, "deployment": "acme", "threads": ["8"]})


@pytest.mark.parametrize(("raw", "ok"), [("1", True), (str(MAX_THREADS), True), ("0", False),
                                         (str(MAX_THREADS + 1), False), ("2.5", False)])
def test_threads_are_bounded(raw: str, ok: bool) -> None:
    values = {**BASE, "deployment": "acme", "threads": raw}
    if ok:
        assert Settings.from_mapping(values).threads == int(raw)
    else:
        with pytest.raises(ConfigError, match="threads"):
            Settings.from_mapping(values)


def test_typed_keys_parse_from_strings() -> None:
    settings = Settings.from_mapping({
        **BASE, "deployment": "acme", "threads": "4", "scope": "read(companies,jobs)", "request_timeout": "12.5",
        "budget_reserve": "250", "entities": "jobs, companies,jobs", "start_date": "2024-02-29",
        "overlap_seconds": "60",
    })
    assert settings.threads == 4
    assert settings.scope == "read(companies,jobs)"
    assert settings.request_timeout == 12.5
    assert settings.budget_reserve == 250
    assert settings.entities == ("jobs", "companies")
    assert settings.start_date == date(2024, 2, 29)
    assert settings.overlap_seconds == 60


def test_defaults() -> None:
    settings = Settings.from_mapping({**BASE, "deployment": "acme"})
    assert settings.threads == 8
    assert settings.scope == "read(all)"
    assert settings.entities == ("companies", "invoices", "payments", "prospects", "jobs", "staff")
    assert settings.budget_reserve is None  # 10% of the server's advertised limit


def test_environment_variables_fill_in(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"ACCELO_DEPLOYMENT": "acme", "ACCELO_CLIENT_ID": "id1", "ACCELO_CLIENT_SECRET": SECRET}
    settings = Settings.from_env(env)
    assert (settings.deployment, settings.client_id, settings.client_secret) == ("acme", "id1", SECRET)
    monkeypatch.setenv("ACCELO_BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("ACCELO_CLIENT_ID", "from-env")
    monkeypatch.setenv("ACCELO_CLIENT_SECRET", SECRET)
    assert Settings.load().base_url == "http://127.0.0.1:1"


def test_load_file_then_environment_then_keywords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "configuration.json"
    path.write_text(json.dumps({"deployment": "filedep", "client_id": "file-id", "threads": "2"}))
    monkeypatch.setenv("ACCELO_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("ACCELO_CLIENT_ID", "env-id")
    settings = Settings.load(path, threads=6)
    assert settings.deployment == "filedep"
    assert settings.client_id == "file-id"  # the file wins over the environment
    assert settings.client_secret == SECRET  # the environment fills what the file lacks
    assert settings.threads == 6  # keywords win over both


@pytest.mark.parametrize(("content", "message"), [("{not json", "not valid JSON"), ("[1]", "JSON object")])
def test_bad_configuration_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "configuration.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        Settings.load(path, environ={})


def test_missing_configuration_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(tmp_path / "nope.json", environ={})


def test_secret_never_shown_in_repr_str_or_errors() -> None:
    settings = Settings.from_mapping({**BASE, "deployment": "acme"})
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    client = AcceloClient(settings)
    try:
        assert SECRET not in repr(client)
        assert all(SECRET not in repr(part) for part in vars(client).values())  # the token provider too
    finally:
        client.close()
    with pytest.raises(ConfigError) as err:
        Settings.from_mapping({**BASE, "deployment": "a.b", "threads": SECRET})
    assert SECRET not in str(err.value)


def test_configuration_errors_make_no_network_call(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    """Validation happens before any request: a socket opened here would fail the test."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("a network call was attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    caplog.set_level(logging.DEBUG)
    for bad in ({**BASE, "deployment": "evil.com/x"}, {"deployment": "acme"}, {**BASE}):
        with pytest.raises(ConfigError):
            Settings.from_mapping(bad)
