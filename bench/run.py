"""`make bench` / `make bench-quick`: run the workloads, print a table, write bench/results/latest.json.

The simulator runs in another process; the ideal is built from its *service* times (not what the client saw, which
includes queueing the client caused); wall time runs from a sync's first request to its last commit; memory is the
peak RSS of a sync subprocess; budget use is counted per server window, 429s included.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from accelo_kit.paging import PAGE_SIZE
from accelo_kit.texttable import format_table
from bench import simproc

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
FULL_SIZES = {"companies": 20_000, "invoices": 30_000, "payments": 20_000, "prospects": 8_000, "jobs": 12_000,
              "staff": 400}
LATENCY = {"latency_ms": 50.0, "per_row_ms": 0.5, "workers": 8}


def scaled(sizes: dict[str, int], factor: float) -> dict[str, int]:
    return {name: max(1, round(n * factor)) for name, n in sizes.items()}


def drive(sim: simproc.SimProcess, workdir: Path, threads: list[int], name: str, **config: str) -> list[dict]:
    """Run the driver subprocess: one sync per thread count, into fresh databases."""
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(sim.configuration(**config)))
    done = subprocess.run([sys.executable, "-m", "bench.driver", str(path), str(workdir / f"{name}.duckdb"),
                           *map(str, threads)], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark driver failed:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def served(log: list[dict], run: dict) -> list[dict]:
    """API requests the simulator served during one run."""
    return [e for e in log if e["path"].startswith("/api/") and run["began"] - 0.5 <= e["started"] <= run["ended"]]


def efficiency(log: list[dict], run: dict, workers: int) -> dict[str, Any]:
    entries = served(log, run)
    first = min(e["started"] for e in entries)
    wall = run["ended"] - first
    mean_latency = statistics.fmean(e["service_s"] for e in entries)
    ideal = len(entries) * mean_latency / min(run["threads"], workers)
    return {"threads": run["threads"], "pages": len(entries), "rows": run["rows"], "wall_s": round(wall, 3),
            "mean_latency_ms": round(mean_latency * 1000, 2), "ideal_s": round(ideal, 3),
            "efficiency": round(ideal / wall, 3), "retries": run["retries"], "throttled": run["throttled"],
            "startup_s": round(run["startup_s"], 3)}


# -- workloads --------------------------------------------------------------------------------------------------
def full_sync(workdir: Path, factor: float) -> dict[str, Any]:
    """1 and 2: a full sync, latency-bound, beside threads=1 in the same process; then a no-change re-run."""
    sizes = scaled(FULL_SIZES, factor)
    with simproc.start(sizes=sizes, **LATENCY) as sim:
        fast, slow = drive(sim, workdir, [8, 1], "full")
        log = sim.log()
        result = efficiency(log, fast, LATENCY["workers"])
        baseline = efficiency(log, slow, LATENCY["workers"])
        result["baseline_threads_1"] = baseline
        result["speedup_vs_threads_1"] = round(baseline["wall_s"] / result["wall_s"], 2)
        rows = fast["rows"]
        minimum = sum(math.ceil(n / PAGE_SIZE) for n in sizes.values())
        sim.clear_log()
        rerun = _rerun(sim, workdir, fast["db"])
        economy = {"rows": rows, "requests": fast["requests"], "physical_minimum": minimum,
                   "requests_per_1000_rows": round(1000 * fast["requests"] / rows, 2),
                   "extra_requests": fast["requests"] - minimum,
                   "no_change_rerun_requests": rerun,
                   "no_change_formula": 4 + 1 + math.ceil(sizes["staff"] / PAGE_SIZE)}
    return {"sizes": sizes, "simulator": LATENCY, "latency_bound": result, "request_economy": economy}


def _rerun(sim: simproc.SimProcess, workdir: Path, db: str) -> int:
    path = workdir / "rerun.json"
    path.write_text(json.dumps(sim.configuration(threads="8")))
    code = ("import sys; from accelo_kit.runner import run_sync; "
            "r, _, _ = run_sync(sys.argv[1], sys.argv[2]); print(r.requests)")
    done = subprocess.run([sys.executable, "-c", code, str(path), db], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return int(done.stdout.strip().splitlines()[-1])


def rate_bound(workdir: Path, factor: float) -> dict[str, Any]:
    """3: more pages than one window allows; requests used per window against the allowance, and 429s."""
    limit, window = (300, 30.0) if factor >= 1 else (60, 6.0)
    pages_wanted = int(limit * 2.6)
    sizes = {"companies": pages_wanted * 100 // 2, "invoices": pages_wanted * 100 // 2, "payments": 1, "prospects": 1,
             "jobs": 1, "staff": 1}
    with simproc.start(sizes=sizes, latency_ms=5.0, workers=8, rate_limit=limit, rate_window_s=window) as sim:
        (run,) = drive(sim, workdir, [8], "rate")
        log = sim.log()
    reserve = limit // 10
    allowance = limit - reserve
    counted = Counter(math.floor(e["started"] / window) for e in served(log, run) if e["counted"])
    windows = sorted(counted)
    full = [counted[w] for w in windows[1:-1]]  # the first and last windows are partial by nature
    return {"limit": limit, "window_s": window, "reserve": reserve, "allowance": allowance,
            "used_per_window": [counted[w] for w in windows],
            "use_of_allowance_full_windows": round(statistics.fmean(full) / allowance, 3) if full else None,
            "max_in_a_window": max(counted.values()), "over_allowance": max(counted.values()) > allowance,
            "throttled_429": sum(1 for e in served(log, run) if e["status"] == 429), "rows": run["rows"]}


def _rate_run(workdir: Path, name: str, limit: int, window: float, kind: str, policy: str,
              neighbour: str = "") -> dict[str, Any]:
    """One sync of about 2.6 windows' worth of pages into a fresh database, under `policy`, beside `neighbour`
    (a simulator neighbour spec, or none): its time, 429s, and the kit's and the neighbour's use of each window."""
    pages_wanted = int(limit * 2.6)
    sizes = {"companies": pages_wanted * 100 // 2, "invoices": pages_wanted * 100 // 2, "payments": 1, "prospects": 1,
             "jobs": 1, "staff": 1}
    extra = {"neighbours": f"n={neighbour}"} if neighbour else {}
    with simproc.start(sizes=sizes, latency_ms=5.0, workers=8, rate_limit=limit, rate_window_s=window,
                       rate_window=kind, **extra) as sim:
        (run,) = drive(sim, workdir, [8], name, budget_policy=policy)
        log = sim.log()
        theirs = sim.neighbours().get("n", {})
    mine = served(log, run)
    kit = Counter(math.floor(e["started"] / window) for e in mine if e["counted"] and not e.get("neighbour"))
    other = Counter(math.floor(e["started"] / window) for e in log
                    if e.get("neighbour") and e["counted"] and run["began"] <= e["started"] <= run["ended"])
    spans = sorted(kit)
    return {"policy": policy, "window": kind, "neighbour": neighbour or None, "wall_s": round(run["wall_s"], 2),
            "rows": run["rows"], "kit_429": run["throttled"], "neighbour_429": theirs.get("refused", 0),
            "neighbour_sent": theirs.get("sent", 0), "kit_per_window": [kit[w] for w in spans],
            "neighbour_per_window": [other[w] for w in spans],
            "kit_share_full_windows": [round(kit[w] / limit, 2) for w in spans[1:-1]]}


def _efficiency_by_policy(workdir: Path, factor: float) -> dict[str, Any]:
    """Workload 1's full sync (it fits the hourly budget: nothing to pace) under each policy, alternating, three
    times each: the medians of its efficiency and their ratio."""
    found: dict[str, list[float]] = {"fixed": [], "adaptive": []}
    with simproc.start(sizes=scaled(FULL_SIZES, factor), **LATENCY) as sim:
        for n in range(3):
            for policy, runs in found.items():
                (run,) = drive(sim, workdir, [8], f"latency-{policy}-{n}", budget_policy=policy)
                runs.append(efficiency(sim.log(), run, LATENCY["workers"])["efficiency"])
                sim.clear_log()
    median = {policy: statistics.median(runs) for policy, runs in found.items()}
    return {"runs": found, "median": median, "adaptive_over_fixed": round(median["adaptive"] / median["fixed"], 3)}


def neighbours(workdir: Path, factor: float) -> dict[str, Any]:
    """8: the good-neighbour policy. Without a neighbour, the adaptive policy against the fixed one (median of three
    runs each, fixed and rolling windows): total time and use of the allowance. With a steady neighbour at 40% of the
    window and a bursty one (30% of the window in 3 s, every window): the neighbour's 429s, the kit's share of each
    window and its total time against the no-neighbour run, under both policies."""
    limit, window = (120, 8.0) if factor >= 1 else (60, 4.0)
    kinds = ["fixed", "rolling"] if factor >= 1 else ["fixed"]
    steady = f"steady:{0.4 * limit / window:g}"
    burst = f"burst:{int(0.3 * limit)}/3s/every{window:g}s"
    out: dict[str, Any] = {"limit": limit, "window_s": window, "reserve": limit // 10,
                           "steady": steady, "burst": burst, "by_window": {},
                           "latency_bound_efficiency": _efficiency_by_policy(workdir, factor)}
    for kind in kinds:
        alone = {policy: [_rate_run(workdir, f"alone-{kind}-{policy}-{n}", limit, window, kind, policy)
                          for n in range(3)] for policy in ("fixed", "adaptive")}
        median = {policy: statistics.median(r["wall_s"] for r in runs) for policy, runs in alone.items()}
        figures: dict[str, Any] = {
            "alone_wall_s": median, "alone_adaptive_over_fixed": round(median["adaptive"] / median["fixed"], 3),
            "alone_kit_429": sum(r["kit_429"] for runs in alone.values() for r in runs)}
        for label, spec in (("steady", steady), ("burst", burst)):
            for policy in ("adaptive", "fixed"):
                result = _rate_run(workdir, f"{label}-{kind}-{policy}", limit, window, kind, policy, spec)
                result["time_over_alone"] = round(result["wall_s"] / median[policy], 2)
                figures[f"{label}_{policy}"] = result
        out["by_window"][kind] = figures
    return out


def memory(workdir: Path, factor: float) -> dict[str, Any]:
    """4: peak RSS of a sync subprocess at 20k and 200k rows (streaming: it should barely grow)."""
    out = {}
    for rows in (20_000, 200_000):
        total = max(1000, int(rows * factor))
        sizes = {"companies": total // 2, "invoices": total - total // 2, "payments": 1, "prospects": 1, "jobs": 1,
                 "staff": 1}
        with simproc.start(sizes=sizes, workers=8) as sim:
            (run,) = drive(sim, workdir, [8], f"mem{rows}")
        out[f"rows_{rows}"] = {"rows": run["rows"], "peak_rss_mb": round(run["maxrss_kb"] / 1024, 1),
                               "wall_s": round(run["wall_s"], 2)}
    small, large = out["rows_20000"]["peak_rss_mb"], out["rows_200000"]["peak_rss_mb"]
    out["ratio"] = round(large / small, 3)
    return out


def cpu(factor: float) -> dict[str, Any]:
    """5: converter rows/s per entity on one core, no network; DataFrame build rows/s when pandas is there."""
    from accelo_kit.convert import RowConverter
    from accelo_kit.entities import ENTITIES
    from accelo_kit.sim import Simulator

    sim = Simulator(sizes=scaled(FULL_SIZES, min(factor, 0.25)))
    out: dict[str, Any] = {}
    for name, entity in ENTITIES.items():
        rows = sim.truth(name)
        convert = RowConverter(name, entity.column_types())
        began = time.perf_counter()
        converted = [convert(row) for row in rows]
        out[name] = {"rows": len(rows), "convert_rows_per_s": round(len(rows) / (time.perf_counter() - began))}
        try:
            from accelo_kit.notebook import frames
        except ImportError:
            continue
        began = time.perf_counter()
        frames.to_frame(name, converted)
        out[name]["frame_rows_per_s"] = round(len(rows) / (time.perf_counter() - began))
    return out


def scaling(workdir: Path, factor: float) -> dict[str, Any]:
    """6: efficiency at 1, 2, 4, 8, 16 threads against W=8 server workers."""
    sizes = scaled(FULL_SIZES, factor * 0.2)
    counts = [1, 2, 4, 8, 16]
    with simproc.start(sizes=sizes, **LATENCY) as sim:
        runs = drive(sim, workdir, counts, "scale")
        log = sim.log()
    return {"sizes": sizes, "by_threads": [efficiency(log, run, LATENCY["workers"]) for run in runs]}


def skewed(workdir: Path, factor: float, uniform: float) -> dict[str, Any]:
    """7: workload 1's size with 90% of rows in 10% of the id span."""
    with simproc.start(sizes=scaled(FULL_SIZES, factor), id_layout="skewed", **LATENCY) as sim:
        (run,) = drive(sim, workdir, [8], "skewed")
        result = efficiency(sim.log(), run, LATENCY["workers"])
    result["uniform_efficiency"] = uniform
    result["difference"] = round(uniform - result["efficiency"], 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small version that runs in under a minute")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--only", help="comma list of workload numbers to run (1,3,4,5,6,7,8; 1 includes 2)")
    args = parser.parse_args(argv)
    factor = 0.1 if args.quick else 1.0
    started = time.time()
    results: dict[str, Any] = {"quick": args.quick, "machine": {"cores": os.cpu_count(),
                                                                "python": platform.python_version(),
                                                                "platform": platform.platform()}}
    with tempfile.TemporaryDirectory(prefix="accelo-bench-") as tmp:
        workdir = Path(tmp)
        steps = [("1+2 full sync and request economy", lambda: results.update(full_sync(workdir, factor))),
                 ("3 rate-bound", lambda: results.update(rate_bound=rate_bound(workdir, factor))),
                 ("4 memory", lambda: results.update(memory=memory(workdir, factor))),
                 ("5 cpu", lambda: results.update(cpu=cpu(factor))),
                 ("6 thread scaling", lambda: results.update(scaling=scaling(workdir, factor))),
                 ("7 skewed ids", lambda: results.update(skewed=skewed(
                     workdir, factor, results["latency_bound"]["efficiency"]))),
                 ("8 neighbours", lambda: results.update(neighbours=neighbours(workdir, factor)))]
        wanted = set(args.only.split(",")) if args.only else None
        for label, step in steps:
            if wanted is not None and not wanted & set(label.split()[0].split("+")):
                continue
            began = time.time()
            print(f"workload {label} ...", file=sys.stderr, flush=True)
            step()
            print(f"  done in {time.time() - began:.1f} s", file=sys.stderr, flush=True)
    results["total_s"] = round(time.time() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    if wanted is None:
        print(figures_table(results))
    print(f"\nwritten to {args.output}")
    return 0


def figures_table(r: dict[str, Any]) -> str:
    """The figures against their goals, as the kit's one text table."""
    lb, econ, rate, mem = r["latency_bound"], r["request_economy"], r["rate_bound"], r["memory"]
    rows = [
        ("1", "efficiency (ideal / wall), threads 8, W=8", lb["efficiency"], ">= 0.90"),
        ("", "wall s / ideal s", f"{lb['wall_s']} / {lb['ideal_s']}", ""),
        ("", "speed-up against threads=1 in the same process", lb["speedup_vs_threads_1"], ""),
        ("2", "requests per 1,000 rows (minimum 10)", econ["requests_per_1000_rows"], "<= 10.3"),
        ("", "no-change re-run requests (formula)",
         f"{econ['no_change_rerun_requests']} ({econ['no_change_formula']})", ""),
        ("3", "use of the allowance in full windows", rate["use_of_allowance_full_windows"], ">= 0.95"),
        ("", "throttled (429s) / over the allowance in any window",
         f"{rate['throttled_429']} / {rate['over_allowance']}", "0 / False"),
        ("4", "peak RSS 200k rows / 20k rows", mem["ratio"], "<= 1.3"),
        ("6", "efficiency at threads 1/2/4/8/16", "/".join(str(x["efficiency"]) for x in r["scaling"]["by_threads"]),
         ""),
        ("7", "skewed-id efficiency (uniform - skewed)", f"{r['skewed']['efficiency']} ({r['skewed']['difference']})",
         "<= 0.05"),
    ]
    if "neighbours" in r:
        rows.append(("8", "latency-bound efficiency, adaptive / fixed policy (median of 3)",
                     r["neighbours"]["latency_bound_efficiency"]["adaptive_over_fixed"], ">= 0.95"))
    for kind, n8 in r.get("neighbours", {}).get("by_window", {}).items():
        rows += [
            ("8", f"{kind} window, no neighbour: time adaptive / fixed (median of 3)", n8["alone_adaptive_over_fixed"],
             "<= 1.05"),
            ("", f"{kind}: neighbour 429s, steady 40% / burst 30% in 3 s (fixed policy)",
             f"{n8['steady_adaptive']['neighbour_429']} / {n8['burst_adaptive']['neighbour_429']} "
             f"({n8['steady_fixed']['neighbour_429']} / {n8['burst_fixed']['neighbour_429']})", "<= 2 / <= 2"),
            ("", f"{kind}: kit 429s beside the neighbours",
             n8["steady_adaptive"]["kit_429"] + n8["burst_adaptive"]["kit_429"], "0"),
            ("", f"{kind}: kit's share of full windows, steady neighbour",
             "/".join(map(str, n8["steady_adaptive"]["kit_share_full_windows"])), ""),
            ("", f"{kind}: time beside steady / burst, against alone",
             f"{n8['steady_adaptive']['time_over_alone']} / {n8['burst_adaptive']['time_over_alone']}", ""),
        ]
    table = format_table([{"#": n, "figure": f, "value": v, "goal": g} for n, f, v, g in rows])
    converters = ", ".join(f"{k} {v['convert_rows_per_s']}" for k, v in r["cpu"].items())
    return f"{table}\n5  converter rows/s: {converters}"


if __name__ == "__main__":
    raise SystemExit(main())
