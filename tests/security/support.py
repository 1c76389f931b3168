"""Helpers shared by the security tests: secrets in every encoding a leak could take, a scan that names what leaked
where, a bound on how long a call may take (a hang must fail the test, not stall the suite), and a guard that fails
a test the moment anything touches the network."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import pytest

T = TypeVar("T")


def encodings(value: str) -> dict[str, str]:
    """`value` as a leak could carry it: raw, base64 (standard and URL-safe, with or without padding), URL-encoded
    (path and form style) and JSON-escaped. A secret that is only ever encoded on its way out is still a leak."""
    raw = value.encode()
    forms = {
        "raw": value,
        "base64": base64.b64encode(raw).decode(),
        "base64 url-safe": base64.urlsafe_b64encode(raw).decode(),
        "url-encoded": quote(value, safe=""),
        "form-encoded": quote_plus(value),
        "json-escaped": json.dumps(value)[1:-1],
    }
    forms["base64 unpadded"] = forms["base64"].rstrip("=")
    forms["base64 url-safe unpadded"] = forms["base64 url-safe"].rstrip("=")
    return forms


def needles(secrets: dict[str, str]) -> dict[str, bytes]:
    """Every encoding of every named secret, as bytes to look for: "client secret (base64)" -> b"..."."""
    found: dict[str, bytes] = {}
    for name, value in secrets.items():
        for form, text in encodings(value).items():
            found[f"{name} ({form})"] = text.encode()
    return found


def leaks(haystack: str | bytes, secrets: dict[str, bytes]) -> list[str]:
    """Names of the secrets (in which encoding) that occur in `haystack`."""
    data = haystack.encode("utf-8", "surrogateescape") if isinstance(haystack, str) else haystack
    return [name for name, needle in secrets.items() if needle in data]


def run_bounded(action: Callable[[], T], timeout_s: float, what: str) -> tuple[T | None, BaseException | None]:
    """Run `action` in a thread and give it `timeout_s`: a hang fails the test with a message, instead of holding the
    suite until the global timeout. Returns (result, None) or (None, the exception it raised)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = action()
        except BaseException as err:  # handed back to the test, which judges it
            box["error"] = err

    worker = threading.Thread(target=target, name=f"bounded-{what}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        pytest.fail(f"{what} hung: still running after {timeout_s:.0f} s")
    return box.get("result"), box.get("error")


@contextmanager
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Any DNS lookup or connection attempt in the block is recorded and refused. A validation that happens "before
    any network call" must leave the list empty; the refusal (an AssertionError, which no HTTP library catches)
    makes sure nothing goes out even if the check were missing."""
    touched: list[str] = []

    def refuse(kind: str) -> Callable[..., Any]:
        def guard(*args: Any, **kwargs: Any) -> Any:
            touched.append(f"{kind}{args!r}")
            raise AssertionError(f"network touched: {kind}{args!r}")
        return guard

    with monkeypatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
        patch.setattr(socket, "create_connection", refuse("create_connection"))
        patch.setattr(socket.socket, "connect", refuse("connect"))
        patch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
        yield touched
