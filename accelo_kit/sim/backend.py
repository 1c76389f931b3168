"""What the HTTP handler and the control endpoints need of a simulator, as a protocol: they are given the
`Simulator` that starts them, and naming its shape here (instead of importing `simulator.py`, which imports them)
keeps the simulator's modules free of import cycles."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from .auth import TokenIssuer
from .faults import Faults
from .log import RequestLog
from .neighbours import Neighbours
from .ratelimit import RateLimiter
from .render import Renderer
from .settings import SimSettings
from .store import Store


class SimBackend(Protocol):
    settings: SimSettings
    store: Store
    tokens: TokenIssuer
    rate: RateLimiter
    faults: Faults
    log: RequestLog
    renderer: Renderer
    workers: threading.BoundedSemaphore
    neighbours: Neighbours

    def clock(self) -> float: ...

    def set(self, **changes: Any) -> None: ...

    def service_time(self, rows: int) -> float: ...

    def token_info(self, authorization: str) -> dict[str, str]: ...

    def truth(self, resource: str) -> list[dict[str, Any]]: ...

    def insert(self, resource: str, count: int = 1, at: int | None = None, **overrides: Any) -> list[int]: ...

    def modify(self, resource: str, ids: list[int] | None = None, count: int = 1, at: int | None = None,
               **overrides: Any) -> list[int]: ...

    def delete(self, resource: str, ids: list[int] | None = None, count: int = 1) -> list[int]: ...
