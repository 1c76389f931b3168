"""The benchmark's smoke test (issue 7): the quick version's full-sync workload runs end to end and its figures
hold together. Timing goals belong to `make bench`, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_quick_benchmark_runs_and_writes_coherent_figures(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--only", "1,5", "--output", str(output)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["machine"]["cores"] >= 1
    bound = results["latency_bound"]
    assert bound["rows"] == sum(results["sizes"].values())
    assert bound["ideal_s"] > 0 and 0 < bound["efficiency"] <= 1.2
    assert bound["baseline_threads_1"]["threads"] == 1 and bound["speedup_vs_threads_1"] > 1
    economy = results["request_economy"]
    assert economy["requests"] >= economy["physical_minimum"]
    assert economy["no_change_rerun_requests"] == economy["no_change_formula"]
    assert all(figures["convert_rows_per_s"] > 0 for figures in results["cpu"].values())
