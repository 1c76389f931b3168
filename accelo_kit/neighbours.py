"""The other integrations on the deployment, seen through the rate-limit headers: how many requests they spent in the
current window and the previous one, and at what rate (docs/accelo-api.md, Rate limit). Pure: the clock is injected.

The rule, per answer B with headers (limit L, remaining R, reset T): the server had counted L − R requests in B's
window, of which ours are the requests we sent no later than B (sent order is the order the server counts them in,
give or take requests racing on the wire) that were not refused (a 429 is not counted) and still in that window.
The others spent the rest. Which of ours are still in B's window depends on the window's kind, which the headers
show (docs/accelo-api.md, Unconfirmed behaviours):

- fixed: every answer of one window names the same reset, and two windows' resets are a whole window apart. Ours in
  B's window are those answered with reset T, plus those without a headed answer sent since T − W;
- rolling: the reset is when the oldest counted request ages out, so it creeps forward between answers (by much less
  than the time it is ahead of now). Ours in B's window are those sent within W before B.

W, the window's length, is Accelo's hour unless configured otherwise (a simulator with a compressed window) or
shown otherwise by the headers: two fixed windows' resets one gap apart, or a reset further ahead than W.

Answers overtake each other, so the newest server state decides the current estimate, as for the budget: a later
reset, or within one reset the lower remaining. A 429's remaining (forced to 0, sometimes by a proxy or a fault) and
an answer without headers say nothing of the others; a request answered without headers may still have been counted,
so it stays among ours.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

HOUR_S = 3600.0
RECENT_SHARE = 0.1  # the others' "recent" rate is over the last tenth of a window

WindowKind = Literal["fixed", "rolling"]


@dataclass(frozen=True)
class NeighbourEstimate:
    this_window: int | None  # the others' requests in the server's current window
    rate_per_s: float | None  # the rate they are expected to keep up: the higher of their average and recent rates
    previous_window: int | None  # their requests in the window before (fixed windows)
    window_kind: WindowKind = "fixed"  # as far as the headers have shown (fixed until shown otherwise)
    window_s: float = HOUR_S


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
    at: float


class Neighbours:
    """Feed it every request of this process (`sent`, then `answered` with its headers' values) and read `estimate`.
    Not thread-safe: the budget calls it under its own lock."""

    def __init__(self, clock: Callable[[], float], window_s: float = HOUR_S) -> None:
        self._clock = clock
        self._configured_window = window_s
        self._fixed_gap: float | None = None  # the smallest gap seen between two fixed windows' resets
        self._longest_ahead = 0.0  # the longest reset − now seen
        self.kind: WindowKind = "fixed"
        self._seq = 0
        self._sent: collections.OrderedDict[int, _Sent] = collections.OrderedDict()
        self._current: _Reading | None = None
        self._previous: int | None = None
        self._before_current = 0  # the others' requests in the fixed windows before the current one, summed
        self._history: collections.deque[tuple[float, int]] = collections.deque()  # (at, others so far), fixed

    @property
    def window_s(self) -> float:
        if self.kind == "fixed" and self._fixed_gap is not None:
            return self._fixed_gap
        if self._longest_ahead > self._configured_window + 1:
            return float(math.floor(self._longest_ahead))
        return self._configured_window

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
        if reset is not None:
            self._learn_window(reset, now)
        if limit is None or remaining is None or reset is None or status == 429:
            return  # nothing said of the others (a 429's remaining is 0 whoever spent the window)
        if mine is not None:
            mine.reset = reset
        window = self.window_s
        if self.kind == "rolling":
            since = (mine.sent_at if mine is not None else now) - window
            ours = sum(1 for s in self._sent.values() if s.seq <= ticket and s.counted and s.sent_at > since)
        else:
            start = reset - window
            ours = sum(1 for s in self._sent.values() if s.seq <= ticket and s.counted and (
                s.reset == reset or (s.reset is None and s.sent_at >= start)))
        self._take(_Reading(reset, remaining, max(0, (limit - remaining) - ours), now), window)
        self._forget(now - 2 * window)

    def _learn_window(self, reset: float, now: float) -> None:
        """What a reset tells of the window: its length, and whether it is fixed or rolling."""
        current = self._current
        if current is not None and reset > current.reset:
            gap = reset - current.reset
            if gap < 0.75 * self._longest_ahead:  # fixed windows' resets are a whole window apart, so at least
                self.kind = "rolling"  # as far apart as any reset was ahead of now
            elif self.kind == "fixed":
                self._fixed_gap = gap if self._fixed_gap is None else min(self._fixed_gap, gap)
        self._longest_ahead = max(self._longest_ahead, reset - now)

    def _take(self, reading: _Reading, window: float) -> None:
        current = self._current
        if current is not None and not (reading.reset > current.reset or (
                reading.reset == current.reset and reading.remaining < current.remaining)):
            return  # older news
        if current is not None and self.kind == "fixed" and reading.reset >= current.reset + window - 0.5:
            self._previous = current.others  # a window that does not overlap the last one: it has turned
            self._before_current += current.others
        self._current = reading
        if self.kind == "fixed":
            self._history.append((reading.at, self._before_current + reading.others))
            while self._history and self._history[0][0] < reading.at - 2 * RECENT_SHARE * window:
                self._history.popleft()

    def _forget(self, before: float) -> None:
        """Drop answered requests too old to be in this window or the last."""
        while self._sent:
            oldest = next(iter(self._sent.values()))
            if oldest.sent_at >= before or not oldest.answered:
                break
            self._sent.popitem(last=False)

    def estimate(self) -> NeighbourEstimate:
        window = self.window_s
        current = self._current
        if current is None:
            return NeighbourEstimate(None, None, self._previous, self.kind, window)
        now = self._clock()
        if now >= current.reset and self.kind == "fixed":  # the window has turned since: it is the previous one,
            # and until an answer tells of the new one the others are taken to go on at that window's average
            return NeighbourEstimate(None, current.others / window, current.others, self.kind, window)
        if self.kind == "rolling":
            return NeighbourEstimate(current.others, current.others / window, None, self.kind, window)
        return NeighbourEstimate(current.others, max(self._average_rate(current, window), self._recent_rate(window)),
                                 self._previous, self.kind, window)

    def _average_rate(self, current: _Reading, window: float) -> float:
        """Over the last window: this one's part so far, plus the previous one's taken as even."""
        elapsed = min(window, max(0.0, current.at - (current.reset - window)))
        if self._previous is None:
            return current.others / max(elapsed, RECENT_SHARE * window)
        return (current.others + self._previous * (window - elapsed) / window) / window

    def _recent_rate(self, window: float) -> float:
        """Over the last tenth of a window (0 until readings span half of that): a burst shows here first."""
        if len(self._history) < 2:
            return 0.0
        last_at, last = self._history[-1]
        horizon = RECENT_SHARE * window
        first_at, first = next((h for h in self._history if h[0] >= last_at - horizon), self._history[0])
        if last_at - first_at < horizon / 2:
            return 0.0
        return (last - first) / (last_at - first_at)
