"""`accelo-kit` on the command line: sync, plan, status and the simulator. Each is a thin shell over a module.

Exit codes: 0 success; 1 the sync or plan failed (the message says which entity and why); 2 bad configuration or
usage; 3 stopped early because the hourly budget is spent (the next run carries on); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .budget import HOURLY_LIMIT, MARGIN
from .config import BUDGET_POLICIES
from .errors import AcceloError, ConfigError

if TYPE_CHECKING:
    from .sync.cost import Plan

EXIT_FAILED, EXIT_USAGE, EXIT_DEFERRED, EXIT_INTERRUPTED = 1, 2, 3, 130


def _fail(message: str, code: int) -> int:
    print(f"accelo-kit: {message}", file=sys.stderr)
    return code


# -- sync -----------------------------------------------------------------------------------------------------
def _sync(args: argparse.Namespace) -> int:
    from .report import TqdmProgress, format_summary
    from .runner import run_sync

    if args.simulate and args.config:
        return _fail("choose --config (a real deployment) or --simulate (the embedded simulator), not both",
                     EXIT_USAGE)
    progress = TqdmProgress(file=sys.stderr, disable=args.quiet)
    if args.simulate:
        print("accelo-kit: syncing from the embedded SIMULATOR (simulated data, not a real Accelo deployment)",
              file=sys.stderr)
    report, db, _ = run_sync(args.config, args.db, simulate=args.simulate, entities=args.entities,
                                  threads=args.threads, full_refresh=args.full_refresh,
                                  checkpoint_every=args.checkpoint_every,
                                  payments_full_pass_hours=args.payments_full_pass_hours, progress=progress,
                                  reconcile_deletes=args.reconcile_deletes,
                                  reconcile_every_days=args.reconcile_every_days,
                                  budget_policy=args.budget_policy)
    print(format_summary(report, where=str(db)))
    return EXIT_DEFERRED if report.deferred_until is not None else 0


# -- plan -----------------------------------------------------------------------------------------------------
def _plan(args: argparse.Namespace) -> int:
    from .client import AcceloClient
    from .destinations.duckdb import read_state
    from .paths import default_db, resolve
    from .runner import open_target
    from .sync.cost import plan
    from .sync.state import starting_state

    overrides = {"entities": args.entities, "threads": str(args.threads) if args.threads else None,
                 "budget_policy": args.budget_policy}
    db = resolve(args.db, default_db())
    saved = read_state(db)
    with open_target(args.config, args.simulate, overrides) as target, AcceloClient(target.settings) as client:
        run_start = int(client.server_time())
        state = starting_state(None if args.full_refresh else saved, target.state_target or target.settings.target)
        print(f"plan for {target.label}" + (f" into {db}" if db.exists() else ""))
        for line in plan_lines(plan(client, state, run_start)):
            print(line)
    return 0


def plan_lines(priced: Plan) -> list[str]:
    """The plan as a person reads it: a table per entity, the total, the others' use seen and what the sync will
    take given it under the budget policy (docs/reliability.md, A good neighbour)."""
    from .sync.progress import others_seen, window_name
    from .texttable import format_table

    window = window_name(priced.window_s)
    rows = [{"entity": e.name, "window": e.window, "rows": e.rows, "requests": e.requests,
             "~seconds": f"{priced.seconds(e):.1f}", "of limit": f"{priced.share(e.requests):.1%}"}
            for e in priced.entities]
    total = priced.requests
    seen = others_seen(priced.others_this_window, priced.others_rate_per_s, priced.limit, priced.window_s,
                       when=f"so far in this {window}")
    before = "" if priced.others_previous_window is None else \
        f"; {priced.others_previous_window} in the one before"
    lines = [format_table(rows),
             f"total: {total} requests, about {priced.total_seconds:.0f} s at {priced.threads} threads and "
             f"{priced.latency_s * 1000:.0f} ms a request; {priced.share(total):.1%} of the {window}'s limit of "
             f"{priced.limit}",
             seen[:1].upper() + seen[1:] + before]
    if priced.policy == "fixed":
        kept = f"budget policy fixed: {priced.reserve} kept for them (budget_reserve)"
    else:
        kept = (f"budget policy adaptive: {priced.kept_per_window} kept for them a window (the larger of "
                f"budget_reserve {priced.reserve} and their {priced.others_per_window} × {MARGIN:g})")
    lines.append(f"{kept}; a sync may use {priced.per_window} of each {priced.limit}")
    if priced.fits_now:
        lines.append(f"this sync fits in what the window has left: not paced, about {priced.total_seconds:.0f} s")
    else:
        how = "paced (spread over each window)" if priced.policy == "adaptive" else \
            "as fast as the threads allow, then waiting for each window to reset"
        lines.append(f"this sync does not fit in the window: about {priced.windows:.1f} windows "
                     f"({_duration(priced.windows * priced.window_s)}), {how}")
    lines.append(f"this plan cost {priced.spent} requests; the server says {priced.remaining} remain this {window}")
    return lines


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


# -- status ---------------------------------------------------------------------------------------------------
def _status(args: argparse.Namespace) -> int:
    from .destinations.duckdb import read_state, row_counts
    from .paths import default_db, resolve

    db = resolve(args.db, default_db())
    if not db.exists():
        return _fail(f"{db} does not exist yet: run `accelo-kit sync` first", EXIT_FAILED)
    state = read_state(db)
    if state is None:
        return _fail(f"{db} holds no accelo-kit sync state", EXIT_FAILED)
    print(f"{db}: data from {state.target}" + ("  (SIMULATED data)" if state.simulated else ""))
    counts = row_counts(db, sorted(state.entities))
    for name, entity in sorted(state.entities.items()):
        if entity.cursor is not None:
            position = f"changes written up to {_when(entity.cursor)}"
        elif entity.max_id is not None:
            position = f"new rows written up to id {entity.max_id}, last full pass {_when(entity.full_pass_at)}"
        else:
            position = "refreshed in full every run"
        extra = " (a run was interrupted: the next one resumes it)" if entity.window else ""
        print(f"  {name:<10} {counts[name]:>9} rows  {position}{extra}")
    return 0


def _when(timestamp: int | None) -> str:
    from .servertime import format_utc

    return "-" if timestamp is None else format_utc(timestamp, "Z")


# -- check ----------------------------------------------------------------------------------------------------
def _check(args: argparse.Namespace) -> int:
    import json

    from .check import run_check
    from .runner import open_target

    with open_target(args.config, args.simulate) as target:
        print(f"checking {target.label}")
        report, lines = run_check(target.settings)
    for line in lines:
        print(line)
    for key, value in report.items():
        print(f"  {key:<18} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"report written to {args.json} (no secret or token in it); "
              f"reproduce offline: accelo-kit sim serve --variants {args.json}")
    return 0


# -- sim serve ------------------------------------------------------------------------------------------------
def _sim_serve(args: argparse.Namespace) -> int:
    from .sim import Simulator
    from .sim.settings import coerce_setting

    overrides: dict[str, Any] = {"seed": args.seed, "scale": args.scale, "latency_ms": args.latency_ms,
                                    "workers": args.workers, "rate_limit": args.rate_limit,
                                    "rate_window_s": args.rate_window}
    if args.variants:
        import json

        from .check import simulator_settings

        try:
            overrides.update(simulator_settings(json.loads(Path(args.variants).read_text())))
        except (OSError, ValueError, AttributeError) as err:
            raise SystemExit(f"accelo-kit sim serve: cannot use {args.variants} as variants: {err}") from None
    for item in args.set or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"accelo-kit sim serve: --set wants NAME=VALUE, got {item!r}")
        try:
            overrides[name.strip()] = coerce_setting(name.strip(), value.strip())
        except ValueError as err:
            raise SystemExit(f"accelo-kit sim serve: {err}") from None
    try:
        sim = Simulator(port=args.port, **overrides)
    except ValueError as err:
        raise SystemExit(f"accelo-kit sim serve: {err}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        sim.start()
    except OSError as err:
        raise SystemExit(f"accelo-kit sim serve: cannot listen on 127.0.0.1:{args.port}: {err.strerror}") from None
    for line in (f"base_url: {sim.base_url}", f"client_id: {sim.client_id}", f"client_secret: {sim.client_secret}"):
        print(line)
    sys.stdout.flush()
    sizes = ", ".join(f"{name} {len(sim.store.order[name])}" for name in sim.store.order)
    print(f"accelo-kit simulator {__version__}: SIMULATED data ({sizes}); Ctrl-C stops it", file=sys.stderr)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


# -- wiring ---------------------------------------------------------------------------------------------------
def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="configuration.json (ACCELO_* environment variables fill "
                                                         "what it leaves out)")
    parser.add_argument("--simulate", action="store_true", help="use the embedded Accelo simulator (simulated data)")
    parser.add_argument("--db", metavar="PATH", help="DuckDB file (default: out/accelo.duckdb in the project)")
    parser.add_argument("--entities", metavar="LIST", help="comma list (default: every entity)")
    parser.add_argument("--threads", type=int, metavar="N", help="requests in flight (default 8)")
    parser.add_argument("--full-refresh", action="store_true", help="ignore the saved cursors and fetch everything")
    parser.add_argument("--budget-policy", choices=BUDGET_POLICIES,
                        help="adaptive (default): leave the other integrations what they are seen to need and pace "
                             "a sync that does not fit in the rate window; fixed: keep only budget_reserve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accelo-kit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"accelo-kit {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    commands = parser.add_subparsers(dest="command", required=True)

    sync = commands.add_parser("sync", help="incremental sync into a local DuckDB database")
    _target_options(sync)
    sync.add_argument("--checkpoint-every", type=int, metavar="PAGES", help="commit at least every N pages (10)")
    sync.add_argument("--payments-full-pass-hours", type=float, metavar="H",
                      help="refetch every payment this often to catch edits (24; 0 = every run)")
    sync.add_argument("--reconcile-deletes", action="store_true", default=None,
                      help="look for hard-deleted rows now (an id scan: about rows/100 requests per entity)")
    sync.add_argument("--no-reconcile-deletes", action="store_false", dest="reconcile_deletes",
                      help="never look for hard deletes in this run")
    sync.add_argument("--reconcile-every-days", type=float, metavar="D",
                      help="look for hard deletes this often (7); staff every run, for free")
    sync.add_argument("--quiet", action="store_true", help="no progress bars")
    sync.set_defaults(run=_sync)

    plan = commands.add_parser("plan", help="what a sync would fetch, cost and take, from /count")
    _target_options(plan)
    plan.set_defaults(run=_plan)

    status = commands.add_parser("status", help="what a sync database holds")
    status.add_argument("--db", metavar="PATH", help="DuckDB file (default: out/accelo.duckdb in the project)")
    status.set_defaults(run=_status)

    sim = commands.add_parser("sim", help="the Accelo simulator").add_subparsers(dest="sim_command", required=True)
    serve = sim.add_parser("serve", help="serve a simulated Accelo deployment on 127.0.0.1 until interrupted")
    serve.add_argument("--port", type=int, default=0, help="TCP port (0 picks a free one; the banner says which)")
    serve.add_argument("--seed", type=int, default=1, help="data seed: the same seed gives the same data")
    serve.add_argument("--scale", type=float, default=1.0, help="multiply the default table sizes")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="base service time of each request")
    serve.add_argument("--workers", type=int, default=8, help="requests served at once; the rest queue")
    serve.add_argument("--rate-limit", type=int, default=HOURLY_LIMIT, help="requests per window")
    serve.add_argument("--rate-window", type=float, default=3600.0, help="window length in seconds")
    serve.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="any other simulator setting, e.g. count_type=number, rate_window=rolling, "
                            "sizes=companies:500,staff:20 (docs/simulator.md)")
    serve.add_argument("--variants", metavar="REPORT", help="a report from `accelo-kit check --json`: serve the "
                                                               "variants a real deployment showed")
    serve.set_defaults(run=_sim_serve)

    check = commands.add_parser("check", help="verify credentials and probe how a deployment behaves (~7 requests)")
    check.add_argument("--config", metavar="PATH", help="configuration.json (ACCELO_* environment fills gaps)")
    check.add_argument("--simulate", action="store_true", help="check the embedded simulator instead")
    check.add_argument("--json", metavar="PATH", help="write the report here")
    check.set_defaults(run=_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args))
    except ConfigError as err:
        hint = "" if getattr(args, "simulate", True) else "\n(no Accelo account at hand? add --simulate)"
        return _fail(f"{err}{hint}", EXIT_USAGE)
    except AcceloError as err:
        return _fail(str(err), EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail("interrupted; committed work is kept and the next run resumes from it", EXIT_INTERRUPTED)


if __name__ == "__main__":
    raise SystemExit(main())
