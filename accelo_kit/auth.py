"""Client-credentials tokens (docs/accelo-api.md, Authentication): HTTP Basic, cached, renewed before expiry,
fetched by one thread however many need one, and never retried on bad credentials (Accelo locks an address out after
100 failures)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import requests

from .errors import AuthenticationError, TransientError

log = logging.getLogger(__name__)
RENEW_MARGIN = 0.1  # renew when less than this share of the lifetime is left...
RENEW_MARGIN_MAX_S = 300.0  # ...or five minutes, whichever is shorter
DEFAULT_LIFETIME_S = 30 * 24 * 3600
TOKEN_PATH = "/oauth2/v0/token"
D = TypeVar("D")


def parse_json(body: bytes | str, default: D) -> Any | D:
    """The one tolerant JSON reader for what a server sends (token answers, API answers, `check`'s probes):
    `default` for anything that is not JSON, including nesting past the parser's depth (a hostile body) and bytes
    that are not UTF-8, never an exception."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return default


@dataclass(frozen=True)
class TokenDetails:
    """What the token answer said besides the token, for `accelo-kit check`."""

    deployment: str | None
    expires_in_type: Literal["string", "number"] | None  # None: absent, or neither a string nor a number


class TokenProvider:
    """Hands out a valid bearer token. `invalidate(token)` after a 401 drops it unless another thread already
    replaced it, so a storm of 401s costs exactly one token request."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str,
                 post: Callable[..., requests.Response], timeout: float,
                 retry: Callable[[Callable[[], tuple[str, float]]], tuple[str, float]],
                 on_date: Callable[[str | None], None] | None = None) -> None:
        self._url = token_url
        self._credentials = (client_id, client_secret)
        self._scope = scope
        self._post = post
        self._timeout = timeout
        self._retry = retry
        self._on_date = on_date  # the token answer's Date header tells the server's clock, free of the budget
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.fetched = 0  # token requests answered, for stats
        self.details = TokenDetails(None, None)

    def __repr__(self) -> str:
        state = "set" if self._token else "none"
        return f"TokenProvider({self._url}, client_id={self._credentials[0]!r}, token={state})"

    def token(self) -> str:
        current = self._token
        if current is not None and time.monotonic() < self._renew_at:
            return current
        with self._lock:
            if self._token is not None and time.monotonic() < self._renew_at:
                return self._token
            self._token = None
            value, lifetime = self._retry(self._fetch)
            self._token = value
            self._renew_at = time.monotonic() + lifetime - min(lifetime * RENEW_MARGIN, RENEW_MARGIN_MAX_S)
            return value

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> tuple[str, float]:
        path = TOKEN_PATH
        try:
            response = self._post(self._url, data={"grant_type": "client_credentials", "scope": self._scope},
                                  auth=self._credentials, timeout=self._timeout, allow_redirects=False)
        except requests.RequestException as err:
            text = str(err)
            hint = " (the host name does not resolve)" if any(
                m in text for m in ("NameResolution", "Name or service not known", "name resolution",
                                    "nodename nor servname")) else ""
            if isinstance(err, requests.exceptions.SSLError):  # nothing was sent: the handshake failed first
                hint = " (TLS: the server's certificate could not be verified; the kit never turns verification off)"
            raise TransientError(f"token request failed: {type(err).__name__}{hint}", method="POST",
                                 path=path) from None
        self.fetched += 1
        if self._on_date is not None:
            self._on_date(response.headers.get("Date"))
        status = response.status_code
        if status in (429, 500, 502, 503, 504):
            raise TransientError("token endpoint busy", method="POST", path=path, status=status)
        body = parse_json(response.text, None)  # text: decoded by requests' charset guess, as the server meant
        if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            error = str(body["error"]) if isinstance(body, dict) and body.get("error") is not None else None
            detail = body.get("error_description") if isinstance(body, dict) else None
            hint = {
                401: "check client_id and client_secret (the kit does not retry: Accelo locks out an address "
                     "after 100 failed logins)",
                400: "the token request was refused",
            }.get(status, "unexpected answer from the token endpoint; check deployment/base_url")
            if 300 <= status < 400:  # never followed: the credentials would go wherever Location points
                hint = "the token endpoint answered with a redirect, which the kit never follows; check " \
                       "deployment/base_url"
            retry_after = response.headers.get("Retry-After")
            if retry_after:
                hint += f"; locked out, retry after {retry_after} s"
            text = f"authentication failed: {hint}" + (f" ({detail})" if detail else "")
            raise AuthenticationError(text, method="POST", path=path, status=status, meta_status=error)
        expires_in = body.get("expires_in")
        sent_as: Literal["string", "number"] | None = (
            "string" if isinstance(expires_in, str) else
            "number" if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) else None)
        deployment = body.get("deployment")
        self.details = TokenDetails(None if deployment is None else str(deployment), sent_as)
        lifetime = _seconds(expires_in)
        log.debug("token obtained for deployment %s, lifetime %.0f s", self.details.deployment, lifetime)
        return str(body["access_token"]), lifetime


def _seconds(value: Any) -> float:
    """`expires_in` arrives as "2592000" or 2592000 (UNCONFIRMED); anything else means the documented default."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_LIFETIME_S
    return seconds if seconds > 0 else DEFAULT_LIFETIME_S
