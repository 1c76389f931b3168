"""One GET against the API, done properly: budget, token, timeout, and every answer sorted in one place into data,
a retriable failure or a fatal one (docs/accelo-api.md, Envelope and errors). Nothing here knows about entities or
paging."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import requests
from requests.adapters import HTTPAdapter

from .auth import TokenProvider, parse_json
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
RequestListener = Callable[[str, str, int | None], None]  # (method, path, HTTP status or None) once per request
RetryListener = Callable[[str, int, str], None]  # (path, failed attempts so far, reason) before the next attempt


@dataclass(frozen=True)
class Answer:
    """An answer Accelo accepted: its `response` payload (any JSON value)."""

    payload: Any


@dataclass(frozen=True)
class Unauthorized:
    message: str


@dataclass(frozen=True)
class Throttled:
    message: str


Outcome: TypeAlias = Answer | Unauthorized | Throttled  # errors are raised


@dataclass(frozen=True)
class Probe:
    """One answer as the server sent it, unsorted (for `accelo-kit check`)."""

    status: int
    content_type: str
    body: bytes


class _NotJson(enum.Enum):
    NOT_JSON = enum.auto()


_NOT_JSON: Final = _NotJson.NOT_JSON


def classify(method: str, path: str, status: int, body: bytes, content_type: str) -> Outcome:
    """Sort one complete answer into Answer, Unauthorized or Throttled; raises TransientError or a fatal
    AcceloError. A truncated body never gets here: reading it raised in the transport already."""
    where: dict[str, Any] = {"method": method, "path": path, "status": status}
    parsed = parse_json(body, _NOT_JSON)
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
        return Answer(parsed.get("response"))
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
    chunks: list[bytes] = []
    size = 0
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
                 policy: RetryPolicy, timeout: float, pool_size: int, on_request: RequestListener | None = None,
                 on_retry: RetryListener | None = None) -> None:
        self.api_root = api_root
        self._tokens = tokens
        self._budget = budget
        self._clock = clock
        self._policy = policy
        self._on_request = on_request
        self._on_retry = on_retry
        self.timeout = (min(10.0, timeout), timeout)
        self.pool_size = pool_size
        self._in_flight = threading.BoundedSemaphore(pool_size)  # requests in flight never exceed `threads`
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def session(self) -> requests.Session:
        """This thread's session: created on first use, never trusting the environment."""
        session: requests.Session | None = getattr(self._local, "session", None)
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

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The `response` of GET {api_root}/{path}, after every retry the rules allow."""
        path = "/" + path.lstrip("/")
        backoff = self._policy.attempts()
        reauthenticated = False
        throttled = attempts = 0
        while True:
            token = self._tokens.token()
            attempts += 1
            try:
                sent = self._send(path, params, token, retriable=True)
                outcome = classify("GET", path, sent.status, sent.body, sent.content_type)
            except TransientError as err:
                backoff.failed(err)  # sleeps, or raises RetriesExhausted
                self._retrying(path, attempts, err.detail)
                continue
            if isinstance(outcome, Unauthorized):
                if reauthenticated:
                    raise AuthenticationError(
                        "a freshly issued token was refused too (revoked, locked out or IP-restricted)",
                        method="GET", path=path, status=401, meta_status="invalid_client")
                reauthenticated = True
                self._tokens.invalidate(token)
                self._retrying(path, attempts, f"token refused: {outcome.message}")
                continue
            if isinstance(outcome, Throttled):
                throttled += 1
                if throttled > MAX_THROTTLED:
                    raise RetriesExhausted(f"still rate limited after waiting out {MAX_THROTTLED} windows",
                                           method="GET", path=path, status=429, meta_status="too_many_requests")
                self._retrying(path, attempts, f"rate limited: {outcome.message}")
                continue  # the budget now holds every thread until the window resets
            return outcome.payload

    def probe(self, path: str, params: Mapping[str, str] | None = None) -> Probe:
        """One request under the budget and token, answered raw. For `accelo-kit check`, which wants to see how the
        server answers, not to have the answer sorted. A 401 re-authenticates once; nothing else is retried."""
        path = "/" + path.lstrip("/")
        for attempt in range(2):
            token = self._tokens.token()
            answer = self._send(path, params, token, retriable=False)
            if answer.status == 401 and attempt == 0:
                self._tokens.invalidate(token)
                continue
            return answer
        raise AuthenticationError("a freshly issued token was refused", method="GET", path=path, status=401)

    def _retrying(self, path: str, attempts: int, reason: str) -> None:
        self._budget.count_retry()
        if self._on_retry is not None:
            self._on_retry(path, attempts, reason)

    def _send(self, path: str, params: Mapping[str, str] | None, token: str, *, retriable: bool) -> Probe:
        """One GET under the budget, its body read whole (a truncated body raises here). A failure to get an
        answer raises TransientError when `retriable`, else RequestError."""
        with self._in_flight:
            self._budget.acquire()
            headers: Mapping[str, str] | None = None
            status: int | None = None
            started = time.monotonic()
            try:
                response = self.session().get(self.api_root + path, params=params, timeout=self.timeout,
                                              headers={"Authorization": f"Bearer {token}"}, allow_redirects=False,
                                              stream=True)
                headers, status = response.headers, response.status_code
                self._clock.observe(response.headers.get("Date"))
                with response:
                    body = _read_body(response)
            except _TooLarge as err:
                raise _too_large(err, path, status) from None
            except requests.RequestException as err:
                raise _failed(err, path, status, time.monotonic() - started, retriable) from None
            finally:
                self._budget.release(headers, status)
                if self._on_request is not None:
                    self._on_request("GET", path, status)
        log.debug("GET %s %s -> %s in %.3f s", path, dict(params or {}), status, time.monotonic() - started)
        return Probe(response.status_code, response.headers.get("Content-Type", ""), body)


def _failed(err: requests.RequestException, path: str, status: int | None, elapsed: float,
            retriable: bool) -> AcceloError:
    if not retriable:
        return RequestError(f"{_kind(err)}: {err.__class__.__name__}", method="GET", path=path)
    if isinstance(err, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return RequestError(f"invalid URL: {err}", method="GET", path=path)
    return TransientError(f"{_kind(err)} after {elapsed:.1f} s", method="GET", path=path, status=status)


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


__all__ = ["AcceloError", "Answer", "Outcome", "Probe", "Throttled", "Transport", "Unauthorized", "classify"]
