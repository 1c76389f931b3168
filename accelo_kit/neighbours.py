"""The other integrations on the deployment, seen through the rate-limit headers: how many requests they spent in the
current window and the previous one, and at what rate (docs/accelo-api.md, Rate limit). Pure: the clock is injected.

The rule, per answer B with headers (limit L, remaining R, reset T): the server had counted L − R requests in B's
window, of which ours are the requests we sent no later than B (sent order is the order the server counts them in,
give or take requests racing on the wire) that were not refused (a 429 is not counted) and still in that window.
The others spent the rest. Which of ours are still in B's window depends on the window's kind, which the headers
show (docs/accelo-api.md, Unconfirmed behaviours):

- fixed: every answer of one window names the same reset, and two windows' resets are a whole window apart. Ours in
  B's window are those answered with reset T, plus those without a headed answer sent since T − W, plus those sent
  after B that overtook it (answered with more remaining);
- rolling: the reset is when the oldest counted request ages out, so it creeps forward between answers (by much less
  than the time it is ahead of now, or than the configured window, without the count starting again as a fixed
  window's does), and more may remain in a later answer within one reset. Ours in B's window are those sent within W
  before B (on a steady clock: the estimate of the server's moves as Date headers come in).

W, the window's length, is Accelo's hour unless configured otherwise (a simulator with a compressed window) or
shown otherwise by the headers: two fixed windows' resets one gap apart, or a reset further ahead than W.

Answers overtake each other, so the newest server state decides the current estimate, as for the budget: a later
reset, or within one reset the lower remaining (rolling: or a request sent later). A 429's remaining (forced to 0,
sometimes by a proxy or a fault) and an answer without headers say nothing of the others; a request answered without
headers may still have been counted, so it stays among ours.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

HOUR_S = 3600.0
RECENT_SHARE = 0.1  # the others' "recent" rate is over the last tenth of a window
SHOWING_COUNT = 5  # a window that held fewer requests shows nothing by whether its count started again

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
    sent_elapsed: float = 0.0  # on the elapsed clock
    reset: float | None = None  # the reset its answer named (None: no answer yet, or none with headers)
    counted: bool = True  # False for a 429
    answered: bool = False
    after: int = 0  # answers received before it was sent
    answered_at: float | None = None  # on the elapsed clock
    remaining: int | None = None  # what its answer said remains


@dataclass(frozen=True)
class _Reading:
    reset: float
    remaining: int
    others: int
    at: float
    answer: int = 0  # which answer it was (1 for the first)
    ticket: int = 0  # the request it answered


class Neighbours:
    """Feed it every request of this process (`sent`, then `answered` with its headers' values) and read `estimate`.
    Not thread-safe: the budget calls it under its own lock."""

    def __init__(self, clock: Callable[[], float], window_s: float = HOUR_S,
                 elapsed: Callable[[], float] | None = None) -> None:
        self._clock = clock
        # how long ago ours were sent and answered (rolling): a steady clock (the budget gives time.monotonic),
        # unlike the estimate of the server's, which moves forward by up to a second as Date headers come in
        self._elapsed = elapsed or clock
        self._configured_window = window_s
        self._fixed_gap: float | None = None  # the smallest gap seen between two fixed windows' resets
        self._longest_ahead = 0.0  # the longest reset − now seen
        self.kind: WindowKind = "fixed"
        self._seq = 0
        self._answers = 0
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

    @property
    def kind_known(self) -> bool:
        """Whether the headers have shown the window's kind: a fixed window's turn, or a rolling window's creep."""
        return self.kind == "rolling" or self._fixed_gap is not None

    def sent(self) -> int:
        """One request of ours leaves now; returns its ticket."""
        self._seq += 1
        self._sent[self._seq] = _Sent(self._seq, self._clock(), self._elapsed(), after=self._answers)
        return self._seq

    def answered(self, ticket: int, limit: int | None, remaining: int | None, reset: float | None,
                 status: int | None) -> None:
        """Its answer: the rate-limit headers (None where absent) and the HTTP status (None: no answer came)."""
        now = self._clock()
        self._answers += 1
        mine = self._sent.get(ticket)
        if mine is not None:
            mine.answered = True
            mine.answered_at = self._elapsed()
            mine.counted = status != 429
        if reset is not None:
            counted = None if limit is None or remaining is None or status == 429 else limit - remaining
            self._learn_window(reset, now, counted, limit)
        if limit is None or remaining is None or reset is None or status == 429:
            return  # nothing said of the others (a 429's remaining is 0 whoever spent the window)
        if mine is not None:
            mine.reset, mine.remaining = reset, remaining
            current = self._current
            if current is not None and reset == current.reset and remaining > current.remaining and \
                    mine.after >= current.answer and status is not None and status < 400:
                # sent after that answer came, so counted after it, yet more remains in the same window: requests
                # aged out of it, as they do only in a rolling window (a fixed one's count only grows to its reset)
                self.kind = "rolling"
        window = self.window_s
        if self.kind == "rolling":
            since = (mine.sent_elapsed if mine is not None else self._elapsed()) - window
            ours = sum(1 for s in self._sent.values() if s.seq <= ticket and s.counted and s.sent_elapsed > since)
        else:
            start = reset - window
            # (and ours sent later that overtook it on the wire: answered already, with more remaining)
            ours = sum(1 for s in self._sent.values() if s.counted and (
                (s.seq <= ticket and (s.reset == reset or (s.reset is None and s.sent_at >= start)))
                or (s.seq > ticket and s.reset == reset and (s.remaining or 0) > remaining)))
            current = self._current
            if current is not None and reset == current.reset and remaining > current.remaining and \
                    ticket > current.ticket:
                # sent after the newest reading's request but counted before it, answered after it: that reading
                # took it for one of the others'
                self._current = replace(current, others=max(0, current.others - 1))
        self._take(_Reading(reset, remaining, max(0, (limit - remaining) - ours), now, self._answers, ticket),
                   window)
        self._forget(now - 2 * window)

    def aged_out(self, ticket: int | None) -> tuple[int, float | None]:
        """Rolling: how many of ours that the answer to `ticket` counted have aged out of the window since, and in
        how many seconds the next one will (None: none to come). A request ages out a window after the server
        counted it, which was between its sending and its answer: from its answer, this is never early; and only
        those sent less than a window before that answer came surely were in its count."""
        answer = None if ticket is None or self.kind != "rolling" else self._sent.get(ticket)
        if answer is None or ticket is None:
            return 0, None
        window, now = self.window_s, self._elapsed()
        aged, following = 0, None
        for mine in self._sent.values():
            if mine.seq > ticket:
                break
            if not mine.counted or mine.answered_at is None or answer.answered_at is None or \
                    mine.sent_elapsed <= answer.answered_at - window:
                continue  # (sent that long before the answer, it may have aged out before it was counted)
            if mine.answered_at + window <= now:
                aged += 1
            else:
                following = min(following or math.inf, mine.answered_at + window - now)
        return aged, following

    def _learn_window(self, reset: float, now: float, counted: int | None, limit: int | None) -> None:
        """What a reset tells of the window: its length, and whether it is fixed or rolling. `counted` is what the
        server had counted in the window of this answer (None: a 429, or not said)."""
        current = self._current
        if current is not None and reset > current.reset:
            gap = reset - current.reset
            if gap < 0.75 * self._longest_ahead and (
                    gap < self._longest_ahead - 2 or gap < math.floor(self._configured_window)):
                # fixed windows' resets are a whole window apart, so at least as far apart as any reset was ahead
                # of now; but rounded up to whole seconds, a short fixed window's are not (a 1.5 s window's resets
                # are 1 or 2 s apart, 2 ahead at most): unless the configured window says it cannot be that
                self.kind = "rolling"
            elif gap < 0.5 * self._configured_window and counted is not None and limit is not None and \
                    limit - current.remaining >= SHOWING_COUNT and counted > (limit - current.remaining) / 2:
                # much less than a window apart, and the count did not start again as a new fixed window's does:
                # a rolling window's reset creeping as its oldest requests age out. (With other integrations busy
                # before we came, every reset is less than a second or two ahead, so the rule above cannot tell.)
                self.kind = "rolling"
            elif self.kind == "fixed":
                self._fixed_gap = gap if self._fixed_gap is None else min(self._fixed_gap, gap)
        self._longest_ahead = max(self._longest_ahead, reset - now)

    def _take(self, reading: _Reading, window: float) -> None:
        current = self._current
        if current is not None and not (reading.reset > current.reset or (
                reading.reset == current.reset and (reading.remaining < current.remaining or (
                    self.kind == "rolling" and reading.ticket > current.ticket)))):
            return  # older news (rolling: more may remain in a later reading, its oldest requests aged out)
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
