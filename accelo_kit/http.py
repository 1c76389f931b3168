"""One GET against the API, done properly: budget, token, timeout, and every answer sorted in one place into data,
a retriable failure or a fatal one (contract.md, Errors). Nothing here knows about entities or paging."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .auth import TokenProvider
from .budget import RateBudget
from .errors import (
    AcceloError,
    AuthenticationError,
    PermissionDenied,
    RequestError,
    RetriesExhausted,
    TransientError,
)
from .retry import RetryPolicy
from .servertime import ServerClock

log = logging.getLogger(__name__)
RETRIABLE_STATUS = frozenset({500, 502, 503, 504})
MAX_THROTTLED = 50  # 429s one request may wait out before the run gives up (each waits for a window reset)
# the most one answer may hold: an Accelo page is at most 100 rows (~1 MiB with long comments), so this is ample for
# any real answer and keeps a hostile one from exhausting memory
MAX_BODY_BYTES = 32 * 2**20
USER_AGENT = "accelo-kit"


@dataclass(frozen=True)
class Unauthorized:
    message: str


@dataclass(frozen=True)
class Throttled:
    message: str


Outcome = Any  # the `response` payload, or one of the markers above; errors are raised


def classify(method: str, path: str, status: int, body: bytes, content_type: str) -> Outcome:
    """Sort one complete answer. Returns the payload, Unauthorized or Throttled; raises TransientError or a
    fatal AcceloError. A truncated body never gets here: reading it raised in the transport already."""
    where = {"method": method, "path": path, "status": status}
    parsed = _parse_json(body)
    meta = parsed.get("meta") if isinstance(parsed, dict) and isinstance(parsed.get("meta"), dict) else None
    meta_status = str(meta.get("status")) if meta else None
    message = str(meta.get("message") or "") if meta else ""
    if status == 200:
        if parsed is _NOT_JSON:
            raise TransientError(f"HTTP 200 with a body that is not JSON ({_describe(body, content_type)})", **where)
        if meta is None:
            raise RequestError("HTTP 200 without Accelo's envelope (no meta); is base_url an Accelo API?", **where)
        if meta_status != "ok":
            raise RequestError(f"Accelo answered meta.status {meta_status!r} on HTTP 200: {message}",
                               meta_status=meta_status, **where)
        return parsed.get("response")
    if status == 401:
        return Unauthorized(message or "401 invalid_client")
    if status == 429:
        return Throttled(message or "rate limit exceeded")
    if status in RETRIABLE_STATUS:
        raise TransientError(f"server error: {message or _describe(body, content_type)}", meta_status=meta_status,
                             **where)
    if 300 <= status < 400:
        raise RequestError("unexpected redirect: check deployment/base_url", **where)
    if parsed is _NOT_JSON or meta is None:
        raise RequestError(f"answer is not Accelo's JSON ({_describe(body, content_type)}); "
                           "check deployment/base_url", **where)
    error_class = PermissionDenied if status == 403 else RequestError
    raise error_class(f"Accelo refused the request: {message}", meta_status=meta_status, **where)


_NOT_JSON = object()


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: arrays nested beyond the parser
        return _NOT_JSON


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


def _read_body(response: requests.Response) -> bytes:
    """The whole body of a streamed response, refusing past MAX_BODY_BYTES (by its Content-Length at once, or as it
    arrives), so a hostile or misdirected server cannot exhaust memory. A truncated body raises as `.content` does:
    `.content` is this same iteration."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge(int(declared))
    chunks, size = [], 0
    for chunk in response.iter_content(1 << 16):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(err: _TooLarge, path: str, status: int | None) -> RequestError:
    return RequestError(f"the answer is larger than {MAX_BODY_BYTES >> 20} MiB ({err.size:,} bytes): not an Accelo "
                        "page (one holds at most 100 rows); check deployment/base_url", method="GET", path=path,
                        status=status)


def _describe(body: bytes, content_type: str) -> str:
    kind = (content_type or "no content type").split(";")[0]
    return f"{kind}, {len(body)} bytes"


