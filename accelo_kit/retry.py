"""Exponential backoff with full jitter, capped in attempts and in total wait: after the caps the error is raised,
so a page is never dropped silently."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import RetriesExhausted, TransientError

T = TypeVar("T")


@dataclass
class RetryPolicy:
    max_attempts: int = 8
    max_wait_s: float = 600.0
    base_s: float = 0.25
    cap_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attempts(self) -> Backoff:
        return Backoff(self)

    def delay(self, failures: int) -> float:
        with self._lock:
            return self._rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (failures - 1)))

    def run(self, action: Callable[[], T], on_retry: Callable[[int, TransientError], None] | None = None) -> T:
        """`action()` until it stops raising TransientError or the caps are reached. `on_retry(failures, error)`
        runs after the backoff, just before each new attempt."""
        backoff = self.attempts()
        while True:
            try:
                return action()
            except TransientError as err:
                backoff.failed(err)
                if on_retry is not None:
                    on_retry(backoff.failures, err)


class Backoff:
    """The retry state of one request."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0
        self.waited_s = 0.0

    def failed(self, err: TransientError) -> None:
        """Sleep before the next attempt, or raise RetriesExhausted when a cap is reached."""
        self.failures += 1
        delay = self.policy.delay(self.failures)
        if self.failures >= self.policy.max_attempts or self.waited_s + delay > self.policy.max_wait_s:
            raise RetriesExhausted(
                f"gave up after {self.failures} attempts and {self.waited_s:.1f} s of backoff; last error: "
                f"{err.detail}", method=err.method, path=err.path, status=err.status, meta_status=err.meta_status,
            ) from err
        self.policy.sleep(delay)
        self.waited_s += delay
