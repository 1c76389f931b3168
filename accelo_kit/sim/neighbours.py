"""Other integrations on the same deployment: background requests that spend the client's rate window (steady, bursts,
starting or stopping mid-sync), refused with 429 as a client would be, and logged under their own names.

Text form (the `neighbours` setting, `--set neighbours=...`), comma-separated, one neighbour each:

    [NAME=]steady:RATE[/OPTION...]         RATE requests a second, evenly spaced
    [NAME=]burst:N/Ss[/OPTION...]          N requests spread evenly over S seconds, once (or `everyPs`)

OPTIONs: `everyPs` (a burst repeats every P seconds), `fromTs` (starts T seconds after the simulator, or after the
call that adds it), `untilTs` (stops T seconds after that same moment). Default names: `steady-1`, `burst-2`, ... by
position. Example: `steady:2.5,acct=burst:30/3s/every60s/from10s`.

The requests are not sent over HTTP: a background thread takes them from the rate limiter directly at their due
times on the simulator's clock, so the schedule is deterministic (no randomness) and costs nothing when no neighbour
is configured (the thread starts with the first neighbour).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .log import LogEntry, RequestLog
from .ratelimit import RateLimiter

NeighbourKind = Literal["steady", "burst"]

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_ITEM = re.compile(r"^(?:(?P<name>[A-Za-z0-9_.-]+)=)?(?:steady:(?P<rate>" + _NUMBER[1:-1] + r")"
                   r"|burst:(?P<count>\d+)/(?P<within>" + _NUMBER[1:-1] + r")s?)(?P<options>(?:/[a-z]+[0-9.]+s?)*)$")
_OPTION = re.compile(r"^(every|from|until)" + _NUMBER + r"s?$")


@dataclass(frozen=True)
class NeighbourSpec:
    """One background integration's schedule. Times are seconds relative to when it is started."""

    kind: NeighbourKind
    rate: float = 0.0  # steady: requests a second
    count: int = 0  # burst: requests in one burst
    within_s: float = 0.0  # burst: spread over this many seconds
    every_s: float | None = None  # burst: repeat period (None: once)
    from_s: float = 0.0  # first request this long after the start
    until_s: float | None = None  # no request from this long after the start
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind == "steady" and not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"a steady neighbour needs a positive rate, got {self.rate!r}")
        if self.kind == "burst":
            if self.count < 1 or self.within_s < 0:
                raise ValueError("a burst needs at least one request and a duration >= 0")
            if self.every_s is not None and self.every_s <= 0:
                raise ValueError("a burst's period must be positive")
        if self.kind not in ("steady", "burst"):
            raise ValueError(f"unknown neighbour kind {self.kind!r} (steady or burst)")
        if self.from_s < 0 or (self.until_s is not None and self.until_s < self.from_s):
            raise ValueError("a neighbour's from must be >= 0 and its until >= its from")

    def due(self, k: int) -> float | None:
        """Seconds after the start at which request `k` (0-based) is due; None once the schedule has no more."""
        if self.kind == "steady":
            offset = k / self.rate
        else:
            cycle, i = divmod(k, self.count)
            if cycle and self.every_s is None:
                return None
            offset = cycle * (self.every_s or 0.0) + i * self.within_s / self.count
        at = self.from_s + offset
        return None if self.until_s is not None and at >= self.until_s else at

    def text(self) -> str:
        """The compact text form (what `parse_neighbours` reads)."""
        head = f"steady:{self.rate:g}" if self.kind == "steady" else f"burst:{self.count}/{self.within_s:g}s"
        options = "".join(f"/{word}{value:g}s" for word, value in
                          (("every", self.every_s), ("from", self.from_s or None), ("until", self.until_s))
                          if value is not None)
        return f"{self.name}={head}{options}" if self.name else head + options


def parse_neighbour(text: str, name: str = "") -> NeighbourSpec:
    """One neighbour from its text form (`steady:2.5`, `acct=burst:30/3s/every60s/from10s`)."""
    match = _ITEM.match(text.strip())
    if match is None:
        raise ValueError(f"bad neighbour {text!r}: want [NAME=]steady:RATE or [NAME=]burst:N/Ss, then "
                         "/everyPs, /fromTs, /untilTs")
    times: dict[str, float] = {}
    for option in filter(None, match["options"].split("/")):
        found = _OPTION.match(option)
        if found is None:
            raise ValueError(f"bad neighbour option {option!r} in {text!r} (everyPs, fromTs, untilTs)")
        times[found[1]] = float(found[2])
    chosen = match["name"] or name
    if match["rate"] is not None:
        if "every" in times:
            raise ValueError(f"a steady neighbour has no period: {text!r}")
        return NeighbourSpec("steady", rate=float(match["rate"]), from_s=times.get("from", 0.0),
                             until_s=times.get("until"), name=chosen)
    return NeighbourSpec("burst", count=int(match["count"]), within_s=float(match["within"]),
                         every_s=times.get("every"), from_s=times.get("from", 0.0), until_s=times.get("until"),
                         name=chosen)


def parse_neighbours(text: str) -> tuple[NeighbourSpec, ...]:
    """The `neighbours` setting: comma-separated neighbours, named by position unless named (`steady-1`, ...)."""
    specs = []
    for position, item in enumerate((part for part in text.split(",") if part.strip()), start=1):
        spec = parse_neighbour(item)
        specs.append(spec if spec.name else NeighbourSpec(**{**spec.__dict__, "name": f"{spec.kind}-{position}"}))
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"neighbour names must differ: {', '.join(names)}")
    return tuple(specs)


