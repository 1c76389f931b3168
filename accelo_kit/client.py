"""`AcceloClient`: the kit's public surface over config, auth, budget, transport, pager and converters.

    from accelo_kit import AcceloClient, Settings
    with AcceloClient(Settings.load("configuration.json")) as client:
        for company in client.iter_records("companies", filters=["standing(active)"]):
            print(company["id"], company["name"], company["date_modified"])

Everything a caller needs is a method here or a hook passed at construction (`event_hooks`) or added later
(`add_hook`); the budget, transport, tokens and clock behind it are private, so they can change freely.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from .auth import TOKEN_PATH, TokenDetails, TokenProvider
from .budget import BudgetStats, RateBudget
from .config import Settings
from .convert import RowConverter
from .entities import Entity, entity
from .errors import RequestError, TransientError
from .http import Probe, Transport
from .paging import KeysetScanner, Page, ScanRequest, Span
from .retry import RetryPolicy
from .servertime import ServerClock

log = logging.getLogger(__name__)
Hook = Callable[..., None]
# event → what each hook is called with (positionally):
#   "wait":    (seconds: float, reason: str), before a request waits longer than half a second for the rate window
#   "request": (method: str, path: str, status: int | None), once per request sent (None: no answer)
#   "retry":   (path: str, attempt: int, reason: str), after a retriable failure of attempt number `attempt`,
#              just before the next attempt
EVENTS = ("wait", "request", "retry")
__all__ = ["EVENTS", "AcceloClient", "ClientStats", "Hook", "Probe", "TokenDetails"]


@dataclass(frozen=True)
class ClientStats(BudgetStats):
    """The budget's counts plus the client's own."""

    tokens_fetched: int = 0  # token requests answered (they do not count against the budget)


class AcceloClient:
    """Thread-safe; one per deployment per process, so every thread shares one budget and one token.

    Hooks run on the thread that sends the request (a scan's worker; "wait" while the budget is held), so they should
    be quick and must not send requests themselves; an exception in a hook propagates to that request's caller."""

    def __init__(self, settings: Settings, *, event_hooks: Mapping[str, Sequence[Hook]] | None = None) -> None:
        self.settings = settings
        self._hooks_lock = threading.Lock()
        self._hooks: dict[str, tuple[tuple[object, Hook], ...]] = {event: () for event in EVENTS}
        for event, hooks in (event_hooks or {}).items():
            for hook in hooks:
                self.add_hook(event, hook)
        self._clock = ServerClock()
        self._budget = RateBudget(self._clock, settings.budget_reserve, max_wait_s=settings.max_rate_wait,
                                  on_wait=self._emit_wait, policy=settings.budget_policy,
                                  window_s=settings.rate_window_seconds)
        self._policy = RetryPolicy(max_attempts=settings.max_attempts, max_wait_s=settings.max_retry_wait)
        self._token_session = requests.Session()
        self._token_session.trust_env = False
        self._tokens = TokenProvider(settings.token_url, settings.client_id, settings.client_secret, settings.scope,
                                     post=self._post_token, timeout=settings.request_timeout,
                                     retry=self._retry_token, on_date=self._clock.observe)
        self._transport = Transport(settings.api_root, self._tokens, self._budget, self._clock, self._policy,
                                    settings.request_timeout, settings.threads, on_request=self._emit_request,
                                    on_retry=self._emit_retry)
        self._scanner = KeysetScanner(self._fetch_rows, threads=settings.threads)
        self._converters: dict[str, RowConverter] = {}

    def __repr__(self) -> str:
        return f"AcceloClient({self.settings.target}, threads={self.settings.threads})"

    def __enter__(self) -> AcceloClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()
        self._token_session.close()

    # -- hooks ---------------------------------------------------------------------------------------------
    def add_hook(self, event: str, hook: Hook) -> Callable[[], None]:
        """Call `hook` on every `event` ("wait", "request" or "retry"; see EVENTS for the arguments) from now on.
        Returns a function that removes it again (safe to call twice), for a caller handed a built client."""
        if event not in self._hooks:
            raise ValueError(f"unknown event {event!r}: expected one of {', '.join(EVENTS)}")
        key = object()
        with self._hooks_lock:
            self._hooks[event] += ((key, hook),)

        def remove() -> None:
            with self._hooks_lock:
                self._hooks[event] = tuple(entry for entry in self._hooks[event] if entry[0] is not key)

        return remove

    def _emit(self, event: str, *args: object) -> None:
        for _, hook in self._hooks[event]:  # a snapshot: adding or removing meanwhile is safe
            hook(*args)

    def _emit_wait(self, seconds: float, reason: str) -> None:
        self._emit("wait", seconds, reason)

    def _emit_request(self, method: str, path: str, status: int | None) -> None:
        self._emit("request", method, path, status)

    def _emit_retry(self, path: str, attempt: int, reason: str) -> None:
        self._emit("retry", path, attempt, reason)

    def _post_token(self, url: str, **kwargs: Any) -> requests.Response:
        status: int | None = None
        try:
            response = self._token_session.post(url, **kwargs)
            status = response.status_code
            return response
        finally:
            self._emit_request("POST", TOKEN_PATH, status)

    def _retry_token(self, fetch: Callable[[], tuple[str, float]]) -> tuple[str, float]:
        def retrying(failures: int, err: TransientError) -> None:
            self._emit_retry(TOKEN_PATH, failures, err.detail)

        return self._policy.run(fetch, on_retry=retrying)

    # -- plain calls ---------------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The `response` of any GET under /api/v0, with the budget, retries and re-authentication applied."""
        return self._transport.get(path, params)

    def probe(self, path: str, params: Mapping[str, str] | None = None) -> Probe:
        """One GET under the budget, answered raw (status, content type, body) and never retried (a 401
        re-authenticates once): for `accelo-kit check`, which wants to see how the server answers."""
        return self._transport.probe(path, params)

    def count(self, name: str, filters: Iterable[str] = ()) -> int:
        """Rows matching `filters` (one request). Accelo sends the count as a string or a number."""
        joined = ",".join(filters)
        answer = self.get(f"{entity(name).name}/count", {"_filters": joined} if joined else {})
        raw = answer.get("count") if isinstance(answer, dict) else None
        try:
            return int(str(raw))
        except ValueError:
            raise RequestError(f"count of {name} is not a number: {raw!r}", method="GET",
                               path=f"/{name}/count") from None

    def server_time(self) -> float:
        """The server's clock now, from the Date of the token answer (free: /oauth2 is not rate limited) or of
        any API answer; a `tokeninfo` request (one request) only if neither carried one."""
        if not self._clock.known:
            self._tokens.token()
        if not self._clock.known:
            self.get("tokeninfo")
        return self._clock.now()

    def server_now(self) -> float:
        """The server's clock now as far as the answers so far tell (the local clock until one did); never a
        request."""
        return self._clock.now()

    def token_details(self) -> TokenDetails:
        """What the token answer said besides the token (deployment, how `expires_in` was sent); fetches a
        token if none is held (free of the budget)."""
        self._tokens.token()
        return self._tokens.details

    # -- scans ---------------------------------------------------------------------------------------------
    def scan_request(self, name: str, filters: Iterable[str] = (), fields: Sequence[str] | None = None,
                     resume: Sequence[Span] | None = None, key: str | None = None) -> ScanRequest:
        spec = entity(name)
        return ScanRequest(key=key or spec.name, path=spec.name,
                           fields=",".join(fields) if fields is not None else spec.fields_param,
                           filters=tuple(filters), resume=tuple(resume) if resume is not None else None)

    def scan(self, requests_: Sequence[ScanRequest], on_idle: Callable[[], None] | None = None,
             idle_s: float = 0.25) -> Iterator[Page]:
        """Several scans through one pool of `threads` workers, pages in arrival order (raw wire rows).
        `on_idle` runs on the consuming thread whenever no page came for `idle_s` seconds."""
        return self._scanner.scan(requests_, on_idle, idle_s)

    def iter_pages(self, name: str, filters: Iterable[str] = (), fields: Sequence[str] | None = None,
                   on_idle: Callable[[], None] | None = None, idle_s: float = 0.25) -> Iterator[Page]:
        """Raw pages of one entity, as they arrive (`on_idle` as in `scan`)."""
        return self.scan([self.scan_request(name, filters, fields)], on_idle, idle_s)

    def iter_records(self, name: str, filters: Iterable[str] = (),
                     fields: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """Converted rows of one entity (int, Decimal, aware datetime, bool, str; bad values → None, counted)."""
        convert = self.converter(name)
        for page in self.iter_pages(name, filters, fields):
            for row in page.rows:
                yield convert(row)
        if convert.problems:
            log.warning(convert.summary())

    def converter(self, name: str) -> RowConverter:
        if name not in self._converters:
            spec: Entity = entity(name)
            self._converters[name] = RowConverter(spec.name, spec.column_types())
        return self._converters[name]

    def expect_requests(self, requests: int | None) -> None:
        """Say how many requests the work about to start will take (None: unknown). Under the adaptive budget
        policy, work that fits in what the rate window allows goes at full speed, and more is spread over it."""
        self._budget.expect(requests)

    def stats(self) -> ClientStats:
        """Requests, retries, waits and what is known of the rate window, plus tokens fetched."""
        budget = self._budget.stats()
        return ClientStats(**{**vars(budget), "tokens_fetched": self._tokens.fetched})

    def _fetch_rows(self, path: str, params: Mapping[str, str]) -> Any:
        rows = self._transport.get(path, params)
        if not isinstance(rows, list):
            raise RequestError(f"expected a list from {path}, got {type(rows).__name__}", method="GET",
                               path=f"/{path}")
        limit = params.get("_limit", "")
        if limit.isdigit() and len(rows) > int(limit):  # the pager reads "more than asked" as "the whole range"
            raise RequestError(f"{len(rows)} rows where at most {limit} were asked for: not an Accelo page",
                               method="GET", path=f"/{path}")
        return rows
