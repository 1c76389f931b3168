"""One benchmark sync in a fresh process: `python -m bench.driver CONFIG DB THREADS [THREADS ...]`.

Prints one JSON line per run (several runs share the process: the baseline is measured beside the real thing).
Wall time runs from just before the sync's first request to its last commit; start-up is reported apart."""

from __future__ import annotations

import json
import resource
import sys
import time

STARTED = time.time()


def main() -> None:
    config, db, *threads = sys.argv[1:]
    from accelo_kit.client import AcceloClient
    from accelo_kit.config import Settings
    from accelo_kit.destinations.duckdb import DuckDBDestination
    from accelo_kit.sync import SyncOptions, sync

    imported = time.time()
    for count in threads:
        settings = Settings.load(config, environ={}, threads=count)
        target = f"{db}.t{count}"
        with AcceloClient(settings) as client, DuckDBDestination(target) as destination:
            client.server_time()  # the token: not part of the sync's wall time, and free of the budget
            began = time.time()
            report = sync(client, destination, options=SyncOptions())
            ended = time.time()
        print(json.dumps({
            "threads": int(count), "db": target, "began": began, "ended": ended, "wall_s": ended - began,
            "startup_s": imported - STARTED, "requests": report.requests, "retries": report.retries,
            "throttled": report.throttled, "waited_s": report.waited_s,
            "rows": sum(e.rows for e in report.entities.values()),
            "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }), flush=True)


if __name__ == "__main__":
    main()
