"""An Accelo simulator: a real HTTP server on 127.0.0.1 that behaves as the API reference says, with faults.

Use it as the embedded default for demos, notebooks, tests and benchmarks:

    from accelo_kit.sim import Simulator
    with Simulator(seed=1) as sim:
        print(sim.base_url, sim.client_id)
"""

from .faults import FAULT_KINDS
from .log import LogEntry, RequestLog
from .schema import LISTABLE, RESOURCES
from .settings import DEFAULT_SIZES, SimSettings
from .simulator import Simulator, serve

__all__ = [
    "DEFAULT_SIZES",
    "FAULT_KINDS",
    "LISTABLE",
    "RESOURCES",
    "LogEntry",
    "RequestLog",
    "SimSettings",
    "Simulator",
    "serve",
]
