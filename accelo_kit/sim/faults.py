"""Fault injection: scripted for the next N matching requests, or drawn at random from a seeded generator."""

from __future__ import annotations

import collections
import random
import re
import threading
from dataclasses import dataclass

# what each kind does is described in docs/simulator.md (faults); the server acts on them
FAULT_KINDS = (
    "429",  # too_many_requests envelope, Remaining 0
    "500",  # server_error envelope
    "502", "503", "504",  # an HTML page from a proxy in front of the API
    "stall",  # no answer for `stall_s` seconds, then the connection closes (a read timeout)
    "drop",  # the connection is reset before any answer
    "truncate",  # a 200 whose body stops halfway through its Content-Length
    "not_ok",  # HTTP 200 with meta.status "server_error"
    "garbage",  # HTTP 200 with a complete HTML body instead of JSON
    "revoke",  # every token is revoked just before this request is authenticated
    # hostile bodies, all HTTP 200 with meta.status ok (the security pass): what a broken proxy or a hostile server
    # could send; the kit must end in a clear error or counted bad values, never a hang, a bare traceback or data loss
    "huge",  # the page's rows repeated until the body reaches `huge_bytes`: far more rows than `_limit`
    "nested",  # `response` nested `nested_depth` arrays deep (json.loads raises RecursionError on it)
    "wrong_types",  # every field of every row (id too) a wrong type: lists, objects, floats, bools, huge numbers...
    "non_utf8",  # the envelope encoded in Latin-1 with a non-ASCII message: bytes that are not UTF-8
    "not_list",  # `response` an object keyed by id instead of the page's list (a string on non-list requests)
)
HOSTILE_BODIES = frozenset({"huge", "nested", "wrong_types", "non_utf8", "not_list"})
API_PATHS = r"^/api/"


@dataclass
class _Scripted:
    kind: str
    pattern: re.Pattern[str]


class Faults:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._script: collections.deque[_Scripted] = collections.deque()
        self._odds: dict[str, tuple[float, re.Pattern[str]]] = {}
        self.injected: collections.Counter[str] = collections.Counter()

    @staticmethod
    def _check(kind: str) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")

    def script(self, kind: str, count: int = 1, path: str = API_PATHS) -> None:
        """The next `count` requests whose path matches `path` get `kind` (queued after earlier scripts)."""
        self._check(kind)
        compiled = re.compile(path)
        with self._lock:
            self._script.extend(_Scripted(kind, compiled) for _ in range(count))

    def set_probability(self, kind: str, probability: float, path: str = API_PATHS) -> None:
        """Each matching request independently gets `kind` with this probability (0 turns it off)."""
        self._check(kind)
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within 0..1")
        with self._lock:
            if probability == 0:
                self._odds.pop(kind, None)
            else:
                self._odds[kind] = (probability, re.compile(path))

    def reseed(self, seed: int) -> None:
        """Restart the random faults' generator, so a run can be replayed from here."""
        with self._lock:
            self._rng = random.Random(seed)

    def clear(self) -> None:
        with self._lock:
            self._script.clear()
            self._odds.clear()

    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def draw(self, path: str) -> str | None:
        """The fault for this request, if any. Scripted faults come first, then the random ones."""
        with self._lock:
            for i, entry in enumerate(self._script):
                if entry.pattern.search(path):
                    del self._script[i]
                    self.injected[entry.kind] += 1
                    return entry.kind
            for kind, (probability, pattern) in self._odds.items():
                if pattern.search(path) and self._rng.random() < probability:
                    self.injected[kind] += 1
                    return kind
        return None
