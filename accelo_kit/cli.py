"""`accelo-kit` on the command line. Subcommands grow with the kit; each is a thin shell over a module."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from . import __version__


def _sim_serve(args: argparse.Namespace) -> int:
    from .sim import Simulator
    from .sim.settings import coerce_setting

    overrides: dict[str, object] = {"seed": args.seed, "scale": args.scale, "latency_ms": args.latency_ms,
                                    "workers": args.workers, "rate_limit": args.rate_limit,
                                    "rate_window_s": args.rate_window}
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accelo-kit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"accelo-kit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    sim = commands.add_parser("sim", help="the Accelo simulator").add_subparsers(dest="sim_command", required=True)
    serve = sim.add_parser("serve", help="serve a simulated Accelo deployment on 127.0.0.1 until interrupted")
    serve.add_argument("--port", type=int, default=0, help="TCP port (0 picks a free one; the banner says which)")
    serve.add_argument("--seed", type=int, default=1, help="data seed: the same seed gives the same data")
    serve.add_argument("--scale", type=float, default=1.0, help="multiply the default table sizes")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="base service time of each request")
    serve.add_argument("--workers", type=int, default=8, help="requests served at once; the rest queue")
    serve.add_argument("--rate-limit", type=int, default=5000, help="requests per window")
    serve.add_argument("--rate-window", type=float, default=3600.0, help="window length in seconds")
    serve.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="any other simulator setting, e.g. count_type=number, rate_window=rolling, "
                            "sizes=companies:500,staff:20 (see README)")
    serve.set_defaults(run=_sim_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
