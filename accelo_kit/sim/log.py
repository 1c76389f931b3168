"""What the simulator served: one entry per request, for tests and for the benchmark's ideal bound."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LogEntry:
    started: float  # server clock when the request arrived
    method: str
    path: str
    params: dict[str, str]
    status: int
    rows: int | None  # rows in a list response
    wait_s: float  # queued for a free worker
    service_s: float  # served by a worker (the latency model's time)
    fault: str | None = None
    client: str = ""
    remaining: int | None = None  # X-RateLimit-Remaining sent back
    counted: bool = False  # spent one request of the rate budget
    token: str = field(default="", repr=False)  # a short hash of the bearer token, to tell clients apart
    neighbour: str = ""  # the background integration that sent it (sim/neighbours.py); "" for a client's request


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LogEntry] = []

    def add(self, entry: LogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, path_prefix: str = "", *, neighbours: bool = True) -> list[LogEntry]:
        """The entries whose path starts with `path_prefix`; without the neighbours' (whose paths are
        `/_neighbour/NAME`) when `neighbours` is False."""
        with self._lock:
            return [e for e in self._entries if e.path.startswith(path_prefix) and (neighbours or not e.neighbour)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
