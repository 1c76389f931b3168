"""The deployment's hourly request budget (docs/accelo-api.md, Rate limit), as a fixed clock window or a rolling one."""

from __future__ import annotations

import collections
import math
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # unix seconds when the window (or, rolling, its oldest request) frees up

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class RateLimiter:
    """Counts requests per window. A refused request is not counted, so a client waiting out a 429 loses nothing."""

    def __init__(self, limit: int, window_s: float, kind: str) -> None:
        self.limit = limit
        self.window_s = window_s
        self.kind = kind
        self._lock = threading.Lock()
        self._window_start = -math.inf
        self._used = 0
        self._stamps: collections.deque[float] = collections.deque()

    def take(self, now: float) -> RateDecision:
        with self._lock:
            if self.kind == "rolling":
                return self._take_rolling(now)
            return self._take_fixed(now)

    def peek(self, now: float) -> RateDecision:
        """The headers as they stand, without spending a request."""
        with self._lock:
            if self.kind == "rolling":
                self._expire(now)
                oldest = self._stamps[0] if self._stamps else now
                return RateDecision(True, self.limit, self.limit - len(self._stamps),
                                    math.ceil(oldest + self.window_s))
            self._roll_fixed(now)
            return RateDecision(True, self.limit, self.limit - self._used,
                                math.ceil(self._window_start + self.window_s))

    def _roll_fixed(self, now: float) -> None:
        start = math.floor(now / self.window_s) * self.window_s
        if start != self._window_start:
            self._window_start, self._used = start, 0

    def _take_fixed(self, now: float) -> RateDecision:
        self._roll_fixed(now)
        reset = math.ceil(self._window_start + self.window_s)
        if self._used >= self.limit:
            return RateDecision(False, self.limit, 0, reset)
        self._used += 1
        return RateDecision(True, self.limit, self.limit - self._used, reset)

    def _expire(self, now: float) -> None:
        while self._stamps and self._stamps[0] <= now - self.window_s:
            self._stamps.popleft()

    def _take_rolling(self, now: float) -> RateDecision:
        self._expire(now)
        if len(self._stamps) >= self.limit:
            return RateDecision(False, self.limit, 0, math.ceil(self._stamps[0] + self.window_s))
        self._stamps.append(now)
        return RateDecision(True, self.limit, self.limit - len(self._stamps),
                            math.ceil(self._stamps[0] + self.window_s))
