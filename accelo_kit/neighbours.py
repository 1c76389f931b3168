"""The other integrations on the deployment, seen through the rate-limit headers: how many requests they spent in the
current window and the previous one, and at what rate (docs/accelo-api.md, Rate limit). Measurement only.

The rule, per answer B with headers (limit L, remaining R, reset T) and a window of W seconds: the server had counted
L − R requests in B's window, of which ours were the requests we had sent no later than B (sent order is the order
the server counts them in, give or take requests racing on the wire), still in that window (sent at or after T − W,
which is the window's start when fixed and its oldest request's time when rolling) and not refused (a 429 is not
counted). The others spent the rest. Answers overtake each other, so the newest server state decides the current
estimate, as for the budget: a later reset, or within one reset the lower remaining. A 429's remaining (forced to 0,
sometimes by a proxy or a fault) and an answer without headers say nothing of the others; a request answered without
headers may still have been counted, so it stays among ours.

W is Accelo's hour unless the server shows it shorter: the longest reset − now seen, in whole seconds (a window fresh
from its reset, or a rolling window's first request), is taken as W.
The estimator is pure: the clock is injected, no thread or I/O.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass

HOUR_S = 3600.0


@dataclass(frozen=True)
class NeighbourEstimate:
    this_window: int | None  # the others' requests in the server's current window
    rate_per_s: float | None  # their rate over the part of the window seen
    previous_window: int | None  # their requests in the window before


@dataclass
class _Sent:
    seq: int
    sent_at: float
    reset: float | None = None  # the reset its answer named (None: no answer yet, or none with headers)
    counted: bool = True  # False for a 429
    answered: bool = False


@dataclass(frozen=True)
class _Reading:
    reset: float
    remaining: int
    others: int
    window_start: float
    at: float


class Neighbours:
    """Feed it every request of this process (`sent`, then `answered` with its headers' values) and read `estimate`."""

    def __init__(self, clock: Callable[[], float], window_s: float | None = None) -> None:
        self._clock = clock
        self._fixed_window = window_s
        self._learned_window = 0.0
        self._seq = 0
        self._sent: collections.OrderedDict[int, _Sent] = collections.OrderedDict()
        self._current: _Reading | None = None
        self._previous: int | None = None

    @property
    def window_s(self) -> float:
        if self._fixed_window is not None:
            return self._fixed_window
        return self._learned_window if self._learned_window > 0 else HOUR_S

    def sent(self) -> int:
        """One request of ours leaves now; returns its ticket."""
        self._seq += 1
        self._sent[self._seq] = _Sent(self._seq, self._clock())
        return self._seq

    def answered(self, ticket: int, limit: int | None, remaining: int | None, reset: float | None,
                 status: int | None) -> None:
        """Its answer: the rate-limit headers (None where absent) and the HTTP status (None: no answer came)."""
        now = self._clock()
        mine = self._sent.get(ticket)
        if mine is not None:
            mine.answered = True
            mine.counted = status != 429
        if reset is not None and self._fixed_window is None:
            # resets are whole seconds (a rolling one rounded up, so up to a second past now + W): whole seconds
            self._learned_window = max(self._learned_window, min(HOUR_S, float(math.floor(reset - now + 0.1))))
        if limit is None or remaining is None or reset is None or status == 429:
            return  # nothing said of the others (a 429's remaining is 0 whoever spent the window)
        if mine is not None:
            mine.reset = reset
        window = self.window_s
        start = reset - window
        ours = sum(1 for s in self._sent.values()
                   if s.seq <= ticket and s.counted and (s.reset == reset or s.sent_at >= start))
        others = max(0, (limit - remaining) - ours)
        reading = _Reading(reset, remaining, others, start, now)
        current = self._current
        if current is None or reset > current.reset or (reset == current.reset and remaining < current.remaining):
            if current is not None and reset >= current.reset + window - 0.5:
                self._previous = current.others  # a window that does not overlap the last one: it has turned
            self._current = reading
        self._forget(start - window)

    def _forget(self, before: float) -> None:
        """Drop answered requests too old to be in this window or the last."""
        while self._sent:
            oldest = next(iter(self._sent.values()))
            if oldest.sent_at >= before or not oldest.answered:
                break
            self._sent.popitem(last=False)

    def estimate(self) -> NeighbourEstimate:
        current = self._current
        if current is None:
            return NeighbourEstimate(None, None, self._previous)
        now = self._clock()
        if now >= current.reset:  # the window has turned since: what it held is the previous window's
            return NeighbourEstimate(None, None, current.others)
        elapsed = min(self.window_s, max(1.0, current.at - current.window_start))
        return NeighbourEstimate(current.others, current.others / elapsed, self._previous)
