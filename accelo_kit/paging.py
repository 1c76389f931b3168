"""Parallel keyset scans: every row of one or more resources under given filters, pages yielded as they arrive.

Never offset paging (rows changing mid-scan would shift pages and skip rows): each id range `(lo, hi]` is walked
with `id_greater_than(lo)` in Accelo's default ascending-id order, one page in flight per range. A scan starts as
one unbounded range; once its first page comes back full, its next request is the *top* page
(`order_by_desc(id)`), which bounds the range, and from then on idle threads split the busiest range in half
(work stealing). A range ends on a short page or when it reaches its bound, so nothing is fetched past the end
but at most one short page per range.

Every page carries `progress`: the ranges still pending once it (and every page yielded before it) is written,
a low-water mark a sync can checkpoint and hand back as `resume` after a crash.
"""

from __future__ import annotations

import enum
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .convert import Invalid, to_int
from .errors import RequestError

PAGE_SIZE = 100  # Accelo's maximum `_limit`
MIN_SPLIT_ROWS = 4 * PAGE_SIZE  # split only if each half keeps ~2 pages: every range ends on a part-filled page
RESERVED_FILTERS = ("id_greater_than", "id_less_than", "order_by_asc", "order_by_desc")

Fetch = Callable[[str, Mapping[str, str]], Any]  # (path, params) -> list of raw rows
Span = tuple[int, "int | None"]  # (lo exclusive, hi inclusive or None for unbounded)


@dataclass(frozen=True)
class ScanRequest:
    key: str  # names the scan in the pages it yields (usually the entity)
    path: str  # resource path under /api/v0
    fields: str = ""  # `_fields`
    filters: tuple[str, ...] = ()  # `_filters` entries; the scan adds its own id bounds and order
    resume: tuple[Span, ...] | None = None  # pending ranges from a checkpoint; None starts from the beginning

    def __post_init__(self) -> None:
        clash = [f for f in self.filters if f.startswith(RESERVED_FILTERS)]
        if clash:
            raise ValueError(f"filters {clash} would fight the keyset scan's own id bounds and order")


@dataclass(frozen=True)
class Page:
    key: str
    rows: list[dict[str, Any]]
    progress: tuple[Span, ...]  # ranges still pending after this page
    complete: bool  # the last page of its scan: nothing is pending


@dataclass(eq=False)
class _Range:
    lo: int
    hi: int | None
    busy: bool = False
    exhausted: bool = False

    @property
    def finished(self) -> bool:
        return self.exhausted or (self.hi is not None and self.lo >= self.hi)


@dataclass(eq=False)
class _Scan:
    request: ScanRequest
    ranges: list[_Range]
    probe_allowed: bool = False  # the unbounded range returned a full page: the top probe bounds it next
    probing: bool = False
    rows_seen: int = 0
    span_seen: int = 0

    def density(self) -> float:
        return self.rows_seen / self.span_seen if self.span_seen else 1.0

    def estimate(self, r: _Range) -> float:
        return float("inf") if r.hi is None else (r.hi - r.lo) * self.density()

    def progress(self) -> tuple[Span, ...]:
        return tuple((r.lo, r.hi) for r in self.ranges)


@dataclass(frozen=True)
class _Work:
    scan: _Scan
    target: _Range
    top: bool  # the top probe rather than the next page of `target`
    lo: int
    hi: int | None

    def params(self, limit: int) -> dict[str, str]:
        filters = [*self.scan.request.filters, f"id_greater_than({self.lo})"]
        if self.top:
            filters.append("order_by_desc(id)")
        elif self.hi is not None:
            filters.append(f"id_less_than_or_equal({self.hi})")
        params = {"_limit": str(limit), "_filters": ",".join(filters)}
        if self.scan.request.fields:
            params["_fields"] = self.scan.request.fields
        return params


class _Done(enum.Enum):
    """The marker the last worker puts after the last page: the scan is over."""

    DONE = "done"