class Transport:
    """GETs under the shared budget and token, with retries. One requests.Session per thread."""

    def __init__(self, api_root: str, tokens: TokenProvider, budget: RateBudget, clock: ServerClock,
                 policy: RetryPolicy, timeout: float, pool_size: int) -> None:
        self.api_root = api_root
        self.tokens = tokens
        self.budget = budget
        self.clock = clock
        self.policy = policy
        self.timeout = (min(10.0, timeout), timeout)
        self.pool_size = pool_size
        self._in_flight = threading.BoundedSemaphore(pool_size)  # requests in flight never exceed `threads`
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxies or netrc credentials picked up from the environment
            session.headers["User-Agent"] = USER_AGENT
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        """For the token endpoint, which does not count against the budget."""
        return self.session().post(url, **kwargs)

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The `response` of GET {api_root}/{path}, after every retry the rules allow."""
        path = "/" + path.lstrip("/")
        backoff = self.policy.attempts()
        reauthenticated = False
        throttled = 0
        while True:
            token = self.tokens.token()
            try:
                with self._in_flight:
                    outcome = self._attempt(path, params, token)
            except TransientError as err:
                backoff.failed(err)  # sleeps, or raises RetriesExhausted
                self.budget.count_retry()
                continue
            if isinstance(outcome, Unauthorized):
                if reauthenticated:
                    raise AuthenticationError(
                        "a freshly issued token was refused too (revoked, locked out or IP-restricted)",
                        method="GET", path=path, status=401, meta_status="invalid_client")
                reauthenticated = True
                self.tokens.invalidate(token)
                self.budget.count_retry()
                continue
            if isinstance(outcome, Throttled):
                throttled += 1
                if throttled > MAX_THROTTLED:
                    raise RetriesExhausted(f"still rate limited after waiting out {MAX_THROTTLED} windows",
                                           method="GET", path=path, status=429, meta_status="too_many_requests")
                self.budget.count_retry()
                continue  # the budget now holds every thread until the window resets
            return outcome

    def probe(self, path: str, params: Mapping[str, str] | None = None) -> tuple[int, str, bytes]:
        """One request under the budget and token, answered raw: (status, content type, body). For `accelo-kit
        check`, which wants to see how the server answers, not to have the answer sorted. A 401 re-authenticates
        once; nothing else is retried."""
        path = "/" + path.lstrip("/")
        for attempt in range(2):
            token = self.tokens.token()
            self.budget.acquire()
            headers: Mapping[str, str] | None = None
            status: int | None = None
            try:
                response = self.session().get(self.api_root + path, params=params, timeout=self.timeout,
                                              headers={"Authorization": f"Bearer {token}"}, allow_redirects=False,
                                              stream=True)
                headers, status = response.headers, response.status_code
                self.clock.observe(response.headers.get("Date"))
                with response:
                    body = _read_body(response)
            except requests.RequestException as err:
                raise RequestError(f"{_kind(err)}: {err.__class__.__name__}", method="GET", path=path) from None
            except _TooLarge as err:
                raise _too_large(err, path, status) from None
            finally:
                self.budget.release(headers, status)
            if response.status_code == 401 and attempt == 0:
                self.tokens.invalidate(token)
                continue
            return response.status_code, response.headers.get("Content-Type", ""), body
        raise AuthenticationError("a freshly issued token was refused", method="GET", path=path, status=401)

    def _attempt(self, path: str, params: Mapping[str, str] | None, token: str) -> Outcome:
        self.budget.acquire()
        headers: Mapping[str, str] | None = None
        status: int | None = None
        started = time.monotonic()
        try:
            response = self.session().get(self.api_root + path, params=params, timeout=self.timeout,
                                          headers={"Authorization": f"Bearer {token}"}, allow_redirects=False,
                                          stream=True)
            headers, status = response.headers, response.status_code
            self.clock.observe(response.headers.get("Date"))
            with response:
                body = _read_body(response)  # reads it all: a truncated body raises here
        except _TooLarge as err:
            raise _too_large(err, path, status) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as err:
            raise RequestError(f"invalid URL: {err}", method="GET", path=path) from None
        except requests.RequestException as err:
            raise TransientError(f"{_kind(err)} after {time.monotonic() - started:.1f} s", method="GET", path=path,
                                 status=status) from None
        finally:
            self.budget.release(headers, status)
        log.debug("GET %s %s -> %s in %.3f s", path, dict(params or {}), status, time.monotonic() - started)
        return classify("GET", path, response.status_code, body, response.headers.get("Content-Type", ""))


def _kind(err: requests.RequestException) -> str:
    if isinstance(err, requests.Timeout):
        return "timed out"
    if isinstance(err, requests.exceptions.ChunkedEncodingError):
        return "body cut off"
    if isinstance(err, requests.exceptions.SSLError):
        return "TLS failed (certificate not verified?)"
    if isinstance(err, requests.ConnectionError):
        return "connection failed"
    return type(err).__name__


__all__ = ["AcceloError", "Transport", "classify"]
