"""`AcceloClient`: the kit's small public surface over config, auth, budget, transport, pager and converters.

    from accelo_kit import AcceloClient, Settings
    with AcceloClient(Settings.load("configuration.json")) as client:
        for company in client.iter_records("companies", filters=["standing(active)"]):
            print(company["id"], company["name"], company["date_modified"])
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import requests

from .auth import TokenProvider
from .budget import BudgetStats, RateBudget
from .config import Settings
from .convert import RowConverter
from .entities import Entity, entity
from .errors import RequestError
from .http import Transport
from .paging import KeysetScanner, Page, ScanRequest, Span
from .retry import RetryPolicy
from .servertime import ServerClock

log = logging.getLogger(__name__)


class AcceloClient:
    """Thread-safe; one per deployment per process, so every thread shares one budget and one token."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = ServerClock()
        self.budget = RateBudget(self.clock, settings.budget_reserve, max_wait_s=settings.max_rate_wait)
        self.policy = RetryPolicy(max_attempts=settings.max_attempts, max_wait_s=settings.max_retry_wait)
        self._token_session = requests.Session()
        self._token_session.trust_env = False
        self.tokens = TokenProvider(settings.token_url, settings.client_id, settings.client_secret, settings.scope,
                                    post=self._token_session.post, timeout=settings.request_timeout,
                                    retry=self.policy.run, on_date=self.clock.observe)
        self.transport = Transport(settings.api_root, self.tokens, self.budget, self.clock, self.policy,
                                   settings.request_timeout, settings.threads)
        self.scanner = KeysetScanner(self._fetch_rows, threads=settings.threads)
        self._converters: dict[str, RowConverter] = {}

    def __repr__(self) -> str:
        return f"AcceloClient({self.settings.target}, threads={self.settings.threads})"

    def __enter__(self) -> AcceloClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()
        self._token_session.close()

    # -- plain calls ---------------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The `response` of any GET under /api/v0, with the budget, retries and re-authentication applied."""
        return self.transport.get(path, params)

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
        if not self.clock.known:
            self.tokens.token()
        if not self.clock.known:
            self.get("tokeninfo")
        return self.clock.now()

    # -- scans ---------------------------------------------------------------------------------------------
    def scan_request(self, name: str, filters: Iterable[str] = (), fields: Sequence[str] | None = None,
                     resume: Sequence[Span] | None = None, key: str | None = None) -> ScanRequest:
        spec = entity(name)
        return ScanRequest(key=key or spec.name, path=spec.name,
                           fields=",".join(fields) if fields is not None else spec.fields_param,
                           filters=tuple(filters), resume=tuple(resume) if resume is not None else None)

    def scan(self, requests_: Sequence[ScanRequest]) -> Iterator[Page]:
        """Several scans through one pool of `threads` workers, pages in arrival order (raw wire rows)."""
        return self.scanner.scan(requests_)

    def iter_pages(self, name: str, filters: Iterable[str] = (), fields: Sequence[str] | None = None) -> Iterator[Page]:
        """Raw pages of one entity, as they arrive."""
        return self.scan([self.scan_request(name, filters, fields)])

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

    def stats(self) -> BudgetStats:
        return self.budget.stats()

    def _fetch_rows(self, path: str, params: Mapping[str, str]) -> Any:
        rows = self.transport.get(path, params)
        if not isinstance(rows, list):
            raise RequestError(f"expected a list from {path}, got {type(rows).__name__}", method="GET",
                               path=f"/{path}")
        limit = params.get("_limit", "")
        if limit.isdigit() and len(rows) > int(limit):  # the pager reads "more than asked" as "the whole range"
            raise RequestError(f"{len(rows)} rows where at most {limit} were asked for: not an Accelo page",
                               method="GET", path=f"/{path}")
        return rows
