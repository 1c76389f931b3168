"""The deployment's hourly request budget, shared by every thread of the process (docs/accelo-api.md, Rate limit).

The server's `X-RateLimit-*` headers are the truth (other integrations spend the same deployment); the budget
lets a request go only if, counting every request already in flight, `Remaining` stays at or above the reserve.
When the window is spent, or after a 429, everyone waits for the reset on the server's clock, then one probe
request learns the new `Remaining` before the others follow.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import AcceloError
from .neighbours import Neighbours
from .servertime import ServerClock, format_utc

HOURLY_LIMIT = 5000  # Accelo's documented requests per hour per deployment, until X-RateLimit-Limit says
UNKNOWN_RESET_WAIT_S = 10
WaitListener = Callable[[float, str], None]  # (seconds, reason) before a wait starts


class BudgetExhausted(AcceloError):
    """The budget is spent and the window resets later than the caller is willing to wait."""

    def __init__(self, resume_at: float) -> None:
        self.resume_at = resume_at
        when = format_utc(resume_at)
        super().__init__(f"the deployment's hourly request budget is spent; it frees up at {when}")


@dataclass(frozen=True)
class BudgetStats:
    requests: int
    retries: int
    throttled: int  # 429s received
    waited_s: float  # time requests spent held back by the budget
    limit: int | None
    remaining: int | None
    reset: float | None  # server unix time
    reserve: int | None
    # the other integrations on the deployment, estimated from the headers (None while unknown)
    others_this_window: int | None = None
    others_rate_per_s: float | None = None
    others_previous_window: int | None = None


class RateBudget:
    def __init__(self, clock: ServerClock, reserve: int | None = None, max_wait_s: float | None = None,
                 on_wait: WaitListener | None = None) -> None:
        self.clock = clock
        self.configured_reserve = reserve
        self.max_wait_s = max_wait_s  # a longer wait for the window raises BudgetExhausted instead
        self._cond = threading.Condition()
        self.limit: int | None = None
        self.remaining: int | None = None  # None: unknown, the next request is a lone probe
        self.reset: float | None = None
        self.in_flight = 0
        # requests the server may have counted without telling us (no answer: a dropped connection, a read
        # timeout; or an answer without rate-limit headers: a proxy's 502/503 page): counted as spent until the
        # window turns on our clock. A new window learned from a header keeps them: the server may have counted
        # them in that one.
        self.unanswered = 0
        self._resume_at: float | None = None  # Retry-After, server time
        self.requests = self.retries = self.throttled = 0
        self.waited_s = 0.0
        self._on_wait = on_wait  # told once per held request, before a wait longer than half a second
        # what the others spend, fed every request: measurement only, it does not decide when a request goes
        self.neighbours = Neighbours(clock.now)
        self._tickets = threading.local()  # each thread's requests in flight, oldest first

    @property
    def reserve(self) -> int:
        if self.limit is None:
            return self.configured_reserve or 0
        wanted = self.limit // 10 if self.configured_reserve is None else self.configured_reserve
        return max(0, min(wanted, self.limit - 1))  # a reserve of the whole limit would stop us for good

    # -- the gate ------------------------------------------------------------------------------------------
    def acquire(self) -> None:
        """Block until one more request fits the budget, then count it as in flight."""
        started = time.monotonic()
        announced = False
        with self._cond:
            while True:
                delay = self._blocked_for()
                if delay == 0:
                    break
                if delay is not None and self.max_wait_s is not None and delay > self.max_wait_s:
                    raise BudgetExhausted(self.clock.now() + delay)
                if delay is not None and delay > 0.5 and not announced:
                    announced = True
                    if self._on_wait is not None:
                        self._on_wait(delay, "rate limit window")
                self._cond.wait(timeout=None if delay is None else min(delay, 5.0))
            self.in_flight += 1
            self.requests += 1
            self._my_tickets().append(self.neighbours.sent())
        held = time.monotonic() - started
        if held > 0.001:
            with self._cond:
                self.waited_s += held

    def _blocked_for(self) -> float | None:
        """0 to go now, seconds to wait for the server's clock, or None to wait for a response."""
        now = self.clock.now()
        if self._resume_at is not None:
            if now < self._resume_at:
                return self._resume_at - now
            self._resume_at = None
        if self.remaining is not None and self.reset is not None and now >= self.reset:
            self.remaining = None  # the window has turned: what we knew is stale
            self.unanswered = 0
        if self.remaining is None:
            return 0 if self.in_flight == 0 else None
        if self.remaining - self.unanswered - self.in_flight - 1 >= self.reserve:
            return 0
        if self.in_flight:
            return None  # their answers may change what we know; wake on release
        return max(0.01, (self.reset or now) - now)

    def release(self, headers: Mapping[str, str] | None, status: int | None) -> None:
        """Account for a finished request: its headers (if it got any) update what we know of the window."""
        with self._cond:
            self.in_flight -= 1
            tickets = self._my_tickets()
            if tickets:
                self._observe(tickets.popleft(), headers, status)
            if headers is not None:
                self._learn(headers, throttled=status == 429)
            told = headers is not None and _int(headers.get("X-RateLimit-Remaining")) is not None
            if not told and self.remaining is not None:  # (while unknown, the next lone probe's answer counts it)
                self.unanswered += 1
            self._cond.notify_all()

    def _my_tickets(self) -> collections.deque[int]:
        tickets: collections.deque[int] | None = getattr(self._tickets, "queue", None)
        if tickets is None:
            tickets = self._tickets.queue = collections.deque()
        return tickets

    def _observe(self, ticket: int, headers: Mapping[str, str] | None, status: int | None) -> None:
        limit, remaining, reset = ((None, None, None) if headers is None else
                                   (_int(headers.get(h)) for h in
                                    ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")))
        self.neighbours.answered(ticket, limit, remaining, None if reset is None else float(reset), status)

    def count_retry(self) -> None:
        with self._cond:
            self.retries += 1

    def _learn(self, headers: Mapping[str, str], throttled: bool) -> None:
        limit, remaining, reset = (_int(headers.get(h)) for h in
                                   ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"))
        if throttled:
            self.throttled += 1
            remaining = 0
            retry_after = _int(headers.get("Retry-After"))
            if retry_after is None and _int(headers.get("X-RateLimit-Reset")) is None:
                retry_after = UNKNOWN_RESET_WAIT_S  # nothing says when: wait a while rather than spin
            if retry_after:
                self._resume_at = self.clock.now() + retry_after
        if limit is not None:
            self.limit = limit
        if remaining is None or reset is None:
            return
        # answers overtake each other: a later reset is newer news; within one reset, less remaining is newer
        if self.reset is None or self.remaining is None or reset > self.reset or (
                reset == self.reset and remaining < self.remaining):
            self.reset, self.remaining = float(reset), remaining

    def stats(self) -> BudgetStats:
        with self._cond:
            others = self.neighbours.estimate()
            return BudgetStats(self.requests, self.retries, self.throttled, self.waited_s, self.limit,
                               self.remaining, self.reset, self.reserve if self.limit is not None else None,
                               others.this_window, others.rate_per_s, others.previous_window)


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