@dataclass
class _Running:
    spec: NeighbourSpec
    origin: float  # clock time its schedule counts from
    stop_at: float = math.inf  # clock time from which it sends nothing
    issued: int = 0  # requests of this schedule sent so far
    sent: int = 0  # over its whole life (all schedules under this name)
    refused: int = 0
    windows: dict[float, list[int]] = field(default_factory=dict)  # window start -> [sent, refused]

    def next_due(self) -> float | None:
        offset = self.spec.due(self.issued)
        if offset is None or self.origin + offset >= self.stop_at:
            return None
        return self.origin + offset


class Neighbours:
    """The background integrations of one simulator, and the thread that sends their requests when they are due."""

    def __init__(self, clock: Callable[[], float], limiter: Callable[[], RateLimiter], log: RequestLog) -> None:
        self._clock = clock
        self._limiter = limiter
        self._log = log
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._running: dict[str, _Running] = {}
        self._thread: threading.Thread | None = None
        self._closing = False

    # -- steering -------------------------------------------------------------------------------------------
    def start(self, spec: NeighbourSpec | str, name: str = "", delay_s: float = 0.0,
              stop_after_s: float | None = None) -> str:
        """Start a neighbour now (or `delay_s` from now), stopping `stop_after_s` from now if given; its name.

        A name already known restarts its schedule from now and keeps its counts."""
        if isinstance(spec, str):
            spec = parse_neighbour(spec, name)
        chosen = name or spec.name or f"{spec.kind}-{len(self._running) + 1}"
        if delay_s < 0 or (stop_after_s is not None and stop_after_s < 0):
            raise ValueError("delay_s and stop_after_s must be >= 0")
        now = self._clock()
        with self._lock:
            if self._closing:
                raise RuntimeError("the simulator is stopped")
            old = self._running.get(chosen)
            state = _Running(spec, now + delay_s)
            if stop_after_s is not None:
                state.stop_at = now + stop_after_s
            if old is not None:
                state.sent, state.refused, state.windows = old.sent, old.refused, old.windows
            self._running[chosen] = state
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="accelo-sim-neighbours", daemon=True)
                self._thread.start()
        self._wake.set()
        return chosen

    def stop(self, name: str | None = None, after_s: float = 0.0) -> list[str]:
        """Stop one neighbour (every one when `name` is None) now or `after_s` from now; the names stopped."""
        if after_s < 0:
            raise ValueError("after_s must be >= 0")
        at = self._clock() + after_s
        with self._lock:
            if name is not None and name not in self._running:
                raise KeyError(f"no neighbour named {name!r}; known: {', '.join(self._running) or 'none'}")
            names = [name] if name is not None else list(self._running)
            for each in names:
                state = self._running[each]
                state.stop_at = min(state.stop_at, at)
        self._wake.set()
        return names

    def configure(self, specs: tuple[NeighbourSpec, ...]) -> None:
        """Stop every neighbour, then start these (the `neighbours` setting)."""
        if self._running:
            self.stop()
        for spec in specs:
            self.start(spec)

    def close(self) -> None:
        """Stop every neighbour and the thread (the simulator stops)."""
        with self._lock:
            self._closing = True
            thread, self._thread = self._thread, None
        self._wake.set()
        if thread is not None:
            thread.join(timeout=5)
        with self._lock:
            for state in self._running.values():
                state.stop_at = min(state.stop_at, self._clock())

    def reopen(self) -> None:
        with self._lock:
            self._closing = False

    # -- reading --------------------------------------------------------------------------------------------
    def summary(self) -> dict[str, dict[str, Any]]:
        """Per neighbour: its schedule, whether it still sends, requests sent, counted and refused (429), and the
        same per rate window (`start` is the window's clock start, windows of `rate_window_s` from the epoch)."""
        now = self._clock()
        with self._lock:
            return {name: {
                "spec": state.spec.text(), "active": state.next_due() is not None and state.stop_at > now,
                "sent": state.sent, "counted": state.sent - state.refused, "refused": state.refused,
                "windows": [{"start": start, "sent": sent, "refused": refused}
                            for start, (sent, refused) in sorted(state.windows.items())],
            } for name, state in self._running.items()}

    def __bool__(self) -> bool:
        return bool(self._running)

    # -- the thread -----------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closing:
                    return
            self._wake.clear()
            pending = self._send_due()
            if pending is None:
                self._wake.wait()
            else:
                self._wake.wait(max(0.0, pending - self._clock()))

    def _send_due(self) -> float | None:
        """Send every request due by now, in due order; the clock time of the next one due (None: nothing left)."""
        while True:
            now = self._clock()
            with self._lock:
                if self._closing:
                    return None
                dues = [(due, name) for name, state in self._running.items()
                        if (due := state.next_due()) is not None]
                if not dues:
                    return None
                due, name = min(dues)
                if due > now:
                    return due
                state = self._running[name]
                state.issued += 1
                limiter = self._limiter()
                decision = limiter.take(now)
                state.sent += 1
                state.refused += not decision.allowed
                bucket = state.windows.setdefault(math.floor(now / limiter.window_s) * limiter.window_s, [0, 0])
                bucket[0] += 1
                bucket[1] += not decision.allowed
            self._log.add(LogEntry(
                started=now, method="GET", path=f"/_neighbour/{name}", params={},
                status=200 if decision.allowed else 429, rows=None, wait_s=0.0, service_s=0.0,
                remaining=decision.remaining, counted=decision.allowed, neighbour=name))