_DONE = _Done.DONE


@dataclass
class KeysetScanner:
    """Runs scans through one pool of `threads` workers; the caller's thread consumes pages (converting and
    writing happen there, never in workers)."""

    fetch: Fetch
    threads: int = 8
    page_size: int = PAGE_SIZE
    max_buffered: int | None = None  # pages fetched but not yet consumed; default 2 × threads

    def scan(self, requests: Sequence[ScanRequest], on_idle: Callable[[], None] | None = None,
             idle_s: float = 0.25) -> Iterator[Page]:
        """Pages of every request, in arrival order. `on_idle` is called on the caller's thread whenever no page has
        come for `idle_s` (a wait for the rate window holds every worker): the caller keeps control without a thread
        of its own."""
        scans = [
            _Scan(r, [_Range(lo, hi) for lo, hi in (r.resume if r.resume is not None else ((0, None),))])
            for r in requests
        ]
        return _Run(self, scans, on_idle, idle_s).pages()


class _Run:
    """One `scan()` call: the shared schedule, its workers and the queue the caller reads."""

    def __init__(self, scanner: KeysetScanner, scans: list[_Scan], on_idle: Callable[[], None] | None,
                 idle_s: float) -> None:
        self.scanner = scanner
        self.scans = scans
        self.on_idle, self.idle_s = on_idle, idle_s
        self.cond = threading.Condition()
        self.out: queue.SimpleQueue[Page | _Done] = queue.SimpleQueue()
        self.slots = threading.Semaphore(scanner.max_buffered or 2 * scanner.threads)
        self.stopped = False
        self.error: BaseException | None = None
        self.live_workers = 0
        self.in_flight = 0

    # -- caller side ---------------------------------------------------------------------------------------
    def pages(self) -> Iterator[Page]:
        # scans with nothing pending (a resumed, finished scan) still report completion
        for scan in self.scans:
            self._drop_finished(scan)
        for scan in [s for s in self.scans if not s.ranges]:
            self.scans.remove(scan)
            yield Page(scan.request.key, [], (), True)
        if not self.scans:
            return
        workers = [threading.Thread(target=self._work, name=f"accelo-scan-{i}", daemon=True)
                   for i in range(self.scanner.threads)]
        self.live_workers = len(workers)
        for worker in workers:
            worker.start()
        try:
            while True:
                item = self._next_out()
                if item is _DONE:
                    break
                self.slots.release()
                yield item
            if self.error is not None:
                raise self.error
        finally:
            with self.cond:
                self.stopped = True
                self.cond.notify_all()
            for _ in workers:  # wake anyone waiting for a buffer slot
                self.slots.release()

    def _next_out(self) -> Page | _Done:
        if self.on_idle is None:
            return self.out.get()
        while True:
            try:
                return self.out.get(timeout=self.idle_s)
            except queue.Empty:
                self.on_idle()

    # -- workers -------------------------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            while True:
                self.slots.acquire()
                work = self._next()
                if work is None:
                    self.slots.release()
                    return
                try:
                    rows = self.scanner.fetch(work.scan.request.path, work.params(self.scanner.page_size))
                    if not isinstance(rows, list):
                        raise TypeError(f"expected a list of rows from {work.scan.request.path}, got "
                                        f"{type(rows).__name__}")
                    # checked here, inside the try: a bad row must end the scan with its error, not kill this
                    # worker while the others wait forever for its page
                    ids = [_id(row, work.scan.request.path) for row in rows]
                except BaseException as err:
                    with self.cond:
                        if self.error is None:
                            self.error = err
                        self.stopped = True
                        self.in_flight -= 1
                        self.cond.notify_all()
                    self.slots.release()
                    return
                self._finish(work, rows, ids)
        finally:
            with self.cond:
                self.live_workers -= 1
                if self.live_workers == 0:
                    self.out.put(_DONE)

    def _next(self) -> _Work | None:
        """The most useful work now, waiting while there is none but some may appear."""
        with self.cond:
            while True:
                if self.stopped:
                    return None
                work = self._pick()
                if work is not None:
                    self.in_flight += 1
                    return work
                if self.in_flight == 0:
                    self.stopped = True  # nothing running and nothing to do: all scans are complete
                    self.cond.notify_all()
                    return None
                self.cond.wait()

    def _pick(self) -> _Work | None:
        # once an unbounded range has returned a full page, its next request is the top probe: a table of up to
        # 200 rows then costs two requests, and a bigger one gets its bound before any thread walks on blindly
        idle = [(s.estimate(r), s, r) for s in self.scans for r in s.ranges
                if not r.busy and not r.finished and not (r.hi is None and s.probe_allowed)]
        if idle:
            _, scan, target = max(idle, key=lambda x: x[0])
            target.busy = True
            return _Work(scan, target, False, target.lo, target.hi)
        for scan in self.scans:
            unbounded = next((r for r in scan.ranges if r.hi is None), None)
            if unbounded is not None and scan.probe_allowed and not scan.probing:
                scan.probing = True
                return _Work(scan, unbounded, True, unbounded.lo, None)
        busy = [(s.estimate(r), s, r) for s in self.scans for r in s.ranges if r.busy and r.hi is not None]
        if busy:
            estimate, scan, victim = max(busy, key=lambda x: x[0])
            if estimate >= MIN_SPLIT_ROWS and victim.hi is not None and victim.hi - victim.lo >= 2:
                middle = (victim.lo + victim.hi) // 2
                thief = _Range(middle, victim.hi, busy=True)
                victim.hi = middle
                scan.ranges.append(thief)
                scan.ranges.sort(key=lambda r: r.lo)
                return _Work(scan, thief, False, thief.lo, thief.hi)
        return None

    def _finish(self, work: _Work, rows: list[dict[str, Any]], ids: list[int]) -> None:
        """Account for a fetched page and hand it on, atomically, so queue order matches progress order."""
        scan, target, limit = work.scan, work.target, self.scanner.page_size
        with self.cond:
            self.in_flight -= 1
            if work.top:
                scan.probing = False
                bottom = min(ids) if len(rows) == limit else None
                keep = [row for row, i in zip(rows, ids, strict=True) if i > target.lo]
                keep.reverse()  # ascending, like every other page
                target.hi = max(target.lo, bottom - 1) if bottom is not None else target.lo
            else:
                target.busy = False
                hi = target.hi
                keep = [row for row, i in zip(rows, ids, strict=True) if hi is None or i <= hi]
                if ids:
                    target.lo = max(target.lo, ids[-1])  # a top probe must not repeat what this page gave
                if len(rows) < limit:
                    target.exhausted = True
                    scan.span_seen += (hi if hi is not None else target.lo) - work.lo
                else:
                    scan.span_seen += ids[-1] - work.lo
                    if target.hi is None:
                        scan.probe_allowed = True
                scan.rows_seen += len(rows)
            self._drop_finished(scan)
            complete = not scan.ranges and not scan.probing
            self.out.put(Page(scan.request.key, keep, scan.progress(), complete))
            if complete:
                self.scans.remove(scan)
            self.cond.notify_all()

    @staticmethod
    def _drop_finished(scan: _Scan) -> None:
        scan.ranges = [r for r in scan.ranges if r.busy or not r.finished]


def _id(row: Any, path: str) -> int:
    """A row's id, by the converters' rules (ASCII digits or a JSON integer within 64 bits, above 0): never what
    Python's int() would also take (True, 1.5, Arabic-Indic digits), which would page on a guessed number."""
    try:
        value = to_int(row.get("id")) if isinstance(row, Mapping) else None
    except Invalid:
        value = None
    if value is None or value <= 0:
        raise RequestError(f"a row without a usable id: {row!r:.200}", method="GET", path=f"/{path}")
    return value
