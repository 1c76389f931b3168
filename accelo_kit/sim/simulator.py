"""The simulator as one object: start it, point a client at `base_url`, inject faults, mutate data, read the log."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

from .auth import TokenIssuer
from .errors import ApiError
from .faults import Faults
from .log import RequestLog
from .neighbours import Neighbours, NeighbourSpec, parse_neighbours
from .ratelimit import RateLimiter
from .render import Renderer
from .schema import RESOURCES
from .server import SimServer, jittered
from .settings import SimSettings
from .store import Store

RATE_FIELDS = ("rate_limit", "rate_window_s", "rate_window")
DATA_FIELDS = frozenset({"seed", "scale", "sizes", "id_layout", "anchor"})
LOCKOUT_FIELDS = ("lockout_threshold", "lockout_window_s", "lockout_s")


class Simulator:
    """A simulated Accelo deployment served over real HTTP on 127.0.0.1.

    >>> with Simulator(seed=7, sizes={"companies": 250}) as sim:
    ...     sim.base_url  # doctest: +SKIP
    'http://127.0.0.1:40123'
    """

    def __init__(self, settings: SimSettings | None = None, *, port: int = 0, **overrides: Any) -> None:
        self.settings = (settings or SimSettings()).replace(**overrides)
        self.port = port
        self.store = Store(self.settings, self.clock)
        self.tokens = TokenIssuer(self.settings)
        self.rate = RateLimiter(self.settings.rate_limit, self.settings.rate_window_s, self.settings.rate_window)
        self.faults = Faults(self.settings.fault_seed)
        self.log = RequestLog()
        self.neighbours = Neighbours(self.clock, lambda: self.rate, self.log)
        self.renderer = Renderer(self.store.tables, self.settings.unset_date)
        self.workers = threading.BoundedSemaphore(self.settings.workers)
        self._latency_rng = random.Random(self.settings.seed)
        self._latency_lock = threading.Lock()
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------------------------
    def clock(self) -> float:
        """The server's clock (what its Date header says), possibly skewed from the host's."""
        return time.time() + self.settings.clock_offset_s

    def start(self) -> str:
        if self._server is None:
            self._server = SimServer(self, self.port)
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="accelo-sim", daemon=True)
            self._thread.start()
            self.neighbours.reopen()
            self.neighbours.configure(parse_neighbours(self.settings.neighbours))
        return self.base_url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.neighbours.close()
        server.stopping.set()
        server.shutdown()
        server.close_all_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() or use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def client_id(self) -> str:
        return self.settings.client_id

    @property
    def client_secret(self) -> str:
        return self.settings.client_secret

    def configuration(self) -> dict[str, str]:
        """The configuration.json a client needs to reach this simulator (all values strings)."""
        values = {"base_url": self.base_url, "client_id": self.client_id, "client_secret": self.client_secret}
        if self.settings.rate_window_s != 3600:  # a compressed window: the kit's pacing needs its length
            values["rate_window_seconds"] = f"{self.settings.rate_window_s:g}"
        return values

    def set(self, **changes: Any) -> None:
        """Change settings while serving (a variant switch, the latency, the rate limit...).

        Data settings are refused: the tables were generated once, and changing the seed under them would lie.
        """
        frozen = sorted(set(changes) & DATA_FIELDS)
        if frozen:
            raise ValueError(f"{', '.join(frozen)} shape the generated data: start a new Simulator to change them")
        self.settings = self.settings.replace(**changes)
        self.tokens.settings = self.settings
        self.renderer.unset_date = self.settings.unset_date
        if any(name in changes for name in RATE_FIELDS):
            self.rate = RateLimiter(self.settings.rate_limit, self.settings.rate_window_s, self.settings.rate_window)
        if "workers" in changes:
            self.workers = threading.BoundedSemaphore(self.settings.workers)
        if any(name in changes for name in LOCKOUT_FIELDS):  # keeps the failures and lockouts already counted
            self.tokens.lockout.configure(self.settings.lockout_threshold, self.settings.lockout_window_s,
                                          self.settings.lockout_s)
        if "fault_seed" in changes:
            self.faults.reseed(self.settings.fault_seed)
        if "neighbours" in changes and self._server is not None:
            self.neighbours.configure(parse_neighbours(self.settings.neighbours))

    # -- other integrations on the deployment (sim/neighbours.py) -------------------------------------------
    def start_neighbour(self, spec: NeighbourSpec | str, name: str = "", delay_s: float = 0.0,
                        stop_after_s: float | None = None) -> str:
        """Start a background integration now (or `delay_s` from now) that spends the same rate window; its name.

        `spec` is a NeighbourSpec or its text form (`steady:2.5`, `burst:30/3s/every60s`); `stop_after_s` stops it
        that long from now. Restarting a known name restarts its schedule and keeps its counts."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: start it before its neighbours")
        return self.neighbours.start(spec, name, delay_s, stop_after_s)

    def stop_neighbour(self, name: str | None = None, after_s: float = 0.0) -> list[str]:
        """Stop one neighbour (all when `name` is None) now or `after_s` from now; the names stopped."""
        return self.neighbours.stop(name, after_s)

    def neighbour_summary(self) -> dict[str, dict[str, Any]]:
        """Per neighbour: `spec`, `active`, `sent`, `counted`, `refused` (429s), and `windows` (the same per rate
        window: `start`, `sent`, `refused`)."""
        return self.neighbours.summary()

    # -- behaviour the server asks for ---------------------------------------------------------------------
    def service_time(self, rows: int) -> float:
        base = (self.settings.latency_ms + self.settings.per_row_ms * rows) / 1000
        if not base:
            return 0.0
        with self._latency_lock:
            return jittered(self._latency_rng, base, self.settings.jitter)

    def token_info(self, authorization: str) -> dict[str, str]:
        token = self.tokens.authenticate({"authorization": authorization}, "", self.clock())
        return {"expiry_date": str(int(token.expires_at)), "deployment": self.settings.deployment,
                "staff_id": str(token.staff_id), "scope": token.scope}

    # -- observing and steering ----------------------------------------------------------------------------
    def truth(self, resource: str) -> list[dict[str, Any]]:
        """The current full dataset of `resource`, every field, in Accelo's wire shape, ascending id."""
        spec = RESOURCES[resource]
        with self.store.lock:
            return [self.renderer.full(spec, row) for row in self.store.truth(resource)]

    def revoke_tokens(self) -> int:
        return self.tokens.revoke_all()

    def insert(self, resource: str, count: int = 1, at: int | None = None, **overrides: Any) -> list[int]:
        return self.store.insert(resource, count, at, **overrides)

    def modify(self, resource: str, ids: list[int] | None = None, count: int = 1, at: int | None = None,
               **overrides: Any) -> list[int]:
        return self.store.modify(resource, ids, count, at, **overrides)

    def delete(self, resource: str, ids: list[int] | None = None, count: int = 1) -> list[int]:
        return self.store.delete(resource, ids, count)

    def undelete(self, resource: str, ids: list[int]) -> list[int]:
        return self.store.undelete(resource, ids)


@contextlib.contextmanager
def serve(settings: SimSettings | None = None, **overrides: Any) -> Iterator[str]:
    """Run a simulator for the length of a `with` block and yield its base URL."""
    with Simulator(settings, **overrides) as sim:
        yield sim.base_url


__all__ = ["ApiError", "Simulator", "serve"]
