"""The deployment's hourly request budget, shared by every thread of the process (docs/accelo-api.md, Rate limit).

The server's `X-RateLimit-*` headers are the truth (other integrations spend the same deployment); the budget
lets a request go only if, counting every request already in flight, `Remaining` stays at or above the reserve.
When the window is spent, or after a 429, everyone waits for the reset on the server's clock, then one probe
request learns the new `Remaining` before the others follow.

The policy (docs/reliability.md, A good neighbour), `adaptive` by default:
- the reserve is the larger of `budget_reserve` (the floor) and what the other integrations are seen to need until
  the window resets: their rate (accelo_kit/neighbours.py) × the time left × MARGIN, plus one;
- pacing: while the work the caller expects (`expect`) is more than the window still allows, requests are spread
  evenly over the time left to the reset instead of spent in a burst, so the others are seen early. Unknown work
  is not paced until it first meets a spent window. Work that fits goes as fast as the threads allow;
- in a rolling window (neighbours.py tells them apart) the others' requests age out as they send the next ones: what
  is kept for them is the larger of the floor and the margin on their use, our pace is what a whole window leaves us
  spread over a whole window, and our own requests count back in as they age out (not at the whole-second reset).
Waiting for the others' share or for pacing is not waiting for a spent budget: it never raises BudgetExhausted.
`fixed` keeps only the floor, and no pacing.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .config import BUDGET_POLICIES
from .errors import AcceloError
from .neighbours import HOUR_S, Neighbours
from .servertime import ServerClock, format_utc

HOURLY_LIMIT = 5000  # Accelo's documented requests per hour per deployment, until X-RateLimit-Limit says
UNKNOWN_RESET_WAIT_S = 10
MARGIN = 1.1  # the others' need is their rate × the time left × this, plus one request
PACE_AHEAD = 0.95  # a paced window's requests are spread over this share of its time left (answers take time)
UNSURE_RESET_S = 2.0  # while the window's kind is unknown, a reset this close may be a rolling window's creep
STALE_CHECK_S = 1.0  # a request held for the others' share looks again at least this often
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
    waited_s: float  # time requests spent held back by the budget (all causes)
    limit: int | None
    remaining: int | None
    reset: float | None  # server unix time
    reserve: int | None  # the floor: budget_reserve, or 10% of the limit
    # the other integrations on the deployment, estimated from the headers (None while unknown)
    others_this_window: int | None = None
    others_rate_per_s: float | None = None
    others_previous_window: int | None = None
    policy: str = "adaptive"  # budget_policy
    reserve_now: int | None = None  # what is kept now: the floor, or the others' need if larger (adaptive)
    window_kind: str = "fixed"  # fixed or rolling, as the headers have shown it
    window_s: float = HOUR_S
    paced: bool = False  # requests are being spread over the window (the expected work does not fit)
    paced_s: float = 0.0  # of waited_s: held by pacing
    yielded_s: float = 0.0  # of waited_s: held to leave the others their need
    expected: int | None = None  # requests the caller still expects to send (None: not said)

    @property
    def left_to_others(self) -> int:
        """Requests kept for the others above the floor at this moment."""
        return max(0, (self.reserve_now or 0) - (self.reserve or 0))


class RateBudget:
    def __init__(self, clock: ServerClock, reserve: int | None = None, max_wait_s: float | None = None,
                 on_wait: WaitListener | None = None, policy: str = "adaptive",
                 window_s: float = HOUR_S) -> None:
        if policy not in BUDGET_POLICIES:
            raise ValueError(f"unknown budget policy {policy!r}: expected one of {', '.join(BUDGET_POLICIES)}")
        self.clock = clock
        self.configured_reserve = reserve
        self.max_wait_s = max_wait_s  # a longer wait for the window raises BudgetExhausted instead
        self.policy = policy
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
        self.waited_s = self.paced_s = self.yielded_s = 0.0
        self._on_wait = on_wait  # told once per held request, before a wait longer than half a second
        # what the others spend, fed every request
        self.neighbours = Neighbours(clock.now, window_s, elapsed=time.monotonic)
        self._tickets = threading.local()  # each thread's requests in flight, oldest first
        self._expected: int | None = None  # requests the caller still expects to send
        self._met_spent_window = False  # unknown work met a spent window: pace from now on
        self._next_paced_at = 0.0  # server time the next paced request may go
        self._spacing = 0.0  # the last pacing interval
        self._remaining_ticket: int | None = None  # the request whose answer told `remaining`

    @property
    def reserve(self) -> int:
        """The floor: budget_reserve, or 10% of the limit."""
        if self.limit is None:
            return self.configured_reserve or 0
        wanted = self.limit // 10 if self.configured_reserve is None else self.configured_reserve
        return max(0, min(wanted, self.limit - 1))  # a reserve of the whole limit would stop us for good

    def reserve_at(self, now: float) -> int:
        """The floor, or (adaptive) the others' need until the reset if larger (rolling: their need beyond their
        requests in the window)."""
        floor = self.reserve
        if self.policy == "fixed" or self.reset is None or self.limit is None:
            return floor
        others = self.neighbours.estimate()
        if others.window_kind == "rolling":
            return min(self.limit - 1, self._room_kept(others.this_window or 0))
        rate = others.rate_per_s
        if not rate:
            return floor
        need = math.ceil(rate * max(0.0, self.reset - now) * MARGIN) + 1
        return min(self.limit - 1, max(floor, need))

    def _room_kept(self, seen: int) -> int:
        """Rolling: the room kept for the others beyond the `seen` requests they have in the window (which age out
        as they send the next ones): the larger of the floor and the margin on their use."""
        return max(self.reserve, math.ceil(seen * MARGIN) + 1 - seen)

    def expect(self, requests: int | None) -> None:
        """The caller's estimate of the requests it is about to send (None: unknown). Work that fits in what the
        window allows is not paced; more than that is spread over the window."""
        with self._cond:
            self._expected = None if requests is None else max(0, requests)
            self._met_spent_window = False
            self._cond.notify_all()

    # -- the gate ------------------------------------------------------------------------------------------
    def acquire(self) -> None:
        """Block until one more request fits the budget, then count it as in flight."""
        started = time.monotonic()
        announced = False
        with self._cond:
            while True:
                delay, reason = self._blocked_for()
                if delay == 0:
                    break
                if delay is not None and reason == "rate limit window" and self.max_wait_s is not None \
                        and delay > self.max_wait_s:
                    raise BudgetExhausted(self.clock.now() + delay)
                if delay is not None and delay > 0.5 and not announced:
                    announced = True
                    if self._on_wait is not None:
                        self._on_wait(delay, reason)
                held = time.monotonic()
                self._cond.wait(timeout=None if delay is None else min(delay, 5.0))
                if reason == "pacing":
                    self.paced_s += time.monotonic() - held
                elif reason == "others' share":
                    self.yielded_s += time.monotonic() - held
            self.in_flight += 1
            self.requests += 1
            if self._expected is not None:
                self._expected = max(0, self._expected - 1)
            self._my_tickets().append(self.neighbours.sent())
        held_s = time.monotonic() - started
        if held_s > 0.001:
            with self._cond:
                self.waited_s += held_s

    def _blocked_for(self) -> tuple[float | None, str]:
        """(0, _) to go now; (seconds, why) to wait on the server's clock; (None, _) to wait for a response."""
        now = self.clock.now()
        window = "rate limit window"
        if self._resume_at is not None:
            if now < self._resume_at:
                return self._resume_at - now, window
            self._resume_at = None
        if self.remaining is not None and self.reset is not None and now >= self.reset:
            self.remaining = None  # the window has turned: what we knew is stale
            self.unanswered = 0
        if self.remaining is None:
            if self.in_flight:
                return None, ""
            self._next_paced_at = max(self._next_paced_at, now + self._spacing)  # a lone probe spends a paced turn
            return 0, ""
        # rolling: ours that aged out of the window since `remaining` was told are back (the reset, in whole
        # seconds, comes up to a second after the oldest request ages out: a long time in a compressed window)
        aged, next_aged = self.neighbours.aged_out(self._remaining_ticket)
        left = self.remaining + aged - self.unanswered - self.in_flight - 1  # what would remain after one more
        reserve = self.reserve_at(now)
        if left >= reserve:
            return self._paced_for(now, left - reserve + 1)
        if self.in_flight:
            return None, ""  # their answers may change what we know; wake on release
        until_reset = max(0.01, min((self.reset or now) - now, math.inf if next_aged is None else next_aged))
        if left >= self.reserve:  # above the floor: held only for the others' need, which shrinks as time passes
            return min(until_reset, STALE_CHECK_S), "others' share"
        if not self._expected and self.policy == "adaptive":
            self._met_spent_window = True  # more work than said (or unsaid) did not fit: spread it from now on
        return until_reset, window

    def _paced_for(self, now: float, allowed: int) -> tuple[float, str]:
        """Pacing: when the expected work is more than the `allowed` requests the window still has for us, the
        next request goes no sooner than an even share of the time left to the reset after the last one."""
        if not self.is_paced(allowed):
            return 0, ""
        if now < self._next_paced_at:
            return self._next_paced_at - now, "pacing"
        until_reset = max(0.0, (self.reset or now) - now)
        self._spacing = PACE_AHEAD * until_reset / max(1, allowed)
        others = self.neighbours.estimate()
        unsure = not self.neighbours.kind_known and until_reset < UNSURE_RESET_S and \
            (others.this_window or 0) > self.reserve
        if (others.window_kind == "rolling" or unsure) and self.limit is not None:
            # a rolling window's reset is only when its oldest request ages out: spread what a whole window
            # allows us over a whole window instead (its slots then come back as evenly as they were spent). No
            # PACE_AHEAD here: there is no reset to meet, and going faster than the slots come back meets the floor
            # Ours is what the others and the larger of the floor and their need leave: their requests in the
            # window age out as they send the next ones, so their need beyond those is the margin on them
            seen = others.this_window or 0
            ours = self.limit - seen - self._room_kept(seen)
            rolling = others.window_s / max(1, ours)
            # unsure (no window turn or creep seen yet) with the reset close and others in the window: a fixed
            # window's last seconds, or a rolling window whose oldest requests, theirs, age out soon (they were busy
            # before we came). Spend at the rolling pace until the reset, when the headers tell which. (Alone, a
            # rolling window's reset is a window after our first request: it is not close.)
            self._spacing = rolling if not unsure else max(self._spacing, min(rolling, until_reset))
        self._next_paced_at = now + self._spacing
        return 0, ""

    def is_paced(self, allowed: int) -> bool:
        if self.policy == "fixed":
            return False
        if not self._expected:
            return self._met_spent_window
        return self._expected > allowed

    def release(self, headers: Mapping[str, str] | None, status: int | None) -> None:
        """Account for a finished request: its headers (if it got any) update what we know of the window."""
        with self._cond:
            self.in_flight -= 1
            tickets = self._my_tickets()
            ticket = tickets.popleft() if tickets else None
            if ticket is not None:
                self._observe(ticket, headers, status)
            if headers is not None:
                self._learn(headers, throttled=status == 429, ticket=ticket)
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

    def _learn(self, headers: Mapping[str, str], throttled: bool, ticket: int | None = None) -> None:
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
        # (rolling: so is the answer to a request sent later, though more may remain as old requests aged out)
        later = ticket is not None and self._remaining_ticket is not None and ticket > self._remaining_ticket
        if self.reset is None or self.remaining is None or reset > self.reset or (
                reset == self.reset and (remaining < self.remaining or (
                    later and self.neighbours.kind == "rolling"))):
            self.reset, self.remaining = float(reset), remaining
            self._remaining_ticket = ticket

    def stats(self) -> BudgetStats:
        with self._cond:
            others = self.neighbours.estimate()
            known = self.limit is not None
            now = self.clock.now()
            allowed = (self.remaining - self.unanswered - self.in_flight - self.reserve_at(now)
                       if self.remaining is not None else 0)
            return BudgetStats(self.requests, self.retries, self.throttled, self.waited_s, self.limit,
                               self.remaining, self.reset, self.reserve if known else None,
                               others.this_window, others.rate_per_s, others.previous_window, self.policy,
                               self.reserve_at(now) if known else None, others.window_kind, others.window_s,
                               self.remaining is not None and self.is_paced(allowed), self.paced_s, self.yielded_s,
                               self._expected)


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
