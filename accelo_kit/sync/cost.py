"""What a sync costs in requests, before it runs: the formula, the id-scan check the engine makes before a
delete reconciliation, and the whole plan `accelo-kit plan` prints (docs/sync.md; docs/accelo-api.md, Rate limit)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..budget import HOURLY_LIMIT, MARGIN, BudgetStats
from ..client import AcceloClient
from ..entities import ENTITIES
from ..neighbours import HOUR_S
from ..paging import PAGE_SIZE
from . import windows
from .state import SyncState
from .windows import DEFAULT_PAYMENTS_FULL_PASS_S


def request_cost(rows: int, ranges: int = 1) -> int:
    """Requests a keyset scan of `rows` rows costs: its full pages plus, per id range it is split into, the one
    page (short or empty, or the top probe) that ends the range."""
    return math.ceil(rows / PAGE_SIZE) + ranges


def fits(cost: int, stats: BudgetStats) -> bool:
    """Whether `cost` requests fit in what the rate window has left above the reserve, the others' need included
    under the adaptive policy (unknown: assume so)."""
    return stats.remaining is None or stats.remaining - max(stats.reserve or 0, stats.reserve_now or 0) >= cost


@dataclass(frozen=True)
class EntityPlan:
    name: str
    window: str  # the window kind the next run fetches: modified / new / full
    rows: int  # what /count says that window holds
    requests: int


@dataclass(frozen=True)
class Plan:
    """The next run's requests per entity, and what they take at the latency the counts met and, given what the
    other integrations were seen to use, in rate windows (docs/reliability.md, A good neighbour)."""

    entities: list[EntityPlan]
    latency_s: float  # mean seconds a /count request took
    threads: int
    limit: int  # requests per window: the server's X-RateLimit-Limit, or Accelo's documented limit
    reserve: int  # the floor: budget_reserve, or 10% of the limit
    spent: int  # requests the plan itself cost (the counts and a token's server time)
    remaining: int | None  # what the server says remains this window
    policy: str = "adaptive"  # budget_policy
    window_s: float = HOUR_S
    reserve_now: int | None = None  # what the budget keeps now: the floor, or the others' need until the reset
    others_this_window: int | None = None  # the other integrations' requests in this window so far
    others_previous_window: int | None = None
    others_rate_per_s: float | None = None

    @property
    def requests(self) -> int:
        return sum(e.requests for e in self.entities)

    def seconds(self, entity: EntityPlan) -> float:
        """About how long an entity takes: its requests spread over the threads it can use."""
        return entity.requests * self.latency_s / min(self.threads, entity.requests)

    @property
    def total_seconds(self) -> float:
        return self.requests * self.latency_s / self.threads

    @property
    def others_per_window(self) -> int:
        """The other integrations' requests in a whole window at the rate they were seen to keep."""
        return round((self.others_rate_per_s or 0) * self.window_s)

    @property
    def kept_per_window(self) -> int:
        """What the kit leaves in each window: the reserve; under the adaptive policy, the others' use × MARGIN
        when that is more."""
        if self.policy == "fixed":
            return self.reserve
        return min(self.limit - 1, max(self.reserve, math.ceil(self.others_per_window * MARGIN)))

    @property
    def per_window(self) -> int:
        """What the sync may spend of each window."""
        return max(1, self.limit - self.kept_per_window)

    @property
    def windows(self) -> float:
        """Rate windows the budget needs for the whole plan, what is left to the others kept."""
        return self.requests / self.per_window

    @property
    def hours(self) -> float:
        return self.windows * self.window_s / HOUR_S

    @property
    def fits_now(self) -> bool:
        """Whether the plan fits in what this window still has above what is kept: then it is not paced."""
        kept = max(self.reserve, self.reserve_now or 0) if self.policy == "adaptive" else self.reserve
        return self.remaining is None or self.remaining - kept >= self.requests

    def share(self, requests: int) -> float:
        """`requests` as a share of the window's limit."""
        return requests / self.limit


def plan(client: AcceloClient, state: SyncState, run_start: int,
         payments_full_pass_s: int = DEFAULT_PAYMENTS_FULL_PASS_S) -> Plan:
    """Count what each of the client's entities' next window holds (one request each) and price it."""
    settings = client.settings
    entities, spent_s = [], 0.0
    for name in settings.entities:
        entity = ENTITIES[name]
        window = windows.next_window(entity, state.entity(name), run_start, settings, payments_full_pass_s)
        started = time.monotonic()
        rows = client.count(name, windows.count_filters(entity, window))
        spent_s += time.monotonic() - started
        entities.append(EntityPlan(name, window.kind, rows, request_cost(rows)))
    stats = client.stats()
    return Plan(entities, spent_s / max(1, len(entities)), settings.threads, stats.limit or HOURLY_LIMIT,
                stats.reserve or 0, stats.requests, stats.remaining, stats.policy, stats.window_s, stats.reserve_now,
                stats.others_this_window, stats.others_previous_window, stats.others_rate_per_s)
